"""Metrics: classification, agreement, calibration, coverage and latency.

Pure functions over arrays or sequences, vectorised with numpy so a 100,000-case suite
costs milliseconds. :class:`MetricValue` is what a suite reports: a number, its 95%
confidence interval (Wilson for rates, bootstrap for the rest), the sample size and the
direction in which it is better.

Example:
    >>> prf = per_label_prf(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    >>> prf["a"]["precision"], prf["a"]["recall"], prf["b"]["support"]
    (1.0, 0.5, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evals.stats import DEFAULT_SEED, bootstrap_ci, wilson_interval

STAT_RESAMPLES = 200  # resamples for non-mean bootstrap statistics (macro-F1, ECE, kappa)


@dataclass(frozen=True, slots=True)
class MetricValue:
    """One reported metric.

    Attributes:
        value: The point estimate (``nan`` when undefined, e.g. no support).
        ci_low: Lower bound of the 95% interval.
        ci_high: Upper bound of the 95% interval.
        n: Number of cases the metric is computed from.
        kind: ``rate`` (a proportion; Wilson interval), ``score`` (bootstrap), ``ms`` or ``count``.
        higher_is_better: Direction of improvement; ``None`` for descriptive numbers.
        ci_method: ``wilson``, ``bootstrap`` or ``none``.
        successes: For rates, the numerator (so a comparison can redo the test).
    """

    value: float
    ci_low: float
    ci_high: float
    n: int
    kind: str = "rate"
    higher_is_better: bool | None = True
    ci_method: str = "wilson"
    successes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": _r(self.value),
            "ci": [_r(self.ci_low), _r(self.ci_high)],
            "n": self.n,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "ci_method": self.ci_method,
            "successes": self.successes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricValue:
        ci = data.get("ci") or [None, None]
        return cls(
            value=_f(data.get("value")),
            ci_low=_f(ci[0]),
            ci_high=_f(ci[1]),
            n=int(data.get("n", 0)),
            kind=data.get("kind", "rate"),
            higher_is_better=data.get("higher_is_better", True),
            ci_method=data.get("ci_method", "none"),
            successes=data.get("successes"),
        )


def _r(x: float) -> float | None:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    return round(float(x), 6)


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


# ---------------------------------------------------------------------------
# Constructors
# ---------------------------------------------------------------------------


def rate(successes: int, n: int, *, higher_is_better: bool | None = True) -> MetricValue:
    """A proportion with its Wilson interval; ``nan`` when ``n == 0``."""
    lo, hi = wilson_interval(successes, n)
    value = successes / n if n else float("nan")
    return MetricValue(value, lo, hi, n, "rate", higher_is_better, "wilson", int(successes))


def mean_score(values: Sequence[float] | np.ndarray, *, higher_is_better: bool | None = True,
               seed: int = DEFAULT_SEED) -> MetricValue:
    """The mean of per-case scores with a bootstrap interval."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return MetricValue(float("nan"), float("nan"), float("nan"), 0, "score", higher_is_better, "none")
    lo, hi = bootstrap_ci(arr, seed=seed)
    return MetricValue(float(arr.mean()), lo, hi, int(arr.size), "score", higher_is_better, "bootstrap")


def statistic_with_ci(value: float, n: int, resampled: np.ndarray | None, *,
                      higher_is_better: bool | None = True, kind: str = "score") -> MetricValue:
    """Wrap a point estimate and its bootstrap replicates (percentile interval)."""
    if resampled is None or resampled.size == 0 or n == 0:
        return MetricValue(value, float("nan"), float("nan"), n, kind, higher_is_better, "none")
    lo, hi = np.nanquantile(resampled, [0.025, 0.975]) if np.isfinite(resampled).any() else (np.nan, np.nan)
    return MetricValue(value, float(lo), float(hi), n, kind, higher_is_better, "bootstrap")


def descriptive(value: float, n: int, kind: str = "ms") -> MetricValue:
    """A number with no interval and no direction (latency percentiles, counts)."""
    return MetricValue(value, float("nan"), float("nan"), n, kind, None, "none")


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------


