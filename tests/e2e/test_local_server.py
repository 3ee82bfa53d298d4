"""The local REST API server end to end: uvicorn on an ephemeral loopback port, the
synthesized workflow on moto, the real handlers; every test reads the store back."""

from __future__ import annotations

import io
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn  # noqa: F401 - the server under test

from pipeline.local import server as server_module
from pipeline.local.api_runtime import LocalApi
from pipeline.local.workflow import LocalWorkflow

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.xdist_group("local_server")


class Running:
    def __init__(self, url: str, api: LocalApi, server: uvicorn.Server, thread: threading.Thread,
                 log: io.StringIO) -> None:
        self.url, self.api, self.server, self.thread, self.log = url, api, server, thread, log

    def turns(self, session_id: str) -> list[dict[str, Any]]:
        items = [i for i in self.api.workflow.scan("ConversationsTable") if i["session_id"] == session_id]
        return sorted(items, key=lambda i: int(i["turn_index"]))


@pytest.fixture
def start_server(stack_template: Any, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(api_kwargs: dict[str, Any] | None = None, **workflow_kwargs: Any) -> Running:
        holder: dict[str, LocalApi] = {}

        def factory() -> LocalApi:
            workflow = LocalWorkflow(stack_template, **workflow_kwargs)
            holder["api"] = LocalApi(workflow=workflow, key_file=tmp_path / "session.key", **(api_kwargs or {}))
            return holder["api"]

        log = io.StringIO()
        server_module.configure_logging(log)
        server, thread, url = server_module.start_in_thread(server_module.create_app(factory))
        running = Running(url, holder["api"], server, thread, log)
        started.append(running)
        return running

    yield start
    for running in started:
        running.server.should_exit = True
        running.thread.join(60)


def readme_curl_block() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if "API=${API:-" in b]
    return block


