"""Feedback analytics: the join, the segments, experiment verdicts on known effects, themes."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.adapters.local.clock import FixedClock
from pipeline.adapters.local.memory_stores import InMemoryFeedbackStore
from pipeline.adapters.local.metrics import InMemoryMetrics
from pipeline.adapters.local.summaries import InMemorySummaryWriter
from pipeline.domain.experiments import Experiment, assign, parse_experiment
from pipeline.domain.feedback import (
    METRIC_EXPERIMENT_CSAT,
    METRIC_EXPERIMENT_RECOMMENDATION,
    FeedbackReport,
)
from pipeline.domain.feedback_analytics import (
    RECOMMEND_KEEP_RUNNING,
    RECOMMEND_PROMOTE,
    RECOMMEND_ROLL_BACK,
    comment_themes,
    experiment_verdict,
    interactions,
    segment_stats,
    segments,
)
from pipeline.domain.models import Feedback, ImplicitSignals

START = datetime(2026, 3, 1, tzinfo=UTC)
EXPERIMENT = parse_experiment(
    {"experiment_id": "compute-runbook", "template_id": "compute_troubleshooting", "control": "v1",
     "weights": {"v1": 50, "v2": 50}, "primary_metric": "mean_rating", "min_samples_per_variant": 100},
    origin="test",
)


def simulate(experiment: Experiment, sessions: int, effects: dict[str, float], *, seed: int,
             base: float = 3.4, rate_share: float = 0.8) -> list[Feedback]:
    """A population whose true mean rating is ``base + effects[variant]`` (1-5, rounded)."""
    rng = random.Random(seed)
    records = []
    for i in range(sessions):
        session = f"sess-{seed}-{i:05d}"
        variant = assign(experiment, session).variant
        when = START + timedelta(minutes=7 * i)
        signals = ImplicitSignals(
            quality_score=0.8, intent="ec2_troubleshooting", template_id=experiment.template_id,
            template_version=variant, variant=variant, experiment_id=experiment.experiment_id,
            response_type="answer", regenerations=int(rng.random() < 0.1),
        )
        records.append(Feedback(f"implicit-{i}", session, f"req-{i}", when.isoformat(), "implicit",
                                signals=signals))
        if rng.random() < rate_share:
            rating = min(5, max(1, round(rng.gauss(base + effects.get(variant, 0.0), 1.0))))
            records.append(Feedback(f"fb-{i}", session, f"req-{i}", (when + timedelta(minutes=1)).isoformat(),
                                    "explicit", rating=rating, signals=signals))
    return records


def true_rounded_mean(mu: float) -> float:
    """E[clip(round(N(mu, 1)), 1, 5)]: the rating scale's mean for a latent mean ``mu``."""
    from statistics import NormalDist

    nd = NormalDist(mu, 1.0)
    cuts = [float("-inf"), 1.5, 2.5, 3.5, 4.5, float("inf")]
    return sum(k * (nd.cdf(cuts[k]) - nd.cdf(cuts[k - 1])) for k in range(1, 6))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_known_effect_is_recovered_and_promoted(seed: int) -> None:
    rows = interactions(simulate(EXPERIMENT, 1200, {"v2": 0.3}, seed=seed))
    verdict = experiment_verdict(EXPERIMENT, rows)
    d = verdict.comparisons["v2"]["mean_rating"]
    truth = true_rounded_mean(3.7) - true_rounded_mean(3.4)
    assert d.low < truth < d.high
    assert verdict.recommendation == RECOMMEND_PROMOTE and verdict.variant == "v2"
    assert "v2 beats v1 on mean_rating" in verdict.reason


def test_a_harmful_variant_is_rolled_back() -> None:
    rows = interactions(simulate(EXPERIMENT, 1200, {"v2": -0.4}, seed=4))
    verdict = experiment_verdict(EXPERIMENT, rows)
    assert verdict.recommendation == RECOMMEND_ROLL_BACK and verdict.variant == "v2"


def test_no_verdict_before_the_minimum_sample_even_with_a_large_effect() -> None:
    rows = interactions(simulate(EXPERIMENT, 120, {"v2": 1.5}, seed=5))
    verdict = experiment_verdict(EXPERIMENT, rows)
    assert verdict.recommendation == RECOMMEND_KEEP_RUNNING
    assert "not enough judged interactions" in verdict.reason and "/100" in verdict.reason


def test_no_difference_keeps_running_and_states_what_the_sample_could_detect() -> None:
    rows = interactions(simulate(EXPERIMENT, 1000, {}, seed=6))
    verdict = experiment_verdict(EXPERIMENT, rows)
    assert verdict.recommendation == RECOMMEND_KEEP_RUNNING
    assert "no detectable difference" in verdict.reason and "detects differences of about" in verdict.reason


def test_null_experiments_rarely_give_a_verdict() -> None:
    verdicts = [experiment_verdict(EXPERIMENT, interactions(simulate(EXPERIMENT, 500, {}, seed=100 + s)))
                for s in range(60)]
    wrong = sum(v.recommendation != RECOMMEND_KEEP_RUNNING for v in verdicts)
    assert wrong <= 8  # expected 5 % of 60 = 3; 8 is beyond 2.7 binomial sd


