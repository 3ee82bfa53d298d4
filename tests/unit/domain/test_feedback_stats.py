"""Online A/B statistics: published reference values and the error rates they promise."""

from __future__ import annotations

import random

import pytest

from evals.stats import wilson_interval
from pipeline.domain.feedback_stats import (
    compare_means,
    compare_proportions,
    required_per_arm_proportion,
    wilson,
    z_for,
)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (81, 263), (1, 1)])
def test_wilson_matches_the_harness(k: int, n: int) -> None:
    assert wilson(k, n) == pytest.approx(wilson_interval(k, n), abs=1e-12)


def test_newcombe_interval_matches_newcombe_1998_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, method 10: 56/70 vs 48/80 → 0.0524 to 0.3339.
    d = compare_proportions((48, 80), (56, 70))
    assert d.difference == pytest.approx(0.2)
    assert (round(d.low, 4), round(d.high, 4)) == (0.0524, 0.3339)
    assert d.significant


def test_welch_interval_matches_scipy() -> None:
    from scipy import stats

    rng = random.Random(3)
    a = [rng.gauss(3.5, 1.0) for _ in range(400)]
    b = [rng.gauss(3.8, 1.3) for _ in range(300)]
    d = compare_means(a, b)
    test = stats.ttest_ind(b, a, equal_var=False)
    low, high = test.confidence_interval(0.95)
    # Normal quantiles instead of t with ~560 degrees of freedom: the same to 3 decimals.
    assert (d.low, d.high) == (pytest.approx(low, abs=2e-3), pytest.approx(high, abs=2e-3))
    assert d.p_value == pytest.approx(test.pvalue, abs=2e-3)


def test_false_positive_rate_under_no_difference_is_at_most_alpha() -> None:
    rng = random.Random(11)
    runs, rejections_p, rejections_m = 1000, 0, 0
    for _ in range(runs):
        a = sum(rng.random() < 0.7 for _ in range(300))
        b = sum(rng.random() < 0.7 for _ in range(300))
        rejections_p += compare_proportions((a, 300), (b, 300)).significant
        ra = [rng.choice((1, 2, 3, 4, 4, 5, 5)) for _ in range(200)]
        rb = [rng.choice((1, 2, 3, 4, 4, 5, 5)) for _ in range(200)]
        rejections_m += compare_means(ra, rb).significant
    # Binomial(1000, 0.05): mean 50, sd 6.9; 80 is more than 4 sd above.
    assert rejections_p <= 80 and rejections_m <= 80
    assert rejections_p >= 20 and rejections_m >= 20  # not so conservative it never fires


def test_interval_and_p_value_agree_on_the_decision() -> None:
    rng = random.Random(5)
    for _ in range(300):
        n1, n2 = rng.randint(30, 400), rng.randint(30, 400)
        d = compare_proportions((rng.randint(0, n1), n1), (rng.randint(0, n2), n2))
        if d.p_value is not None and abs(d.p_value - 0.05) > 0.01:  # away from the boundary
            assert d.significant == (d.p_value < 0.05)


def test_detectable_difference_and_required_sample_are_consistent() -> None:
    n = required_per_arm_proportion(0.7, 0.05)
    assert 1200 < n < 1300  # (1.96+0.84)^2 * (0.21+0.1875) / 0.05^2 ≈ 1248
    d = compare_proportions((int(0.7 * n), n), (int(0.72 * n), n))
    assert d.detectable == pytest.approx(0.05, abs=0.004)
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)


def test_empty_arms_give_no_verdict() -> None:
    assert not compare_proportions((0, 0), (3, 10)).significant
    assert compare_means([4.0], [5.0, 4.0]).difference is None
