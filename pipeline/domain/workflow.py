"""The workflow's step services: what each Step Functions task does, over the ports.

Each service is the whole logic of one Lambda (``pipeline/handlers``); the handler only
parses the event and calls it. The state keys each step reads and writes are defined in
``docs/workflow-contract.md`` and mirrored by the ``to_dict`` helpers below, so the state
machine and the code cannot disagree silently.

The services receive their collaborators (guardrail functions, intent detector, response
generator, quality validator, stores, metrics, clock) from the composition root; this
module imports no other domain service, so it stays importable and testable with fakes.

Example:
    >>> capture = QueryCapture(conversations, clock, input_guard=scan_input)  # doctest: +SKIP
    >>> capture.capture(WorkflowInput.from_dict(event)).to_dict()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pipeline.domain.budget import (
    DECISION_FALLBACK,
    DECISION_REGENERATION_SKIPPED,
    METRIC_BUDGET_DECISIONS,
    LatencyBudget,
    RollingPercentile,
    epoch_ms,
    model_call_timeout,
)
from pipeline.domain.models import (
    GENERATION_MODES,
    HISTORY_TURNS,
    Feedback,
    Generation,
    GuardrailVerdict,
    ImplicitSignals,
    IntentResult,
    QualityReport,
    ResponseType,
    Turn,
)
from pipeline.ports import Clock, ConversationStore, FeedbackStore, MetricsSink, ModelError

# ---------------------------------------------------------------------------
# Errors shared by the stores and the services.
# ---------------------------------------------------------------------------


class WorkflowInputError(ValueError):
    """The workflow state is missing a key or has a value of the wrong type."""


class RecordExistsError(Exception):
    """A store refused to overwrite an existing record (append-only semantics)."""


class RecordNotFoundError(LookupError):
    """A store was asked to update or read a record that does not exist."""


# ---------------------------------------------------------------------------
# Metric names: the dashboard and alarms in ``stack/`` use the same strings.
# ---------------------------------------------------------------------------

METRIC_QUERIES = "Queries"  # dimension response_type
METRIC_GUARDRAIL_BLOCKS = "GuardrailBlocks"  # dimension category
METRIC_GUARDRAIL_REDACTIONS = "GuardrailRedactions"  # dimension category
METRIC_INTENT = "IntentDetected"  # dimension intent
METRIC_QUALITY_SCORE = "QualityScore"  # no dimension (alarm on the average)
METRIC_REGENERATIONS = "Regenerations"
METRIC_LATENCY = "WorkflowLatency"  # milliseconds from capture to collect
METRIC_OUTPUT_GUARDRAIL = "OutputGuardrailActions"  # dimension action
METRIC_UNUSABLE_ANSWERS = "UnusableAnswers"  # dimension reason: replaced by the fallback reply
METRIC_MODEL_UNAVAILABLE = "ModelUnavailable"  # the configured model cannot be invoked (alarmed)

# ---------------------------------------------------------------------------
# Collaborator protocols (the domain services implement them; fakes do in tests).
# ---------------------------------------------------------------------------

Guard = Callable[[str], GuardrailVerdict]


class IntentDetecting(Protocol):
    def detect(self, text: str, history: Sequence[Turn] = ()) -> IntentResult: ...


class ResponseGenerating(Protocol):
    def generate(
        self,
        query: str,
        intent: IntentResult | None,
        *,
        history: Sequence[Turn] = (),
        attempt: int = 1,
        mode: str = "answer",
        versions: Mapping[str, str] | None = None,
    ) -> tuple[Generation, GuardrailVerdict | None]: ...


class VariantAssignment(Protocol):
    """One session's variant of one experiment (``experiments.Assignment``)."""

    @property
    def experiment_id(self) -> str: ...

    @property
    def template_id(self) -> str: ...

    @property
    def variant(self) -> str: ...


class ExperimentAssigning(Protocol):
    """``experiments.ExperimentRouter``: a session's variants, by template id."""

    def assignments(self, session_id: str) -> Mapping[str, VariantAssignment]: ...


class QualityValidating(Protocol):
    def validate(
        self, query: str, response: str, *, intent: str | None = None, sentiment: str | None = None
    ) -> QualityReport: ...