def test_three_variants_use_a_bonferroni_level() -> None:
    three = parse_experiment({**EXPERIMENT.to_dict(), "weights": {"v1": 34, "v2": 33, "v3": 33}}, origin="t")
    verdict = experiment_verdict(three, interactions(simulate(three, 300, {}, seed=7)))
    assert verdict.confidence == pytest.approx(0.975)
    assert verdict.comparisons["v3"]["csat"].confidence == pytest.approx(0.975)


def test_join_takes_the_latest_judgement_and_context_from_the_explicit_record() -> None:
    signals = ImplicitSignals(intent="billing_cost", template_id="billing", template_version="v1",
                              response_type="answer", experiment_id="e1", variant="v1")
    records = [
        Feedback("f1", "s-00000001", "r1", "2026-03-01T10:00:00+00:00", "explicit", rating=2, signals=signals),
        Feedback("f2", "s-00000001", "r1", "2026-03-01T10:05:00+00:00", "explicit", rating=5, signals=signals),
        Feedback("f3", "s-00000001", "r2", "2026-03-01T10:06:00+00:00", "explicit", thumbs="down",
                 comment="wrong region", signals=signals),
    ]
    rows = {r.interaction_id: r for r in interactions(records)}
    assert rows["r1"].rating == 5 and rows["r1"].satisfied
    assert rows["r2"].low_rated and rows["r2"].variant_key == "e1/v1" and not rows["r2"].observed
    stats = segment_stats(list(rows.values()))
    assert (stats.judged, stats.satisfied, stats.thumbs_ratio) == (2, 1, 0.0)
    assert stats.escalation_rate is None  # nothing observed: no rate rather than 0


def test_segments_cover_every_dimension_with_wilson_intervals() -> None:
    rows = interactions(simulate(EXPERIMENT, 300, {"v2": 0.3}, seed=8))
    table = segments(rows)
    assert set(table) == {"intent", "template", "variant", "response_type"}
    assert set(table["variant"]) == {"compute-runbook/v1", "compute-runbook/v2"}
    stats = table["intent"]["ec2_troubleshooting"].to_dict()
    assert stats["volume"] == 300 and stats["csat_ci"][0] < stats["csat"] < stats["csat_ci"][1]
    assert 0 < stats["regeneration_rate"] < 0.25 and stats["mean_quality"] == 0.8


def test_comment_themes_group_low_rated_comments_by_shared_phrases() -> None:
    def row(i: int, comment: str, rating: int):
        return Feedback(f"f{i}", "s-00000001", f"r{i}", f"2026-03-01T10:{i:02d}:00+00:00", "explicit",
                        rating=rating, comment=comment)

    comments = [
        ("The CLI command was wrong for my region", 1),
        ("cli command wrong, flags do not exist", 2),
        ("Wrong cli command again", 1),
        ("Too long, I wanted a short answer", 2),
        ("answer too long to read", 1),
        ("Great, the CLI command worked", 5),  # not low-rated: never a theme example
        ("nothing in common here", 1),
    ]
    themes = comment_themes(interactions([row(i, c, r) for i, (c, r) in enumerate(comments)]))
    assert [t.phrase for t in themes] == ["cli command", "long"]  # "too" is a stopword
    assert themes[0].count == 3 and all("worked" not in e for e in themes[0].examples)
    assert themes[1].examples == ("Too long, I wanted a short answer", "answer too long to read")


def test_feedback_report_emits_arm_metrics_and_writes_the_summary() -> None:
    records = simulate(EXPERIMENT, 1200, {"v2": 0.3}, seed=9)
    store = InMemoryFeedbackStore()
    for record in records:
        store.put(record)

    class Registry:
        def list_experiments(self) -> list[Experiment]:
            return [EXPERIMENT]

    metrics, writer = InMemoryMetrics(), InMemorySummaryWriter()
    clock = FixedClock(START + timedelta(days=6))
    summary = FeedbackReport(store, metrics, clock, experiments=Registry(), summaries=writer,
                             experiment_window_hours=24 * 7).run(24, windows=[72])
    [verdict] = summary["experiments"]
    assert verdict["recommendation"] == RECOMMEND_PROMOTE and verdict["variant"] == "v2"
    assert [w["hours"] for w in summary["windows"]] == [24.0, 72.0]
    assert summary["windows"][0]["interactions"] < summary["windows"][1]["interactions"]
    assert set(summary["daily"]["variant"]) == {"compute-runbook/v1", "compute-runbook/v2"}
    assert metrics.total(METRIC_EXPERIMENT_RECOMMENDATION, experiment="compute-runbook",
                         recommendation=RECOMMEND_PROMOTE) == 1
    assert metrics.total(METRIC_EXPERIMENT_CSAT, experiment="compute-runbook", variant="v2") > 0
    assert summary["summary_location"].startswith("memory://feedback-summaries/2026/03/07/")
    stored = writer.documents[summary["summary_location"].removeprefix("memory://")]
    assert stored["experiments"] == json.loads(json.dumps(summary["experiments"]))
    assert writer.documents["feedback-summaries/latest.json"]["experiments"][0]["recommendation"] == "promote"
