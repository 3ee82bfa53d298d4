"""Compare a run with its baseline: per case and per metric, with paired tests.

Per case: ``regressed`` (pass → fail), ``fixed`` (fail → pass), ``changed`` (same verdict,
different output; a deepdiff of the outputs), ``new``, ``missing`` (counts as failed).
Per metric: delta, its 95% interval and a paired test: McNemar's exact test on the
pass/fail flips for ``pass_rate``, a paired bootstrap for per-case scorer values, and an
approximate interval (independent half-widths) for aggregate metrics such as macro-F1.

Example:
    >>> case = {"id": "a", "input": "q", "expected": {"x": 2}, "scores": {}}
    >>> cur = {"cases": [dict(case, passed=False, output={"x": 1})], "metrics": {}}
    >>> base = {"cases": [dict(case, passed=True, output={"x": 2})], "metrics": {}}
    >>> compare_suite("s", cur, base).counts["regressed"]
    1
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evals.metrics import MetricValue
from evals.stats import diff_ci_independent, mcnemar_exact, paired_bootstrap

STATUSES = ("regressed", "missing", "fixed", "changed", "new", "unchanged")
MAX_DIFFS = 2000  # deepdiff is computed for at most this many changed cases per suite


@dataclass(frozen=True, slots=True)
class CaseChange:
    """One case whose status against the baseline is not ``unchanged``."""

    id: str
    status: str
    input: Any
    expected: Any
    baseline_output: Any
    output: Any
    diff: str = ""
    error: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "input": self.input, "expected": self.expected,
                "baseline_output": self.baseline_output, "output": self.output, "diff": self.diff,
                "error": self.error, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class MetricDelta:
    """A metric now against the baseline."""

    name: str
    baseline: float | None
    current: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    test: str  # mcnemar | paired_bootstrap | approx | none
    p_value: float | None
    higher_is_better: bool | None
    significant_regression: bool
    significant_improvement: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in ((f, getattr(self, f)) for f in self.__slots__)}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SuiteComparison:
    """Everything the report and the gates need about one suite against its baseline."""

    suite: str
    has_baseline: bool
    baseline_run_id: str | None
    dataset_changed: bool
    counts: dict[str, int]
    changes: list[CaseChange] = field(default_factory=list)
    metrics: dict[str, MetricDelta] = field(default_factory=dict)

    def regressions(self) -> list[CaseChange]:
        return [c for c in self.changes if c.status in ("regressed", "missing")]

    def to_dict(self, *, max_changes: int | None = None) -> dict[str, Any]:
        changes = self.changes if max_changes is None else self.changes[:max_changes]
        return {"suite": self.suite, "has_baseline": self.has_baseline, "baseline_run_id": self.baseline_run_id,
                "dataset_changed": self.dataset_changed, "counts": self.counts,
                "changes": [c.to_dict() for c in changes],
                "metrics": {k: v.to_dict() for k, v in self.metrics.items()}}


def clip(text: str, limit: int) -> str:
    """Shorten ``text`` to ``limit`` characters at a separator, so a number or a word is
    never cut in the middle (``0.64…`` must not read as a value).

    Example:
        >>> clip('{"confidence":0.6417,"intent":"billing"}', 24)
        '{"confidence":0.6417,…'
    """
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = max(head.rfind(sep) for sep in (" ", ",", ";", ":", "{", "[", "("))
    if cut >= limit // 3:
        head = head[: cut + 1] if head[cut] in ",;:{[(" else head[:cut]
    else:  # no separator: cut before the run of letters, digits or points at the end
        i = len(head)
        while i > 0 and (head[i - 1].isalnum() or head[i - 1] in "._-"):
            i -= 1
        head = head[:i] if i > 0 else head
    return head.rstrip() + "…"


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, str):
        text = value
    else:
        import json

        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
    return clip(text, limit)


def expected_vs_got(expected: Any, output: Any, *, limit: int = 160) -> str:
    """One line saying what was expected and what came out, for summaries.

    Only the expected keys that the output has and whose value differs are shown;
    an empty string means the difference is not visible that way (use the scorer detail).

    Example:
        >>> expected_vs_got({"intent": "billing_cost", "escalate": False},
        ...                 {"intent": "account_management", "escalate": False, "confidence": 0.8})
        'intent: billing_cost → account_management'
        >>> expected_vs_got({"action": "block"}, None)
        'action: block → (no output)'
    """
    if output is None:
        parts = [f"{k}: {_short(v)} → (no output)" for k, v in expected.items()] if isinstance(expected, dict) \
            else [f"{_short(expected)} → (no output)"]
    elif isinstance(expected, dict) and isinstance(output, dict):
        parts = [f"{k}: {_short(v)} → {_short(output[k])}" for k, v in expected.items()
                 if k in output and output[k] != v]
        if not parts:
            return ""
    else:
        parts = [f"{_short(expected)} → {_short(output)}"]
    return clip("; ".join(parts), limit)


def _diff(a: Any, b: Any) -> str:
    from deepdiff import DeepDiff

    try:
        d = DeepDiff(a, b, significant_digits=4, verbose_level=2)
    except Exception as exc:  # noqa: BLE001
        return f"(diff failed: {exc})"
    if not d:
        return ""
    return d.pretty() if hasattr(d, "pretty") else str(d)


VOLATILE_KEY = "timing"  # output key excluded from "changed" (wall-clock measurements differ every run)


def _stable(output: Any) -> Any:
    if isinstance(output, dict) and VOLATILE_KEY in output:
        return {k: v for k, v in output.items() if k != VOLATILE_KEY}
    return output


def _detail(case: dict[str, Any]) -> str:
    parts = [f"{k}: {s['detail']}" for k, s in (case.get("scores") or {}).items() if s.get("detail")]
    return "; ".join(parts)


def compare_suite(name: str, current: dict[str, Any], baseline: dict[str, Any] | None, *,
                  alpha: float = 0.05, baseline_run_id: str | None = None) -> SuiteComparison:
    """Compare the suite record ``current`` with ``baseline`` (both from run records).

    Args:
        name: Suite name.
        current: The suite part of the current run record.
        baseline: The suite part of the baseline record, or None.
        alpha: Significance level of the paired tests.
        baseline_run_id: For the report.

    Returns:
        Changes ordered regressions first (then missing, fixed, changed, new) and metric deltas.
    """
    if baseline is None:
        counts = {s: 0 for s in STATUSES}
        counts["new"] = len(current["cases"])
        return SuiteComparison(name, False, None, False, counts)
    base_cases = {c["id"]: c for c in baseline["cases"]}
    cur_ids = set()
    buckets: dict[str, list[CaseChange]] = {s: [] for s in STATUSES}
    flips_b = flips_c = 0
    pairs_base: list[float] = []
    pairs_cur: list[float] = []
    score_pairs: dict[str, tuple[list[float], list[float]]] = {}
    n_diffs = 0
    for case in current["cases"]:
        cid = case["id"]
        cur_ids.add(cid)
        base = base_cases.get(cid)
        if base is None:
            buckets["new"].append(CaseChange(cid, "new", case["input"], case["expected"], None, case["output"],
                                             error=case.get("error"), detail=_detail(case)))
            continue
        bp, cp = bool(base["passed"]), bool(case["passed"])
        pairs_base.append(float(bp))
        pairs_cur.append(float(cp))
        for sname, s in (case.get("scores") or {}).items():
            bs = (base.get("scores") or {}).get(sname)
            if bs is not None:
                lists = score_pairs.setdefault(sname, ([], []))
                lists[0].append(float(bs["value"]))
                lists[1].append(float(s["value"]))
        if bp and not cp:
            flips_b += 1
            buckets["regressed"].append(CaseChange(cid, "regressed", case["input"], case["expected"], base["output"],
                                                   case["output"], _diff(base["output"], case["output"]),
                                                   case.get("error"), _detail(case)))
        elif cp and not bp:
            flips_c += 1
            buckets["fixed"].append(CaseChange(cid, "fixed", case["input"], case["expected"], base["output"],
                                               case["output"], _diff(base["output"], case["output"]),
                                               case.get("error"), _detail(case)))
        elif _stable(base["output"]) != _stable(case["output"]):
            diff = ""
            if n_diffs < MAX_DIFFS:
                diff = _diff(_stable(base["output"]), _stable(case["output"]))
                n_diffs += 1
            else:
                diff = "(diff omitted: too many changed cases)"
            buckets["changed"].append(CaseChange(cid, "changed", case["input"], case["expected"], base["output"],
                                                 case["output"], diff, case.get("error"), _detail(case)))
        else:
            buckets["unchanged"].append(None)  # type: ignore[arg-type]
    for cid, base in base_cases.items():
        if cid not in cur_ids:
            buckets["missing"].append(CaseChange(cid, "missing", base["input"], base["expected"], base["output"], None,
                                                 "case missing from the current run", None, ""))
            pairs_base.append(float(bool(base["passed"])))
            pairs_cur.append(0.0)
            if base["passed"]:
                flips_b += 1
    counts = {s: len(v) for s, v in buckets.items()}
    changes = [c for s in STATUSES if s != "unchanged" for c in buckets[s]]

    metrics: dict[str, MetricDelta] = {}
    cur_m = {k: MetricValue.from_dict(v) for k, v in current["metrics"].items()}
    base_m = {k: MetricValue.from_dict(v) for k, v in baseline["metrics"].items()}
    for key, cm in cur_m.items():
        bm = base_m.get(key)
        if bm is None:
            continue
        metrics[key] = _metric_delta(key, bm, cm, alpha, flips_b, flips_c, pairs_base, pairs_cur)
    for sname, (b_vals, c_vals) in score_pairs.items():
        pb = paired_bootstrap(b_vals, c_vals)
        key = f"score:{sname}"
        base_mean = float(np.mean(b_vals)) if b_vals else None
        cur_mean = float(np.mean(c_vals)) if c_vals else None
        sig = pb.p_value < alpha
        metrics[key] = MetricDelta(key, base_mean, cur_mean, pb.delta, pb.ci_low, pb.ci_high, "paired_bootstrap",
                                   pb.p_value, True, sig and pb.delta < 0, sig and pb.delta > 0)
    dataset_changed = (current.get("dataset") or {}).get("sha256") != (baseline.get("dataset") or {}).get("sha256")
    return SuiteComparison(name, True, baseline_run_id, dataset_changed, counts, changes, metrics)


def _metric_delta(key: str, bm: MetricValue, cm: MetricValue, alpha: float, flips_b: int, flips_c: int,
                  pairs_base: list[float], pairs_cur: list[float]) -> MetricDelta:
    hib = cm.higher_is_better
    if any(math.isnan(x) for x in (bm.value, cm.value)):
        return MetricDelta(key, _n(bm.value), _n(cm.value), None, None, None, "none", None, hib, False, False)
    delta = cm.value - bm.value
    if key == "pass_rate":
        p = mcnemar_exact(flips_b, flips_c)
        pb = paired_bootstrap(pairs_base, pairs_cur)
        lo, hi = pb.ci_low, pb.ci_high
        sig = p < alpha
        return MetricDelta(key, bm.value, cm.value, delta, lo, hi, "mcnemar", p, hib,
                           sig and flips_b > flips_c, sig and flips_c > flips_b)
    if hib is None or cm.ci_method == "none" or bm.ci_method == "none":
        return MetricDelta(key, bm.value, cm.value, delta, None, None, "none", None, hib, False, False)
    lo, hi = diff_ci_independent(bm.value, (bm.ci_low, bm.ci_high), cm.value, (cm.ci_low, cm.ci_high))
    worse = hi < 0 if hib else lo > 0
    better = lo > 0 if hib else hi < 0
    return MetricDelta(key, bm.value, cm.value, delta, lo, hi, "approx", None, hib, worse, better)


def _n(x: float) -> float | None:
    return None if math.isnan(x) else x
