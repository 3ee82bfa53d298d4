"""The workflow's step services over in-memory stores and scripted fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.adapters.local.clock import FixedClock
from pipeline.adapters.local.memory_stores import InMemoryConversationStore, InMemoryFeedbackStore
from pipeline.adapters.local.metrics import InMemoryMetrics
from pipeline.domain.models import (
    Finding,
    Generation,
    GuardrailAction,
    GuardrailVerdict,
    IntentResult,
    QualityCheckResult,
    QualityReport,
)
from pipeline.domain.workflow import (
    METRIC_GUARDRAIL_BLOCKS,
    METRIC_QUERIES,
    Capture,
    FeedbackCollection,
    GenerationStep,
    IntentStep,
    QualityStep,
    QueryCapture,
    RecordExistsError,
    WorkflowInput,
    WorkflowInputError,
    build_response,
    implicit_feedback_id,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzREALKEY"
RESPONSE_KEYS = {
    "session_id",
    "interaction_id",
    "response",
    "response_type",
    "intent",
    "confidence",
    "quality_score",
    "template",
    "guardrail",
}


def fake_guard(text: str) -> GuardrailVerdict:
    """Blocks the test secret and redacts it; allows everything else."""
    if SECRET in text:
        start = text.index(SECRET)
        finding = Finding("aws_secret_key", "R1", start, start + len(SECRET), GuardrailAction.BLOCK)
        return GuardrailVerdict(
            GuardrailAction.BLOCK,
            (finding,),
            text.replace(SECRET, "[REDACTED]"),
            "Rotate that key now.",
        )
    return GuardrailVerdict(GuardrailAction.ALLOW, (), text)


class FakeDetector:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    def detect(self, text: str, history=()) -> IntentResult:
        self.calls.append((text, tuple(t.user_text for t in history)))
        return IntentResult("ec2_troubleshooting", 0.9, sentiment="NEUTRAL")


class FakeGenerator:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def generate(self, query, intent, *, history=(), attempt=1, mode="answer"):
        self.calls.append({"query": query, "attempt": attempt, "mode": mode, "history": history})
        generation = Generation(f"answer {attempt}", "compute", "v1", "offline", attempt=attempt)
        return generation, GuardrailVerdict(GuardrailAction.ALLOW, (), generation.text)


class FakeValidator:
    def __init__(self, scores: list[float]) -> None:
        self.scores = scores

    def validate(self, query, response, *, intent=None, sentiment=None) -> QualityReport:
        score = self.scores.pop(0)
        return QualityReport(score, score >= 0.7, 0.7, (QualityCheckResult("completeness", score),))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), step=timedelta(milliseconds=50))


@pytest.fixture
def conversations() -> InMemoryConversationStore:
    return InMemoryConversationStore()


def workflow_input(
    query: str = "my ec2 instance refuses ssh", interaction: str = "req-1"
) -> WorkflowInput:
    return WorkflowInput.from_dict(
        {
            "query": query,
            "session_id": "session-0001",
            "interaction_id": interaction,
            "user_id": "u-1",
        }
    )


def test_capture_stores_only_the_redacted_text_and_blocks(conversations, clock) -> None:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard)
    result = capture.capture(workflow_input(f"my key is {SECRET} help"))
    assert result.blocked and result.block_message == "Rotate that key now."
    assert result.guardrail == {"action": "block", "categories": ["aws_secret_key"]}
    assert SECRET not in repr(result.to_dict())
    stored = list(conversations.all_turns())
    assert len(stored) == 1 and SECRET not in repr(stored)
    assert stored[0].user_text == "my key is [REDACTED] help"


def test_capture_assigns_increasing_indices_and_is_idempotent_per_interaction(
    conversations, clock
) -> None:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard)
    first = capture.capture(workflow_input(interaction="req-1"))
    again = capture.capture(workflow_input(interaction="req-1"))
    second = capture.capture(workflow_input(interaction="req-2"))
    assert (first.turn_index, again.turn_index, second.turn_index) == (0, 0, 1)
    assert len(list(conversations.all_turns())) == 2


def test_capture_retries_when_another_request_takes_the_index(conversations, clock) -> None:
    class RacingStore(InMemoryConversationStore):
        raced = False

        def append_turn(self, turn):
            if not self.raced:
                self.raced = True
                super().append_turn(
                    turn.__class__(
                        **{**turn.to_dict(), "interaction_id": "other", "guardrail_categories": ()}
                    )
                )
                raise RecordExistsError("taken")
            super().append_turn(turn)

    store = RacingStore()
    result = QueryCapture(store, clock, input_guard=fake_guard).capture(workflow_input())
    assert result.turn_index == 1


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"query": "x", "session_id": "", "interaction_id": "r"},
        {"query": 3, "session_id": "s", "interaction_id": "r"},
        {"query": "x", "session_id": "s", "interaction_id": "r", "user_id": 5},
    ],
)
def test_workflow_input_rejects_malformed_events(event) -> None:
    with pytest.raises(WorkflowInputError):
        WorkflowInput.from_dict(event)


def test_intent_uses_redacted_text_and_previous_turns_only(conversations, clock) -> None:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard)
    capture.capture(workflow_input("first question", "req-1"))
    current = capture.capture(workflow_input(f"second {SECRET}", "req-2"))
    detector = FakeDetector()
    state = IntentStep(detector, conversations, route=lambda r: "answer", history_turns=6).detect(
        current
    )
    assert state["route"] == "answer" and state["intent"] == "ec2_troubleshooting"
    assert detector.calls == [("second [REDACTED]", ("first question",))]


def test_generation_attempt_follows_the_previous_quality_attempt(conversations, clock) -> None:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard).capture(workflow_input())
    generator = FakeGenerator()
    step = GenerationStep(generator, conversations)
    state = {
        "capture": capture.to_dict(),
        "intent": {"intent": "ec2_troubleshooting", "confidence": 0.9},
    }
    first = step.generate(state)
    second = step.generate({**state, "quality": {"attempt": 1, "retry": True}})
    clarify = step.generate(state, mode="clarification")
    assert (first["attempt"], second["attempt"], clarify["attempt"]) == (1, 2, 1)
    assert first["output_guardrail"] == {"action": "allow", "categories": []}
    assert generator.calls[2]["mode"] == "clarification"
    with pytest.raises(WorkflowInputError):
        step.generate(state, mode="poem")


@pytest.mark.parametrize(
    ("attempt", "score", "max_regenerations", "retry"),
    [
        (1, 0.2, 2, True),
        (2, 0.2, 2, True),
        (3, 0.2, 2, False),
        (1, 0.9, 2, False),
        (1, 0.2, 0, False),
    ],
)
def test_quality_retry_is_bounded(
    attempt, score, max_regenerations, retry, conversations, clock
) -> None:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard).capture(workflow_input())
    state = {
        "capture": capture.to_dict(),
        "intent": {"intent": "ec2_troubleshooting", "confidence": 0.9},
        "generation": Generation("text", "compute", "v1", "offline", attempt=attempt).to_dict(),
    }
    result = QualityStep(FakeValidator([score]), max_regenerations=max_regenerations).validate(
        state
    )
    assert result["retry"] is retry and result["attempt"] == attempt
    assert result["score"] == score


class ReportOf:
    """A validator returning a fixed report (which checks failed decides usability)."""

    def __init__(self, passed: bool, **scores: float) -> None:
        checks = tuple(QualityCheckResult(c, scores.get(c, 1.0)) for c in
                       ("completeness", "structure", "accuracy", "relevance", "tone", "safety"))
        self.report = QualityReport(0.9 if passed else 0.5, passed, 0.75, checks)

    def validate(self, query, response, *, intent=None, sentiment=None) -> QualityReport:
        return self.report


@pytest.mark.parametrize(("text", "validator", "attempt", "retry", "reasons"), [
    ("", ReportOf(False, completeness=0.4), 1, True, ["empty"]),  # regenerated first
    ("", ReportOf(False, completeness=0.4), 3, False, ["empty"]),  # then replaced
    ("Check the security group", ReportOf(False, completeness=0.4), 3, False, []),  # delivered
    ("lorem ipsum " * 30, ReportOf(False, relevance=0.4), 3, False, ["garbage"]),
    ("Check the security group", ReportOf(False, relevance=0.4), 3, False, []),
    ("Check the security group.", ReportOf(True), 1, False, []),
])
def test_validation_marks_a_failed_answer_unusable_with_its_reasons(
    text, validator, attempt, retry, reasons, conversations, clock
) -> None:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard).capture(workflow_input())
    state = {
        "capture": capture.to_dict(),
        "intent": {"intent": "ec2_troubleshooting", "confidence": 0.9},
        "generation": Generation(text, "compute", "v1", "offline", attempt=attempt).to_dict(),
    }
    result = QualityStep(validator, max_regenerations=2).validate(state)
    assert (result["retry"], result["unusable"], result["unusable_reasons"]) == (retry, bool(reasons), reasons)
    # The budget's static fallback reply is our own text: never replaced, never regenerated.
    state["generation"]["budget_decision"] = "fallback"
    result = QualityStep(validator, max_regenerations=2).validate(state)
    assert (result["retry"], result["unusable"], result["unusable_reasons"]) == (False, False, [])


def test_collect_counts_an_unusable_answer_replaced_by_the_fallback(conversations, clock) -> None:
    from pipeline.domain.workflow import METRIC_UNUSABLE_ANSWERS

    feedback, metrics = InMemoryFeedbackStore(), InMemoryMetrics()
    state = answered_state(conversations, clock, attempt=3)
    state["generation"]["text"] = ""
    state["quality"] = {"score": 0.5, "passed": False, "retry": False, "attempt": 3,
                        "unusable": True, "unusable_reasons": ["empty"]}
    state["reply"] = {"response_type": "fallback", "response": "Sorry, try again later."}  # Fallback
    response = FeedbackCollection(conversations, feedback, metrics, clock).collect(state)
    assert response["response_type"] == "fallback" and response["response"] == "Sorry, try again later."
    assert metrics.total(METRIC_UNUSABLE_ANSWERS, reason="empty") == 1
    assert metrics.total(METRIC_QUERIES, response_type="fallback") == 1
    turn = conversations.recent_turns("session-0001", 1)[0]
    assert (turn.assistant_text, turn.response_type) == ("Sorry, try again later.", "fallback")
    assert feedback.all()[0].signals.response_type == "fallback"
    # A fallback for another reason (a failed task) is not counted as an unusable answer.
    del state["reply"], state["quality"]["unusable"]
    state["reply"] = {"response_type": "fallback", "response": "Sorry"}
    metrics = InMemoryMetrics()
    FeedbackCollection(conversations, InMemoryFeedbackStore(), metrics, clock).collect(state)
    assert metrics.total(METRIC_UNUSABLE_ANSWERS) == 0


def answered_state(conversations, clock, *, route: str = "answer", attempt: int = 2) -> dict:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard).capture(workflow_input())
    generation = Generation(
        "Check the security group.", "compute", "v2", "offline", attempt=attempt
    )
    return {
        "query": "my ec2 instance refuses ssh",
        "session_id": "session-0001",
        "interaction_id": "req-1",
        "capture": capture.to_dict(),
        "intent": {"intent": "ec2_troubleshooting", "confidence": 0.87, "route": route},
        "generation": {
            **generation.to_dict(),
            "output_guardrail": {"action": "allow", "categories": []},
        },
        "quality": {"score": 0.91, "passed": True, "retry": False, "attempt": attempt},
    }


def test_collect_finishes_turn_records_implicit_feedback_and_metrics(conversations, clock) -> None:
    feedback, metrics = InMemoryFeedbackStore(), InMemoryMetrics()
    state = answered_state(conversations, clock)
    response = FeedbackCollection(conversations, feedback, metrics, clock).collect(state)
    assert set(response) == RESPONSE_KEYS
    assert response["response_type"] == "answer" and response["template"] == {
        "id": "compute",
        "version": "v2",
    }
    assert response["quality_score"] == 0.91 and response["confidence"] == 0.87
    turn = conversations.recent_turns("session-0001", 1)[0]
    assert turn.assistant_text == "Check the security group." and turn.response_type == "answer"
    [record] = feedback.all()
    assert record.feedback_id == implicit_feedback_id("req-1") and record.source == "implicit"
    assert record.signals.regenerations == 1 and record.signals.template_version == "v2"
    assert record.signals.latency_ms is not None and record.signals.latency_ms > 0
    assert metrics.total(METRIC_QUERIES, response_type="answer") == 1
    assert not metrics.pending  # flushed


def test_collect_is_idempotent_for_a_retried_invocation(conversations, clock) -> None:
    feedback = InMemoryFeedbackStore()
    collect = FeedbackCollection(conversations, feedback, InMemoryMetrics(), clock)
    state = answered_state(conversations, clock)
    assert collect.collect(state) == collect.collect(state)
    assert len(feedback.all()) == 1


@pytest.mark.parametrize(
    ("route", "kind"), [("clarify", "clarification"), ("escalate", "escalation")]
)
def test_collect_maps_the_route_to_the_response_type(route, kind, conversations, clock) -> None:
    state = answered_state(conversations, clock, route=route, attempt=1)
    del state["quality"]
    feedback = InMemoryFeedbackStore()
    response = FeedbackCollection(conversations, feedback, InMemoryMetrics(), clock).collect(state)
    assert response["response_type"] == kind and response["quality_score"] is None
    signals = feedback.all()[0].signals
    assert signals.clarification_asked is (kind == "clarification") and signals.escalated is (
        kind == "escalation"
    )


def test_blocked_path_response_has_no_intent_and_counts_the_block(conversations, clock) -> None:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard).capture(
        workflow_input(f"key {SECRET}")
    )
    state = {
        "capture": capture.to_dict(),
        "reply": {"response_type": "blocked", "response": capture.block_message},
    }
    metrics = InMemoryMetrics()
    response = FeedbackCollection(conversations, InMemoryFeedbackStore(), metrics, clock).collect(
        state
    )
    assert response == {
        "session_id": "session-0001",
        "interaction_id": "req-1",
        "response": "Rotate that key now.",
        "response_type": "blocked",
        "intent": None,
        "confidence": None,
        "quality_score": None,
        "template": None,
        "guardrail": {"action": "block", "categories": ["aws_secret_key"]},
    }
    assert metrics.total(METRIC_GUARDRAIL_BLOCKS, category="aws_secret_key") == 1
    assert SECRET not in repr(list(conversations.all_turns()))


def test_capture_round_trips_and_rejects_bad_turn_index() -> None:
    capture = Capture(
        "s",
        "i",
        3,
        "q",
        {"action": "allow", "categories": []},
        False,
        None,
        "2026-01-01T00:00:00+00:00",
    )
    assert Capture.from_dict(capture.to_dict()) == capture
    with pytest.raises(WorkflowInputError):
        Capture.from_dict({**capture.to_dict(), "turn_index": "3"})
    with pytest.raises(WorkflowInputError):
        build_response({"capture": None})


def test_collect_stores_the_fallback_reply_of_a_failed_step(conversations, clock) -> None:
    """The Fallback state hands CollectFeedback ``$.reply`` (fallback) and ``$.error``: the
    turn gets the fallback text, whatever the failed step left behind is not reported."""
    state = answered_state(conversations, clock)
    state["reply"] = {"response_type": "fallback", "response": "Sorry, try again."}
    state["error"] = {"Error": "RuntimeError", "Cause": "boom"}
    feedback, metrics = InMemoryFeedbackStore(), InMemoryMetrics()
    response = FeedbackCollection(conversations, feedback, metrics, clock).collect(state)
    assert set(response) == RESPONSE_KEYS
    assert response["response_type"] == "fallback" and response["response"] == "Sorry, try again."
    assert (response["intent"], response["confidence"], response["quality_score"], response["template"]) == (
        None, None, None, None)
    turn = conversations.recent_turns("session-0001", 1)[0]
    assert turn.assistant_text == "Sorry, try again." and turn.response_type == "fallback"
    assert len(feedback.all()) == 1
    assert metrics.total(METRIC_QUERIES, response_type="fallback") == 1


class CountingStore(InMemoryConversationStore):
    """Counts the history reads of the steps after capture (``before`` given)."""

    def __init__(self) -> None:
        super().__init__()
        self.history_reads = 0

    def recent_turns(self, session_id, limit, before=None):
        if before is not None:
            self.history_reads += 1
        return super().recent_turns(session_id, limit, before)


def test_capture_hands_the_history_it_read_to_detect_and_generate() -> None:
    """One read of the session's turns per request: the later steps take them from
    ``$.capture.history`` (through the JSON state) and read nothing themselves."""
    store, clock = CountingStore(), FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    capture = QueryCapture(store, clock, input_guard=fake_guard, history_turns=2)
    first = capture.capture(workflow_input("first question", "req-1"))
    assert first.history == ()
    capture.capture(workflow_input("second question", "req-2"))
    current = capture.capture(workflow_input(f"third {SECRET}", "req-3"))
    assert [t.user_text for t in current.history] == ["first question", "second question"][-2:]
    state = {"capture": Capture.from_dict(current.to_dict()).to_dict()}
    detector, generator = FakeDetector(), FakeGenerator()
    state["intent"] = IntentStep(detector, store, route=lambda r: "answer", history_turns=2).detect(
        Capture.from_dict(state["capture"])
    )
    GenerationStep(generator, store, history_turns=2).generate(state)
    assert detector.calls == [("third [REDACTED]", ("first question", "second question"))]
    assert [t.user_text for t in generator.calls[0]["history"]] == ["first question", "second question"]
    assert store.history_reads == 0
    assert SECRET not in repr(state)


def test_steps_read_the_store_when_the_capture_holds_no_or_too_little_history(conversations, clock) -> None:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard, history_turns=1)
    for n in range(3):
        current = capture.capture(workflow_input(f"question {n}", f"req-{n}"))
    assert len(current.history) == 1
    store = CountingStore()
    for turn in conversations.all_turns():
        store.append_turn(turn)
    detector = FakeDetector()
    step = IntentStep(detector, store, route=lambda r: "answer", history_turns=2)
    step.detect(current)  # one captured turn, two asked: read
    without = Capture.from_dict({**current.to_dict(), "history": None})  # an older state
    step.detect(without)
    assert store.history_reads == 2
    assert detector.calls == [("question 2", ("question 0", "question 1"))] * 2


def test_a_retried_capture_leaves_the_history_to_the_store(conversations, clock) -> None:
    capture = QueryCapture(conversations, clock, input_guard=fake_guard)
    capture.capture(workflow_input("first", "req-1"))
    capture.capture(workflow_input("second", "req-2"))
    again = capture.capture(workflow_input("second", "req-2"))
    assert again.turn_index == 1 and again.history is None


@pytest.mark.parametrize(
    "history",
    [
        "nope",
        [{"session_id": "other", "interaction_id": "x", "turn_index": 0, "created_at": "", "user_text": "q"}],
        [{"session_id": "s", "interaction_id": "x", "turn_index": 3, "created_at": "", "user_text": "q"}],
        [{"session_id": "s", "interaction_id": "x", "turn_index": 1, "created_at": "", "user_text": "q"},
         {"session_id": "s", "interaction_id": "y", "turn_index": 0, "created_at": "", "user_text": "q"}],
        [{"session_id": "s", "turn_index": 0}],
    ],
)
def test_capture_rejects_history_of_another_session_or_not_earlier(history) -> None:
    capture = Capture("s", "i", 3, "q", {"action": "allow", "categories": []}, False, None, "")
    with pytest.raises(WorkflowInputError):
        Capture.from_dict({**capture.to_dict(), "history": history})
