"""Every path of the deployed workflow, run locally (docs/workflow-contract.md)."""

from __future__ import annotations

import json

import pytest

from pipeline.domain.models import ModelResponse
from pipeline.ports import ModelError

RESPONSE_KEYS = {"session_id", "interaction_id", "response", "response_type", "intent",
                 "confidence", "quality_score", "template", "guardrail"}
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8Lk2Tq9H"
ACCESS_KEY = "AKIA4KQ7XZJ2M3NPQR5T"


def _check_shape(run, response_type):
    assert run.status == "SUCCEEDED", run
    out = run.output
    assert set(out) == RESPONSE_KEYS
    assert out["response_type"] == response_type, out
    assert out["session_id"] == run.input["session_id"]
    assert out["interaction_id"] == run.input["interaction_id"]
    assert isinstance(out["response"], str) and out["response"]
    assert set(out["guardrail"]) == {"action", "categories"}
    return out


def test_normal_answer(workflow):
    run = workflow.run("Why does my EC2 instance refuse SSH connections? It times out.",
                       session_id="e2e-answer-0001")
    out = _check_shape(run, "answer")
    assert run.path[:5] == ["CaptureUserQuery", "CheckGuardrailStatus", "DetectIntent",
                            "CheckIntentClarity", "GenerateResponse"]
    assert run.path[-1] == "CollectFeedback"
    assert out["intent"] == "ec2_troubleshooting"
    assert out["quality_score"] is not None and out["template"]["id"]
    turns = workflow.scan("ConversationsTable")
    assert len(turns) == 1 and turns[0]["session_id"] == "e2e-answer-0001"
    assert turns[0]["assistant_text"] == out["response"]
    assert workflow.scan("FeedbackTable"), "implicit feedback recorded"
    assert run.handler_seconds > 0 and run.engine_seconds > 0


def test_blocked_secret_is_never_stored(workflow):
    query = f"my secret key is {SECRET_KEY} and access key {ACCESS_KEY}, why is S3 denied?"
    run = workflow.run(query, session_id="e2e-blocked-0001")
    out = _check_shape(run, "blocked")
    assert run.path == ["CaptureUserQuery", "CheckGuardrailStatus", "BlockedResponse", "CollectFeedback"]
    assert out["guardrail"]["action"] == "block"
    assert {"aws_secret_key", "aws_access_key"} <= set(out["guardrail"]["categories"])
    assert out["intent"] is None
    stored = json.dumps(workflow.scan("ConversationsTable") + workflow.scan("FeedbackTable"), default=str)
    assert SECRET_KEY not in stored and ACCESS_KEY not in stored
    assert "[REDACTED:aws_secret_key]" in stored
    assert SECRET_KEY not in json.dumps(out)


def test_clarification(workflow):
    run = workflow.run("it doesn't work", session_id="e2e-clarify-0001")
    _check_shape(run, "clarification")
    assert "Clarify" in run.path and "GenerateResponse" not in run.path


def test_escalation(workflow):
    run = workflow.run("I want to speak to a human agent now", session_id="e2e-escalate-01")
    _check_shape(run, "escalation")
    assert "Escalate" in run.path and "GenerateResponse" not in run.path


class PoorFirstModel:
    """Scripted model: a useless first answer, then the offline model's answers."""

    def __init__(self) -> None:
        from pipeline.adapters.local.offline_model import OfflineModel

        self.inner = OfflineModel()
        self.calls = 0

    def generate(self, request):
        self.calls += 1
        if self.calls == 1:
            return ModelResponse(text="Not sure.", model_id="scripted-poor")
        return self.inner.generate(request)


def test_regeneration_after_a_low_quality_first_answer(make_workflow):
    model = PoorFirstModel()
    workflow = make_workflow(model=model)
    run = workflow.run("How do I fix AccessDenied when reading objects from my S3 bucket?",
                       session_id="e2e-regen-00001")
    out = _check_shape(run, "answer")
    assert run.path.count("GenerateResponse") >= 2
    assert run.path.count("ValidateQuality") == run.path.count("GenerateResponse")
    assert model.calls >= 2
    assert out["response"] != "Not sure."