def test_the_readme_curl_examples_work(start_server, tmp_path: Path) -> None:
    running = start_server()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", readme_curl_block()],
        cwd=tmp_path, env={"API": running.url, "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.replace("}{", "}\n{").splitlines() if line.strip()]
    health, feedback, session, forbidden = lines
    assert health == {"status": "ok"} and feedback == {"feedback_id": "fb-demo-0001"}
    assert forbidden["error"]["code"] == "unauthorized_session"
    first = json.loads((tmp_path / "first.json").read_text())
    second = json.loads((tmp_path / "second.json").read_text())
    assert first["response_type"] == "answer" and second["session_id"] == first["session_id"]
    assert [t["interaction_id"] for t in session["turns"]] == [first["interaction_id"], second["interaction_id"]]
    assert len(running.turns(first["session_id"])) == 2  # the store agrees


def test_two_clients_and_idempotent_retries_during_and_after_the_first(start_server) -> None:
    running = start_server()
    with httpx.Client(base_url=running.url, timeout=120) as alice, httpx.Client(base_url=running.url, timeout=120) as bob:
        a = alice.post("/query", json={"query": "my lambda function times out"}).json()
        b = bob.post("/query", json={"query": "how do I enable S3 versioning"}).json()
        sid = a["session_id"]
        # Bob with his own token, with none, and with a forged one: 403, and nothing stored.
        for headers in ({"X-Session-Token": b["session_token"]}, {}, {"X-Session-Token": "v1.x"}):
            for reply in (
                bob.post("/query", json={"query": "show me", "session_id": sid}, headers=headers),
                bob.post("/feedback", json={"session_id": sid, "interaction_id": a["interaction_id"],
                                            "rating": 1}, headers=headers),
                bob.get(f"/sessions/{sid}", headers=headers),
            ):
                assert reply.status_code == 403, reply.text
                assert reply.json()["error"]["code"] == "unauthorized_session"
        assert bob.post("/query", json={"query": "x", "session_id": "never-issued-01"}).status_code == 404
        assert len(running.turns(sid)) == 1 and not [
            f for f in running.api.workflow.scan("FeedbackTable") if f.get("source") == "explicit"]

        owner = {"X-Session-Token": a["session_token"], "Idempotency-Key": "retry-demo-0001"}
        body = {"query": "it still times out after 30 seconds", "session_id": sid}
        with ThreadPoolExecutor(4) as pool:  # three retries while the first is still running
            replies = list(pool.map(lambda _: alice.post("/query", json=body, headers=owner), range(4)))
        after = alice.post("/query", json=body, headers=owner)  # and one after it finished
        answers = [r.json() for r in [*replies, after]]
        assert all(r.status_code == 200 for r in [*replies, after])
        assert all(answer == answers[0] for answer in answers)
        turns = running.turns(sid)
        assert [int(t["turn_index"]) for t in turns] == [0, 1]
        assert turns[1]["interaction_id"] == answers[0]["interaction_id"]

        fb = {"session_id": sid, "interaction_id": answers[0]["interaction_id"], "thumbs": "up",
              "feedback_id": "fb-retry-0001"}
        token = {"X-Session-Token": a["session_token"]}
        assert alice.post("/feedback", json=fb, headers=token).status_code == 201
        again = alice.post("/feedback", json=fb, headers=token)
        assert again.status_code == 200 and again.json() == {"feedback_id": "fb-retry-0001"}
        unknown = alice.post("/feedback", json={**fb, "interaction_id": "no-such-turn", "feedback_id": "fb-other-0001"},
                             headers=token)
        assert unknown.status_code == 404
        explicit = [f for f in running.api.workflow.scan("FeedbackTable") if f.get("source") == "explicit"]
        assert [f["feedback_id"] for f in explicit] == ["fb-retry-0001"]


def test_fifty_concurrent_requests_on_one_session_lose_and_duplicate_no_turn(start_server) -> None:
    running = start_server()
    with httpx.Client(base_url=running.url, timeout=300) as client:
        first = client.post("/query", json={"query": "my ec2 instance will not start"}).json()
        sid, headers = first["session_id"], {"X-Session-Token": first["session_token"]}
        with ThreadPoolExecutor(50) as pool:
            replies = list(pool.map(
                lambda i: client.post("/query", json={"query": f"follow-up number {i} about ec2",
                                                      "session_id": sid}, headers=headers),
                range(50)))
    assert [r.status_code for r in replies] == [200] * 50
    turns = running.turns(sid)
    assert [int(t["turn_index"]) for t in turns] == list(range(51))
    acknowledged = {r.json()["interaction_id"] for r in replies} | {first["interaction_id"]}
    assert {t["interaction_id"] for t in turns} == acknowledged
    assert all(t.get("assistant_text") for t in turns)  # every turn finished, none half-written


def test_the_per_session_limit_answers_429_and_runs_nothing_for_it(start_server) -> None:
    running = start_server(api_kwargs={"session_limit": 2, "session_window_seconds": 3600})
    with httpx.Client(base_url=running.url, timeout=120) as client:
        first = client.post("/query", json={"query": "my lambda function times out"}).json()
        sid, headers = first["session_id"], {"X-Session-Token": first["session_token"]}
        codes = [client.post("/query", json={"query": f"follow-up {i}", "session_id": sid}, headers=headers)
                 for i in range(3)]
        other = client.post("/query", json={"query": "how do I enable S3 versioning"})
    assert [r.status_code for r in codes] == [200, 200, 429]
    error = codes[2].json()["error"]
    assert error["code"] == "throttled" and error["request_id"]
    assert [int(t["turn_index"]) for t in running.turns(sid)] == [0, 1, 2]  # nothing ran for the 429
    assert other.status_code == 200  # another session is not limited


def test_a_bad_session_limit_in_the_environment_is_a_clear_error(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SESSION_THROTTLE_LIMIT", "thirty")
    with pytest.raises(ValueError, match="SESSION_THROTTLE_LIMIT='thirty'"):
        LocalApi(key_file=tmp_path / "k")


def test_errors_are_json_with_request_ids_and_access_logs_cannot_be_forged(start_server) -> None:
    running = start_server()
    with httpx.Client(base_url=running.url, timeout=60) as client:
        cases = [
            (client.get("/nope"), 404, "not_found"),
            (client.delete("/query"), 405, "method_not_allowed"),
            (client.post("/query", content=b"x" * 70_000, headers={"content-type": "application/json"}),
             413, "payload_too_large"),
            (client.post("/query", content=b"{}", headers={"content-type": "text/plain"}), 415,
             "unsupported_media_type"),
            (client.post("/query", content=b'{"query": "a", "query": "b"}',
                         headers={"content-type": "application/json"}), 400, "duplicate_key"),
            (client.post("/query", json={"query": ""}), 400, "validation_error"),
            (client.get("/sessions/..%2F..%2Fx"), 404, "not_found"),  # no route has a '/' in an id
            (client.get("/sessions/has%20space1"), 400, "validation_error"),
            (client.get("/sessions/%0Aforged%22line"), 400, "validation_error"),
        ]
        for reply, status, code in cases:
            assert reply.status_code == status, (reply.request.url, reply.text)
            error = reply.json()["error"]
            assert error["code"] == code and error["request_id"] == reply.headers["x-request-id"]
        assert cases[1][0].headers["allow"] == "POST"
        assert client.get("/openapi.json").json()["openapi"] == "3.1.0"
        assert "/feedback" in client.get("/docs").text
    deadline = time.monotonic() + 10
    while True:  # the access line is written just after the response has been sent
        lines = [json.loads(line) for line in running.log.getvalue().splitlines()]
        access = [line for line in lines if line.get("type") == "access"]
        if len(access) >= len(cases) + 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(access) >= len(cases) + 2
    assert {line["request_id"] for line in access} >= {reply.headers["x-request-id"] for reply, _, _ in cases}


class SlowModel:
    """The offline model, one second slower (an in-flight request during shutdown)."""

    def __init__(self) -> None:
        from pipeline.adapters.local.offline_model import OfflineModel

        self.inner = OfflineModel()

    def generate(self, request: Any) -> Any:
        time.sleep(1.0)
        return self.inner.generate(request)


def test_graceful_shutdown_lets_in_flight_requests_finish(start_server) -> None:
    running = start_server(model=SlowModel())
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(httpx.post, f"{running.url}/query",
                             json={"query": "my ec2 instance will not start"}, timeout=120)
        time.sleep(0.5)  # the request is inside the workflow now
        running.server.should_exit = True
        reply = future.result()
    assert reply.status_code == 200 and reply.json()["response"]
    running.thread.join(60)
    assert not running.thread.is_alive()


def test_the_api_s_own_workflow_keeps_no_ended_execution(tmp_path) -> None:
    # The deployed API starts Express executions synchronously: nothing is kept to describe.
    assert LocalApi(key_file=tmp_path / "k").workflow.retain_executions is False
