"""InMemorySessionThrottle: the fixed-window per-session limit without DynamoDB.

Same semantics as :class:`pipeline.adapters.aws.session_throttle.DynamoSessionThrottle`
(a request over the limit is refused and not counted), for tests and local runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class InMemorySessionThrottle:
    def __init__(self, *, limit: int, window_seconds: int = 60, now: Callable[[], float] = time.time) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window_seconds must be positive")
        self.limit = limit
        self.window_seconds = window_seconds
        self._now = now
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def allow(self, session_id: str) -> bool:
        now = int(self._now())
        window = (session_id, now - now % self.window_seconds)
        with self._lock:
            count = self._counts.get(window, 0)
            if count >= self.limit:
                return False
            self._counts[window] = count + 1
            return True
