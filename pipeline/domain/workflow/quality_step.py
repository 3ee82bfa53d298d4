"""ValidateQuality's logic: score the answer and decide whether to regenerate.

One module per step: each is the whole logic of one Lambda (``pipeline/handlers``).
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.budget import (
    DECISION_REGENERATION_SKIPPED,
    LatencyBudget,
    RollingPercentile,
    epoch_ms,
)
from pipeline.domain.workflow.collaborators import QualityValidating
from pipeline.domain.workflow.state import (
    Capture,
    generation_from_state,
    intent_from_state,
    optional_dict,
    require_dict,
)
from pipeline.ports import Clock


class QualityStep:
    """ValidateQuality: score the answer and decide whether to regenerate.

    ``retry`` is true when the report did not pass and fewer than ``max_regenerations``
    regenerations have been made (attempt 1 is the first answer, so at most
    ``1 + max_regenerations`` generations happen). ``unusable`` (with
    ``unusable_reasons``, see :mod:`pipeline.domain.quality.usable`) is true when the
    failed answer could not be delivered at all: when it is not regenerated, CheckQuality
    replaces it with the fallback reply.
    """

    def __init__(
        self,
        validator: QualityValidating,
        *,
        max_regenerations: int = 2,
        clock: Clock | None = None,
        budget: LatencyBudget | None = None,
        generation_p95: RollingPercentile | None = None,
    ) -> None:
        if max_regenerations < 0:
            raise ValueError("max_regenerations must be >= 0")
        self._validator = validator
        self._max_regenerations = max_regenerations
        self._clock = clock
        self._budget = budget
        self._p95 = generation_p95

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        # Here, not at module level: the quality package is heavy, and importing this
        # module must not load it (only validate_quality builds a validator anyway).
        from pipeline.domain.quality.usable import unusable_reasons

        capture = Capture.from_dict(require_dict(state, "capture"))
        intent, _ = intent_from_state(state)
        generation, _ = generation_from_state(state)
        report = self._validator.validate(
            capture.redacted_query,
            generation.text,
            intent=intent.intent,
            sentiment=intent.sentiment,
        )
        attempt = max(1, generation.attempt)
        retry = (not report.passed) and (attempt - 1) < self._max_regenerations
        # CheckQuality sends an unusable answer that is not regenerated to Fallback: the
        # customer gets the fallback reply instead of an empty or garbled "answer".
        reasons = unusable_reasons(generation.text, report)
        result: dict[str, Any] = {
            **report.to_dict(), "retry": retry, "attempt": attempt,
            "unusable": bool(reasons), "unusable_reasons": list(reasons),
        }
        if (optional_dict(state, "generation") or {}).get("budget_decision"):
            # The static fallback stood in for an answer (our own text): keep it.
            result.update(retry=False, unusable=False, unusable_reasons=[])
            return result
        if self._p95 is not None:
            self._p95.observe(generation.latency_ms)
        if retry and self._budget is not None and self._clock is not None:
            p95 = self._p95.value() if self._p95 is not None else 0.0
            if not self._budget.can_regenerate(
                capture.deadline_ms, epoch_ms(self._clock.now()), p95
            ):
                # The answer passed the output guardrail; it is returned as it is.
                result["retry"] = False
                result["budget_decision"] = DECISION_REGENERATION_SKIPPED
        return result
