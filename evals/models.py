"""The model behind the generating suites: offline, replayed cassettes, or Bedrock.

One :class:`ModelSession` per run builds the model that ``--model`` names, meters every
call (calls, tokens, cost, the cassette keys each case used) and, before any suite runs,
:func:`preflight` checks that the run can work at all:

- ``--model replay``: every case of every generating suite has its cassettes
  (``manifest.json`` in the cassette folder lists, per suite, each recorded case's input
  hash and the request keys it used). A missing or changed case is named.
- ``--model bedrock``: AWS credentials resolve through botocore's provider chain, a Region
  is set, and one cheap call (a five-token ``Converse``) through the injected
  ``bedrock-runtime`` client reaches the model, which proves access to it.

Either failure is a :class:`ModelConfigError`: the CLI exits 2 naming what is missing
instead of running every case into a fallback reply and reporting a wall of regressions.

Cassettes: ``--record`` wraps the model in :class:`~pipeline.adapters.local.replay.ReplayModel`
(one JSON per request, keyed by a hash of model id + parameters + rendered prompt) and
writes the manifest at the end of the run.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.record import REPO_ROOT, write_json_atomic

#: The committed cassettes (CI replays them; ``--record`` adds to them).
DEFAULT_CASSETTES = REPO_ROOT / "evals" / "cassettes"
MANIFEST = "manifest.json"


class ModelConfigError(Exception):
    """The run cannot work with the chosen model; the message names what is missing."""


def _budget_error(message: str) -> Exception:
    from pipeline.ports import ModelError

    return ModelError(message, transient=False)


def case_input_sha256(value: Any) -> str:
    """Hash of a case input (canonical JSON): a changed case no longer matches its cassettes."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# The manifest of recorded cases
# ---------------------------------------------------------------------------


