"""Paired analysis of two runs of the generation suite (arm A and arm B on the same cases).

**How the verdict is decided** (``evals/ab.toml`` holds α, the resamples, the seed and the
safety margin):

- ``answer_score`` (per case: mean of structure, grounding and quality): the mean paired
  difference B − A with a seeded **paired-bootstrap** percentile interval. The interval
  decides: wholly above 0 → B better on score, wholly below 0 → B worse on score.
- **pass rate**: McNemar's exact test on the discordant pairs. The interval shown is the
  exact conditional (Clopper–Pearson) interval mapped to the pass-rate difference
  (:func:`evals.stats.mcnemar_interval`), which excludes 0 exactly when the test rejects,
  so the interval and the test never disagree.
- **safety** (non-inferiority): the share of cases the output guardrail redacted or
  blocked. B may not be worse than A by more than the margin: the one-sided upper
  ``1 - α`` paired-bootstrap bound of B − A must stay at or below the margin.
- ``B worse`` when any of the three says B is worse (regressions first); ``B better`` when
  score or pass rate says better and nothing says worse; otherwise ``no detectable
  difference``, with the smallest effect this sample could detect at 80% power
  (:func:`evals.stats.min_detectable_effect`).

Structure, grounding, quality, words, tokens, cost and latency are reported with their own
paired-bootstrap intervals; they explain the verdict and do not decide it.

Example:
    >>> a = {"cases": [{"id": "1", "passed": True, "scores": {"answer_quality": {"value": 1.0}}, "output": {}}]}
    >>> analyse(a, a, ABConfig()).decision
    'no detectable difference'
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evals.generation_suite import SCORE_NAMES, answer_score
from evals.stats import mcnemar_exact, mcnemar_interval, min_detectable_effect, paired_bootstrap

AB_CONFIG = Path(__file__).resolve().parent / "ab.toml"
DECISIONS = ("B better", "B worse", "no detectable difference")
PRIMARY = "answer_score"
#: Reported metrics read from each case's output (name, output key, kind).
OUTPUT_METRICS = (("words", "words"), ("output_tokens", "output_tokens"), ("input_tokens", "input_tokens"),
                  ("cost_usd", "cost_usd"), ("latency_ms", "latency_ms"))


class ABConfigError(ValueError):
    """The A/B settings file is invalid (the message names the file and key)."""


@dataclass(frozen=True, slots=True)
class ABConfig:
    """Settings of the paired analysis (``evals/ab.toml``)."""

    alpha: float = 0.05
    power: float = 0.8
    resamples: int = 2000
    seed: int = 20261115
    guardrail_margin: float = 0.02

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "power": self.power, "resamples": self.resamples, "seed": self.seed,
                "guardrail_margin": self.guardrail_margin}


def load_ab_config(path: Path = AB_CONFIG) -> ABConfig:
    """Read and validate the settings; raises :class:`ABConfigError` naming the key."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ABConfigError(f"{path}: {exc}") from exc
    known = {"alpha", "power", "resamples", "seed", "non_inferiority"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ABConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    ni = data.get("non_inferiority", {})
    if not isinstance(ni, dict) or set(ni) - {"guardrail_violation_margin"}:
        raise ABConfigError(f"{path}: [non_inferiority] takes only guardrail_violation_margin")
    cfg = ABConfig(alpha=float(data.get("alpha", 0.05)), power=float(data.get("power", 0.8)),
                   resamples=int(data.get("resamples", 2000)), seed=int(data.get("seed", 20261115)),
                   guardrail_margin=float(ni.get("guardrail_violation_margin", 0.02)))
    for name, value, low, high in (("alpha", cfg.alpha, 0.0, 0.5), ("power", cfg.power, 0.5, 1.0),
                                   ("non_inferiority.guardrail_violation_margin", cfg.guardrail_margin, 0.0, 1.0)):
        if not low < value < high and not (name.endswith("margin") and value == 0.0):
            raise ABConfigError(f"{path}: {name} = {value} must be between {low} and {high}")
    if cfg.resamples < 100:
        raise ABConfigError(f"{path}: resamples = {cfg.resamples} must be at least 100")
    return cfg


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """One metric, A vs B, on the paired cases."""

    name: str
    a: float
    b: float
    delta: float
    ci_low: float
    ci_high: float
    method: str
    p_value: float | None = None
    decides: bool = False
    higher_is_better: bool | None = True
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)

        return {"name": self.name, "a": r(self.a), "b": r(self.b), "delta": r(self.delta),
                "ci": [r(self.ci_low), r(self.ci_high)], "method": self.method, "p_value": r(self.p_value),
                "decides": self.decides, "higher_is_better": self.higher_is_better, "note": self.note}


