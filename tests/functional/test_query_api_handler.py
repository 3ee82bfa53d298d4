"""The deployed ``POST /query`` (``query_api`` handler) with moto: DynamoDB (Conversations,
Idempotency, SessionThrottle) and Secrets Manager (the session key), the Lambda-proxy event
fixture, and a recording stand-in for StartSyncExecution (moto does not implement it; the
state machine itself runs with this handler in tests/e2e/test_query_api_deployed.py).

Two clients (ownership), retries during and after the first request (idempotency), the
per-session limit, the error shape, and the secret read once per container.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline.domain.api_contract import ERROR_CODES
from pipeline.handlers import composition, feedback_api, query_api

EVENT = json.loads((Path(__file__).resolve().parents[1] / "events" / "query_api_post.json").read_text())
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:SupportWorkflow"


class Context:
    """A Lambda context with a configurable time left."""

    function_name = "query_api"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:query_api"
    aws_request_id = "lambda-request-1"

    def __init__(self, seconds: float = 28.0) -> None:
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


class FakeWorkflow:
    """Stands in for StartSyncExecution: records each start, stores a turn like the
    workflow's CaptureUserQuery, and can hold an execution until released."""

    def __init__(self, conversations: Any) -> None:
        self.conversations = conversations
        self.started: list[tuple[dict[str, Any], str]] = []
        self.hold: threading.Event | None = None
        self.running = threading.Event()
        self.status = "SUCCEEDED"

    def __call__(self, workflow_input: dict[str, Any], name: str) -> dict[str, Any]:
        self.started.append((workflow_input, name))
        self.running.set()
        if self.hold is not None:
            assert self.hold.wait(10)
        turns = self.conversations.query(
            KeyConditionExpression="session_id = :s",
            ExpressionAttributeValues={":s": workflow_input["session_id"]})["Items"]
        if not any(t["interaction_id"] == workflow_input["interaction_id"] for t in turns):
            self.conversations.put_item(Item={
                "session_id": workflow_input["session_id"], "turn_index": len(turns),
                "interaction_id": workflow_input["interaction_id"], "user_text": "redacted",
                "created_at": "2026-12-06T00:00:00+00:00"})
        output = {"session_id": workflow_input["session_id"],
                  "interaction_id": workflow_input["interaction_id"],
                  "response": f"answer {len(self.started)}", "response_type": "answer",
                  "intent": "ec2_troubleshooting", "confidence": 0.9, "quality_score": 0.8,
                  "template": {"id": "ec2_troubleshooting", "version": "v1"},
                  "guardrail": {"action": "allow", "categories": []}}
        return {"status": self.status, "output": output if self.status == "SUCCEEDED" else None}


def _create(resource: Any, name: str, keys: dict[str, str]) -> Any:
    resource.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys.items()],
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "N" if k == "turn_index" else "S"}
                              for k in keys])
    return resource.Table(name)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                       "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        conversations = _create(ddb, "Conversations", {"session_id": "HASH", "turn_index": "RANGE"})
        _create(ddb, "Feedback", {"feedback_id": "HASH"})
        idempotency = _create(ddb, "Idempotency", {"idempotency_key": "HASH"})
        _create(ddb, "SessionThrottle", {"window_key": "HASH"})
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secret_arn = secrets.create_secret(Name="session-key", SecretString="k" * 64)["ARN"]
        env = {"STORE_BACKEND": "dynamodb", "CONVERSATIONS_TABLE": "Conversations",
               "FEEDBACK_TABLE": "Feedback", "IDEMPOTENCY_TABLE": "Idempotency",
               "SESSION_THROTTLE_TABLE": "SessionThrottle", "SESSION_KEY_SECRET_ARN": secret_arn,
               "STATE_MACHINE_ARN": ARN, "SESSION_THROTTLE_LIMIT": "3",
               "CORS_ALLOW_ORIGIN": "https://app.example.com"}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        composition.reset()
        workflow = FakeWorkflow(conversations)
        composition.services().__dict__["workflow_runner"] = workflow
        yield {"workflow": workflow, "idempotency": idempotency, "conversations": conversations}
        composition.reset()


