"""QueryApi's optional per-session limit and what its idempotency store keeps (no token)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pipeline.adapters.local.idempotency import InMemoryIdempotencyStore
from pipeline.adapters.local.session_throttle import InMemorySessionThrottle
from pipeline.domain.query_api import QueryApi
from pipeline.domain.sessions import SessionAuthority, StaticKey


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 6, tzinfo=UTC)


class World:
    def __init__(self, limit: int) -> None:
        self.started: list[str] = []
        self.sessions: set[str] = set()
        self.idempotency = InMemoryIdempotencyStore()
        self.throttle = InMemorySessionThrottle(limit=limit, window_seconds=3600, now=lambda: 7200.0)
        self.authority = SessionAuthority(StaticKey(b"q" * 32), has_turns=lambda s: s in self.sessions)
        self.api = QueryApi(self.run, self.authority, self.idempotency, Clock(), throttle=self.throttle)

    def run(self, workflow_input: dict, name: str) -> dict:
        self.started.append(name)
        self.sessions.add(workflow_input["session_id"])
        return {"status": "SUCCEEDED", "output": {"session_id": workflow_input["session_id"],
                                                  "interaction_id": workflow_input["interaction_id"],
                                                  "response": "ok"}}


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_a_continued_session_over_its_limit_is_429_and_runs_nothing() -> None:
    world = World(limit=2)
    status, first = world.api.handle(_body(query="hi"), {}, "r-0")
    assert status == 200  # a new session is not counted against anyone
    headers = {"X-Session-Token": first["session_token"]}
    more = _body(query="again", session_id=first["session_id"])
    statuses = [world.api.handle(more, headers, f"r-{i}")[0] for i in range(1, 4)]
    assert statuses == [200, 200, 429]
    status, payload = world.api.handle(more, headers, "r-9")
    assert status == 429 and payload["error"]["code"] == "throttled"
    assert len(world.started) == 3


def test_a_replay_is_not_counted_and_a_throttled_claim_is_released() -> None:
    world = World(limit=1)
    _, first = world.api.handle(_body(query="hi"), {}, "r-0")
    headers = {"X-Session-Token": first["session_token"], "Idempotency-Key": "key-00000001"}
    more = _body(query="again", session_id=first["session_id"])
    answer = world.api.handle(more, headers, "r-1")
    assert answer[0] == 200 and world.api.handle(more, headers, "r-2") == answer  # replay: no count
    other = {**headers, "Idempotency-Key": "key-00000002"}
    assert world.api.handle(more, other, "r-3")[0] == 429
    assert world.idempotency.get(f"{first['session_id']}:key-00000002") is None  # released


def test_the_idempotency_store_keeps_no_session_token_and_a_replay_signs_it_again() -> None:
    world = World(limit=5)
    status, first = world.api.handle(_body(query="hi"), {"Idempotency-Key": "key-new-0001"}, "r-0")
    assert status == 200 and first["session_token"]
    (record,) = world.idempotency.all().values()
    assert "session_token" not in record["response"]
    again = world.api.handle(_body(query="hi"), {"Idempotency-Key": "key-new-0001"}, "r-1")
    assert again == (200, first) and len(world.started) == 1