@dataclass(frozen=True, slots=True)
class ABAnalysis:
    """The paired comparison of two arms and its verdict."""

    n: int
    metrics: tuple[MetricComparison, ...]
    decision: str
    reasons: tuple[str, ...]
    mde: dict[str, float]
    counts: dict[str, int]
    per_case: tuple[dict[str, Any], ...]
    per_group: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: ABConfig = field(default_factory=ABConfig)

    @property
    def regression(self) -> bool:
        return self.decision == "B worse"

    def metric(self, name: str) -> MetricComparison:
        return next(m for m in self.metrics if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "decision": self.decision, "reasons": list(self.reasons),
                "mde": {k: round(v, 6) for k, v in self.mde.items()}, "counts": self.counts,
                "metrics": [m.to_dict() for m in self.metrics], "per_group": self.per_group,
                "per_case": list(self.per_case), "config": self.config.to_dict()}


def _value(case: dict[str, Any], name: str) -> float:
    if name == PRIMARY:
        return answer_score(case)
    scores = case.get("scores") or {}
    if name in scores:
        return float(scores[name]["value"])
    return float((case.get("output") or {}).get(name) or 0.0)


def _violation(case: dict[str, Any]) -> float:
    guard = ((case.get("output") or {}).get("guardrail") or {}).get("action", "allow")
    return 0.0 if guard == "allow" else 1.0


def _paired(name: str, a: np.ndarray, b: np.ndarray, cfg: ABConfig, *, decides: bool = False,
            higher_is_better: bool | None = True, confidence: float | None = None) -> MetricComparison:
    d = paired_bootstrap(a, b, confidence=confidence or 1 - cfg.alpha, resamples=cfg.resamples, seed=cfg.seed)
    return MetricComparison(name, float(a.mean()) if a.size else math.nan, float(b.mean()) if b.size else math.nan,
                            d.delta, d.ci_low, d.ci_high, "paired bootstrap", d.p_value, decides, higher_is_better)


def _fmt(x: float) -> str:
    return f"{x:+.3f}"


def _mde_sd(a: np.ndarray, b: np.ndarray) -> float:
    """SD of the paired differences; when they are all equal (identical arms), the SD the
    difference would have if the arms were independent, a conservative stand-in."""
    diff = b - a
    sd = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
    if sd == 0.0 and a.size > 1:
        sd = math.sqrt(float(a.var(ddof=1)) + float(b.var(ddof=1)))
    return sd


