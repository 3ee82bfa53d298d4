"""Clocks: the system's UTC time, and a fixed (optionally advancing) one for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    """Timezone-aware UTC now."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that returns ``start`` and moves by ``step`` after every call.

    Example:
        >>> clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC), step=timedelta(seconds=1))
        >>> clock.now().second, clock.now().second
        (0, 1)
    """

    def __init__(self, start: datetime | None = None, *, step: timedelta = timedelta(0)) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start")
        self._current = start
        self._step = step

    def now(self) -> datetime:
        current = self._current
        self._current = current + self._step
        return current

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self._current += delta
