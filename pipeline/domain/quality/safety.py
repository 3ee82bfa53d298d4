"""``safety`` (GUIDE.md §5): whatever the output guardrail flags in the answer."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.domain.models import GuardrailVerdict, QualityCheckResult
from pipeline.domain.quality.scoring import Findings

_REASONS = {
    "sensitive_data": "the answer contains a secret or personal data",
    "future_commitment": "the answer promises something the assistant cannot commit to",
    "competitor_disparagement": "the answer disparages a competitor",
}


class SafetyCheck:
    """Scores ``safety`` with an output guardrail (``scan_output(text) -> GuardrailVerdict``)."""

    def __init__(self, output_guard: Callable[[str], GuardrailVerdict] | None) -> None:
        self._output_guard = output_guard

    def __call__(self, response: str) -> QualityCheckResult:
        found = Findings()
        if self._output_guard is None:
            return found.result("safety")
        verdict = self._output_guard(response)
        for category in verdict.categories:
            spans = [f"{f.start}-{f.end}" for f in verdict.findings if f.category == category]
            found.errors.append(
                f"output guardrail: {category.replace('_', ' ')} ({_REASONS.get(category, category)}; "
                f"characters {', '.join(spans[:3])})"
            )
        return found.result("safety")