def read_manifest(cassettes: Path) -> dict[str, Any]:
    """The manifest of a cassette folder (an empty one when there is none)."""
    path = Path(cassettes) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": 1, "suites": {}}
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelConfigError(f"cassette manifest {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("suites"), dict):
        raise ModelConfigError(f"cassette manifest {path} has no 'suites' object; re-record with --record")
    return data


def recorded_model_ids(cassettes: Path) -> set[str]:
    """The models the manifest has recordings of."""
    return {
        entry.get("model_id", "")
        for cases in read_manifest(cassettes)["suites"].values()
        for entry in cases.values()
    }


def missing_cassettes(cassettes: Path, suite: str, cases: Iterable[Any], model_id: str) -> list[str]:
    """Ids of the cases of ``suite`` that cannot be replayed from ``cassettes`` for ``model_id``.

    A case can be replayed when the manifest lists its input hash, recorded with that
    model, and every request key recorded for it has its cassette file.
    """
    recorded = read_manifest(cassettes)["suites"].get(suite, {})
    missing = []
    for case in cases:
        entry = recorded.get(case_input_sha256(case.input))
        if (
            entry is None
            or entry.get("model_id") != model_id
            or not all((Path(cassettes) / f"{key}.json").is_file() for key in entry.get("keys", ()))
        ):
            missing.append(case.id)
    return missing


# ---------------------------------------------------------------------------
# Metering
# ---------------------------------------------------------------------------


@dataclass
class Usage:
    """What the model calls of a run cost."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    replay_hits: int = 0
    replay_misses: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "replay_hits": self.replay_hits,
            "replay_misses": self.replay_misses,
        }


class MeteredModel:
    """A ModelClient wrapper that counts calls and tokens and notes each case's request keys.

    Args:
        inner: The model that answers.
        key: ``key(request) -> str``, the cassette key of a request.
        price: ``price(model_id, input_tokens, output_tokens) -> USD``.
        model_id: The answering model (prices the worst case of a call before it is made).
        budget_usd: Cap on the run's spend. A call whose worst case (the prompt's estimated
            tokens plus ``max_tokens`` of output) would cross it is not made: the meter
            marks itself :attr:`exhausted` and raises a non-transient ``ModelError``.
    """

    def __init__(
        self,
        inner: Any,
        *,
        key: Callable[[Any], str],
        price: Callable[[str, int, int], float],
        model_id: str = "",
        budget_usd: float | None = None,
    ) -> None:
        self.inner = inner
        self.model_id = model_id
        self.budget_usd = budget_usd
        self.exhausted = False
        self.usage = Usage()
        self._key = key
        self._price = price
        self._lock = threading.Lock()
        # The case a request belongs to: per thread for suites that run cases in a pool (the
        # worker that began the case makes its calls), else the last case begun (the local
        # workflow calls the model from moto's executor threads, one case at a time).
        self._context: tuple[str, str] | None = None
        self._local = threading.local()
        self.keys_by_case: dict[tuple[str, str], list[str]] = {}

    def begin_case(self, suite: str, case_input: Any) -> None:
        """Requests from now on belong to this case (for the cassette manifest)."""
        context = (suite, case_input_sha256(case_input))
        self._local.context = context
        with self._lock:
            self._context = context
            self.keys_by_case[context] = []

    def worst_case_usd(self, request: Any) -> float:
        """The most a call can cost: prompt tokens (4 characters each, rounded up) + max_tokens."""
        chars = len(request.system) + sum(len(m.text) for m in request.messages)
        return self._price(self.model_id, -(-chars // 4), int(request.parameters.max_tokens))

    def generate(self, request: Any) -> Any:
        if self.budget_usd is not None:
            with self._lock:
                if self.exhausted or self.usage.cost_usd + self.worst_case_usd(request) > self.budget_usd:
                    self.exhausted = True
                    raise _budget_error(
                        f"budget cap ${self.budget_usd:.2f} reached (${self.usage.cost_usd:.4f} spent in "
                        f"{self.usage.calls} calls); no further model calls this run"
                    )
        response = self.inner.generate(request)
        key = self._key(request)
        with self._lock:
            self.usage.calls += 1
            self.usage.input_tokens += int(response.input_tokens or 0)
            self.usage.output_tokens += int(response.output_tokens or 0)
            self.usage.cost_usd += self._price(response.model_id, response.input_tokens, response.output_tokens)
            context = getattr(self._local, "context", None) or self._context
            if context is not None:
                self.keys_by_case.setdefault(context, []).append(key)
        return response


# ---------------------------------------------------------------------------
# The session: one model per run
# ---------------------------------------------------------------------------


@dataclass
class ModelSession:
    """Builds the run's model once and keeps its meter (see the module docstring).

    Args:
        backend: ``offline``, ``replay`` or ``bedrock``.
        record: Record every response as a cassette (offline or bedrock).
        cassettes: The cassette folder.
        model_id: The Bedrock model id (``--model-id``).
        region: The Bedrock Region (``--region``).
        client_factory: ``client_factory(region) -> bedrock-runtime client`` (tests inject
            a Stubber-backed client).
    """

    backend: str = "offline"
    record: bool = False
    cassettes: Path = DEFAULT_CASSETTES
    model_id: str | None = None
    region: str | None = None
    client_factory: Callable[[str], Any] | None = None
    budget_usd: float | None = None
    concurrency: int = 1
    _model: MeteredModel | None = field(default=None, init=False, repr=False)
    _replay: Any = field(default=None, init=False, repr=False)

    def model(self) -> MeteredModel | None:
        """The metered model, or None for the workflow's own offline default (no metering needed)."""
        if self.backend == "offline" and not self.record and self.budget_usd is None:
            return None
        if self._model is None:
            from pipeline.adapters.local.replay import ReplayModel, request_key

            inner: Any
            if self.backend == "replay":
                inner = ReplayModel(self.cassettes)
            else:
                answering = self._bedrock() if self.backend == "bedrock" else _offline()
                inner = ReplayModel(self.cassettes, answering, record=True) if self.record else answering
            self._replay = inner if isinstance(inner, ReplayModel) else None
            model_id = self.effective_model_id()

            def key(request: Any) -> str:
                from dataclasses import replace

                return request_key(replace(request, parameters=replace(request.parameters, model_id=model_id)))

            self._model = MeteredModel(
                PinnedModelId(inner, model_id), key=key, price=price_usd, model_id=model_id, budget_usd=self.budget_usd
            )
        return self._model

    def effective_model_id(self) -> str:
        """The model whose answers the run uses (and whose cassettes it replays or records)."""
        if self.model_id:
            return self.model_id
        if self.backend == "replay":
            ids = recorded_model_ids(self.cassettes)
            if len(ids) != 1:
                raise ModelConfigError(
                    f"--model replay: the cassettes in {_rel(self.cassettes)} hold "
                    + (f"several models ({', '.join(sorted(ids))}); choose one with --model-id" if ids
                       else "no recordings; record some with --record")
                )
            return next(iter(ids))
        if self.backend == "bedrock":
            raise ModelConfigError("--model bedrock needs --model-id (a Bedrock model or inference profile id)")
        from pipeline.adapters.local.offline_model import OFFLINE_MODEL_ID

        return OFFLINE_MODEL_ID

    def _bedrock(self) -> Any:
        from pipeline.adapters.aws.bedrock import BedrockModel, make_bedrock_client

        region = self.region or "us-east-1"
        # botocore's adaptive retry mode rate-limits the client when Bedrock throttles; its
        # connection pool must hold every worker of the pool.
        client = (
            self.client_factory(region)
            if self.client_factory
            else make_bedrock_client(region, max_pool_connections=max(10, self.concurrency))
        )
        return BedrockModel(client, model_id=self.model_id)

    def use(self, model: Any) -> MeteredModel:
        """Serve the run from ``model`` (e.g. the batch backend's cassette reader), metered."""
        from pipeline.adapters.local.replay import request_key

        self._model = MeteredModel(model, key=request_key, price=price_usd, model_id=self.model_id or "",
                                   budget_usd=self.budget_usd)
        return self._model

    @property
    def exhausted(self) -> bool:
        """The budget cap stopped the run's model calls."""
        return self._model is not None and self._model.exhausted

    def usage(self) -> Usage:
        usage = self._model.usage if self._model is not None else Usage()
        if self._replay is not None:
            usage.replay_hits, usage.replay_misses = self._replay.hits, self._replay.misses
        return usage

    def finish(self) -> Path | None:
        """After the run: write the cassette manifest when recording; returns its path."""
        if not self.record or self._model is None:
            return None
        manifest = read_manifest(self.cassettes)
        model_id = self.effective_model_id()
        for (suite, sha), keys in sorted(self._model.keys_by_case.items()):
            manifest["suites"].setdefault(suite, {})[sha] = {"model_id": model_id, "keys": list(dict.fromkeys(keys))}
        path = Path(self.cassettes) / MANIFEST
        write_json_atomic(manifest, path)
        return path