def _encode(values: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    other = len(labels)
    return np.fromiter((index.get(v, other) for v in values), dtype=np.int64, count=len(values))


def confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts ``m[i, j]`` of true label i predicted as j. Unknown labels go to an extra row/column.

    Returns:
        An ``(L+1, L+1)`` integer array; the last row/column is "other".
    """
    k = len(labels) + 1
    t = _encode(y_true, labels)
    p = _encode(y_pred, labels)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _prf_from_confusion(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(m).astype(float)
    pred = m.sum(axis=0).astype(float)
    true = m.sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred > 0, tp / pred, 0.0)
        recall = np.where(true > 0, tp / true, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1, true


def per_label_prf(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per label (single-label classification)."""
    m = confusion_matrix(y_true, y_pred, labels)
    p, r, f, s = _prf_from_confusion(m)
    return {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    }


def macro_f1_from_confusion(m: np.ndarray, n_labels: int) -> float:
    """Macro-F1 over the labels with support (the "other" row/column excluded)."""
    _, _, f1, support = _prf_from_confusion(m)
    mask = support[:n_labels] > 0
    return float(f1[:n_labels][mask].mean()) if mask.any() else float("nan")


def accuracy_and_macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], *,
                          seed: int = DEFAULT_SEED, resamples: int = STAT_RESAMPLES) -> tuple[MetricValue, MetricValue]:
    """Accuracy (Wilson interval) and macro-F1 (bootstrap interval) in one pass."""
    n = len(y_true)
    k = len(labels) + 1
    t = _encode(y_true, labels)
    p = _encode(y_pred, labels)
    correct = int((t == p).sum())
    acc = rate(correct, n)
    if n == 0:
        return acc, MetricValue(float("nan"), float("nan"), float("nan"), 0, "score", True, "none")
    codes = t * k + p
    m = np.bincount(codes, minlength=k * k).reshape(k, k)
    point = macro_f1_from_confusion(m, len(labels))
    rng = np.random.default_rng(seed)
    reps = np.empty(resamples)
    for i in range(resamples):
        sample = codes[rng.integers(0, n, n)]
        reps[i] = macro_f1_from_confusion(np.bincount(sample, minlength=k * k).reshape(k, k), len(labels))
    return acc, statistic_with_ci(point, n, reps)


def top_confusions(m: np.ndarray, labels: Sequence[str], k: int = 5) -> list[dict[str, Any]]:
    """The ``k`` largest off-diagonal cells as ``{"true", "pred", "count"}``."""
    names = list(labels) + ["other"]
    off = m.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(off, axis=None)[::-1][:k]
    out = []
    for idx in flat:
        i, j = divmod(int(idx), m.shape[1])
        if off[i, j] > 0:
            out.append({"true": names[i], "pred": names[j], "count": int(off[i, j])})
    return out


def binary_prf(truth: Sequence[bool], pred: Sequence[bool]) -> dict[str, MetricValue]:
    """Precision and recall (Wilson) and F1 of a binary flag."""
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(pred, dtype=bool)
    tp = int((t & p).sum())
    return {
        "precision": rate(tp, int(p.sum())),
        "recall": rate(tp, int(t.sum())),
        "f1": descriptive(_f1(tp, int(p.sum()), int(t.sum())), int(t.size), "score"),
    }


