"""The workflow state: the records the steps read from and write to the Step Functions state.

``WorkflowInput`` (the execution's input) and ``Capture`` (``$.capture``) are validated at
the boundary and frozen inside; ``intent_to_state``, ``intent_from_state`` and
``generation_from_state`` write and read ``$.intent`` and ``$.generation``. The keys are
those of ``docs/workflow-contract.md``, so the state machine and the code cannot disagree
silently. A module of its own because every step and several handlers read the state, while
each step's logic is its own; the readers ``require_dict``, ``optional_dict`` and
``nonnegative_int`` are shared by the steps for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.domain.models import GENERATION_MODES, Generation, IntentResult, Turn
from pipeline.domain.workflow.errors import WorkflowInputError

ROUTES = ("answer", "clarify", "escalate")
#: The generation step accepts every generation mode (one definition, in ``models``).
MODES = GENERATION_MODES


def _require_str(data: dict[str, Any], key: str, *, where: str, allow_empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise WorkflowInputError(f"{where}.{key} must be a non-empty string")
    return value


def require_dict(data: dict[str, Any], key: str, *, where: str = "$") -> dict[str, Any]:
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
            received_at_ms=nonnegative_int(received, 0) or None,
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
            deadline_ms=nonnegative_int(data.get("deadline_ms"), 0) or None,
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
    data = require_dict(state, "intent")
    try:
        return IntentResult.from_dict(data), str(data.get("route", "answer"))
    except (KeyError, TypeError, ValueError) as error:
        raise WorkflowInputError(f"$.intent is malformed: {error}") from error


def generation_from_state(state: dict[str, Any]) -> tuple[Generation, dict[str, Any]]:
    data = require_dict(state, "generation")
    try:
        generation = Generation.from_dict(data)
    except TypeError as error:
        raise WorkflowInputError(f"$.generation is malformed: {error}") from error
    return generation, _guardrail_summary(data.get("output_guardrail"))


def optional_dict(state: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = state.get(key)
    return value if isinstance(value, dict) else None


def nonnegative_int(value: Any, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return default
    return int(value)