def _offline() -> Any:
    from pipeline.adapters.local.offline_model import OfflineModel

    return OfflineModel()


class PinnedModelId:
    """Passes requests on with ``parameters.model_id`` set to the model that really answers.

    Templates name a default model; the run's model (``--model-id``, or the offline
    stand-in) is what the cassette key must hash, so recordings of two models never share
    a key and a replay finds only what the named model said.
    """

    def __init__(self, inner: Any, model_id: str) -> None:
        self.inner = inner
        self.model_id = model_id

    def generate(self, request: Any) -> Any:
        from dataclasses import replace

        return self.inner.generate(
            replace(request, parameters=replace(request.parameters, model_id=self.model_id))
        )


# ---------------------------------------------------------------------------
# Prices
# ---------------------------------------------------------------------------

#: On-demand USD per 1,000 input / output tokens (Amazon Bedrock pricing page, us-east-1,
#: checked 2026-12). Matched by substring of the model id, first match wins; an unknown
#: Bedrock model is priced like the most expensive listed one, so a budget cap errs safe.
PRICES_PER_1K: tuple[tuple[str, float, float], ...] = (
    ("claude-opus-4", 0.015, 0.075),
    ("claude-3-opus", 0.015, 0.075),
    ("claude-sonnet-4", 0.003, 0.015),
    ("claude-3-7-sonnet", 0.003, 0.015),
    ("claude-3-5-sonnet", 0.003, 0.015),
    ("claude-3-sonnet", 0.003, 0.015),
    ("claude-haiku-4-5", 0.001, 0.005),
    ("claude-3-5-haiku", 0.0008, 0.004),
    ("claude-3-haiku", 0.00025, 0.00125),
)
_FREE_MODELS = ("offline", "static", "scripted")


