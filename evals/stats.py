"""Statistics for the harness: intervals and paired significance tests.

Everything here is deterministic: bootstrap functions take a fixed ``seed`` so two runs
over the same data give the same interval (and the seed is recorded in the run record).

Example:
    >>> lo, hi = wilson_interval(8, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.4902, 0.9433)
    >>> mcnemar_exact(b=1, c=9)  # 1 pass→fail, 9 fail→pass
    0.021484375
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sp

DEFAULT_SEED = 20261115
DEFAULT_RESAMPLES = 1000


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Args:
        successes: Number of successes.
        n: Number of trials; ``n == 0`` gives ``(0.0, 1.0)`` (no information).
        confidence: Two-sided confidence level.

    Returns:
        ``(low, high)`` bounds in [0, 1].
    """
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} not in [0, {n}]")
    z = float(_sp.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] | None = None,
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` (the mean by default).

    The mean is vectorised (one ``(resamples, n)`` index matrix, chunked to bound memory);
    other statistics are evaluated once per resample.

    Args:
        values: The per-case values.
        statistic: Maps a 1-D array to a number; ``None`` means the mean.
        confidence: Two-sided confidence level.
        resamples: Number of bootstrap resamples.
        seed: Seed of the generator, so intervals are reproducible.

    Returns:
        ``(low, high)``; ``(nan, nan)`` for an empty input.
    """
    arr = np.asarray(values, dtype=float)
    n = arr.size
    if n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    if statistic is None:
        stats_ = _bootstrap_means(arr, rng, resamples)
    else:
        stats_ = np.array([statistic(arr[rng.integers(0, n, n)]) for _ in range(resamples)])
    alpha = (1 - confidence) / 2
    lo, hi = np.nanquantile(stats_, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def _bootstrap_means(arr: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    n = arr.size
    chunk = max(1, min(resamples, 4_000_000 // max(n, 1)))
    out = np.empty(resamples)
    done = 0
    while done < resamples:
        k = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(k, n))
        out[done : done + k] = arr[idx].mean(axis=1)
        done += k
    return out


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test on the discordant pairs of a paired 2×2 table.

    Args:
        b: Pairs that passed before and fail now (regressions).
        c: Pairs that failed before and pass now (fixes).

    Returns:
        The two-sided p-value (1.0 when there are no discordant pairs).
    """
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    p = 2.0 * float(_sp.binom.cdf(k, n, 0.5))
    return min(1.0, p)


@dataclass(frozen=True, slots=True)
class PairedDelta:
    """The difference ``current - baseline`` of a paired statistic, with its interval."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float


def paired_bootstrap(
    baseline: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> PairedDelta:
    """Paired bootstrap of the mean difference ``current - baseline``.

    Cases are resampled as pairs, so the per-case correlation is kept. The p-value is the
    two-sided bootstrap p-value of "no difference" (twice the smaller tail mass at 0).

    Args:
        baseline: Per-case values of the baseline run.
        current: Per-case values of the current run, aligned with ``baseline``.
        confidence: Two-sided confidence level.
        resamples: Number of bootstrap resamples.
        seed: Seed of the generator.

    Returns:
        The delta of the means, its percentile interval and the p-value.
    """
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(current, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} vs {b.shape}")
    if a.size == 0:
        return PairedDelta(0.0, float("nan"), float("nan"), 1.0)
    diff = b - a
    delta = float(diff.mean())
    if not diff.any():
        return PairedDelta(0.0, 0.0, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    boots = _bootstrap_means(diff, rng, resamples)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    p = 2 * min(float((boots <= 0).mean()), float((boots >= 0).mean()))
    return PairedDelta(delta, float(lo), float(hi), min(1.0, p))


def diff_ci_independent(
    a: float, a_ci: tuple[float, float], b: float, b_ci: tuple[float, float]
) -> tuple[float, float]:
    """Approximate interval of ``b - a`` from two independent intervals (half-widths in quadrature).

    Used for metrics that are not case means (macro-F1, ECE …) where no cheap paired
    resampling exists; the report marks these intervals as approximate.
    """
    ha = (a_ci[1] - a_ci[0]) / 2
    hb = (b_ci[1] - b_ci[0]) / 2
    half = math.sqrt(ha * ha + hb * hb)
    d = b - a
    return (d - half, d + half)


def mcnemar_interval(b: int, c: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Interval of the paired pass-rate difference ``(c - b) / n`` that agrees with :func:`mcnemar_exact`.

    Conditional on the ``b + c`` discordant pairs, ``c`` is binomial with ``θ = c / (b + c)``
    and "no difference" is ``θ = 0.5``. The Clopper–Pearson interval of ``θ`` excludes 0.5
    exactly when the doubled-tail exact test rejects at ``1 - confidence`` (both compare the
    same binomial tails with ``(1 - confidence) / 2``), so mapping it to the difference,
    ``(b + c) / n · (2θ - 1)``, gives an interval that excludes 0 exactly when McNemar's
    exact test is significant.

    Args:
        b: Pairs that pass in A and fail in B.
        c: Pairs that fail in A and pass in B.
        n: All pairs.
        confidence: Two-sided confidence level.

    Returns:
        ``(low, high)``; ``(0.0, 0.0)`` when there is no discordant pair.
    """
    d = b + c
    if d == 0 or n <= 0:
        return (0.0, 0.0)
    tail = (1 - confidence) / 2
    lo = 0.0 if c == 0 else float(_sp.beta.ppf(tail, c, d - c + 1))
    hi = 1.0 if c == d else float(_sp.beta.ppf(1 - tail, c + 1, d - c))
    scale = d / n
    return (scale * (2 * lo - 1), scale * (2 * hi - 1))


def min_detectable_effect(sd: float, n: int, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean difference a two-sided test at ``alpha`` detects with ``power``.

    The normal approximation ``(z(1 - alpha/2) + z(power)) · sd / sqrt(n)`` for a paired
    mean difference whose per-pair standard deviation is ``sd``.

    Example:
        >>> round(min_detectable_effect(1.0, 100), 3)
        0.28
    """
    if n <= 0:
        return float("inf")
    z = float(_sp.norm.ppf(1 - alpha / 2)) + float(_sp.norm.ppf(power))
    return z * sd / math.sqrt(n)
