"""How findings become scores: penalties, weights and the pass rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.domain.models import QualityCheckResult

DEFAULT_THRESHOLD: float = 0.75
#: A check scoring below this is a defect and fails the response on its own.
HARD_FAIL_LEVEL: float = 0.5
ERROR_PENALTY: float = 0.6
WARNING_PENALTY: float = 0.25

CHECK_WEIGHTS: Mapping[str, float] = {
    "completeness": 0.20,
    "structure": 0.10,
    "accuracy": 0.25,
    "relevance": 0.20,
    "tone": 0.10,
    "safety": 0.15,
}


@dataclass(slots=True)
class Findings:
    """Mutable accumulator for one check: defects (errors) and lesser warnings."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def result(self, check: str) -> QualityCheckResult:
        score = 1.0 - ERROR_PENALTY * len(self.errors) - WARNING_PENALTY * len(self.warnings)
        return QualityCheckResult(
            check, max(0.0, round(score, 4)), tuple(self.errors + self.warnings)
        )