def price_usd(model_id: str | None, input_tokens: int, output_tokens: int) -> float:
    """What a call cost, from :data:`PRICES_PER_1K` (0 for the offline stand-ins)."""
    model = (model_id or "").lower()
    if not model or model.startswith(_FREE_MODELS):
        return 0.0
    for fragment, per_in, per_out in PRICES_PER_1K:
        if fragment in model:
            return (input_tokens * per_in + output_tokens * per_out) / 1000.0
    per_in, per_out = max((p[1], p[2]) for p in PRICES_PER_1K)
    return (input_tokens * per_in + output_tokens * per_out) / 1000.0


# ---------------------------------------------------------------------------
# Preflight
# ---------------------------------------------------------------------------


def preflight(
    session: ModelSession,
    generating: Mapping[str, Sequence[Any]],
    *,
    credentials: Callable[[], Any] | None = None,
) -> None:
    """Check, before any suite runs, that the chosen model can serve the generating suites.

    Args:
        session: The run's model session.
        generating: Cases of each selected suite that calls the model, by suite name.
        credentials: Returns botocore credentials or None (default: botocore's chain).

    Raises:
        ModelConfigError: Naming the missing cassettes, credentials, Region or model access.
    """
    if not generating:
        return
    if session.backend == "replay":
        model_id = session.effective_model_id()
        problems = []
        for suite, cases in generating.items():
            missing = missing_cassettes(session.cassettes, suite, cases, model_id)
            if missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                problems.append(f"{suite}: {len(missing)} of {len(cases)} cases have no cassettes ({shown})")
        if problems:
            raise ModelConfigError(
                f"--model replay: cassettes of {model_id} missing in {_rel(session.cassettes)}: "
                + "; ".join(problems)
                + ". Record them with --record (with --model offline or --model bedrock), "
                "or run only suites and cases that were recorded."
            )
    elif session.backend == "bedrock":
        _bedrock_preflight(session, credentials)


def _bedrock_preflight(session: ModelSession, credentials: Callable[[], Any] | None) -> None:
    if not session.model_id:
        raise ModelConfigError("--model bedrock needs --model-id (a Bedrock model or inference profile id)")
    if not session.region:
        raise ModelConfigError("--model bedrock needs a Region: pass --region or set AWS_REGION")
    found = (credentials or _botocore_credentials)()
    if found is None:
        raise ModelConfigError(
            "--model bedrock: no AWS credentials found (botocore looked in the environment, the shared "
            "config and credentials files, SSO, and container/instance roles); configure a profile or "
            "use --model replay"
        )
    from pipeline.adapters.aws.bedrock import BedrockModel
    from pipeline.domain.models import Message, ModelParameters, ModelRequest
    from pipeline.ports import ModelError, ModelUnavailableError

    factory = session.client_factory
    if factory is None:
        from pipeline.adapters.aws.bedrock import make_bedrock_client

        def factory(region: str) -> Any:
            return make_bedrock_client(region, max_attempts=2)

    ping = ModelRequest(
        system="Reply with one word.",
        messages=(Message("user", "ping"),),
        parameters=ModelParameters(
            model_family="", model_id=session.model_id, temperature=0.0, max_tokens=5, top_p=1.0
        ),
    )
    try:
        BedrockModel(factory(session.region), model_id=session.model_id).generate(ping)
    except ModelUnavailableError as exc:
        raise ModelConfigError(
            f"--model bedrock: model {session.model_id} cannot be invoked in {session.region}: {exc}. "
            "Request model access in the Bedrock console, or use an inference profile id"
        ) from exc
    except ModelError as exc:
        raise ModelConfigError(
            f"--model bedrock: a one-token test call to {session.model_id} in {session.region} failed: {exc}"
        ) from exc


