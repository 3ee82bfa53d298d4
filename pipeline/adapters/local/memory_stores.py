"""In-memory ConversationStore and FeedbackStore: the offline defaults.

They keep the same semantics as the DynamoDB adapters (append-only turns, conditional
updates, never-overwritten feedback) so tests written against them hold in AWS too.
Records are frozen dataclasses, so storing them by reference is safe.

Example:
    >>> store = InMemoryConversationStore()
    >>> store.next_turn_index("s-1")
    0
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from pipeline.domain.models import Feedback, Turn
from pipeline.domain.workflow.errors import RecordExistsError, RecordNotFoundError


class InMemoryConversationStore:
    """Turns keyed by (session_id, turn_index), with a per-user index like ``UserIdIndex``."""

    def __init__(self) -> None:
        self._sessions: dict[str, dict[int, Turn]] = {}
        self._lock = threading.Lock()

    def append_turn(self, turn: Turn) -> None:
        with self._lock:
            turns = self._sessions.setdefault(turn.session_id, {})
            if turn.turn_index in turns:
                raise RecordExistsError(f"turn {turn.session_id}/{turn.turn_index} already exists")
            turns[turn.turn_index] = turn

    def update_turn(self, turn: Turn) -> None:
        with self._lock:
            turns = self._sessions.get(turn.session_id, {})
            if turn.turn_index not in turns:
                raise RecordNotFoundError(
                    f"turn {turn.session_id}/{turn.turn_index} does not exist"
                )
            turns[turn.turn_index] = turn

    def recent_turns(self, session_id: str, limit: int, before: int | None = None) -> list[Turn]:
        if limit <= 0:
            return []
        turns = self._sessions.get(session_id, {})
        indexes = sorted(i for i in turns if before is None or i < before)
        return [turns[i] for i in indexes[-limit:]]

    def find_turn(self, session_id: str, interaction_id: str, within: int) -> Turn | None:
        return next((t for t in self.recent_turns(session_id, within) if t.interaction_id == interaction_id), None)

    def next_turn_index(self, session_id: str) -> int:
        turns = self._sessions.get(session_id, {})
        return max(turns) + 1 if turns else 0

    def turns_for_user(self, user_id: str, limit: int) -> list[Turn]:
        """The user's most recent turns across sessions, newest first (as the GSI query)."""
        mine = [
            t for turns in self._sessions.values() for t in turns.values() if t.user_id == user_id
        ]
        mine.sort(key=lambda t: t.created_at, reverse=True)
        return mine[: max(0, limit)]

    def all_turns(self) -> Iterator[Turn]:
        """Every stored turn (tests read the store back with it)."""
        for turns in list(self._sessions.values()):
            yield from list(turns.values())


class InMemoryFeedbackStore:
    """Feedback records keyed by feedback_id; ``since`` compares ISO-8601 UTC timestamps."""

    def __init__(self) -> None:
        self._records: dict[str, Feedback] = {}
        self._lock = threading.Lock()

    def put(self, feedback: Feedback) -> None:
        with self._lock:
            if feedback.feedback_id in self._records:
                raise RecordExistsError(f"feedback {feedback.feedback_id} already exists")
            self._records[feedback.feedback_id] = feedback

    def get(self, feedback_id: str) -> Feedback | None:
        return self._records.get(feedback_id)

    def for_session(self, session_id: str) -> list[Feedback]:
        found = [f for f in self._records.values() if f.session_id == session_id]
        return sorted(found, key=lambda f: f.timestamp)

    def since(self, timestamp: str) -> Iterator[Feedback]:
        found = [f for f in list(self._records.values()) if f.timestamp >= timestamp]
        yield from sorted(found, key=lambda f: f.timestamp)

    def all(self) -> list[Feedback]:
        """Every stored record (tests read the store back with it)."""
        return list(self._records.values())