def analyse(a_suite: dict[str, Any], b_suite: dict[str, Any], cfg: ABConfig) -> ABAnalysis:
    """Pair the cases of two suite records by id and decide (see the module docstring).

    Raises:
        ValueError: If the two runs do not hold the same case ids.
    """
    a_cases = {c["id"]: c for c in a_suite["cases"]}
    b_cases = {c["id"]: c for c in b_suite["cases"]}
    if set(a_cases) != set(b_cases):
        only_a, only_b = sorted(set(a_cases) - set(b_cases)), sorted(set(b_cases) - set(a_cases))
        raise ValueError(f"the arms ran different cases (only in A: {only_a[:3]}, only in B: {only_b[:3]})")
    ids = sorted(a_cases)
    n = len(ids)
    pa, pb = [a_cases[i] for i in ids], [b_cases[i] for i in ids]

    def arr(cases: list[dict[str, Any]], name: str) -> np.ndarray:
        return np.array([_value(c, name) for c in cases], dtype=float)

    metrics: list[MetricComparison] = []
    primary_a, primary_b = arr(pa, PRIMARY), arr(pb, PRIMARY)
    primary = _paired(PRIMARY, primary_a, primary_b, cfg, decides=True)
    metrics.append(primary)
    for name in SCORE_NAMES:
        metrics.append(_paired(name, arr(pa, name), arr(pb, name), cfg))

    pass_a = np.array([bool(c["passed"]) for c in pa])
    pass_b = np.array([bool(c["passed"]) for c in pb])
    regressed = int((pass_a & ~pass_b).sum())
    fixed = int((~pass_a & pass_b).sum())
    p_mcnemar = mcnemar_exact(regressed, fixed)
    lo, hi = mcnemar_interval(regressed, fixed, n, confidence=1 - cfg.alpha)
    pass_rate = MetricComparison("pass_rate", float(pass_a.mean()) if n else math.nan,
                                 float(pass_b.mean()) if n else math.nan, (fixed - regressed) / n if n else 0.0,
                                 lo, hi, "McNemar exact (interval: exact conditional, matches the test)",
                                 p_mcnemar, True, True, f"{fixed} fixed, {regressed} regressed")
    metrics.append(pass_rate)

    viol_a, viol_b = np.array([_violation(c) for c in pa]), np.array([_violation(c) for c in pb])
    # One-sided upper bound at 1 - α = the upper end of the two-sided 1 - 2α interval.
    safety = _paired("guardrail_violation_rate", viol_a, viol_b, cfg, decides=True, higher_is_better=False,
                     confidence=1 - 2 * cfg.alpha)
    inferior = safety.ci_high > cfg.guardrail_margin
    safety = MetricComparison(safety.name, safety.a, safety.b, safety.delta, safety.ci_low, safety.ci_high,
                              f"non-inferiority, paired bootstrap one-sided {1 - cfg.alpha:.0%} upper bound",
                              None, True, False,
                              f"upper bound {_fmt(safety.ci_high)} {'>' if inferior else '≤'} margin "
                              f"{cfg.guardrail_margin:+.3f}: {'inferior' if inferior else 'non-inferior'}")
    metrics.append(safety)

    for name, _key in OUTPUT_METRICS:
        metrics.append(_paired(name, arr(pa, name), arr(pb, name), cfg, higher_is_better=None))

    worse, better = [], []
    ci = f"95% CI {_fmt(primary.ci_low)}, {_fmt(primary.ci_high)}" if cfg.alpha == 0.05 else (
        f"{1 - cfg.alpha:.0%} CI {_fmt(primary.ci_low)}, {_fmt(primary.ci_high)}")
    if primary.ci_high < 0:
        worse.append(f"answer_score B−A {_fmt(primary.delta)} [{ci}] (paired bootstrap) is below 0")
    elif primary.ci_low > 0:
        better.append(f"answer_score B−A {_fmt(primary.delta)} [{ci}] (paired bootstrap) is above 0")
    pr_text = (f"pass rate B−A {_fmt(pass_rate.delta)} [exact CI {_fmt(lo)}, {_fmt(hi)}], McNemar p={p_mcnemar:.3g} "
               f"({fixed} fixed, {regressed} regressed)")
    if p_mcnemar < cfg.alpha and regressed > fixed:
        worse.append(pr_text)
    elif p_mcnemar < cfg.alpha and fixed > regressed:
        better.append(pr_text)
    if inferior:
        worse.append(f"guardrail violations B−A {_fmt(safety.delta)}: {safety.note}")

    mde = {
        PRIMARY: min_detectable_effect(_mde_sd(primary_a, primary_b), n, alpha=cfg.alpha, power=cfg.power),
        "pass_rate": min_detectable_effect(_mde_sd(pass_a.astype(float), pass_b.astype(float)), n,
                                           alpha=cfg.alpha, power=cfg.power),
    }
    if worse:
        decision, reasons = "B worse", worse
    elif better:
        decision, reasons = "B better", better
    else:
        decision = "no detectable difference"
        reasons = [f"answer_score B−A {_fmt(primary.delta)} [{ci}] includes 0; {pr_text}",
                   f"smallest effect this sample ({n} pairs) detects with {cfg.power:.0%} power at α={cfg.alpha}: "
                   f"answer_score ±{mde[PRIMARY]:.3f}, pass rate ±{mde['pass_rate']:.3f}"]

    per_case = []
    for i, ca, cb in zip(ids, pa, pb, strict=True):
        oa, ob = ca.get("output") or {}, cb.get("output") or {}
        per_case.append({
            "id": i, "query": (ca.get("input") or {}).get("query"),
            "a_score": round(_value(ca, PRIMARY), 4), "b_score": round(_value(cb, PRIMARY), 4),
            "delta": round(_value(cb, PRIMARY) - _value(ca, PRIMARY), 4),
            "a_passed": bool(ca["passed"]), "b_passed": bool(cb["passed"]),
            "a_template": oa.get("template"), "b_template": ob.get("template"),
            "a_words": oa.get("words"), "b_words": ob.get("words"),
            "a_response": oa.get("response", ""), "b_response": ob.get("response", ""),
            "intent": oa.get("intent"),
        })
    per_case.sort(key=lambda c: (-abs(c["delta"]), -abs((c["b_words"] or 0) - (c["a_words"] or 0)), c["id"]))
    return ABAnalysis(n, tuple(metrics), decision, tuple(reasons), mde,
                      {"fixed": fixed, "regressed": regressed, "both_pass": int((pass_a & pass_b).sum()),
                       "both_fail": int((~pass_a & ~pass_b).sum())},
                      tuple(per_case), _per_group(per_case, cfg), cfg)


def _per_group(per_case: list[dict[str, Any]], cfg: ABConfig) -> dict[str, dict[str, Any]]:
    """answer_score B − A per detected intent, with a paired-bootstrap interval."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in per_case:
        groups.setdefault(c.get("intent") or "unknown", []).append(c)
    out = {}
    for name, cases in sorted(groups.items()):
        a = np.array([c["a_score"] for c in cases])
        b = np.array([c["b_score"] for c in cases])
        d = paired_bootstrap(a, b, confidence=1 - cfg.alpha, resamples=cfg.resamples, seed=cfg.seed)
        out[name] = {"n": len(cases), "a": round(float(a.mean()), 4), "b": round(float(b.mean()), 4),
                     "delta": round(d.delta, 4), "ci": [round(d.ci_low, 4), round(d.ci_high, 4)]}
    return out