class FailingModel:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def generate(self, request):
        raise self.error


@pytest.mark.parametrize("error", [ModelError("bedrock said no"), TimeoutError("model timed out")],
                         ids=["raises", "times-out"])
def test_fallback_when_the_model_fails(make_workflow, error):
    workflow = make_workflow(model=FailingModel(error))
    run = workflow.run("How do I reduce my EC2 bill?", session_id="e2e-fallback-001")
    out = _check_shape(run, "fallback")
    assert run.path[-2:] == ["Fallback", "CollectFeedback"] and "GenerateResponse" in run.path
    assert out["intent"] is None and out["template"] is None and out["quality_score"] is None
    assert type(error).__name__ in run.errors
    _check_fallback_stored(workflow, out)


def _check_fallback_stored(workflow, out):
    """The Fallback path finishes the turn like any answer: no turn without a stored reply."""
    (turn,) = [t for t in workflow.scan("ConversationsTable")
               if t["interaction_id"] == out["interaction_id"]]
    assert turn["assistant_text"] == out["response"] and turn["response_type"] == "fallback"
    implicit = [f for f in workflow.scan("FeedbackTable") if f["interaction_id"] == out["interaction_id"]]
    assert len(implicit) == 1, implicit


def test_retry_succeeds_after_a_transient_lambda_error(make_workflow):
    from pipeline.local.workflow import Faults

    faults = Faults().fail_once("detect_intent", "Lambda.TooManyRequestsException")
    workflow = make_workflow(faults=faults)
    run = workflow.run("My Lambda function times out when it calls RDS", session_id="e2e-retry-00001")
    _check_shape(run, "answer")
    assert run.errors == ["Lambda.TooManyRequestsException"]
    assert faults.calls["detect_intent"] == 2
    assert "Fallback" not in run.path


def test_a_throttled_model_call_is_retried_by_the_workflow(make_workflow):
    from pipeline.adapters.local.offline_model import OfflineModel
    from pipeline.adapters.local.scripted_model import FlakyModel

    model = FlakyModel(OfflineModel(), failures=1)
    workflow = make_workflow(model=model)
    run = workflow.run("How do I fix AccessDenied when reading objects from my S3 bucket?",
                       session_id="e2e-throttle-001")
    _check_shape(run, "answer")
    assert run.errors == ["TransientModelError"]  # the Retry rule on the task caught it
    assert model.calls >= 2
    assert "Fallback" not in run.path


def test_persistent_failure_falls_back(make_workflow):
    from pipeline.local.workflow import Faults

    workflow = make_workflow(faults=Faults().fail_always("validate_quality", "RuntimeError"))
    run = workflow.run("How do I rotate IAM access keys?", session_id="e2e-fail-000001")
    out = _check_shape(run, "fallback")
    assert run.path[-2:] == ["Fallback", "CollectFeedback"]
    _check_fallback_stored(workflow, out)


def test_a_failed_capture_answers_without_storing_a_half_turn(make_workflow):
    """CaptureUserQuery failed: there is no turn to finish, FallbackResponse answers."""
    from pipeline.local.workflow import Faults

    workflow = make_workflow(faults=Faults().fail_always("capture_query", "RuntimeError"))
    run = workflow.run("How do I rotate IAM access keys?", session_id="e2e-fail-capture1")
    _check_shape(run, "fallback")
    assert run.path == ["CaptureUserQuery", "FallbackResponse"]
    assert workflow.scan("ConversationsTable") == [] and workflow.scan("FeedbackTable") == []


def test_a_failed_collect_still_answers_and_does_not_loop(make_workflow):
    from pipeline.local.workflow import Faults

    workflow = make_workflow(faults=Faults().fail_always("collect_feedback", "RuntimeError"))
    run = workflow.run("How do I rotate IAM access keys?", session_id="e2e-fail-collect1")
    _check_shape(run, "fallback")
    assert run.path[-2:] == ["CollectFeedback", "FallbackResponse"]
    assert run.path.count("CollectFeedback") == 1