ROUTES = ("answer", "clarify", "escalate")
#: The generation step accepts every generation mode (one definition, in ``models``).
MODES = GENERATION_MODES
_ROUTE_TO_RESPONSE_TYPE = {
    "answer": ResponseType.ANSWER,
    "clarify": ResponseType.CLARIFICATION,
    "escalate": ResponseType.ESCALATION,
}

# ---------------------------------------------------------------------------
# State records (validated at the boundary, frozen inside).
# ---------------------------------------------------------------------------


def _require_str(data: dict[str, Any], key: str, *, where: str, allow_empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise WorkflowInputError(f"{where}.{key} must be a non-empty string")
    return value


def _require_dict(data: dict[str, Any], key: str, *, where: str = "$") -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise WorkflowInputError(f"{where}.{key} must be an object")
    return value


def _guardrail_summary(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {"action": "allow", "categories": []}
    return {
        "action": str(data.get("action", "allow")),
        "categories": list(data.get("categories", [])),
    }


@dataclass(frozen=True, slots=True)
class WorkflowInput:
    """The workflow input ``POST /query`` (QueryApi) starts the state machine with."""

    query: str
    session_id: str
    interaction_id: str
    user_id: str | None = None
    #: When API Gateway received the request ($context.requestTimeEpoch, epoch ms).
    received_at_ms: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkflowInput:
        if not isinstance(data, dict):
            raise WorkflowInputError("the workflow input must be an object")
        user_id = data.get("user_id")
        if user_id is not None and not isinstance(user_id, str):
            raise WorkflowInputError("$.user_id must be a string or null")
        received = data.get("received_at_ms")
        if isinstance(received, str) and received.isdigit():
            received = int(received)
        return cls(
            query=_require_str(data, "query", where="$", allow_empty=True),
            session_id=_require_str(data, "session_id", where="$"),
            interaction_id=_require_str(data, "interaction_id", where="$"),
            user_id=user_id or None,
            received_at_ms=_nonnegative_int(received, 0) or None,
        )


@dataclass(frozen=True, slots=True)
class Capture:
    """``$.capture``: the stored (redacted) turn and the input guardrail's decision.

    ``created_at`` is one key more than the contract's table lists: CollectFeedback needs it
    to rewrite the turn and to measure the latency.
    """

    session_id: str
    interaction_id: str
    turn_index: int
    redacted_query: str
    guardrail: dict[str, Any]
    blocked: bool
    block_message: str | None
    created_at: str
    user_id: str | None = None
    #: The request's deadline (epoch ms) from the latency budget; None = no budget.
    deadline_ms: int | None = None
    #: The session's turns before this one, oldest first (redacted, as stored), read by
    #: CaptureUserQuery in the query that finds the next turn index, so that DetectIntent
    #: and GenerateResponse need not read them again. ``None``: not captured (a state
    #: written before this key existed, or a retried capture): those steps read the store.
    history: tuple[Turn, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deadline_ms": self.deadline_ms,
            "session_id": self.session_id,
            "interaction_id": self.interaction_id,
            "turn_index": self.turn_index,
            "redacted_query": self.redacted_query,
            "guardrail": dict(self.guardrail),
            "blocked": self.blocked,
            "block_message": self.block_message,
            "created_at": self.created_at,
            "user_id": self.user_id,
            "history": None if self.history is None else [t.to_dict() for t in self.history],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capture:
        if not isinstance(data, dict):
            raise WorkflowInputError("$.capture must be an object")
        turn_index = data.get("turn_index")
        if isinstance(turn_index, bool) or not isinstance(turn_index, int):
            raise WorkflowInputError("$.capture.turn_index must be an integer")
        session_id = _require_str(data, "session_id", where="$.capture")
        return cls(
            session_id=session_id,
            interaction_id=_require_str(data, "interaction_id", where="$.capture"),
            turn_index=turn_index,
            redacted_query=_require_str(
                data, "redacted_query", where="$.capture", allow_empty=True
            ),
            guardrail=_guardrail_summary(data.get("guardrail")),
            blocked=bool(data.get("blocked", False)),
            block_message=data.get("block_message"),
            created_at=str(data.get("created_at") or ""),
            user_id=data.get("user_id") or None,
            deadline_ms=_nonnegative_int(data.get("deadline_ms"), 0) or None,
            history=_history_from_state(data.get("history"), session_id, turn_index),
        )


def _history_from_state(data: Any, session_id: str, turn_index: int) -> tuple[Turn, ...] | None:
    """``$.capture.history`` as turns: earlier turns of the same session only, oldest first."""
    if data is None:
        return None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise WorkflowInputError("$.capture.history must be a list of turns or null")
    try:
        turns = tuple(Turn.from_dict(item) for item in data)
    except (KeyError, TypeError, ValueError) as error:
        raise WorkflowInputError(f"$.capture.history is malformed: {error}") from error
    indices = [t.turn_index for t in turns]
    if any(t.session_id != session_id for t in turns) or indices != sorted(set(indices)) \
            or any(i >= turn_index for i in indices):
        raise WorkflowInputError("$.capture.history must hold earlier turns of the same session, oldest first")
    return turns


def intent_to_state(result: IntentResult, route: str) -> dict[str, Any]:
    """``$.intent``: ``IntentResult.to_dict()`` plus the route the Choice state reads."""
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; expected one of {ROUTES}")
    return {**result.to_dict(), "route": route}


def intent_from_state(state: dict[str, Any]) -> tuple[IntentResult, str]:
    data = _require_dict(state, "intent")
    try:
        return IntentResult.from_dict(data), str(data.get("route", "answer"))
    except (KeyError, TypeError, ValueError) as error:
        raise WorkflowInputError(f"$.intent is malformed: {error}") from error


def generation_from_state(state: dict[str, Any]) -> tuple[Generation, dict[str, Any]]:
    data = _require_dict(state, "generation")
    try:
        generation = Generation.from_dict(data)
    except TypeError as error:
        raise WorkflowInputError(f"$.generation is malformed: {error}") from error
    return generation, _guardrail_summary(data.get("output_guardrail"))


def _optional_dict(state: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = state.get(key)
    return value if isinstance(value, dict) else None


def _nonnegative_int(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return default
    return int(value)


# ---------------------------------------------------------------------------
# Step services.
# ---------------------------------------------------------------------------


def _history(conversations: ConversationStore, capture: Capture, turns: int) -> list[Turn]:
    """Earlier turns of the session (the current one excluded), oldest first, redacted.

    The ones CaptureUserQuery read (``$.capture.history``) when they cover what is asked
    (``turns`` of them, or every earlier turn of the session); otherwise they are read
    from the store.
    """
    if turns <= 0 or capture.turn_index <= 0:
        return []  # the session's first turn has no earlier ones: nothing to read
    captured = capture.history
    if captured is not None and len(captured) >= min(turns, capture.turn_index):
        return list(captured[-turns:])
    # Only the earlier turns are read (a concurrent request's later turn never takes the
    # place of one of them).
    return conversations.recent_turns(capture.session_id, turns, before=capture.turn_index)


class QueryCapture:
    """CaptureUserQuery: scan the input, store the redacted turn, decide whether to block.

    Only ``verdict.redacted_text`` leaves this service; the raw query is dropped here.
    Appending is idempotent per interaction (a Lambda retry reuses the stored turn) and
    safe under concurrent requests on one session (a conflicting index is retried).
    """

    def __init__(
        self,
        conversations: ConversationStore,
        clock: Clock,
        *,
        input_guard: Guard,
        max_append_attempts: int = 100,
        budget: LatencyBudget | None = None,
        history_turns: int = HISTORY_TURNS,
    ) -> None:
        self._conversations = conversations
        self._clock = clock
        self._guard = input_guard
        self._max_attempts = max_append_attempts
        self._budget = budget
        self._history_turns = history_turns

    def capture(self, request: WorkflowInput) -> Capture:
        now = self._clock.now()
        deadline = (
            self._budget.deadline(request.received_at_ms, epoch_ms(now)) if self._budget else None
        )
        verdict = self._guard(request.query)
        created_at = now.isoformat()
        turn, history = self._store_turn(request, verdict, created_at)
        return Capture(
            session_id=turn.session_id,
            interaction_id=turn.interaction_id,
            turn_index=turn.turn_index,
            redacted_query=turn.user_text,
            guardrail=verdict.summary(),
            blocked=verdict.blocked,
            block_message=verdict.message if verdict.blocked else None,
            created_at=turn.created_at,
            user_id=turn.user_id,
            deadline_ms=deadline,
            history=history,
        )

    def _store_turn(
        self, request: WorkflowInput, verdict: GuardrailVerdict, created_at: str
    ) -> tuple[Turn, tuple[Turn, ...] | None]:
        """The stored turn, and the session's turns before it as read (None when unknown)."""
        for _ in range(self._max_attempts):
            # The latest turns: the newest gives the next index, and the same read gives
            # the later steps their history (one query instead of one per step).
            last = self._conversations.recent_turns(request.session_id, max(1, self._history_turns))
            if last and last[-1].interaction_id == request.interaction_id:
                # A retried invocation: the turn is already stored. What this read saw of
                # the earlier turns is one short: the later steps read them.
                return last[-1], None
            turn = Turn(
                session_id=request.session_id,
                interaction_id=request.interaction_id,
                turn_index=last[-1].turn_index + 1 if last else 0,
                created_at=created_at,
                user_text=verdict.redacted_text,
                user_id=request.user_id,
                guardrail_action=verdict.action.value,
                guardrail_categories=verdict.categories,
                response_type=ResponseType.BLOCKED.value if verdict.blocked else None,
            )
            try:
                self._conversations.append_turn(turn)
            except RecordExistsError:
                continue  # another request took this index first: read again
            return turn, tuple(last[-self._history_turns:]) if self._history_turns > 0 else ()
        raise RecordExistsError(
            f"could not append a turn to session {request.session_id} after {self._max_attempts} attempts"
        )


class IntentStep:
    """DetectIntent: intent of the redacted query, with the session's recent turns."""

    def __init__(
        self,
        detector: IntentDetecting,
        conversations: ConversationStore,
        *,
        route: Callable[[IntentResult], str],
        history_turns: int = HISTORY_TURNS,
    ) -> None:
        self._detector = detector
        self._conversations = conversations
        self._route = route
        self._history_turns = history_turns

    def detect(self, capture: Capture) -> dict[str, Any]:
        history = _history(self._conversations, capture, self._history_turns)
        result = self._detector.detect(capture.redacted_query, history=tuple(history))
        return intent_to_state(result, self._route(result))


class GenerationStep:
    """GenerateResponse / Clarify / Escalate: one generation attempt for a mode.

    The attempt number comes from ``$.quality.attempt`` of the previous validation, so the
    generator can pick the next regeneration strategy. With ``experiments``, the session's
    variants pin the template versions, and when the template used is in an experiment the
    state records it (``$.generation.experiment``: ``{"id", "variant"}``); without
    experiments the latest version of each template serves, as before.
    """

    def __init__(
        self,
        generator: ResponseGenerating,
        conversations: ConversationStore,
        *,
        history_turns: int = HISTORY_TURNS,
        clock: Clock | None = None,
        budget: LatencyBudget | None = None,
        experiments: ExperimentAssigning | None = None,
    ) -> None:
        self._generator = generator
        self._conversations = conversations
        self._history_turns = history_turns
        self._clock = clock
        self._budget = budget
        self._experiments = experiments

    def generate(self, state: dict[str, Any], mode: str = "answer") -> dict[str, Any]:
        """One generation within the request's deadline.

        No time for a generation: the static fallback reply (no model call), recorded as
        ``budget_decision: "fallback"``. A transient model failure (throttling, a read
        timeout at the deadline) with no time left for the retry Step Functions would make:
        the same. Otherwise the model call may take the time left minus the reserve.
        """
        if mode not in MODES:
            raise WorkflowInputError(f"mode must be one of {MODES}, got {mode!r}")
        capture = Capture.from_dict(_require_dict(state, "capture"))
        intent, _ = intent_from_state(state)
        previous = state.get("quality")
        attempt = 1
        if mode == "answer" and isinstance(previous, dict):
            attempt = _nonnegative_int(previous.get("attempt"), 0) + 1
        history = _history(self._conversations, capture, self._history_turns)
        budget, deadline = self._budget, capture.deadline_ms
        if budget is None or self._clock is None or deadline is None:
            return self._generate(capture, intent, history, attempt, mode)
        if not budget.can_generate(deadline, epoch_ms(self._clock.now())):
            return self._fallback(capture, intent, history, attempt)
        window = budget.generation_window_ms(deadline, epoch_ms(self._clock.now()))
        token = model_call_timeout.set(window / 1000.0 if window is not None else None)
        try:
            return self._generate(capture, intent, history, attempt, mode)
        except ModelError as error:
            if error.transient and not budget.can_generate(deadline, epoch_ms(self._clock.now())):
                return self._fallback(capture, intent, history, attempt)
            raise
        finally:
            model_call_timeout.reset(token)

    def _generate(self, capture: Capture, intent: IntentResult, history: list[Turn],
                  attempt: int, mode: str) -> dict[str, Any]:
        assignments = (
            self._experiments.assignments(capture.session_id) if self._experiments is not None else {}
        )
        if assignments:
            generation, verdict = self._generator.generate(
                capture.redacted_query, intent, history=tuple(history), attempt=attempt, mode=mode,
                versions={tid: a.variant for tid, a in assignments.items()},
            )
        else:  # no experiment: the call (and the reply) is exactly what it was before
            generation, verdict = self._generator.generate(
                capture.redacted_query, intent, history=tuple(history), attempt=attempt, mode=mode
            )
        output_guardrail = (
            verdict.summary() if verdict is not None else {"action": "allow", "categories": []}
        )
        state = {**generation.to_dict(), "output_guardrail": output_guardrail}
        assigned = assignments.get(generation.template_id)
        if assigned is not None and assigned.variant == generation.template_version:
            state["experiment"] = {"id": assigned.experiment_id, "variant": assigned.variant}
        return state

    def _fallback(self, capture: Capture, intent: IntentResult, history: list[Turn],
                  attempt: int) -> dict[str, Any]:
        reply = self._generate(capture, intent, history, attempt, "fallback")
        return {**reply, "budget_decision": DECISION_FALLBACK}


class QualityStep:
    """ValidateQuality: score the answer and decide whether to regenerate.

    ``retry`` is true when the report did not pass and fewer than ``max_regenerations``
    regenerations have been made (attempt 1 is the first answer, so at most
    ``1 + max_regenerations`` generations happen). ``unusable`` (with
    ``unusable_reasons``, see :mod:`pipeline.domain.quality.usable`) is true when the
    failed answer could not be delivered at all: when it is not regenerated, CheckQuality
    replaces it with the fallback reply.
    """

    def __init__(
        self,
        validator: QualityValidating,
        *,
        max_regenerations: int = 2,
        clock: Clock | None = None,
        budget: LatencyBudget | None = None,
        generation_p95: RollingPercentile | None = None,
    ) -> None:
        if max_regenerations < 0:
            raise ValueError("max_regenerations must be >= 0")
        self._validator = validator
        self._max_regenerations = max_regenerations
        self._clock = clock
        self._budget = budget
        self._p95 = generation_p95

    def validate(self, state: dict[str, Any]) -> dict[str, Any]:
        # Here, not at module level: the quality package is heavy and this module is
        # imported by every handler (only validate_quality builds a validator anyway).
        from pipeline.domain.quality.usable import unusable_reasons

        capture = Capture.from_dict(_require_dict(state, "capture"))
        intent, _ = intent_from_state(state)
        generation, _ = generation_from_state(state)
        report = self._validator.validate(
            capture.redacted_query,
            generation.text,
            intent=intent.intent,
            sentiment=intent.sentiment,
        )
        attempt = max(1, generation.attempt)
        retry = (not report.passed) and (attempt - 1) < self._max_regenerations
        # CheckQuality sends an unusable answer that is not regenerated to Fallback: the
        # customer gets the fallback reply instead of an empty or garbled "answer".
        reasons = unusable_reasons(generation.text, report)
        result: dict[str, Any] = {
            **report.to_dict(), "retry": retry, "attempt": attempt,
            "unusable": bool(reasons), "unusable_reasons": list(reasons),
        }
        if (_optional_dict(state, "generation") or {}).get("budget_decision"):
            # The static fallback stood in for an answer (our own text): keep it.
            result.update(retry=False, unusable=False, unusable_reasons=[])
            return result
        if self._p95 is not None:
            self._p95.observe(generation.latency_ms)
        if retry and self._budget is not None and self._clock is not None:
            p95 = self._p95.value() if self._p95 is not None else 0.0
            if not self._budget.can_regenerate(
                capture.deadline_ms, epoch_ms(self._clock.now()), p95
            ):
                # The answer passed the output guardrail; it is returned as it is.
                result["retry"] = False
                result["budget_decision"] = DECISION_REGENERATION_SKIPPED
        return result


def _seconds_between(start_iso: str, end: datetime) -> float | None:
    try:
        start = datetime.fromisoformat(start_iso)
    except (TypeError, ValueError):
        return None
    if start.tzinfo is None or end.tzinfo is None:
        return None
    return (end - start).total_seconds()


class FeedbackCollection:
    """CollectFeedback: finish the turn, record implicit feedback, emit metrics, respond.

    The implicit-feedback id is derived from the interaction id, so a retried invocation
    finds its own record instead of writing a second one.
    """

    def __init__(
        self,
        conversations: ConversationStore,
        feedback: FeedbackStore,
        metrics: MetricsSink,
        clock: Clock,
    ) -> None:
        self._conversations = conversations
        self._feedback = feedback
        self._metrics = metrics
        self._clock = clock

    def collect(self, state: dict[str, Any]) -> dict[str, Any]:
        capture = Capture.from_dict(_require_dict(state, "capture"))
        response = build_response(state, capture)
        now = self._clock.now()
        quality: dict[str, Any] = _optional_dict(state, "quality") or {}
        generation: dict[str, Any] = _optional_dict(state, "generation") or {}
        template = response["template"] or {}
        experiment = _experiment_of(generation) if response["template"] else None
        elapsed = _seconds_between(capture.created_at, now)
        signals = ImplicitSignals(
            latency_ms=round(elapsed * 1000.0, 1) if elapsed is not None else None,
            regenerations=max(0, _nonnegative_int(generation.get("attempt"), 1) - 1),
            quality_score=response["quality_score"],
            clarification_asked=response["response_type"] == ResponseType.CLARIFICATION.value,
            escalated=response["response_type"] == ResponseType.ESCALATION.value,
            blocked=response["response_type"] == ResponseType.BLOCKED.value,
            intent=response["intent"],
            template_id=template.get("id"),
            template_version=template.get("version"),
            # Variants of a template are its versions (experiments pin them per session).
            variant=template.get("version"),
            experiment_id=experiment[0] if experiment else None,
            response_type=response["response_type"],
        )
        decision = budget_decision(state)
        self._finish_turn(capture, response, decision, experiment)
        self._record_implicit(capture, signals, now)
        if decision is not None:
            self._metrics.put_metric(METRIC_BUDGET_DECISIONS, 1, "Count", {"decision": decision})
        for reason in replaced_answer_reasons(state, response):
            self._metrics.put_metric(METRIC_UNUSABLE_ANSWERS, 1, "Count", {"reason": reason})
        self._emit(response, signals, quality)
        return response

    def _finish_turn(
        self,
        capture: Capture,
        response: dict[str, Any],
        decision: str | None = None,
        experiment: tuple[str, str] | None = None,
    ) -> None:
        template = response["template"] or {}
        self._conversations.update_turn(
            Turn(
                session_id=capture.session_id,
                interaction_id=capture.interaction_id,
                turn_index=capture.turn_index,
                created_at=capture.created_at or self._clock.now().isoformat(),
                user_text=capture.redacted_query,
                user_id=capture.user_id,
                assistant_text=response["response"],
                response_type=response["response_type"],
                intent=response["intent"],
                confidence=response["confidence"],
                guardrail_action=capture.guardrail["action"],
                guardrail_categories=tuple(capture.guardrail["categories"]),
                quality_score=response["quality_score"],
                template_id=template.get("id"),
                template_version=template.get("version"),
                budget_decision=decision,
                experiment_id=experiment[0] if experiment else None,
                variant=experiment[1] if experiment else None,
            )
        )

    def _record_implicit(self, capture: Capture, signals: ImplicitSignals, now: datetime) -> None:
        record = Feedback(
            feedback_id=implicit_feedback_id(capture.interaction_id),
            session_id=capture.session_id,
            interaction_id=capture.interaction_id,
            timestamp=now.isoformat(),
            source="implicit",
            signals=signals,
        )
        # A retried invocation finds the record it already wrote.
        with contextlib.suppress(RecordExistsError):
            self._feedback.put(record)

    def _emit(
        self, response: dict[str, Any], signals: ImplicitSignals, quality: dict[str, Any]
    ) -> None:
        put = self._metrics.put_metric
        put(METRIC_QUERIES, 1, "Count", {"response_type": response["response_type"]})
        guardrail = response["guardrail"]
        name = {"block": METRIC_GUARDRAIL_BLOCKS, "redact": METRIC_GUARDRAIL_REDACTIONS}.get(
            guardrail["action"]
        )
        if name is not None:
            for category in guardrail["categories"]:
                put(name, 1, "Count", {"category": category})
        if response["intent"]:
            put(METRIC_INTENT, 1, "Count", {"intent": response["intent"]})
        if quality and response["quality_score"] is not None:
            put(METRIC_QUALITY_SCORE, response["quality_score"], "None")
        if response["response_type"] == ResponseType.ANSWER.value:
            put(METRIC_REGENERATIONS, signals.regenerations, "Count")
        if signals.latency_ms is not None:
            put(METRIC_LATENCY, signals.latency_ms, "Milliseconds")
        self._metrics.flush()


def _experiment_of(generation: dict[str, Any]) -> tuple[str, str] | None:
    """``(experiment id, variant)`` the generation step recorded, if the template was in one."""
    found = generation.get("experiment")
    if isinstance(found, dict) and isinstance(found.get("id"), str) and isinstance(found.get("variant"), str):
        return found["id"], found["variant"]
    return None


def replaced_answer_reasons(state: dict[str, Any], response: dict[str, Any]) -> list[str]:
    """Why the generated answer was replaced by the fallback reply (``$.quality.unusable``
    on the Fallback path), or nothing when it was not."""
    quality = _optional_dict(state, "quality") or {}
    if response.get("response_type") != ResponseType.FALLBACK.value or quality.get("unusable") is not True:
        return []
    reasons = quality.get("unusable_reasons")
    return [str(r) for r in reasons] if isinstance(reasons, list) and reasons else ["unusable"]


def budget_decision(state: dict[str, Any]) -> str | None:
    """What the latency budget decided on this path (fallback, regeneration skipped), if anything."""
    for key in ("generation", "quality"):
        found = (_optional_dict(state, key) or {}).get("budget_decision")
        if found:
            return str(found)
    return None


def implicit_feedback_id(interaction_id: str) -> str:
    """The one implicit-feedback id of an interaction (idempotent writes)."""
    return f"implicit-{interaction_id}"


def _finite_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return round(float(value), 4)


def build_response(state: dict[str, Any], capture: Capture | None = None) -> dict[str, Any]:
    """The response shape every path returns (``docs/workflow-contract.md``).

    Blocked path: ``$.reply`` holds the block message. Fallback path (a task failed after
    the capture): ``$.reply`` holds the fallback text with ``response_type: "fallback"``
    and the error is at ``$.error``. Clarify, Escalate and answer paths: ``$.generation``
    holds the text and ``$.intent.route`` names the path.
    """
    capture = capture or Capture.from_dict(_require_dict(state, "capture"))
    intent_data = _optional_dict(state, "intent")
    generation = _optional_dict(state, "generation")
    quality = _optional_dict(state, "quality")
    reply = _optional_dict(state, "reply")

    if reply is not None and reply.get("response_type") == ResponseType.FALLBACK.value:
        # Whatever a failed step left behind (an intent, a generation, a quality report) is
        # not what the user gets: the same nulls as FallbackResponse, whichever task failed.
        return {
            "session_id": capture.session_id,
            "interaction_id": capture.interaction_id,
            "response": str(reply.get("response") or ""),
            "response_type": ResponseType.FALLBACK.value,
            "intent": None,
            "confidence": None,
            "quality_score": None,
            "template": None,
            "guardrail": dict(capture.guardrail),
        }
    if capture.blocked or generation is None:
        text = (reply or {}).get("response") or capture.block_message or ""
        response_type = ResponseType.BLOCKED.value
        template = None
    else:
        text = str(generation.get("text", ""))
        route = str((intent_data or {}).get("route", "answer"))
        response_type = _ROUTE_TO_RESPONSE_TYPE.get(route, ResponseType.ANSWER).value
        if generation.get("budget_decision") == DECISION_FALLBACK:
            response_type = ResponseType.FALLBACK.value
        template = {
            "id": generation.get("template_id"),
            "version": generation.get("template_version"),
        }
        if not template["id"]:
            template = None
    blocked = response_type == ResponseType.BLOCKED.value
    return {
        "session_id": capture.session_id,
        "interaction_id": capture.interaction_id,
        "response": text,
        "response_type": response_type,
        "intent": None if blocked or intent_data is None else intent_data.get("intent"),
        "confidence": None
        if blocked or intent_data is None
        else _finite_or_none(intent_data.get("confidence")),
        "quality_score": None
        if blocked or quality is None
        else _finite_or_none(quality.get("score")),
        "template": template,
        "guardrail": dict(capture.guardrail),
    }
