"""Record/replay cache for model outputs, keyed by a content hash of the request.

Layout: one JSON file per request, ``{cache_dir}/{key}.json``, where ``key`` is
:func:`request_key` (sha256 hex of the model id, the parameters, the rendered system
prompt and the messages). One file per key keeps writes atomic and conflict-free when
several processes record at once, and makes review diffs readable. Each file holds
``{"key", "request": {...}, "response": {...}, "recorded_at"}``; the request is kept so a
reviewer can see what produced the output (it contains only redacted text).

Modes:
    - ``ReplayModel(dir)``: replay only; a miss raises :class:`ModelError` naming the key.
    - ``ReplayModel(dir, inner)``: replay, and on a miss call ``inner`` without recording.
    - ``ReplayModel(dir, inner, record=True)``: replay, and on a miss call ``inner`` and
      record the response. An existing entry is never overwritten with different content.

Example:
    >>> model = ReplayModel("golden_sets/cassettes", inner=OfflineModel(), record=True)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.domain.models import ModelRequest, ModelResponse
from pipeline.ports import ModelClient, ModelError

#: Where the committed cassettes live.
CASSETTES_DIR = Path(__file__).resolve().parents[3] / "golden_sets" / "cassettes"


def _request_payload(request: ModelRequest) -> dict[str, Any]:
    return {
        "model_id": request.parameters.model_id,
        "parameters": request.parameters.to_dict(),
        "system": request.system,
        "messages": [{"role": m.role, "text": m.text} for m in request.messages],
    }


def request_key(request: ModelRequest) -> str:
    """The cache key of a request: sha256 of its canonical JSON.

    Args:
        request: The rendered request.

    Returns:
        64 lowercase hex characters.
    """
    canonical = json.dumps(
        _request_payload(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _content(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "latency_ms"}


class ReplayConflictError(ModelError):
    """Recording would overwrite an existing cassette with a different response."""


class ReplayModel:
    """A ModelClient that replays recorded responses and optionally records new ones.

    Args:
        cache_dir: The cassette folder (created when recording).
        inner: The model to call on a miss (``None`` for replay only).
        record: Store responses of ``inner`` for misses.
    """

    def __init__(
        self, cache_dir: str | Path, inner: ModelClient | None = None, record: bool = False
    ) -> None:
        if record and inner is None:
            raise ValueError("record=True needs an inner model to record from")
        self.cache_dir = Path(cache_dir)
        self.inner = inner
        self.record = record
        self.hits = 0
        self.misses = 0

    def path_for(self, key: str) -> Path:
        return self.cache_dir / f"{key}.json"

    def generate(self, request: ModelRequest) -> ModelResponse:
        """Replay the recorded response, or call (and maybe record) the inner model.

        Raises:
            ModelError: On a miss without an inner model (the message names the key), or
                when the inner model fails.
            ReplayConflictError: If recording finds a different entry under the same key.
        """
        key = request_key(request)
        cached = self._read(key)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        if self.inner is None:
            raise ModelError(
                f"replay miss: no cassette {key} in {self.cache_dir} "
                f"(model {request.parameters.model_id}); record it with an inner model and record=True",
                transient=False,
            )
        response = self.inner.generate(request)
        if self.record:
            self._write(key, request, response)
        return response

    def _read(self, key: str) -> ModelResponse | None:
        path = self.path_for(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"corrupt cassette {path}: {exc}", transient=False) from exc
        return ModelResponse(**data["response"])

    def _write(self, key: str, request: ModelRequest, response: ModelResponse) -> None:
        entry: dict[str, Any] = {
            "key": key,
            "request": _request_payload(request),
            "response": {
                "text": response.text,
                "model_id": response.model_id,
                "input_tokens": response.input_tokens,
                "output_tokens": response.output_tokens,
                "stop_reason": response.stop_reason,
                "latency_ms": response.latency_ms,
            },
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        final = self.path_for(key)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{key[:12]}-", suffix=".tmp", dir=self.cache_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle, indent=2, ensure_ascii=False, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                # link() refuses to replace an existing file, unlike rename(): a concurrent
                # recorder that got there first is detected instead of silently overwritten.
                os.link(tmp_name, final)
            except FileExistsError:
                existing = json.loads(final.read_text(encoding="utf-8")).get("response", {})
                # Latency differs between two recordings of the same output; content may not.
                if _content(existing) != _content(entry["response"]):
                    raise ReplayConflictError(
                        f"cassette {final} already holds a different response for key {key}; "
                        "delete it deliberately to re-record",
                        transient=False,
                    ) from None
            except OSError:
                # Filesystems without hard links: exclusive create is the no-overwrite check.
                if final.exists():
                    raise
                os.replace(tmp_name, final)
                return
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