_PHONE = "555-867-5309"
_RAW_QUERY = f"My phone is {_PHONE}, why does my EC2 instance refuse SSH connections?"


@pytest.mark.parametrize("faults", [None, ("generate_response", "RuntimeError")], ids=["answer", "fallback"])
def test_the_raw_query_leaves_the_state_after_the_first_step(make_workflow, faults):
    """Only CaptureUserQuery sees the raw query; every later state's input holds only the
    redacted text (the state machine's own history, read from the engine)."""
    from pipeline.local.workflow import Faults

    workflow = make_workflow(faults=Faults().fail_always(*faults)) if faults else make_workflow()
    run = workflow.run(_RAW_QUERY, session_id="e2e-rawquery-01")
    assert run.status == "SUCCEEDED"
    entered = [(e["stateEnteredEventDetails"]["name"], json.loads(e["stateEnteredEventDetails"]["input"]))
               for e in run.events if "stateEnteredEventDetails" in e]
    assert entered[0][0] == "CaptureUserQuery" and entered[0][1]["query"] == _RAW_QUERY
    later = entered[1:]
    assert {name for name, _ in later} >= {"DetectIntent", "GenerateResponse", "CollectFeedback"}
    for name, state in later:
        text = json.dumps(state)
        assert "query" not in state and _PHONE not in text, name
        assert state["capture"]["redacted_query"] == "My phone is [REDACTED:pii], why does my EC2 instance refuse SSH connections?"
        assert state["request_id"] == run.input["request_id"], name
    assert _PHONE not in json.dumps(run.output)
    assert _PHONE not in json.dumps(workflow.scan("ConversationsTable") + workflow.scan("FeedbackTable"), default=str)


def test_conversation_continues_across_processes(stack_template, tmp_path):
    """What `python -m pipeline ask --session-id S` relies on: state saved between runs."""
    from pipeline.local.workflow import LocalWorkflow

    state = tmp_path / "state.json"
    with LocalWorkflow(stack_template, state_file=state) as first:
        first.run("My EC2 instance refuses SSH", session_id="e2e-convo-00001")
    assert state.exists()
    with LocalWorkflow(stack_template, state_file=state) as second:
        run = second.run("what about the security group?", session_id="e2e-convo-00001")
        turns = sorted(second.scan("ConversationsTable"), key=lambda t: t["turn_index"])
    assert [int(t["turn_index"]) for t in turns] == [int(turns[0]["turn_index"]), int(turns[0]["turn_index"]) + 1]
    assert run.output["session_id"] == "e2e-convo-00001"


def test_scan_reads_every_stored_item_as_stored(workflow):
    """``LocalWorkflow.scan`` (what the secrets and load checks read back) returns every item
    of a table past DynamoDB's 1 MB page, each value as GetItem would give it."""
    from boto3.dynamodb.types import TypeDeserializer

    ddb, name = workflow.client("dynamodb"), workflow.table_name("ConversationsTable")
    written = {f"e2e-scan-{n:04d}" for n in range(400)}
    for session_id in written:  # ~1.6 MB: more than one Scan page
        ddb.put_item(TableName=name, Item={"session_id": {"S": session_id}, "turn_index": {"N": "0"},
                                           "user_text": {"S": "é" * 2000}})
    mixed = {"session_id": {"S": "e2e-scan-mixed"}, "turn_index": {"N": "7"}, "score": {"N": "0.25"},
             "tags": {"L": [{"S": "a"}, {"M": {"ok": {"BOOL": True}, "none": {"NULL": True}}}]},
             "set": {"SS": ["x", "y"]}, "raw": {"B": b"\x00\x01"}}
    ddb.put_item(TableName=name, Item=mixed)
    stored = workflow.scan("ConversationsTable")
    assert {item["session_id"] for item in stored} == written | {"e2e-scan-mixed"}
    got = ddb.get_item(TableName=name, Key={"session_id": {"S": "e2e-scan-mixed"}, "turn_index": {"N": "7"}})["Item"]
    des = TypeDeserializer()
    assert [item for item in stored if item["session_id"] == "e2e-scan-mixed"] == [
        {key: des.deserialize(value) for key, value in got.items()}]


