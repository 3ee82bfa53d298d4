"""Explicit-feedback validation, intake (redacted comments) and analytics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.adapters.local.clock import FixedClock
from pipeline.adapters.local.memory_stores import InMemoryConversationStore, InMemoryFeedbackStore
from pipeline.adapters.local.metrics import InMemoryMetrics
from pipeline.domain.feedback import (
    METRIC_CSAT,
    FeedbackIntake,
    FeedbackReport,
    FeedbackValidationError,
    UnknownInteractionError,
    analyze,
    parse_explicit_feedback,
    pearson,
)
from pipeline.domain.models import (
    Feedback,
    GuardrailAction,
    GuardrailVerdict,
    ImplicitSignals,
    Turn,
)

SECRET = "ghp_0123456789abcdefghijABCDEFGHIJ012345"
VALID = {"session_id": "session-0001", "interaction_id": "req-1", "rating": 4}


def redacting_guard(text: str) -> GuardrailVerdict:
    return GuardrailVerdict(
        GuardrailAction.BLOCK if SECRET in text else GuardrailAction.ALLOW,
        (),
        text.replace(SECRET, "[REDACTED]"),
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ({**VALID, "extra": 1}, "extra"),
        ({**VALID, "session_id": "short"}, "session_id"),
        ({**VALID, "session_id": 12345678}, "session_id"),
        ({**VALID, "interaction_id": ""}, "interaction_id"),
        ({"session_id": "session-0001", "interaction_id": "req-1"}, "rating"),
        ({**VALID, "rating": 6}, "rating"),
        ({**VALID, "rating": 0}, "rating"),
        ({**VALID, "rating": 4.5}, "rating"),
        ({**VALID, "rating": True}, "rating"),
        ({**VALID, "thumbs": "up"}, "thumbs"),
        ({"session_id": "session-0001", "interaction_id": "req-1", "thumbs": "sideways"}, "thumbs"),
        ({**VALID, "comment": 5}, "comment"),
        ({**VALID, "comment": "x" * 2001}, "comment"),
    ],
)
def test_invalid_feedback_names_the_field(body, field) -> None:
    with pytest.raises(FeedbackValidationError) as caught:
        parse_explicit_feedback(body)
    assert caught.value.field == field and field in str(caught.value)


def test_valid_feedback_parses_rating_or_thumbs() -> None:
    assert parse_explicit_feedback(VALID).rating == 4
    thumbs = parse_explicit_feedback(
        {"session_id": "session-0001", "interaction_id": "r", "thumbs": "down", "comment": "  "}
    )
    assert thumbs.thumbs == "down" and thumbs.comment is None


@given(st.integers(min_value=1, max_value=5))
def test_every_rating_from_one_to_five_is_valid(rating: int) -> None:
    assert parse_explicit_feedback({**VALID, "rating": rating}).rating == rating


def intake_with_one_turn() -> tuple[FeedbackIntake, InMemoryFeedbackStore]:
    conversations, store = InMemoryConversationStore(), InMemoryFeedbackStore()
    conversations.append_turn(Turn("session-0001", "req-1", 0, "2026-03-01T00:00:00+00:00", "q"))
    intake = FeedbackIntake(
        store, conversations, FixedClock(), input_guard=redacting_guard, new_id=lambda: "fb-1"
    )
    return intake, store


def test_intake_stores_the_comment_redacted() -> None:
    intake, store = intake_with_one_turn()
    record = intake.submit({**VALID, "comment": f"great, but I pasted {SECRET} by mistake"})
    assert record.feedback_id == "fb-1" and record.source == "explicit"
    assert SECRET not in repr(store.all()) and "[REDACTED]" in store.all()[0].comment


@pytest.mark.parametrize(
    "body", [{**VALID, "session_id": "session-9999"}, {**VALID, "interaction_id": "req-404"}]
)
def test_intake_refuses_unknown_sessions_and_interactions(body) -> None:
    intake, store = intake_with_one_turn()
    with pytest.raises(UnknownInteractionError):
        intake.submit(body)
    assert store.all() == []


def test_a_feedback_id_is_answered_once_and_never_reused_across_interactions() -> None:
    from pipeline.domain.feedback import FeedbackConflictError

    intake, store = intake_with_one_turn()
    first, created = intake.submit_once({**VALID, "feedback_id": "fb-client-01"})
    again, created_again = intake.submit_once({**VALID, "feedback_id": "fb-client-01", "rating": 1})
    assert created and not created_again and again == first and len(store.all()) == 1
    store.put(Feedback("fb-other-sess", "session-0002", "req-1", "2026-03-01T10:00:00+00:00", "explicit",
                       rating=2))
    store.put(Feedback("implicit-req-1", "session-0001", "req-1", "2026-03-01T10:00:00+00:00", "implicit"))
    for reused in ("fb-other-sess", "implicit-req-1"):  # another session's id, an implicit record's
        with pytest.raises(FeedbackConflictError):
            intake.submit_once({**VALID, "feedback_id": reused})
    assert len(store.all()) == 3


def implicit(
    interaction: str,
    *,
    template: str = "compute",
    version: str = "v1",
    quality: float | None = 0.8,
    regenerations: int = 0,
    escalated: bool = False,
    intent: str = "ec2_troubleshooting",
) -> Feedback:
    return Feedback(
        f"implicit-{interaction}",
        "session-0001",
        interaction,
        "2026-03-01T10:00:00+00:00",
        "implicit",
        signals=ImplicitSignals(
            latency_ms=100.0,
            regenerations=regenerations,
            quality_score=quality,
            escalated=escalated,
            intent=intent,
            template_id=template,
            template_version=version,
            variant=version,
        ),
    )


def explicit(
    interaction: str,
    *,
    rating: int | None = None,
    thumbs: str | None = None,
    at: str = "2026-03-01T11:00:00+00:00",
) -> Feedback:
    return Feedback(
        f"fb-{interaction}-{at}",
        "session-0001",
        interaction,
        at,
        "explicit",
        rating=rating,
        thumbs=thumbs,
    )


def test_analyze_computes_csat_rates_groups_and_low_rated_templates() -> None:
    records = [implicit(f"r{i}", template="compute", quality=0.5 + i / 20) for i in range(6)]
    records += [
        implicit(f"s{i}", template="storage", version="v2", regenerations=1, quality=0.3)
        for i in range(5)
    ]
    records += [implicit("e0", escalated=True, intent="billing_cost", template="escalation")]
    records += [explicit(f"r{i}", rating=r) for i, r in enumerate([2, 2, 3, 4, 5, 5])]
    records += [explicit(f"s{i}", thumbs="down") for i in range(5)]
    records += [explicit("s0", thumbs="up", at="2026-03-01T09:00:00+00:00")]  # older: superseded
    analysis = analyze(records, min_rated=5)
    assert analysis.interactions == 12 and analysis.explicit == 11
    assert analysis.csat == pytest.approx(3 / 11)
    assert analysis.mean_rating == pytest.approx(21 / 6)
    assert analysis.thumbs == {"down": 5} and analysis.ratings == {2: 2, 3: 1, 4: 1, 5: 2}
    assert analysis.by_template["compute@v1"].rated == 6
    assert analysis.by_template["compute@v1"].csat == pytest.approx(0.5)
    assert analysis.low_rated_templates == ("compute@v1", "storage@v2")
    assert analysis.by_variant["v2"].interactions == 5
    assert analysis.by_intent["billing_cost"].interactions == 1
    assert analysis.regeneration_rate == pytest.approx(5 / 11)  # escalations are not answers
    assert analysis.escalation_rate == pytest.approx(1 / 12)
    assert (
        analysis.quality_rating_correlation is not None
        and analysis.quality_rating_correlation > 0.8
    )
    summary = analysis.to_dict()
    assert summary["by_template"]["storage@v2"]["csat"] == 0.0 and summary["ratings"]["5"] == 2


def test_analyze_of_nothing_has_no_rates() -> None:
    summary = analyze([]).to_dict()
    assert (
        summary["records"] == 0 and summary["csat"] is None and summary["regeneration_rate"] is None
    )


def test_pearson_needs_three_pairs_and_variance() -> None:
    assert pearson([(1, 1), (2, 2)]) is None
    assert pearson([(1, 1), (1, 2), (1, 3)]) is None
    assert pearson([(1, 3), (2, 2), (3, 1)]) == pytest.approx(-1.0)


def test_report_reads_the_window_and_emits_csat() -> None:
    store, metrics = InMemoryFeedbackStore(), InMemoryMetrics()
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    store.put(explicit("old", rating=1, at=(now - timedelta(hours=30)).isoformat()))
    store.put(explicit("new", rating=5, at=(now - timedelta(hours=1)).isoformat()))
    summary = FeedbackReport(store, metrics, FixedClock(now)).run(24)
    assert summary["explicit"] == 1 and summary["csat"] == 1.0
    assert summary["window"]["hours"] == 24
    assert metrics.total(METRIC_CSAT) == 100.0
    with pytest.raises(ValueError):
        FeedbackReport(store, metrics, FixedClock(now)).run(0)
