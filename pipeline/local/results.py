"""What a local execution reports (:class:`RunResult`) and the faults tests inject
(:class:`Faults`). Used by :mod:`pipeline.local.workflow`, which re-exports these names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Faults:
    """Errors to inject, by handler short name (``generate_response`` …).

    ``transient[h] = (error, n)`` fails the first ``n`` calls of ``h`` with ``error``;
    ``always[h] = error`` fails every call. The error name is what Retry/Catch see.
    """

    transient: dict[str, tuple[str, int]] = field(default_factory=dict)
    always: dict[str, str] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def fail_once(self, handler: str, error: str = "Lambda.TooManyRequestsException", times: int = 1) -> Faults:
        self.transient[handler] = (error, times)
        return self

    def fail_always(self, handler: str, error: str = "RuntimeError") -> Faults:
        self.always[handler] = error
        return self

    def check(self, handler: str) -> str | None:
        count = self.calls.get(handler, 0) + 1
        self.calls[handler] = count
        if handler in self.always:
            return self.always[handler]
        if handler in self.transient:
            error, times = self.transient[handler]
            if count <= times:
                return error
        return None


@dataclass(frozen=True, slots=True)
class HandlerCall:
    handler: str
    seconds: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """One execution: its output, the states it entered and where the time went."""

    output: dict[str, Any] | None
    status: str
    path: list[str]
    calls: list[HandlerCall]
    total_seconds: float
    input: dict[str, Any]
    execution_arn: str
    events: list[dict[str, Any]] = field(repr=False, default_factory=list)

    @property
    def handler_seconds(self) -> float:
        return sum(c.seconds for c in self.calls)

    @property
    def engine_seconds(self) -> float:
        return max(0.0, self.total_seconds - self.handler_seconds)

    @property
    def errors(self) -> list[str]:
        """Error names of failed task attempts, in order (retried or caught)."""
        names = []
        for event in self.events:
            for key in ("lambdaFunctionFailedEventDetails", "taskFailedEventDetails"):
                if key in event:
                    names.append(event[key].get("error", ""))
        return names

