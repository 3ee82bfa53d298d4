"""POST /query in front of the workflow: ownership, idempotency (during and after the first
request) and concurrency, with the real capture step on an in-memory store read back."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from pipeline.adapters.local.idempotency import InMemoryIdempotencyStore
from pipeline.adapters.local.memory_stores import InMemoryConversationStore
from pipeline.domain.models import GuardrailAction, GuardrailVerdict
from pipeline.domain.query_api import QueryApi
from pipeline.domain.sessions import SessionAuthority, StaticKey
from pipeline.domain.workflow import QueryCapture, WorkflowInput


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 5, tzinfo=UTC)


def allow(text: str) -> GuardrailVerdict:
    return GuardrailVerdict(action=GuardrailAction.ALLOW, findings=(), redacted_text=text)


class World:
    """The capture step on an in-memory store as the 'workflow'; counts executions."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.store = InMemoryConversationStore()
        self.capture = QueryCapture(self.store, Clock(), input_guard=allow)
        self.executions = 0
        self.gate = gate
        self.lock = threading.Lock()
        self.idempotency = InMemoryIdempotencyStore()
        self.authority = SessionAuthority(
            StaticKey(b"s" * 32), has_turns=lambda s: bool(self.store.recent_turns(s, 1))
        )
        self.api = QueryApi(self.run, self.authority, self.idempotency, Clock(), poll_seconds=0.005)

    def run(self, workflow_input: dict, execution_name: str) -> dict:
        with self.lock:
            self.executions += 1
        if self.gate is not None:
            self.gate.wait(10)
        capture = self.capture.capture(WorkflowInput.from_dict(workflow_input))
        return {"status": "SUCCEEDED", "output": {
            "session_id": capture.session_id, "interaction_id": capture.interaction_id,
            "response": f"turn {capture.turn_index}"}}

    def turns(self, session_id: str) -> list:
        return self.store.recent_turns(session_id, 10_000)


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_two_clients_cannot_touch_each_others_sessions() -> None:
    world = World()
    status, alice = world.api.handle(body(query="hello"), {}, "r1")
    status_b, bob = world.api.handle(body(query="hi"), {}, "r2")
    assert status == status_b == 200 and alice["session_id"] != bob["session_id"]
    before = world.turns(alice["session_id"])
    for token in (None, bob["session_token"], "v1.forged"):
        headers = {"X-Session-Token": token} if token else {}
        status, error = world.api.handle(body(query="steal", session_id=alice["session_id"]), headers, "r3")
        assert status == 403 and error["error"]["code"] == "unauthorized_session"
    assert world.turns(alice["session_id"]) == before  # nothing appended
    status, _ = world.api.handle(
        body(query="go on", session_id=alice["session_id"]), {"x-session-token": alice["session_token"]}, "r4")
    assert status == 200 and len(world.turns(alice["session_id"])) == 2
    status, error = world.api.handle(body(query="x", session_id="made-up-session"), {}, "r5")
    assert status == 404 and error["error"]["code"] == "not_found"


def test_a_retry_after_the_first_answer_returns_it_and_appends_nothing() -> None:
    world = World()
    _, first = world.api.handle(body(query="hello"), {}, "r0")
    sid, token = first["session_id"], first["session_token"]
    headers = {"X-Session-Token": token, "Idempotency-Key": "retry-key-0001"}
    status1, one = world.api.handle(body(query="again", session_id=sid), headers, "r1")
    status2, two = world.api.handle(body(query="again", session_id=sid), headers, "r2")
    assert status1 == status2 == 200 and one == two
    assert len(world.turns(sid)) == 2 and world.executions == 2
    status, error = world.api.handle(body(query="different", session_id=sid), headers, "r3")
    assert status == 409 and error["error"]["code"] == "idempotency_conflict"
    assert world.idempotency.all()[f"{sid}:retry-key-0001"]["status"] == "done"


def test_retries_while_the_first_request_runs_wait_for_its_answer() -> None:
    gate = threading.Event()
    world = World(gate)
    headers = {"Idempotency-Key": "new-session-key-1"}
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(world.api.handle, body(query="hello"), headers, f"r{i}") for i in range(8)]
        while not world.idempotency.all():
            threading.Event().wait(0.001)  # until the first request has claimed the key
        gate.set()
        replies = [f.result() for f in futures]
    assert {status for status, _ in replies} == {200}
    assert len({json.dumps(reply, sort_keys=True) for _, reply in replies}) == 1
    assert world.executions == 1
    sid = replies[0][1]["session_id"]
    assert len(world.turns(sid)) == 1


def test_fifty_concurrent_requests_on_one_session_lose_and_duplicate_nothing() -> None:
    world = World()
    _, first = world.api.handle(body(query="start"), {}, "r0")
    sid, token = first["session_id"], first["session_token"]
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(
            lambda i: world.api.handle(body(query=f"q{i}", session_id=sid), {"X-Session-Token": token}, f"r{i}"),
            range(50)))
    assert all(status == 200 for status, _ in replies)
    turns = world.turns(sid)
    assert [t.turn_index for t in turns] == list(range(51))
    assert sorted(t.user_text for t in turns[1:]) == sorted(f"q{i}" for i in range(50))
    assert len({t.interaction_id for t in turns}) == 51


def test_a_failed_first_request_releases_its_key() -> None:
    world = World()
    calls = {"n": 0}

    def flaky(workflow_input: dict, name: str) -> dict:
        calls["n"] += 1
        return {"status": "FAILED"} if calls["n"] == 1 else world.run(workflow_input, name)

    api = QueryApi(flaky, world.authority, world.idempotency, Clock())
    headers = {"Idempotency-Key": "flaky-key-0001"}
    status, error = api.handle(body(query="x"), headers, "r1")
    assert status == 500 and error["error"]["code"] == "workflow_failed"
    assert "flaky" not in error["error"]["message"]
    status, reply = api.handle(body(query="x"), headers, "r2")
    assert status == 200 and len(world.turns(reply["session_id"])) == 1