def _botocore_credentials() -> Any:
    import botocore.session

    return botocore.session.get_session().get_credentials()


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------
# Recording a few cases (the committed cassette set)
# ---------------------------------------------------------------------------


def record_cases(
    suite_name: str,
    case_ids: Sequence[str],
    *,
    cassettes: Path = DEFAULT_CASSETTES,
    backend: str = "offline",
    model_id: str | None = None,
    region: str | None = None,
) -> Path:
    """Run some cases of a generating suite with ``--record`` semantics; returns the manifest.

    ``python -m evals.models conversations ca-003 ca-011`` records the offline model's
    answers for two conversations (the committed set CI replays); pass ``--model bedrock
    --model-id … --region …`` to record a real model.
    """
    from evals.runner import RunConfig, run_suite
    from evals.suites import get_suite

    suite = get_suite(suite_name)
    if not suite.generates:
        raise ModelConfigError(f"suite {suite_name} does not call the model; nothing to record")
    wanted = set(case_ids)
    cases = [c for c in suite.load_cases() if c.id in wanted]
    unknown = wanted - {c.id for c in cases}
    if unknown:
        raise ModelConfigError(f"no case(s) {', '.join(sorted(unknown))} in suite {suite_name}")
    session = ModelSession(backend=backend, record=True, cassettes=Path(cassettes), model_id=model_id, region=region)
    run_suite(suite, RunConfig(model=backend, record=True, models=session), cases=cases)
    manifest = session.finish()
    assert manifest is not None
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m evals.models", description=record_cases.__doc__)
    parser.add_argument("suite")
    parser.add_argument("case_ids", nargs="+")
    parser.add_argument("--model", choices=("offline", "bedrock"), default="offline")
    parser.add_argument("--model-id")
    parser.add_argument("--region")
    parser.add_argument("--cassettes", type=Path, default=DEFAULT_CASSETTES)
    args = parser.parse_args(argv)
    try:
        path = record_cases(args.suite, args.case_ids, cassettes=args.cassettes, backend=args.model,
                            model_id=args.model_id, region=args.region)
    except ModelConfigError as exc:
        print(f"error: {exc}")
        return 2
    print(f"recorded: {_rel(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# ---------------------------------------------------------------------------
# Baselines are per model
# ---------------------------------------------------------------------------


def model_identity(model: Mapping[str, Any] | None) -> str | None:
    """The model that produced a run's answers, comparable across runs.

    Every offline run (live, recorded or replayed from offline cassettes) is the same
    deterministic ``offline-knowledge-v1``.
    """
    if not model:
        return None
    from pipeline.adapters.local.offline_model import OFFLINE_MODEL_ID

    mid = str(model.get("id") or "")
    if model.get("backend") == "offline" or mid.startswith("offline-model"):
        return OFFLINE_MODEL_ID
    return mid or None


def baseline_model_warnings(
    record: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any] | None], generating: Iterable[str]
) -> list[str]:
    """A warning per generating suite whose baseline was recorded with another model."""
    current = model_identity(record.get("model"))
    warnings = []
    for name in generating:
        base = baselines.get(name)
        if not base:
            continue
        theirs = model_identity(base.get("model"))
        if theirs != current:
            warnings.append(
                f"{name}: the baseline was recorded with {theirs or 'an unknown model'}, this run used "
                f"{current or 'an unknown model'}; differences mix the model change with any code change "
                f"(record a baseline for this model with --update-baseline in a separate directory)"
            )
    return warnings
