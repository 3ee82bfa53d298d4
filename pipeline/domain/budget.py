"""The latency budget of one query: a deadline that travels with the request.

API Gateway ends a REST integration at 29 s. The workflow therefore gets a budget
(``LATENCY_BUDGET_MS``, 25 s by default) measured from when API Gateway received the
request (``$context.requestTimeEpoch``, else the capture time). CaptureUserQuery turns it
into an absolute deadline (``$.capture.deadline_ms``, epoch milliseconds) and every later
step reads the time left from it:

* a generation starts only when the time left can hold one (``min_generation_ms``), and
  the model call may use the time left minus the reserve for validation and collection
  (:data:`model_call_timeout`, read by the Bedrock adapter for its read timeout);
* a regeneration happens only when the time left, minus that reserve, covers one more
  generation at the p95 latency measured so far (:class:`RollingPercentile`, seeded with a
  configured prior until enough generations were seen);
* otherwise the answer is returned as it is (it passed the output guardrail), or, when not
  even a first generation fits, the static fallback: never a 504.

Each decision is recorded on the turn (``budget_decision``) and counted
(``BudgetDecisions``, dimension ``decision``).
"""

from __future__ import annotations

import math
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

DEFAULT_BUDGET_MS = 25_000
#: Time kept for ValidateQuality + CollectFeedback + the state transitions after a generation.
DEFAULT_RESERVE_MS = 2_500
#: A generation shorter than this is not worth starting (the model would time out anyway).
DEFAULT_MIN_GENERATION_MS = 3_000
#: Prior for the p95 generation latency until enough generations were measured.
DEFAULT_GENERATION_P95_MS = 12_000

DECISION_REGENERATION_SKIPPED = "regeneration_skipped"
DECISION_FALLBACK = "fallback"
DECISIONS = (DECISION_REGENERATION_SKIPPED, DECISION_FALLBACK)
METRIC_BUDGET_DECISIONS = "BudgetDecisions"  # dimension: decision

#: Seconds the current model call may take (set by the generation step around one call;
#: None = no budget, e.g. evaluations). Adapters read it; the domain never sleeps on it.
model_call_timeout: ContextVar[float | None] = ContextVar("model_call_timeout", default=None)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class LatencyBudget:
    """The budget settings (validated at the composition root)."""

    budget_ms: int = DEFAULT_BUDGET_MS
    reserve_ms: int = DEFAULT_RESERVE_MS
    min_generation_ms: int = DEFAULT_MIN_GENERATION_MS

    def deadline(self, received_at_ms: int | None, now_ms: int) -> int:
        """The absolute deadline of a request received at ``received_at_ms`` (else now)."""
        start = received_at_ms if received_at_ms and received_at_ms <= now_ms else now_ms
        return start + self.budget_ms

    def generation_window_ms(self, deadline_ms: int | None, now_ms: int) -> int | None:
        """Milliseconds one generation may take now (None: no deadline)."""
        if deadline_ms is None:
            return None
        return deadline_ms - now_ms - self.reserve_ms

    def can_generate(self, deadline_ms: int | None, now_ms: int) -> bool:
        window = self.generation_window_ms(deadline_ms, now_ms)
        return window is None or window >= self.min_generation_ms

    def can_regenerate(self, deadline_ms: int | None, now_ms: int, p95_ms: float) -> bool:
        window = self.generation_window_ms(deadline_ms, now_ms)
        return window is None or window >= max(p95_ms, self.min_generation_ms)


class RollingPercentile:
    """The p-th percentile of the last ``window`` observations (nearest rank), or ``prior``
    until ``min_samples`` were seen. One per Lambda container: it measures what this
    deployment's model really takes, and starts from the configured prior after a cold start.
    """

    def __init__(self, prior: float, *, percentile: float = 95.0, window: int = 200,
                 min_samples: int = 20) -> None:
        self._prior = float(prior)
        self._percentile = percentile
        self._values: deque[float] = deque(maxlen=window)
        self._min_samples = min_samples

    def observe(self, value: float) -> None:
        if value > 0 and math.isfinite(value):
            self._values.append(float(value))

    def value(self) -> float:
        if len(self._values) < self._min_samples:
            return self._prior
        ordered = sorted(self._values)
        rank = max(1, math.ceil(self._percentile / 100.0 * len(ordered)))
        return ordered[rank - 1]