def post(body: Any, *, token: str | None = None, key: str | None = None, seconds: float = 28.0,
         request_id: str = "req-1") -> tuple[int, dict[str, Any]]:
    event = copy.deepcopy(EVENT)
    event["headers"] = {"Content-Type": "application/json"}
    if token is not None:
        event["headers"]["X-Session-Token"] = token
    if key is not None:
        event["headers"]["Idempotency-Key"] = key
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["requestContext"]["requestId"] = request_id
    event["requestContext"]["requestTimeEpoch"] = int(time.time() * 1000)
    reply = query_api.handler(event, Context(seconds))
    assert reply["headers"]["Content-Type"] == "application/json"
    assert reply["headers"]["Access-Control-Allow-Origin"] == "https://app.example.com"
    return reply["statusCode"], json.loads(reply["body"])


def _error(payload: dict[str, Any], code: str, request_id: str = "req-1") -> None:
    assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message", "request_id"}
    assert payload["error"]["code"] == code and code in ERROR_CODES
    assert payload["error"]["request_id"] == request_id


def test_a_new_session_gets_a_server_issued_id_and_token(aws: dict[str, Any]) -> None:
    status, answer = post({"query": "Why does my EC2 instance refuse SSH?"}, request_id="req-new")
    assert status == 200 and answer["session_token"].startswith("v1.")
    (workflow_input, name), = aws["workflow"].started
    assert workflow_input["session_id"] == answer["session_id"]
    assert workflow_input["request_id"] == "req-new"
    assert abs(workflow_input["received_at_ms"] - time.time() * 1000) < 60_000  # API Gateway's receipt
    assert name.startswith(workflow_input["interaction_id"]) and len(name) <= 80


def test_two_clients_own_their_sessions(aws: dict[str, Any]) -> None:
    _, alice = post({"query": "My Lambda times out"})
    _, bob = post({"query": "My S3 bucket denies access"})
    # Alice continues her session; Bob cannot, with his token or none.
    assert post({"query": "still", "session_id": alice["session_id"]}, token=alice["session_token"])[0] == 200
    before = len(aws["workflow"].started)
    for token in (bob["session_token"], None, "v1." + "A" * 43):
        status, payload = post({"query": "show me", "session_id": alice["session_id"]}, token=token)
        assert status == 403, token
        _error(payload, "unauthorized_session")
    # A session id the server never issued is 404, whatever the token.
    status, payload = post({"query": "hi", "session_id": "made-up-session-01"}, token=bob["session_token"])
    assert status == 404
    _error(payload, "not_found")
    assert len(aws["workflow"].started) == before  # nothing ran for the refused requests
    turns = aws["conversations"].scan()["Items"]
    assert sorted(t["session_id"] for t in turns).count(alice["session_id"]) == 2


def test_a_retry_after_the_first_finished_returns_the_first_answer(aws: dict[str, Any]) -> None:
    body = {"query": "How do I rotate IAM keys?"}
    first = post(body, key="retry-key-0001")
    again = post(body, key="retry-key-0001", request_id="req-2")
    assert first == again and first[0] == 200
    assert len(aws["workflow"].started) == 1 and len(aws["conversations"].scan()["Items"]) == 1
    # The stored answer holds no bearer token: the replay signed it again.
    (record,) = aws["idempotency"].scan()["Items"]
    assert "session_token" not in record["response_json"] and record["status"] == "done"
    status, payload = post({"query": "something else"}, key="retry-key-0001")
    assert status == 409
    _error(payload, "idempotency_conflict")


