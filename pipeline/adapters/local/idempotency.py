"""InMemoryIdempotencyStore: ``POST /query`` answers by idempotency key (local server).

Same semantics as a DynamoDB table written with ``attribute_not_exists`` conditions:
exactly one concurrent :meth:`claim` of a key wins; the others get the existing record.
"""

from __future__ import annotations

import threading
from typing import Any


class InMemoryIdempotencyStore:
    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, fingerprint: str, created_at: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._records.get(key)
            if found is not None:
                return dict(found)
            self._records[key] = {"fingerprint": fingerprint, "status": "pending", "created_at": created_at}
            return None

    def complete(self, key: str, response: dict[str, Any]) -> None:
        with self._lock:
            record = self._records.get(key)
            if record is None or record["status"] != "pending":
                raise KeyError(f"idempotency key {key} is not pending")
            record.update(status="done", response=dict(response))

    def release(self, key: str) -> None:
        with self._lock:
            record = self._records.get(key)
            if record is not None and record["status"] == "pending":
                del self._records[key]

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._records.get(key)
            return dict(found) if found is not None else None

    def all(self) -> dict[str, dict[str, Any]]:
        """Every record (tests read the store back)."""
        with self._lock:
            return {k: dict(v) for k, v in self._records.items()}
