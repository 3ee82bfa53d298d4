"""In-memory stores keep the semantics of the DynamoDB adapters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.adapters.local.clock import FixedClock, SystemClock
from pipeline.adapters.local.memory_stores import InMemoryConversationStore, InMemoryFeedbackStore
from pipeline.domain.models import Feedback, Turn
from pipeline.domain.workflow import RecordExistsError, RecordNotFoundError


def turn(index: int, session: str = "session-0001", user: str | None = "user-1") -> Turn:
    created = (datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=index)).isoformat()
    return Turn(session, f"req-{index}", index, created, f"question {index}", user_id=user)


def test_conversation_store_appends_reads_recent_and_never_overwrites() -> None:
    store = InMemoryConversationStore()
    assert (
        store.next_turn_index("session-0001") == 0 and store.recent_turns("session-0001", 5) == []
    )
    for i in range(1000):
        store.append_turn(turn(i))
    assert store.next_turn_index("session-0001") == 1000
    assert [t.turn_index for t in store.recent_turns("session-0001", 3)] == [997, 998, 999]
    assert store.recent_turns("session-0001", 0) == []
    assert [t.turn_index for t in store.recent_turns("session-0001", 3, before=500)] == [497, 498, 499]
    assert store.recent_turns("session-0001", 3, before=0) == []
    assert store.find_turn("session-0001", "req-3", 1000).turn_index == 3
    assert store.find_turn("session-0001", "req-3", 996) is None  # older than the last 996
    assert store.find_turn("session-0001", "req-nope", 1000) is None
    with pytest.raises(RecordExistsError):
        store.append_turn(turn(5))
    with pytest.raises(RecordNotFoundError):
        store.update_turn(turn(5000))


def test_turns_for_user_spans_sessions_newest_first() -> None:
    store = InMemoryConversationStore()
    store.append_turn(turn(0, "session-aaaa"))
    store.append_turn(turn(1, "session-bbbb"))
    store.append_turn(turn(2, "session-cccc", user=None))
    assert [t.session_id for t in store.turns_for_user("user-1", 10)] == [
        "session-bbbb",
        "session-aaaa",
    ]
    assert len(store.turns_for_user("user-1", 1)) == 1


def test_feedback_store_never_overwrites_and_filters_by_time_and_session() -> None:
    store = InMemoryFeedbackStore()
    store.put(
        Feedback("f1", "session-0001", "r1", "2026-03-01T10:00:00+00:00", "explicit", rating=5)
    )
    store.put(
        Feedback("f2", "session-0002", "r2", "2026-03-02T10:00:00+00:00", "explicit", thumbs="down")
    )
    with pytest.raises(RecordExistsError):
        store.put(
            Feedback("f1", "session-0001", "r1", "2026-03-03T10:00:00+00:00", "explicit", rating=1)
        )
    assert [f.feedback_id for f in store.for_session("session-0001")] == ["f1"]
    assert store.get("f1").rating == 5 and store.get("f2").thumbs == "down"  # the originals
    assert store.get("f3") is None
    assert [f.feedback_id for f in store.since("2026-03-02T00:00:00+00:00")] == ["f2"]


def test_clocks_are_timezone_aware() -> None:
    assert SystemClock().now().tzinfo is not None
    clock = FixedClock(step=timedelta(seconds=2))
    first, second = clock.now(), clock.now()
    assert second - first == timedelta(seconds=2)
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 1, 1))
