"""The response every path of the workflow returns (``docs/workflow-contract.md``).

A module of its own because the shape is the contract with the caller, not CollectFeedback's
logic (which builds it once per request): the blocked, fallback, clarify, escalate and
answer paths all map to it here.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.domain.budget import DECISION_FALLBACK
from pipeline.domain.models import ResponseType
from pipeline.domain.workflow.state import Capture, optional_dict, require_dict

_ROUTE_TO_RESPONSE_TYPE = {
    "answer": ResponseType.ANSWER,
    "clarify": ResponseType.CLARIFICATION,
    "escalate": ResponseType.ESCALATION,
}


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
    capture = capture or Capture.from_dict(require_dict(state, "capture"))
    intent_data = optional_dict(state, "intent")
    generation = optional_dict(state, "generation")
    quality = optional_dict(state, "quality")
    reply = optional_dict(state, "reply")

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
