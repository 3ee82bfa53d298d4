"""The statistics of online feedback: Wilson intervals, two-sample comparisons, power.

Pure standard library (``statistics.NormalDist``), so the analyze_feedback Lambda needs no
numpy/scipy. Online, sessions are split between variants and nobody sees both, so the
paired tests of the offline A/B (McNemar, paired bootstrap) do not apply: proportions are
compared with the two-proportion z-test and Newcombe's hybrid score interval (built from
the two Wilson intervals), means with Welch's unequal-variance interval. A comparison's
decision is read from its interval (significant = the interval excludes 0), so the
interval shown always agrees with the verdict; the p-value is reported beside it.

Example:
    >>> low, high = wilson(45, 60)
    >>> round(low, 3), round(high, 3)
    (0.628, 0.842)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


def z_for(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level (0.95 → 1.96)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion; ``(0, 1)`` when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    z = z_for(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Difference:
    """``treatment - control`` of one metric, with its interval and test."""

    metric: str
    control: float | None
    treatment: float | None
    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    n_control: int
    n_treatment: int
    confidence: float
    #: The smallest true difference this sample detects with 80 % power (None: no data).
    detectable: float | None

    @property
    def significant(self) -> bool:
        """The interval excludes 0 (the decision; it always agrees with the interval shown)."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, object]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "metric": self.metric,
            "control": r(self.control),
            "treatment": r(self.treatment),
            "difference": r(self.difference),
            "ci": [r(self.low), r(self.high)],
            "confidence": self.confidence,
            "p_value": r(self.p_value),
            "n_control": self.n_control,
            "n_treatment": self.n_treatment,
            "significant": self.significant,
            "minimum_detectable_difference": r(self.detectable),
        }


def _two_sided_p(z: float) -> float:
    return 2 * (1 - _NORMAL.cdf(abs(z)))


def _power_term(confidence: float, power: float = 0.8) -> float:
    return z_for(confidence) + _NORMAL.inv_cdf(power)


def compare_proportions(
    control: tuple[int, int], treatment: tuple[int, int], *, confidence: float = 0.95, metric: str = "csat"
) -> Difference:
    """Two proportions ``(successes, n)``: Newcombe's hybrid score interval of the difference
    and the pooled two-proportion z-test."""
    (k1, n1), (k2, n2) = control, treatment
    if n1 == 0 or n2 == 0:
        return Difference(metric, k1 / n1 if n1 else None, k2 / n2 if n2 else None, None, None, None,
                          None, n1, n2, confidence, None)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence=confidence)
    l2, u2 = wilson(k2, n2, confidence=confidence)
    difference = p2 - p1
    low = difference - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = difference + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    pooled = (k1 + k2) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 1.0 if se_pooled == 0 else _two_sided_p(difference / se_pooled)
    variance = max(pooled * (1 - pooled), 1e-9)
    detectable = _power_term(confidence) * math.sqrt(variance * (1 / n1 + 1 / n2))
    return Difference(metric, p1, p2, difference, low, high, p_value, n1, n2, confidence, detectable)


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, variance


def compare_means(
    control: Sequence[float], treatment: Sequence[float], *, confidence: float = 0.95,
    metric: str = "mean_rating",
) -> Difference:
    """Two independent samples: Welch's interval of the mean difference (normal quantiles:
    the verdicts need a minimum sample far above where t and z differ) and its z-test."""
    n1, n2 = len(control), len(treatment)
    if n1 < 2 or n2 < 2:
        m1 = sum(control) / n1 if n1 else None
        m2 = sum(treatment) / n2 if n2 else None
        return Difference(metric, m1, m2, None, None, None, None, n1, n2, confidence, None)
    m1, v1 = _mean_var(control)
    m2, v2 = _mean_var(treatment)
    difference = m2 - m1
    se = math.sqrt(v1 / n1 + v2 / n2)
    z = z_for(confidence)
    if se == 0:
        p_value = 1.0 if difference == 0 else 0.0
        return Difference(metric, m1, m2, difference, difference, difference, p_value, n1, n2, confidence, 0.0)
    p_value = _two_sided_p(difference / se)
    detectable = _power_term(confidence) * se
    return Difference(metric, m1, m2, difference, difference - z * se, difference + z * se, p_value,
                      n1, n2, confidence, detectable)


def required_per_arm_proportion(baseline: float, effect: float, *, confidence: float = 0.95,
                                power: float = 0.8) -> int:
    """Sessions per arm to detect ``baseline → baseline + effect`` (normal approximation)."""
    if effect == 0:
        raise ValueError("effect must be non-zero")
    p2 = min(max(baseline + effect, 0.0), 1.0)
    variance = baseline * (1 - baseline) + p2 * (1 - p2)
    term = _power_term(confidence, power)
    return math.ceil(term * term * max(variance, 1e-9) / (effect * effect))
