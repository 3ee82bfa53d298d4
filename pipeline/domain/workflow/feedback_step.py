"""CollectFeedback's logic: finish the turn, record implicit feedback, emit metrics, respond.

One module per step: each is the whole logic of one Lambda (``pipeline/handlers``). Beside
the step: the readers of what it records from the state (``budget_decision``,
``replaced_answer_reasons``) and the implicit-feedback id.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pipeline.domain.budget import METRIC_BUDGET_DECISIONS
from pipeline.domain.models import Feedback, ImplicitSignals, ResponseType, Turn
from pipeline.domain.workflow.errors import RecordExistsError
from pipeline.domain.workflow.metrics import (
    METRIC_GUARDRAIL_BLOCKS,
    METRIC_GUARDRAIL_REDACTIONS,
    METRIC_INTENT,
    METRIC_LATENCY,
    METRIC_QUALITY_SCORE,
    METRIC_QUERIES,
    METRIC_REGENERATIONS,
    METRIC_UNUSABLE_ANSWERS,
)
from pipeline.domain.workflow.response import build_response
from pipeline.domain.workflow.state import Capture, nonnegative_int, optional_dict, require_dict
from pipeline.ports import Clock, ConversationStore, FeedbackStore, MetricsSink


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
        capture = Capture.from_dict(require_dict(state, "capture"))
        response = build_response(state, capture)
        now = self._clock.now()
        quality: dict[str, Any] = optional_dict(state, "quality") or {}
        generation: dict[str, Any] = optional_dict(state, "generation") or {}
        template = response["template"] or {}
        experiment = _experiment_of(generation) if response["template"] else None
        elapsed = _seconds_between(capture.created_at, now)
        signals = ImplicitSignals(
            latency_ms=round(elapsed * 1000.0, 1) if elapsed is not None else None,
            regenerations=max(0, nonnegative_int(generation.get("attempt"), 1) - 1),
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
    quality = optional_dict(state, "quality") or {}
    if response.get("response_type") != ResponseType.FALLBACK.value or quality.get("unusable") is not True:
        return []
    reasons = quality.get("unusable_reasons")
    return [str(r) for r in reasons] if isinstance(reasons, list) and reasons else ["unusable"]


def budget_decision(state: dict[str, Any]) -> str | None:
    """What the latency budget decided on this path (fallback, regeneration skipped), if anything."""
    for key in ("generation", "quality"):
        found = (optional_dict(state, key) or {}).get("budget_decision")
        if found:
            return str(found)
    return None


def implicit_feedback_id(interaction_id: str) -> str:
    """The one implicit-feedback id of an interaction (idempotent writes)."""
    return f"implicit-{interaction_id}"
