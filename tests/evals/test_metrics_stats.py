"""Metrics and statistics against values computed by hand or by reference formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from evals import metrics as M
from evals import stats as S


def test_wilson_interval_for_8_of_10_matches_the_formula():
    lo, hi = S.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_edges():
    assert S.wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = S.wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-4)
    lo, hi = S.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    with pytest.raises(ValueError):
        S.wilson_interval(11, 10)


def test_mcnemar_exact_on_a_known_table():
    # b=1, c=9: two-sided exact p = 2 * P(X <= 1), X ~ Bin(10, 0.5) = 2 * 11/1024
    assert S.mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert S.mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    assert S.mcnemar_exact(0, 0) == 1.0
    assert S.mcnemar_exact(5, 5) == 1.0
    assert S.mcnemar_exact(0, 6) == pytest.approx(2 / 64)


def test_bootstrap_ci_is_reproducible_and_covers_the_mean():
    data = np.random.default_rng(0).normal(5.0, 1.0, 400)
    a = S.bootstrap_ci(data, seed=7)
    b = S.bootstrap_ci(data, seed=7)
    assert a == b
    assert a[0] < data.mean() < a[1]
    # close to the normal-theory interval
    se = data.std(ddof=1) / math.sqrt(data.size)
    assert a[1] - a[0] == pytest.approx(2 * 1.96 * se, rel=0.15)
    median = S.bootstrap_ci(data, np.median, resamples=200)
    assert median[0] < np.median(data) < median[1]


def test_paired_bootstrap_detects_a_shift_and_not_noise():
    rng = np.random.default_rng(1)
    base = rng.random(300)
    shifted = S.paired_bootstrap(base, base + 0.1)
    assert shifted.delta == pytest.approx(0.1)
    assert shifted.ci_low > 0 and shifted.p_value < 0.01
    same = S.paired_bootstrap(base, base)
    assert same.delta == 0.0 and same.p_value == 1.0
    with pytest.raises(ValueError):
        S.paired_bootstrap([1.0], [1.0, 2.0])


def test_per_label_prf_and_confusion():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    prf = M.per_label_prf(y_true, y_pred, ["a", "b", "c"])
    assert prf["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert prf["b"]["precision"] == 0.5 and prf["b"]["recall"] == 0.5
    assert prf["c"]["precision"] == 0.5 and prf["c"]["recall"] == 1.0
    cm = M.confusion_matrix(y_true, y_pred, ["a", "b", "c"])
    assert cm[:3, :3].tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    acc, mf1 = M.accuracy_and_macro_f1(y_true, y_pred, ["a", "b", "c"])
    assert acc.value == pytest.approx(4 / 6) and acc.successes == 4
    assert mf1.value == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert mf1.ci_low <= mf1.value <= mf1.ci_high


def test_unknown_predictions_land_in_other():
    cm = M.confusion_matrix(["a"], ["zzz"], ["a"])
    assert cm.tolist() == [[0, 1], [0, 0]]
    assert M.top_confusions(cm, ["a"]) == [{"true": "a", "pred": "other", "count": 1}]


def test_cohen_kappa_known_values():
    # classic 2x2 example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po=0.7, pe=0.5, kappa=0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert M.cohen_kappa(a, b) == pytest.approx(0.4)
    assert M.cohen_kappa([1, 0, 1], [1, 0, 1]) == pytest.approx(1.0)
    assert M.cohen_kappa([True] * 4, [True] * 4) == 1.0
    k = M.kappa_with_ci([x == "y" for x in a], [x == "y" for x in b])
    assert k.value == pytest.approx(0.4) and k.ci_low < 0.4 < k.ci_high


def test_ece_on_a_constructed_example():
    # bin [0.9,1.0): 10 cases at 0.95 with 8 right -> gap 0.15; bin [0.5,0.6): 10 at 0.55 with 5 right -> 0.05
    conf = [0.95] * 10 + [0.55] * 10
    correct = [True] * 8 + [False] * 2 + [True] * 5 + [False] * 5
    assert M.expected_calibration_error(conf, correct) == pytest.approx((10 * 0.15 + 10 * 0.05) / 20)
    bins = M.reliability_bins(conf, correct)
    assert bins[9]["count"] == 10 and bins[9]["accuracy"] == pytest.approx(0.8)
    assert bins[5]["confidence"] == pytest.approx(0.55)
    assert M.brier_score([1.0, 0.0], [True, True]) == pytest.approx(0.5)
    perfect = M.ece_with_ci([1.0] * 5, [True] * 5)
    assert perfect.value == 0.0 and perfect.higher_is_better is False


def test_coverage_accuracy_curve_and_operating_point():
    conf = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2]
    correct = [True, True, True, False, False, True]
    curve = M.coverage_accuracy_curve(conf, correct, thresholds=[0.0, 0.5, 0.65, 0.75])
    assert [p["coverage"] for p in curve] == pytest.approx([1.0, 4 / 6, 3 / 6, 2 / 6])
    assert [p["accuracy"] for p in curve] == pytest.approx([4 / 6, 0.75, 1.0, 1.0])
    op = M.operating_point(curve, 0.95)
    assert op["threshold"] == 0.65 and op["meets_target"] is True
    unreachable = M.operating_point(curve[:2], 0.99)
    assert unreachable["meets_target"] is False and unreachable["threshold"] == 0.5


def test_multilabel_prf_and_binary_prf():
    prf = M.multilabel_prf([["a"], ["a", "b"], []], [["a", "b"], ["a"], ["b"]], ["a", "b", "c"])
    assert "c" not in prf
    assert prf["a"]["recall"].value == 1.0 and prf["a"]["support"] == 2
    assert prf["b"]["precision"].value == 0.0 and prf["b"]["recall"].value == 0.0
    bp = M.binary_prf([True, True, False, False], [True, False, True, False])
    assert bp["precision"].value == 0.5 and bp["recall"].value == 0.5


def test_latency_percentiles_match_numpy():
    ms = np.arange(1, 101, dtype=float)
    summary = M.latency_summary(ms)
    assert summary["latency_p50_ms"].value == pytest.approx(np.percentile(ms, 50))
    assert summary["latency_p99_ms"].value == pytest.approx(np.percentile(ms, 99))
    hist = M.latency_histogram(ms, bins=5)
    assert sum(b["count"] for b in hist) == 100


def test_rate_metric_roundtrip_and_nan():
    r = M.rate(8, 10)
    back = M.MetricValue.from_dict(r.to_dict())
    assert back.value == 0.8 and back.successes == 8 and back.ci_low == pytest.approx(r.ci_low, abs=1e-6)
    empty = M.rate(0, 0)
    assert math.isnan(empty.value) and empty.to_dict()["value"] is None


def test_scipy_binomial_agrees_with_mcnemar_for_larger_tables():
    b, c = 30, 12
    assert S.mcnemar_exact(b, c) == pytest.approx(sp.binomtest(c, b + c, 0.5).pvalue)
