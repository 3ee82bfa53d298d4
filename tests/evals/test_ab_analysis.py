"""The paired A/B statistics and the verdict, on constructed runs whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from evals.ab_analysis import ABConfig, ABConfigError, analyse, load_ab_config
from evals.stats import mcnemar_exact, mcnemar_interval, min_detectable_effect

CFG = ABConfig(resamples=1000)


def _case(i: int, score: float, passed: bool, *, guard: str = "allow", words: int = 100) -> dict:
    scores = {name: {"value": score, "passed": passed} for name in ("answer_structure", "answer_grounding",
                                                                     "answer_quality")}
    return {"id": f"c{i:03d}", "passed": passed, "scores": scores, "input": {"query": f"q{i}"},
            "output": {"guardrail": {"action": guard, "categories": []}, "words": words, "output_tokens": words,
                       "input_tokens": 500, "cost_usd": 0.001, "latency_ms": 1.0, "response": f"answer {i}",
                       "template": "t@v1", "intent": "ec2_troubleshooting"}}


def _run(scores, passed, **kw) -> dict:
    return {"cases": [_case(i, s, p, **kw) for i, (s, p) in enumerate(zip(scores, passed, strict=True))]}


def _population(n=120, seed=7):
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.normal(0.8, 0.1, n), 0, 1)
    return scores, scores >= 0.75


def test_identical_arms_give_no_detectable_difference_with_a_finite_mde():
    scores, passed = _population()
    run = _run(scores, passed)
    result = analyse(run, run, CFG)
    assert result.decision == "no detectable difference"
    primary = result.metric("answer_score")
    assert (primary.delta, primary.ci_low, primary.ci_high) == (0.0, 0.0, 0.0)
    assert 0 < result.mde["answer_score"] < 0.1
    assert result.counts["fixed"] == result.counts["regressed"] == 0


@pytest.mark.parametrize("shift, decision", [(+0.03, "B better"), (-0.03, "B worse")])
def test_a_seeded_known_shift_is_detected_in_its_direction(shift, decision):
    scores, passed = _population()
    noise = np.random.default_rng(11).normal(0, 0.01, scores.size)
    shifted = np.clip(scores + shift + noise, 0, 1)
    result = analyse(_run(scores, passed), _run(shifted, passed), CFG)
    assert result.decision == decision
    primary = result.metric("answer_score")
    assert primary.ci_low <= shift <= primary.ci_high  # the interval covers the true shift
    assert primary.decides


def test_a_shift_below_the_mde_is_not_called():
    scores, passed = _population(n=40)
    noise = np.random.default_rng(3).normal(0, 0.05, scores.size)
    result = analyse(_run(scores, passed), _run(np.clip(scores + noise, 0, 1), passed), CFG)
    assert result.decision == "no detectable difference"
    assert any("smallest effect" in r for r in result.reasons)


def test_pass_rate_regressions_alone_make_b_worse_and_the_interval_agrees_with_mcnemar():
    scores, _ = _population()
    a_pass = np.ones(scores.size, dtype=bool)
    b_pass = a_pass.copy()
    b_pass[:12] = False  # 12 regressions, no fix; scores unchanged
    result = analyse(_run(scores, a_pass), _run(scores, b_pass), CFG)
    pr = result.metric("pass_rate")
    assert result.decision == "B worse"
    assert pr.p_value == mcnemar_exact(12, 0) < 0.05
    assert pr.ci_high < 0


def test_guardrail_violations_beyond_the_margin_fail_non_inferiority():
    scores, passed = _population()
    a = _run(scores, passed)
    b = _run(scores, passed)
    for case in b["cases"][:10]:
        case["output"]["guardrail"]["action"] = "redact"
    result = analyse(a, b, ABConfig(resamples=1000, guardrail_margin=0.02))
    assert result.decision == "B worse"
    assert "inferior" in result.metric("guardrail_violation_rate").note
    lenient = analyse(a, b, ABConfig(resamples=1000, guardrail_margin=0.5))
    assert lenient.decision == "no detectable difference"


def test_arms_with_different_cases_are_refused():
    scores, passed = _population(n=10)
    a = _run(scores, passed)
    b = _run(scores[:9], passed[:9])
    with pytest.raises(ValueError, match="different cases"):
        analyse(a, b, CFG)


@pytest.mark.parametrize("b", range(0, 15))
@pytest.mark.parametrize("c", range(0, 15))
def test_mcnemar_interval_excludes_zero_exactly_when_the_test_rejects(b, c):
    lo, hi = mcnemar_interval(b, c, 100)
    assert lo <= (c - b) / 100 <= hi
    assert (mcnemar_exact(b, c) < 0.05) == (lo > 0 or hi < 0)


def test_min_detectable_effect_matches_the_normal_formula():
    assert min_detectable_effect(1.0, 100) == pytest.approx((1.959964 + 0.841621) / 10, rel=1e-5)
    assert min_detectable_effect(0.5, 400) == pytest.approx(min_detectable_effect(1.0, 100) / 4)


def test_config_file_is_validated(tmp_path):
    assert load_ab_config().guardrail_margin > 0
    bad = tmp_path / "ab.toml"
    bad.write_text("alpha = 0.9\n")
    with pytest.raises(ABConfigError, match="alpha"):
        load_ab_config(bad)
    bad.write_text("nope = 1\n")
    with pytest.raises(ABConfigError, match="unknown key"):
        load_ab_config(bad)
