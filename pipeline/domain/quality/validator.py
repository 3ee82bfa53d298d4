"""The validator: six checks, a weighted score and a pass/fail decision.

**Pass rule.** ``score`` is the weighted mean of the checks (:data:`CHECK_WEIGHTS`, sum 1).
``passed`` is ``score >= threshold`` (:data:`DEFAULT_THRESHOLD` = 0.75) **and** no check
below :data:`HARD_FAIL_LEVEL` (0.5). One defect takes a check to 0.4, so any single defect
- a leaked secret, an invalid CLI call, a truncated answer - fails the response whatever
the average; the threshold catches answers with several lesser warnings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pipeline.domain.models import QUALITY_CHECKS, GuardrailVerdict, QualityReport
from pipeline.domain.quality.accuracy import AccuracyCheck
from pipeline.domain.quality.completeness import CompletenessCheck
from pipeline.domain.quality.parsing import parse_response, shlex_shell_check, tabs_yaml_check
from pipeline.domain.quality.relevance import RelevanceCheck
from pipeline.domain.quality.safety import SafetyCheck
from pipeline.domain.quality.scoring import CHECK_WEIGHTS, DEFAULT_THRESHOLD, HARD_FAIL_LEVEL
from pipeline.domain.quality.structure import check_structure
from pipeline.domain.quality.text import ServiceIndex
from pipeline.domain.quality.tone import check_tone
from pipeline.ports import AwsApiCatalog


class QualityValidator:
    """Scores a response to a query on six checks; see the package docstring for the rules.

    Args:
        catalog: Offline AWS API knowledge (``BotocoreApiCatalog`` in production).
        output_guard: ``scan_output(text) -> GuardrailVerdict``; defaults to
            ``pipeline.domain.guardrails.scan_output`` when that module is present.
        shell_checker: Returns None when a shell script parses, else a message. Default:
            a pure ``shlex`` check (inject ``code_checks.check_shell`` for ``bash -n``).
        yaml_checker: Same contract for YAML. Default: tabs in indentation only.
        threshold: Minimum weighted score to pass.
        weights: Per-check weights; missing checks get weight 0; normalised to sum 1.
    """

    def __init__(
        self,
        catalog: AwsApiCatalog,
        *,
        output_guard: Callable[[str], GuardrailVerdict] | None = None,
        shell_checker: Callable[[str], str | None] | None = None,
        yaml_checker: Callable[[str], str | None] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        raw = dict(weights if weights is not None else CHECK_WEIGHTS)
        unknown = set(raw) - set(QUALITY_CHECKS)
        if unknown:
            raise ValueError(f"unknown quality check(s) in weights: {', '.join(sorted(unknown))}")
        total = sum(raw.values())
        if total <= 0:
            raise ValueError("quality check weights must sum to a positive number")
        self.catalog = catalog
        self.output_guard = output_guard if output_guard is not None else _default_output_guard()
        self.shell_checker = shell_checker or shlex_shell_check
        self.yaml_checker = yaml_checker or tabs_yaml_check
        self.threshold = threshold
        self.weights: Mapping[str, float] = {c: raw.get(c, 0.0) / total for c in QUALITY_CHECKS}
        services = ServiceIndex(catalog)
        self._completeness = CompletenessCheck(services)
        self._relevance = RelevanceCheck(services)
        self._accuracy = AccuracyCheck(catalog, self.shell_checker, self.yaml_checker)
        self._safety = SafetyCheck(self.output_guard)

    def describe(self) -> dict[str, Any]:
        """The validator's actual constructor arguments, named (for run records and tests)."""
        return {
            "catalog": _name(self.catalog),
            "output_guard": _name(self.output_guard),
            "shell_checker": _name(self.shell_checker),
            "yaml_checker": _name(self.yaml_checker),
            "threshold": self.threshold,
            "weights": {c: round(w, 6) for c, w in self.weights.items()},
        }

    def validate(
        self, query: str, response: str, *, intent: str | None = None, sentiment: str | None = None
    ) -> QualityReport:
        """Validate ``response`` as an answer to ``query``.

        Args:
            query: The user's (redacted) question.
            response: The assistant's answer (Markdown).
            intent: The detected intent, if known (``*_troubleshooting`` expects steps;
                ``out_of_scope`` answers are polite declines and skip coverage checks).
            sentiment: The user's sentiment (``NEGATIVE`` …), if known.

        Returns:
            The report: weighted score, passed flag, and one result per check.
        """
        parsed = parse_response(response)
        relevance = self._relevance(query, response, intent)
        checks = (
            self._completeness(query, response, parsed, intent, relevance.score < HARD_FAIL_LEVEL),
            check_structure(response, parsed, query),
            self._accuracy(response, parsed),
            relevance,
            check_tone(query, response, sentiment),
            self._safety(query, response),
        )
        score = sum(self.weights[c.check] * c.score for c in checks)
        hard_fail = any(c.score < HARD_FAIL_LEVEL for c in checks)
        return QualityReport(
            score=round(score, 4),
            passed=score >= self.threshold and not hard_fail,
            threshold=self.threshold,
            checks=checks,
        )


def _name(component: Any) -> str | None:
    """``module.qualname`` of a function, class instance or ``functools`` wrapper."""
    if component is None:
        return None
    target = getattr(component, "__wrapped__", component)
    if not hasattr(target, "__qualname__"):
        target = type(target)
    name = f"{target.__module__}.{target.__qualname__}"
    return f"lru_cache({name})" if target is not component else name


def _default_output_guard() -> Callable[[str], GuardrailVerdict] | None:
    try:
        from pipeline.domain.guardrails import scan_output  # domain-internal, pure Python
    except ImportError:
        return None
    return scan_output
