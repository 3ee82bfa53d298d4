"""The deployed POST /query end to end: the ``query_api`` handler with the environment the
synthesized template gives it (its tables and the session-key secret created in moto from
the template), starting the synthesized state machine with the real workflow handlers.

moto has no StartSyncExecution, so the handler's workflow runner is the local engine's
``execute`` (start + wait, the same input and execution name); everything before it (token,
limit, Idempotency-Key in DynamoDB) and after it (the stored turns) is the deployed code.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

EVENT = json.loads((Path(__file__).resolve().parents[1] / "events" / "query_api_post.json").read_text())


class Context:
    function_name = "query_api"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:query_api"
    aws_request_id = "lambda-request-1"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


@pytest.fixture
def deployed(make_workflow: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from pipeline.handlers import composition
    from pipeline.local.workflow import LOCAL_ENV

    workflow = make_workflow()
    (spec,) = [s for s in workflow.functions.values() if s.short_name == "query_api"]
    assert spec.environment["STATE_MACHINE_ARN"] == workflow.state_machine_arn
    for key, value in {**spec.environment, **LOCAL_ENV}.items():
        monkeypatch.setenv(key, value)
    gate: dict[str, Any] = {"hold": None, "running": threading.Event(), "names": []}

    def run(workflow_input: dict[str, Any], name: str) -> dict[str, Any]:
        gate["names"].append(name)
        gate["running"].set()
        if gate["hold"] is not None:
            assert gate["hold"].wait(30)
        result = workflow.execute(workflow_input, name=name, timeout=60)
        return {"status": result.status, "output": result.output}

    services = composition.services()
    # The deployed adapters, on the template's own tables and secret.
    assert type(services.idempotency_store).__name__ == "DynamoIdempotencyStore"
    assert type(services.session_throttle).__name__ == "DynamoSessionThrottle"
    assert type(services.session_keys).__name__ == "SecretsManagerSessionKey"
    services.__dict__["workflow_runner"] = run
    yield {"workflow": workflow, "gate": gate}


def post(body: dict[str, Any], *, token: str | None = None, key: str | None = None,
         seconds: float = 28.0) -> tuple[int, dict[str, Any]]:
    from pipeline.handlers import query_api

    event = copy.deepcopy(EVENT)
    event["headers"] = {"Content-Type": "application/json"}
    if token:
        event["headers"]["X-Session-Token"] = token
    if key:
        event["headers"]["Idempotency-Key"] = key
    event["body"] = json.dumps(body)
    event["requestContext"]["requestTimeEpoch"] = int(time.time() * 1000)
    reply = query_api.handler(event, Context(seconds))
    return reply["statusCode"], json.loads(reply["body"])


def _turns(workflow: Any, session_id: str) -> list[dict[str, Any]]:
    return sorted((t for t in workflow.scan("ConversationsTable") if t["session_id"] == session_id),
                  key=lambda t: t["turn_index"])


def test_two_clients_through_the_deployed_query_api(deployed: dict[str, Any]) -> None:
    workflow = deployed["workflow"]
    status, alice = post({"query": "Why does my EC2 instance refuse SSH connections? It times out."})
    assert status == 200 and alice["response_type"] == "answer" and alice["session_token"]
    status, bob = post({"query": "How do I fix AccessDenied when reading objects from my S3 bucket?"})
    assert status == 200
    executions = len(deployed["gate"]["names"])
    for token in (bob["session_token"], None):
        status, payload = post({"query": "what did I ask?", "session_id": alice["session_id"]}, token=token)
        assert status == 403 and payload["error"]["code"] == "unauthorized_session"
    status, payload = post({"query": "hello", "session_id": "never-issued-0001"}, token=bob["session_token"])
    assert status == 404 and payload["error"]["code"] == "not_found"
    assert len(deployed["gate"]["names"]) == executions  # the refused requests ran nothing
    status, again = post({"query": "I checked the security group, still timing out",
                          "session_id": alice["session_id"]}, token=alice["session_token"])
    assert status == 200 and again["session_id"] == alice["session_id"]
    turns = _turns(workflow, alice["session_id"])
    assert [t["interaction_id"] for t in turns] == [alice["interaction_id"], again["interaction_id"]]
    assert all(t["assistant_text"] for t in turns)
    assert len(_turns(workflow, bob["session_id"])) == 1


def test_retries_during_and_after_append_no_second_turn(deployed: dict[str, Any]) -> None:
    workflow, gate = deployed["workflow"], deployed["gate"]
    gate["hold"] = threading.Event()
    body = {"query": "My Lambda function times out when it calls RDS"}
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", post(body, key="e2e-retry-key-01")))
    first.start()
    assert gate["running"].wait(30)
    status, payload = post(body, key="e2e-retry-key-01", seconds=1.0)  # no time left to wait
    assert status == 409 and payload["error"]["code"] == "idempotency_conflict"
    during = threading.Thread(target=lambda: results.setdefault("during", post(body, key="e2e-retry-key-01")))
    during.start()
    time.sleep(0.3)
    gate["hold"].set()
    first.join(60)
    during.join(60)
    after = post(body, key="e2e-retry-key-01")
    assert results["first"][0] == 200 and results["during"] == results["first"] == after
    answer = results["first"][1]
    assert len(gate["names"]) == 1  # one execution, named after the key's interaction id
    assert gate["names"][0].startswith(answer["interaction_id"])
    assert len(_turns(workflow, answer["session_id"])) == 1
    implicit = [f for f in workflow.scan("FeedbackTable") if f["interaction_id"] == answer["interaction_id"]]
    assert len(implicit) == 1
