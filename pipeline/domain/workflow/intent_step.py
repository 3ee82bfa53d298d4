"""DetectIntent's logic: the intent of the redacted query and the route it takes.

One module per step: each is the whole logic of one Lambda (``pipeline/handlers``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.domain.models import HISTORY_TURNS, IntentResult
from pipeline.domain.workflow.collaborators import IntentDetecting
from pipeline.domain.workflow.history import earlier_turns
from pipeline.domain.workflow.state import Capture, intent_to_state
from pipeline.ports import ConversationStore


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
        history = earlier_turns(self._conversations, capture, self._history_turns)
        result = self._detector.detect(capture.redacted_query, history=tuple(history))
        return intent_to_state(result, self._route(result))