def _f1(tp: int, pred: int, true: int) -> float:
    if pred == 0 or true == 0:
        return 0.0 if (pred or true) else float("nan")
    precision, recall = tp / pred, tp / true
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def multilabel_prf(true_sets: Sequence[Sequence[str]], pred_sets: Sequence[Sequence[str]],
                   labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per-category precision/recall/F1/support for multi-label outputs (guardrail categories)."""
    out: dict[str, dict[str, Any]] = {}
    tsets = [set(t) for t in true_sets]
    psets = [set(p) for p in pred_sets]
    for label in labels:
        tp = sum(1 for t, p in zip(tsets, psets, strict=True) if label in t and label in p)
        true = sum(1 for t in tsets if label in t)
        pred = sum(1 for p in psets if label in p)
        if true == 0 and pred == 0:
            continue
        out[label] = {
            "precision": rate(tp, pred),
            "recall": rate(tp, true),
            "f1": _f1(tp, pred, true),
            "support": true,
        }
    return out


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's kappa between two raters' labels (1.0 perfect, 0.0 chance agreement).

    Returns ``nan`` for empty input and 1.0 when both raters use one identical label.
    """
    n = len(a)
    if n == 0:
        return float("nan")
    labels = sorted({*a, *b}, key=str)
    m = confusion_matrix([str(x) for x in a], [str(x) for x in b], [str(x) for x in labels])
    return _kappa_from_confusion(m)


def _kappa_from_confusion(m: np.ndarray) -> float:
    n = m.sum()
    if n == 0:
        return float("nan")
    po = np.trace(m) / n
    pe = float((m.sum(axis=0) * m.sum(axis=1)).sum()) / (n * n)
    if pe >= 1.0:
        return 1.0 if po >= 1.0 else 0.0
    return float((po - pe) / (1 - pe))


def kappa_with_ci(a: Sequence[bool], b: Sequence[bool], *, seed: int = DEFAULT_SEED,
                  resamples: int = STAT_RESAMPLES) -> MetricValue:
    """Cohen's kappa between two boolean raters with a bootstrap interval."""
    x = np.asarray(a, dtype=np.int64)
    y = np.asarray(b, dtype=np.int64)
    n = x.size
    if n == 0:
        return MetricValue(float("nan"), float("nan"), float("nan"), 0, "score", True, "none")
    codes = x * 2 + y
    point = _kappa_from_confusion(np.bincount(codes, minlength=4).reshape(2, 2))
    rng = np.random.default_rng(seed)
    reps = np.array([
        _kappa_from_confusion(np.bincount(codes[rng.integers(0, n, n)], minlength=4).reshape(2, 2))
        for _ in range(resamples)
    ])
    return statistic_with_ci(point, n, reps)


# ---------------------------------------------------------------------------
# Calibration and coverage
# ---------------------------------------------------------------------------


def reliability_bins(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width confidence bins: ``{"low", "high", "count", "confidence", "accuracy"}``."""
    c = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    y = np.asarray(correct, dtype=float)
    idx = np.minimum((c * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins)
    conf_sum = np.bincount(idx, weights=c, minlength=bins)
    acc_sum = np.bincount(idx, weights=y, minlength=bins)
    out = []
    for b in range(bins):
        n = int(count[b])
        out.append({
            "low": b / bins,
            "high": (b + 1) / bins,
            "count": n,
            "confidence": float(conf_sum[b] / n) if n else None,
            "accuracy": float(acc_sum[b] / n) if n else None,
        })
    return out


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over equal-width bins."""
    c = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    y = np.asarray(correct, dtype=float)
    return _ece(c, y, bins)


def _ece(c: np.ndarray, y: np.ndarray, bins: int) -> float:
    n = c.size
    if n == 0:
        return float("nan")
    idx = np.minimum((c * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins)
    gap = np.abs(np.bincount(idx, weights=c, minlength=bins) - np.bincount(idx, weights=y, minlength=bins))
    return float(gap.sum() / n) if count.sum() else float("nan")


def ece_with_ci(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10, *,
                seed: int = DEFAULT_SEED, resamples: int = STAT_RESAMPLES) -> MetricValue:
    """ECE with a bootstrap interval (lower is better)."""
    c = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    y = np.asarray(correct, dtype=float)
    n = c.size
    point = _ece(c, y, bins)
    if n == 0:
        return statistic_with_ci(point, 0, None, higher_is_better=False)
    rng = np.random.default_rng(seed)
    reps = np.empty(resamples)
    for i in range(resamples):
        idx = rng.integers(0, n, n)
        reps[i] = _ece(c[idx], y[idx], bins)
    return statistic_with_ci(point, n, reps, higher_is_better=False)


def brier_score(confidence: Sequence[float], correct: Sequence[bool]) -> float:
    """Brier score of the top-1 confidence against correctness (0 best, 1 worst)."""
    c = np.asarray(confidence, dtype=float)
    y = np.asarray(correct, dtype=float)
    return float(((c - y) ** 2).mean()) if c.size else float("nan")


def coverage_accuracy_curve(confidence: Sequence[float], correct: Sequence[bool],
                            thresholds: Sequence[float] | None = None) -> list[dict[str, float]]:
    """Accuracy of the answered cases against the share answered, as the threshold rises.

    A case is answered when its confidence is at least the threshold; the rest would be
    sent to clarification.

    Returns:
        ``[{"threshold", "coverage", "accuracy", "answered"}]`` in increasing threshold.
    """
    c = np.asarray(confidence, dtype=float)
    y = np.asarray(correct, dtype=float)
    if thresholds is None:
        thresholds = [round(t, 2) for t in np.linspace(0.0, 0.95, 20)]
    n = c.size
    out = []
    for t in thresholds:
        mask = c >= t
        answered = int(mask.sum())
        out.append({
            "threshold": float(t),
            "coverage": answered / n if n else float("nan"),
            "accuracy": float(y[mask].mean()) if answered else float("nan"),
            "answered": answered,
        })
    return out


def operating_point(curve: Sequence[dict[str, float]], target_accuracy: float) -> dict[str, Any]:
    """The lowest threshold whose answered accuracy reaches ``target_accuracy``.

    Falls back to the point of highest accuracy when no threshold reaches the target.
    """
    candidates = [p for p in curve if p["answered"] and p["accuracy"] >= target_accuracy]
    if candidates:
        point = dict(min(candidates, key=lambda p: p["threshold"]))
        point["meets_target"] = True
    else:
        finite = [p for p in curve if p["answered"]]
        if not finite:
            return {"threshold": None, "coverage": 0.0, "accuracy": None, "meets_target": False}
        point = dict(max(finite, key=lambda p: (p["accuracy"], p["coverage"])))
        point["meets_target"] = False
    point["target_accuracy"] = target_accuracy
    return point


# ---------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------


def latency_summary(ms: Sequence[float] | np.ndarray) -> dict[str, MetricValue]:
    """p50/p95/p99 and mean of per-case latencies in milliseconds."""
    arr = np.asarray(ms, dtype=float)
    n = int(arr.size)
    if n == 0:
        return {}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "latency_p50_ms": descriptive(float(p50), n),
        "latency_p95_ms": descriptive(float(p95), n),
        "latency_p99_ms": descriptive(float(p99), n),
        "latency_mean_ms": descriptive(float(arr.mean()), n),
    }


def latency_histogram(ms: Sequence[float] | np.ndarray, bins: int = 20) -> list[dict[str, float]]:
    """Log-spaced histogram of latencies for the report: ``[{"low", "high", "count"}]``."""
    arr = np.asarray(ms, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return []
    lo = max(float(arr.min()), 1e-3)
    hi = max(float(arr.max()), lo * 1.01)
    edges = np.geomspace(lo, hi, bins + 1)
    counts, _ = np.histogram(np.clip(arr, lo, hi), bins=edges)
    return [{"low": float(edges[i]), "high": float(edges[i + 1]), "count": int(counts[i])} for i in range(bins)]