def test_the_history_travels_in_the_state_and_is_read_once(workflow, monkeypatch):
    """CaptureUserQuery reads the session's latest turns once (the next index and the
    history); DetectIntent and GenerateResponse take the history from ``$.capture.history``
    instead of querying the Conversations table again."""
    from moto.dynamodb.models import DynamoDBBackend

    first = workflow.run("My EC2 instance refuses SSH connections, it times out.", session_id="e2e-history-001")
    assert first.output["response_type"] == "answer"
    queries: list[str] = []
    original = DynamoDBBackend.query

    def counting_query(self, table_name, *args, **kwargs):
        queries.append(table_name)
        return original(self, table_name, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "query", counting_query)
    run = workflow.run(f"and what about port 22? my phone is {_PHONE}", session_id="e2e-history-001")
    monkeypatch.undo()
    assert run.status == "SUCCEEDED" and run.path[:5] == [
        "CaptureUserQuery", "CheckGuardrailStatus", "DetectIntent", "CheckIntentClarity", "GenerateResponse"]
    entered = {e["stateEnteredEventDetails"]["name"]: json.loads(e["stateEnteredEventDetails"]["input"])
               for e in run.events if "stateEnteredEventDetails" in e}
    for name in ("DetectIntent", "GenerateResponse"):
        history = entered[name]["capture"]["history"]
        assert [(t["turn_index"], t["interaction_id"]) for t in history] == [
            (0, first.input["interaction_id"])], name
        assert history[0]["assistant_text"] == first.output["response"]
        assert _PHONE not in json.dumps(entered[name])
    conversations = workflow.table_name("ConversationsTable")
    assert queries.count(conversations) == 1, queries  # CaptureUserQuery's read only


@pytest.mark.parametrize("model_fails", [False, True])
def test_the_run_reads_what_the_public_api_describes(make_workflow, model_fails):
    # The runner reads an ended execution from moto's backend directly (no input serialised,
    # the history shallow-copied); Step Functions' own API must describe the same execution.
    workflow = make_workflow(**({"model": FailingModel(ModelError("down"))} if model_fails else {}))
    run = workflow.run("How do I enable versioning on an S3 bucket?", session_id="e2e-describe-0001")
    sfn = workflow.client("stepfunctions")
    described = sfn.describe_execution(executionArn=run.execution_arn)
    events = sfn.get_execution_history(executionArn=run.execution_arn, maxResults=1000)["events"]
    assert run.status == described["status"] == "SUCCEEDED"
    assert run.output == json.loads(described["output"])
    assert [e["type"] for e in run.events] == [e["type"] for e in events]
    assert [e["id"] for e in run.events] == [e["id"] for e in events]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    assert run.path == entered
    assert ("Fallback" in run.path) == model_fails


def test_a_workflow_that_retains_no_executions_answers_alike_and_forgets_each_ended_one(make_workflow):
    # The local API server's setting: like an Express execution started synchronously, an
    # ended execution leaves nothing in Step Functions to describe once its answer is read.
    workflow = make_workflow(retain_executions=False)
    runs = [workflow.run("How do I enable versioning on an S3 bucket?", session_id=f"e2e-forget-000{i}")
            for i in range(2)]
    sfn = workflow.client("stepfunctions")
    for run in runs:
        assert run.status == "SUCCEEDED" and run.output["response_type"] == "answer"
        assert run.path[0] == "CaptureUserQuery" and run.path[-1] == "CollectFeedback"
        assert run.events  # read before the execution was dropped
        with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
            sfn.describe_execution(executionArn=run.execution_arn)
    assert sfn.list_executions(stateMachineArn=workflow.state_machine_arn)["executions"] == []
    assert len(workflow.scan("ConversationsTable")) == 2  # what the executions stored stays
