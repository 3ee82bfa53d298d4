"""The latency budget's arithmetic (pipeline/domain/budget.py)."""

from __future__ import annotations

from pipeline.domain.budget import LatencyBudget, RollingPercentile


def test_deadline_starts_at_the_api_receipt_else_now():
    budget = LatencyBudget(budget_ms=25_000)
    assert budget.deadline(1_000, 4_000) == 26_000  # received 3 s before capture
    assert budget.deadline(None, 4_000) == 29_000
    assert budget.deadline(9_000, 4_000) == 29_000  # a receipt "in the future" is not trusted


def test_generation_and_regeneration_need_the_time_they_take():
    budget = LatencyBudget(budget_ms=25_000, reserve_ms=2_500, min_generation_ms=3_000)
    deadline = 25_000
    assert budget.generation_window_ms(deadline, 9_000) == 13_500
    assert budget.can_generate(deadline, 19_000) and not budget.can_generate(deadline, 19_600)
    assert budget.can_regenerate(deadline, 9_000, p95_ms=12_000)
    assert not budget.can_regenerate(deadline, 11_000, p95_ms=12_000)
    assert budget.can_generate(None, 10**12) and budget.can_regenerate(None, 10**12, 10**9)


def test_rolling_p95_uses_the_prior_until_enough_samples():
    p95 = RollingPercentile(prior=12_000, window=100, min_samples=20)
    for value in range(1, 20):
        p95.observe(value * 100)
    assert p95.value() == 12_000
    p95.observe(2_000)
    assert p95.value() == 1_900  # nearest rank: the 19th of 20 sorted values
    for _ in range(200):
        p95.observe(500)
    assert p95.value() == 500  # the window forgets old latencies