def test_a_retry_while_the_first_is_running_waits_for_it_or_answers_409(aws: dict[str, Any]) -> None:
    workflow = aws["workflow"]
    workflow.hold = threading.Event()
    body = {"query": "Why is my RDS instance slow?"}
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", post(body, key="inflight-key-01")))
    first.start()
    assert workflow.running.wait(10)
    # No time left to wait (API Gateway would end the request first): 409, nothing started.
    status, payload = post(body, key="inflight-key-01", seconds=1.0, request_id="req-impatient")
    assert status == 409
    _error(payload, "idempotency_conflict", "req-impatient")
    # With time left the retry waits and gets the first answer.
    waiting = threading.Thread(target=lambda: results.setdefault("retry", post(body, key="inflight-key-01")))
    waiting.start()
    time.sleep(0.5)
    workflow.hold.set()
    first.join(15)
    waiting.join(15)
    assert results["first"][0] == 200 and results["retry"] == results["first"]
    assert len(workflow.started) == 1 and len(aws["conversations"].scan()["Items"]) == 1


def test_a_failed_first_attempt_can_be_retried_for_real(aws: dict[str, Any]) -> None:
    aws["workflow"].status = "FAILED"
    status, payload = post({"query": "hi there"}, key="failing-key-001")
    assert status == 500
    _error(payload, "workflow_failed")
    aws["workflow"].status = "SUCCEEDED"
    assert post({"query": "hi there"}, key="failing-key-001")[0] == 200
    assert len(aws["workflow"].started) == 2


def test_a_session_is_limited_per_window(aws: dict[str, Any]) -> None:
    _, answer = post({"query": "My EC2 instance is down"})
    continue_ = {"query": "and now?", "session_id": answer["session_id"]}
    statuses = [post(continue_, token=answer["session_token"])[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # SESSION_THROTTLE_LIMIT=3 per minute
    status, payload = post(continue_, token=answer["session_token"])
    _error(payload, "throttled")
    assert len(aws["workflow"].started) == 4
    assert post({"query": "a new session is not limited by another's"})[0] == 200


@pytest.mark.parametrize(("body", "status", "code"), [
    ('{"query": ""}', 400, "validation_error"),
    ('{"query": "a", "query": "b"}', 400, "duplicate_key"),
    ('{"query": "x", "session_id": "../../etc"}', 400, "validation_error"),
    ("not json", 400, "invalid_json"),
    (json.dumps({"query": "x" * 70_000}), 413, "payload_too_large"),
])
def test_bad_requests_are_json_errors_and_start_nothing(
    aws: dict[str, Any], body: str, status: int, code: str
) -> None:
    got, payload = post(body)
    assert got == status
    _error(payload, code)
    assert aws["workflow"].started == []


def test_the_session_key_is_read_once_per_container(aws: dict[str, Any]) -> None:
    calls: list[int] = []
    client = composition.services().session_keys._client
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **_: calls.append(1))
    for _ in range(3):
        assert post({"query": "How do I list my S3 buckets?"})[0] == 200
    assert len(calls) == 1


def test_feedback_checks_the_token_with_the_same_secret(aws: dict[str, Any]) -> None:
    _, alice = post({"query": "My Lambda times out"})
    _, bob = post({"query": "My S3 bucket denies access"})
    event = json.loads((Path(__file__).resolve().parents[1] / "events" / "feedback_api_post.json").read_text())
    event["body"] = json.dumps({"session_id": alice["session_id"],
                                "interaction_id": alice["interaction_id"], "rating": 4})
    event["headers"] = {"Content-Type": "application/json", "X-Session-Token": bob["session_token"]}
    reply = feedback_api.handler(event, Context())
    assert reply["statusCode"] == 403
    event["headers"]["X-Session-Token"] = alice["session_token"]
    assert feedback_api.handler(event, Context())["statusCode"] == 201


def test_without_a_session_key_the_query_api_refuses_generically(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSION_KEY_SECRET_ARN", "")
    status, payload = post({"query": "hello"})
    assert status == 500
    _error(payload, "internal_error")
    assert "SESSION_KEY" not in payload["error"]["message"]
