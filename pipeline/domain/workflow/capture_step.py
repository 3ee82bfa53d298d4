"""CaptureUserQuery's logic: scan the input, store the redacted turn, decide whether to block.

One module per step: each is the whole logic of one Lambda (``pipeline/handlers``).
"""

from __future__ import annotations

from pipeline.domain.budget import LatencyBudget, epoch_ms
from pipeline.domain.models import HISTORY_TURNS, GuardrailVerdict, ResponseType, Turn
from pipeline.domain.workflow.collaborators import Guard
from pipeline.domain.workflow.errors import RecordExistsError
from pipeline.domain.workflow.state import Capture, WorkflowInput
from pipeline.ports import Clock, ConversationStore


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
