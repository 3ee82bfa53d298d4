"""Every handler with real JSON event fixtures, moto-backed tables and the offline model.

The Step Functions states are walked by hand here (the stack's local runner executes the
real definition in tests/e2e); what this file proves is the handlers' contract and that a
secret never reaches a table item or a log line.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

pytest.importorskip("pipeline.domain.guardrails")
pytest.importorskip("pipeline.adapters.local.offline_nlp")

from pipeline.handlers import (  # noqa: E402 - after the skips above
    analyze_feedback,
    capture_query,
    collect_feedback,
    composition,
    detect_intent,
    feedback_api,
    generate_response,
    sessions_api,
    validate_quality,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzREALKEY"
SECRET_QUERY = f"Why is my deploy failing? aws_secret_access_key = {SECRET} is in my config"
RESPONSE_KEYS = {
    "session_id",
    "interaction_id",
    "response",
    "response_type",
    "intent",
    "confidence",
    "quality_score",
    "template",
    "guardrail",
}


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def create_tables(dynamodb) -> dict:
    def gsi(name, pk, sk):
        return {
            "IndexName": name,
            "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [
                {"AttributeName": pk, "KeyType": "HASH"},
                {"AttributeName": sk, "KeyType": "RANGE"},
            ],
        }

    def attrs(**types):
        return [{"AttributeName": k, "AttributeType": v} for k, v in types.items()]

    return {
        "conversations": dynamodb.create_table(
            TableName="Conversations",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "session_id", "KeyType": "HASH"},
                {"AttributeName": "turn_index", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=attrs(session_id="S", turn_index="N", user_id="S", created_at="S"),
            GlobalSecondaryIndexes=[gsi("UserIdIndex", "user_id", "created_at")],
        ),
        "feedback": dynamodb.create_table(
            TableName="Feedback",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "feedback_id", "KeyType": "HASH"}],
            AttributeDefinitions=attrs(feedback_id="S", session_id="S", timestamp="S", day="S"),
            GlobalSecondaryIndexes=[
                gsi("SessionIdIndex", "session_id", "timestamp"),
                gsi("TimestampIndex", "day", "timestamp"),
            ],
        ),
    }


@pytest.fixture
def tables(monkeypatch, tmp_path):
    monkeypatch.setenv("SESSION_KEY_FILE", str(tmp_path / "session.key"))
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "STORE_BACKEND": "dynamodb",
        "CONVERSATIONS_TABLE": "Conversations",
        "FEEDBACK_TABLE": "Feedback",
        "MODEL_BACKEND": "offline",
        "NLP_BACKEND": "offline",
        "POWERTOOLS_METRICS_NAMESPACE": "SupportAssistantTest",
        "POWERTOOLS_SERVICE_NAME": "support-assistant-test",
    }.items():
        monkeypatch.setenv(name, value)
    composition.reset()
    with mock_aws():
        yield create_tables(boto3.resource("dynamodb", region_name="us-east-1"))
    composition.reset()


def run_workflow(event: dict) -> tuple[dict, list[str]]:
    """Walk the states of docs/workflow-contract.md with the real handlers."""
    state, path = copy.deepcopy(event), ["CaptureUserQuery"]
    state["capture"] = capture_query.handler(copy.deepcopy(state), None)
    if state["capture"]["blocked"]:
        path.append("BlockedResponse")
        state["reply"] = {"response_type": "blocked", "response": state["capture"]["block_message"]}
    else:
        path.append("DetectIntent")
        state["intent"] = detect_intent.handler(copy.deepcopy(state), None)
        route = state["intent"]["route"]
        if route in ("clarify", "escalate"):
            path.append("Clarify" if route == "clarify" else "Escalate")
            mode = "clarification" if route == "clarify" else "escalation"
            state["generation"] = generate_response.handler(
                {"state": copy.deepcopy(state), "mode": mode}, None
            )
        else:
            for _ in range(10):
                path.append("GenerateResponse")
                state["generation"] = generate_response.handler(
                    {"state": copy.deepcopy(state), "mode": "answer"}, None
                )
                path.append("ValidateQuality")
                state["quality"] = validate_quality.handler(copy.deepcopy(state), None)
                if not state["quality"]["retry"]:
                    break
    path.append("CollectFeedback")
    return json.loads(json.dumps(collect_feedback.handler(copy.deepcopy(state), None))), path


def all_items(tables: dict) -> str:
    return json.dumps([tables[t].scan()["Items"] for t in tables], default=str)


def test_answer_path_returns_the_response_shape_and_stores_the_turn(tables, capsys) -> None:
    event = load("workflow_input.json")
    response, path = run_workflow(event)
    assert set(response) == RESPONSE_KEYS and path[-1] == "CollectFeedback"
    assert (
        response["session_id"] == event["session_id"]
        and response["interaction_id"] == event["interaction_id"]
    )
    assert response["response_type"] == "answer" and response["response"]
    assert response["intent"] in ("ec2_troubleshooting", "networking")
    assert 0 <= response["quality_score"] <= 1 and response["template"]["id"]
    [turn] = tables["conversations"].scan()["Items"]
    assert turn["assistant_text"] == response["response"] and turn["user_id"] == "user-42"
    assert int(turn["expires_at"]) > 0
    feedback = tables["feedback"].scan()["Items"]
    assert [f["source"] for f in feedback] == ["implicit"]
    out = capsys.readouterr().out
    assert event["query"] not in out and "refuses SSH" not in out  # lengths are logged, never text
    assert '"CloudWatchMetrics"' in out  # EMF for the dashboard


def test_a_secret_never_reaches_a_table_or_a_log(tables, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    event = {**load("workflow_input.json"), "query": SECRET_QUERY}
    response, path = run_workflow(event)
    assert path == ["CaptureUserQuery", "BlockedResponse", "CollectFeedback"]
    assert response["response_type"] == "blocked" and response["intent"] is None
    assert (
        response["guardrail"]["action"] == "block"
        and "aws_secret_key" in response["guardrail"]["categories"]
    )
    assert SECRET not in response["response"]
    captured = capsys.readouterr()
    for text in (all_items(tables), captured.out, captured.err, caplog.text):
        assert SECRET not in text


def test_a_conversation_continues_in_the_same_session(tables) -> None:
    event = load("workflow_input.json")
    run_workflow(event)
    follow_up = {
        **event,
        "query": "I checked that, still timing out",
        "interaction_id": "second-request-0001",
    }
    response, _ = run_workflow(follow_up)
    assert response["interaction_id"] == "second-request-0001"
    indices = sorted(int(i["turn_index"]) for i in tables["conversations"].scan()["Items"])
    assert indices == [0, 1]


def test_clarify_fixture_generates_a_clarification(tables) -> None:
    event = load("generate_response_clarify.json")
    state = event["state"]
    tables["conversations"].put_item(
        Item={
            "session_id": state["session_id"],
            "turn_index": 0,
            "interaction_id": state["interaction_id"],
            "created_at": state["capture"]["created_at"],
            "user_text": "it's broken",
        }
    )
    generation = generate_response.handler(event, None)
    assert generation["attempt"] == 1 and generation["text"] and generation["template_id"]
    assert generation["output_guardrail"]["action"] in ("allow", "redact", "block")
    response = collect_feedback.handler({**state, "generation": generation}, None)
    assert response["response_type"] == "clarification" and response["quality_score"] is None


def with_token(event: dict, session_id: str | None = None, token: str | None = None) -> dict:
    """The event with the session's X-Session-Token (the owner's unless ``token`` is given)."""
    if token is None:
        session_id = session_id or json.loads(event["body"])["session_id"]
        token = composition.services().session_authority.token_for(session_id)
    return {**event, "headers": {**event["headers"], "X-Session-Token": token}}


def test_feedback_api_stores_feedback_and_maps_errors(tables, capsys) -> None:
    run_workflow(load("workflow_input.json"))
    event = with_token(load("feedback_api_post.json"))
    created = feedback_api.handler(event, None)
    assert created["statusCode"] == 201
    feedback_id = json.loads(created["body"])["feedback_id"]
    item = tables["feedback"].get_item(Key={"feedback_id": feedback_id})["Item"]
    assert item["source"] == "explicit" and int(item["rating"]) == 5 and item["day"]

    body = json.loads(event["body"])
    secret_comment = {
        **event,
        "body": json.dumps({**body, "comment": f"also my key {SECRET} oops"}),
    }
    assert feedback_api.handler(secret_comment, None)["statusCode"] == 201
    assert SECRET not in all_items(tables) and SECRET not in capsys.readouterr().out

    cases = [
        ({**event, "body": "{not json"}, 400, "invalid_json"),
        ({**event, "body": json.dumps({**body, "rating": 9})}, 400, "validation_error"),
        ({**event, "body": None}, 400, "validation_error"),
        ({**event, "body": '{"rating": 5, "rating": 4}'}, 400, "duplicate_key"),
        (load("feedback_api_post.json"), 403, "unauthorized_session"),  # no token
        (with_token(load("feedback_api_post.json"), token="v1.forged"), 403, "unauthorized_session"),
        (
            {**event, "body": json.dumps({**body, "session_id": "unknown-session-1"})},
            404,
            "not_found",
        ),
        (
            {**event, "body": json.dumps({**body, "interaction_id": "never-happened"})},
            404,
            "not_found",
        ),
    ]
    for request, status, code in cases:
        reply = feedback_api.handler(request, None)
        error = json.loads(reply["body"])["error"]
        assert (reply["statusCode"], error["code"]) == (status, code)
        assert error["request_id"] == "7e1d2c3b-4a59-4f6e-8d7c-6b5a4f3e2d1c" and error["message"]
    assert reply["headers"]["Content-Type"] == "application/json"


def test_feedback_api_is_idempotent_by_feedback_id(tables) -> None:
    run_workflow(load("workflow_input.json"))
    event = with_token(load("feedback_api_post.json"))
    body = {**json.loads(event["body"]), "feedback_id": "client-fb-0001"}
    first = feedback_api.handler({**event, "body": json.dumps(body)}, None)
    again = feedback_api.handler({**event, "body": json.dumps({**body, "rating": 1})}, None)
    assert (first["statusCode"], again["statusCode"]) == (201, 200)
    assert json.loads(first["body"]) == json.loads(again["body"]) == {"feedback_id": "client-fb-0001"}
    stored = [i for i in tables["feedback"].scan()["Items"] if i["feedback_id"] == "client-fb-0001"]
    assert len(stored) == 1 and int(stored[0]["rating"]) == 5  # the original, not the retry
    other = {**body, "interaction_id": "someone-elses-interaction"}
    reply = feedback_api.handler({**event, "body": json.dumps(other)}, None)
    assert reply["statusCode"] in (404, 409)  # unknown interaction first: nothing written
    assert len(tables["feedback"].scan()["Items"]) == 2  # the explicit one + implicit one


def test_feedback_api_hides_internal_errors(tables, monkeypatch) -> None:
    def explode(self, body):
        raise RuntimeError(f"boom {SECRET}")

    monkeypatch.setattr("pipeline.domain.feedback.FeedbackIntake.submit_once", explode)
    monkeypatch.setattr(
        "pipeline.domain.sessions.SessionAuthority.authorize", lambda self, sid, token: None
    )
    reply = feedback_api.handler(load("feedback_api_post.json"), None)
    assert reply["statusCode"] == 500 and SECRET not in reply["body"]
    assert json.loads(reply["body"])["error"]["code"] == "internal_error"


def test_sessions_api_returns_redacted_turns_or_404(tables) -> None:
    event = load("workflow_input.json")
    run_workflow({**event, "query": SECRET_QUERY})
    reply = sessions_api.handler(load("sessions_api_get.json"), None)
    assert reply["statusCode"] == 200
    payload = json.loads(reply["body"])
    assert payload["session_id"] == event["session_id"] and len(payload["turns"]) == 1
    assert SECRET not in reply["body"] and payload["turns"][0]["response_type"] == "blocked"

    missing = load("sessions_api_get.json")
    missing["pathParameters"] = {"session_id": "no-such-session-000"}
    assert sessions_api.handler(missing, None)["statusCode"] == 404
    bad = load("sessions_api_get.json")
    bad["queryStringParameters"] = {"limit": "0"}
    assert sessions_api.handler(bad, None)["statusCode"] == 400


def test_analyze_feedback_summarises_the_window_and_emits_csat(tables, capsys) -> None:
    run_workflow(load("workflow_input.json"))
    assert feedback_api.handler(with_token(load("feedback_api_post.json")), None)["statusCode"] == 201
    capsys.readouterr()
    summary = analyze_feedback.handler(load("analyze_feedback_scheduled.json"), None)
    assert summary["explicit"] == 1 and summary["csat"] == 1.0 and summary["interactions"] == 1
    assert summary["window"]["hours"] == 24.0
    assert json.loads(json.dumps(summary)) == summary
    assert '"CSAT"' in capsys.readouterr().out


def test_workflow_handlers_reject_malformed_state(tables) -> None:
    from pipeline.domain.workflow import WorkflowInputError

    with pytest.raises(WorkflowInputError):
        capture_query.handler({"query": "x"}, None)
    with pytest.raises(WorkflowInputError):
        detect_intent.handler({}, None)
    with pytest.raises(WorkflowInputError):
        generate_response.handler({"state": {"capture": {}}, "mode": "answer"}, None)


def test_settings_validate_the_environment() -> None:
    settings = composition.Settings.from_env({})
    assert (settings.store_backend, settings.model_backend, settings.max_regenerations) == (
        "memory",
        "offline",
        2,
    )
    assert (settings.history_turns, settings.conversation_ttl_days) == (6, 30)
    assert (
        composition.Settings.from_env(
            {"CONVERSATIONS_TABLE": "C", "FEEDBACK_TABLE": "F"}
        ).store_backend
        == "dynamodb"
    )
    for env, name in (
        ({"MODEL_BACKEND": "gpt"}, "MODEL_BACKEND"),
        ({"MAX_REGENERATIONS": "many"}, "MAX_REGENERATIONS"),
        ({"QUALITY_THRESHOLD": "1.5"}, "QUALITY_THRESHOLD"),
        ({"STORE_BACKEND": "dynamodb"}, "CONVERSATIONS_TABLE"),
    ):
        with pytest.raises(composition.SettingsError, match=name):
            composition.Settings.from_env(env)


def test_bedrock_backend_is_built_lazily_with_an_injected_region(monkeypatch) -> None:
    from pipeline.adapters.aws.bedrock import BedrockModel

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    services = composition.Services(composition.Settings(model_backend="bedrock", model_id="m-1"))
    assert isinstance(services.model, BedrockModel)
    assert services.model is services.model  # built once per cold start


class _Lines(logging.Handler):
    """Collects the Powertools JSON log lines (formatted by the logger's own formatter)."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.records: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines():
    log = composition.logger()
    lines = _Lines(log.registered_formatter)
    level = log.log_level
    log.addHandler(lines)
    log.setLevel(logging.INFO)
    yield lines.records
    log.removeHandler(lines)
    log.setLevel(level)


def test_every_step_logs_with_the_api_request_id_as_correlation_id(tables, log_lines) -> None:
    """inject_lambda_context on every handler: one correlation id, the API's request id,
    from CaptureUserQuery to CollectFeedback (GenerateResponse reads it under $.state)."""
    event = {**load("workflow_input.json"), "request_id": "api-request-0001"}
    run_workflow(event)
    messages = {line["message"] for line in log_lines}
    assert {"query captured", "intent detected", "response generated"} <= messages
    assert log_lines and all(line["correlation_id"] == "api-request-0001" for line in log_lines)
    assert all("cold_start" in line and "function_request_id" in line for line in log_lines)


def test_api_and_scheduled_handlers_have_correlation_ids(tables, log_lines) -> None:
    event = load("feedback_api_post.json")
    feedback_api.handler(event, None)  # (404 here: no such interaction; still correlated)
    assert composition.logger().get_correlation_id() == event["requestContext"]["requestId"]
    analyze_feedback.handler({"window_hours": 1}, None)
    scheduled_line = log_lines[-1]
    assert scheduled_line["message"] == "feedback analysed"
    # the scheduled event carries no request id: the Lambda request id stands in
    assert scheduled_line["correlation_id"] == scheduled_line["function_request_id"]


def test_handlers_are_traced_with_the_correlation_id(monkeypatch) -> None:
    """capture_lambda_handler wraps each handler and annotates the correlation id."""
    import importlib

    calls: list[tuple] = []

    class RecordingTracer:
        def capture_lambda_handler(self, fn, capture_response=True):
            calls.append(("capture_lambda_handler", capture_response))
            return fn

        def put_annotation(self, key, value):
            calls.append(("put_annotation", key, value))

    from pipeline.handlers import observability

    monkeypatch.setattr(observability, "_tracer", RecordingTracer())
    module = importlib.reload(sessions_api)
    try:
        module.handler({"pathParameters": {"session_id": "bad"},
                        "requestContext": {"requestId": "req-7"}}, None)
    finally:
        monkeypatch.undo()
        importlib.reload(sessions_api)
    assert ("capture_lambda_handler", False) in calls
    assert ("put_annotation", "correlation_id", "req-7") in calls


def test_comprehend_client_comes_from_its_own_factory(monkeypatch) -> None:
    """The composition root used one generic client (30 s read timeout) for Comprehend; the
    adapter's factory sets the short timeouts a synchronous intent step needs."""
    import inspect

    from pipeline.adapters.aws.comprehend import make_comprehend_client

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    nlp = composition.Services(composition.Settings(nlp_backend="comprehend")).nlp
    expected = inspect.signature(make_comprehend_client).parameters["read_timeout"].default
    assert nlp._client.meta.config.read_timeout == expected
    assert nlp._client.meta.service_model.service_name == "comprehend"


def test_an_unavailable_model_is_raised_by_name_and_counted(tables, capsys) -> None:
    """End of life / no model access: the task fails as ModelUnavailableError (its own name
    for Step Functions), after the ModelUnavailable metric (alarmed) is published."""
    from pipeline.ports import ModelUnavailableError

    class RetiredModel:
        def generate(self, request):
            raise ModelUnavailableError("Bedrock model anthropic.claude-3-sonnet is not available")

    event = load("workflow_input.json")
    state = copy.deepcopy(event)
    state["capture"] = capture_query.handler(copy.deepcopy(state), None)
    state["intent"] = detect_intent.handler(copy.deepcopy(state), None)
    services = composition.services()
    services.__dict__["model"] = RetiredModel()
    for dependent in ("generator", "generation"):
        services.__dict__.pop(dependent, None)
    capsys.readouterr()
    with pytest.raises(ModelUnavailableError):
        generate_response.handler({"state": state, "mode": "answer"}, None)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()
           if '"CloudWatchMetrics"' in line]
    assert any(blob.get("ModelUnavailable") == [1.0] or blob.get("ModelUnavailable") == 1.0
               for blob in emf), emf
