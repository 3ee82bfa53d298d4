"""Faults injected through the ports, one test per fault, answered through the API.

Each test sends ``POST /query`` to :class:`~pipeline.local.api_runtime.LocalApi` (the
synthesized state machine on the local engine, the real handlers) with one port broken,
then reads the store back. Expected: what is transient is retried, anything else ends in
a ``fallback`` answer with status 200, the failure is logged and counted, and no stored
record is half-written.

Faults already covered elsewhere (not repeated here): the model raising and timing out
(``test_workflow_paths.py::test_fallback_when_the_model_fails``), a throttled model call
retried by the workflow (``…::test_a_throttled_model_call_is_retried_by_the_workflow``), a
transient Lambda service error retried (``…::test_retry_succeeds_after_a_transient_lambda_error``)
and a step failing on every attempt (``…::test_persistent_failure_falls_back``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.domain.models import ModelResponse
from pipeline.local.api_runtime import LocalApi
from pipeline.local.workflow import Faults, LocalWorkflow

pytestmark = pytest.mark.xdist_group("api_faults")

QUERY = "How do I fix AccessDenied when reading objects from my S3 bucket?"


@pytest.fixture
def make_api(stack_template: Any, tmp_path: Path) -> Iterator[Callable[..., LocalApi]]:
    opened: list[LocalApi] = []

    def make(**workflow_kwargs: Any) -> LocalApi:
        api = LocalApi(workflow=LocalWorkflow(stack_template, **workflow_kwargs),
                       key_file=tmp_path / "session.key")
        api.__enter__()
        opened.append(api)
        return api

    yield make
    for api in reversed(opened):
        api.__exit__(None, None, None)


def ask(api: LocalApi, query: str = QUERY) -> dict[str, Any]:
    status, body = api.query(json.dumps({"query": query}).encode(), {"content-type": "application/json"},
                             "req-faults-0001")
    assert status == 200, body
    assert body["response"] and body["session_id"] and body["interaction_id"]
    return body


def fallback_is_stored(api: LocalApi) -> bool:
    """True once the state machine's Fallback path goes through CollectFeedback (the turn
    gets the fallback reply); with a Fallback that ends the execution the turn keeps only
    the user's side."""
    return api.workflow.definition["States"]["Fallback"].get("Next") is not None


def assert_not_half_written(api: LocalApi, reply: dict[str, Any], *, store_down: bool = False) -> list[dict[str, Any]]:
    """The session holds exactly this interaction's turn, once, and every field it has is
    consistent with the answer the user got (``store_down``: the turn's own write is what
    fails, so the reply cannot be stored however the workflow ends)."""
    turns = [t for t in api.workflow.scan("ConversationsTable") if t["session_id"] == reply["session_id"]]
    assert [t["interaction_id"] for t in turns] == [reply["interaction_id"]]
    turn = turns[0]
    assert turn["user_text"] and int(turn["turn_index"]) == 0
    finished = turn.get("assistant_text") is not None
    if finished:
        assert turn["assistant_text"] == reply["response"]
        assert turn.get("response_type") == reply["response_type"]
    if (reply["response_type"] != "fallback" or fallback_is_stored(api)) and not store_down:
        assert finished, turn
    feedback = [f for f in api.workflow.scan("FeedbackTable") if f.get("interaction_id") == reply["interaction_id"]]
    assert len(feedback) <= 1
    return turns


class TextModel:
    """A model that answers every request with the same text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def generate(self, request: Any) -> ModelResponse:
        self.calls += 1
        return ModelResponse(text=self.text, model_id="fault-model", input_tokens=10, output_tokens=3)


def assert_replaced_by_the_fallback(api: LocalApi, reply: dict[str, Any], metrics: Any, reason: str) -> None:
    """The unusable answer went to Fallback after the last validation: the customer got the
    fallback reply (status 200), the turn stores it, and it is counted by reason."""
    from pipeline.domain.workflow import METRIC_UNUSABLE_ANSWERS
    from stack.constants import FALLBACK_MESSAGE

    assert reply["response_type"] == "fallback" and reply["response"] == FALLBACK_MESSAGE
    path = api.last_run.path
    assert path[-3:] == ["CheckQuality", "Fallback", "CollectFeedback"], path
    assert metrics.total(METRIC_UNUSABLE_ANSWERS, reason=reason) == 1
    assert metrics.total("Queries", response_type="fallback") == 1
    (turn,) = assert_not_half_written(api, reply)
    assert turn["assistant_text"] == FALLBACK_MESSAGE and turn["response_type"] == "fallback"


@pytest.mark.parametrize(("text", "reason"), [
    ("\x00\x1b[2J}{<<<>>>\ufffd" * 20 + "```json\n{not json", "garbage"),
    ("lorem ipsum dolor " * 40, "garbage"),  # degenerate repetition
], ids=["binary-garbage", "off-topic-filler"])
def test_the_model_returns_garbage(make_api, text: str, reason: str) -> None:
    from pipeline.adapters.local.metrics import InMemoryMetrics

    model, metrics = TextModel(text), InMemoryMetrics()
    api = make_api(model=model, services={"metrics": metrics})
    reply = ask(api)
    assert reply["response"] != text  # the garbage never reaches the user
    assert model.calls >= 2, "quality validation regenerated the answer"
    assert api.last_run.path.count("ValidateQuality") == api.last_run.path.count("GenerateResponse")
    assert_replaced_by_the_fallback(api, reply, metrics, reason)


def test_the_model_returns_empty_text(make_api) -> None:
    from pipeline.adapters.local.metrics import InMemoryMetrics

    model, metrics = TextModel(""), InMemoryMetrics()
    api = make_api(model=model, services={"metrics": metrics})
    reply = ask(api)
    assert reply["response"].strip()  # never an empty answer
    assert model.calls >= 1
    assert_replaced_by_the_fallback(api, reply, metrics, "empty")


class FailingNlp:
    """Comprehend failing on every call (throttled, then a service error)."""

    def __init__(self, *, transient: bool) -> None:
        self.transient = transient
        self.calls = 0

    def analyze(self, text: str) -> Any:
        from pipeline.ports import NlpError

        self.calls += 1
        raise NlpError("comprehend failed", transient=self.transient, code="ThrottlingException")


@pytest.mark.parametrize("transient", [True, False], ids=["throttled", "service-error"])
def test_comprehend_fails(make_api, transient: bool) -> None:
    nlp = FailingNlp(transient=transient)
    api = make_api(services={"nlp": nlp})
    reply = ask(api)
    assert nlp.calls >= 1
    # Intent detection needs only the text: the customer gets an answer, not Fallback, and
    # the degradation is recorded on the intent (its reasons, in the execution history).
    assert reply["response_type"] == "answer" and reply["intent"] not in (None, "out_of_scope")
    outputs = [json.loads(e["lambdaFunctionSucceededEventDetails"]["output"]) for e in api.last_run.events
               if "lambdaFunctionSucceededEventDetails" in e]
    intents = [o for o in outputs if isinstance(o, dict) and "route" in o]
    assert intents and all("nlp_unavailable" in (i.get("reasons") or []) for i in intents), intents
    assert_not_half_written(api, reply)


def _failing_puts(monkeypatch: pytest.MonkeyPatch, code: str, table_part: str, fail: Callable[[int], bool],
                  *, applied: bool = False) -> dict[str, int]:
    """DynamoDB answers the n-th PutItem on a table with the error ``code`` when ``fail(n)``
    (n counts from 1, retries included). The fault sits at moto's front door, so botocore's
    retry policy sees a real error response and nothing is written, or, with ``applied``,
    the write is made and only its response is lost (a timeout after the commit)."""
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import BotocoreStubber

    seen = {"failed": 0, "puts": 0}
    original = BotocoreStubber.__call__

    class _Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **_: Any) -> Iterator[bytes]:
            yield self.body

    def front_door(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if not (event_name.startswith("before-send.dynamodb.PutItem") and table_part in body):
            return original(self, event_name, request, **kwargs)
        seen["puts"] += 1
        if not fail(seen["puts"]):
            return original(self, event_name, request, **kwargs)
        if applied:
            original(self, event_name, request, **kwargs)
        seen["failed"] += 1
        payload = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                              "message": "injected"}).encode()
        return AWSResponse(request.url, 400 if "Exceeded" in code else 500,
                           {"x-amzn-requestid": "fault", "content-type": "application/x-amz-json-1.0"},
                           _Raw(payload))

    monkeypatch.setattr(BotocoreStubber, "__call__", front_door)
    return seen


@pytest.mark.parametrize("applied", [False, True], ids=["throttled", "response-lost"])
def test_a_dynamodb_write_fails_once_and_is_retried(make_api, monkeypatch, applied: bool) -> None:
    api = make_api()
    seen = _failing_puts(monkeypatch, "ProvisionedThroughputExceededException", "Conversations",
                         lambda n: n == 1, applied=applied)
    reply = ask(api)
    assert seen["failed"] == 1 and seen["puts"] >= 2  # the failed write went again
    assert reply["response_type"] == "answer"
    assert not api.workflow.handler_errors  # retried inside the step: no step failed
    assert_not_half_written(api, reply)  # and a write that did land is not doubled


def test_a_dynamodb_write_that_keeps_failing_falls_back(make_api, monkeypatch, caplog) -> None:
    api = make_api()
    # The first write (the user's turn) succeeds; finishing the turn fails every attempt.
    seen = _failing_puts(monkeypatch, "InternalServerError", "Conversations", lambda n: n >= 2)
    with caplog.at_level(logging.WARNING, logger="support_assistant.workflow"):
        reply = ask(api)
    assert reply["response_type"] == "fallback"
    assert seen["failed"] >= 3  # the SDK's own retries, then the workflow's Catch
    assert api.workflow.handler_errors[("collect_feedback", "InternalServerError")] >= 1
    assert any(getattr(r, "fields", {}).get("handler") == "collect_feedback" for r in caplog.records)
    assert_not_half_written(api, reply, store_down=True)


class UnreachablePromptStore:
    """The prompt bucket and index cannot be reached (a connection error on every call)."""

    def __init__(self) -> None:
        self.calls = 0

    def get(self, template_id: str, version: str | None = None) -> Any:
        from botocore.exceptions import EndpointConnectionError

        self.calls += 1
        raise EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")

    def list_templates(self) -> list[Any]:
        return self.get("*")

    def list_experiments(self) -> list[Any]:
        return self.get("experiments")


def test_the_prompt_store_is_unreachable(make_api, caplog) -> None:
    prompts = UnreachablePromptStore()
    api = make_api(services={"prompts": prompts})
    with caplog.at_level(logging.WARNING, logger="support_assistant.workflow"):
        reply = ask(api)
    assert prompts.calls >= 1
    assert reply["response_type"] == "fallback"
    assert reply["template"] is None
    failures = {name for (name, _error) in api.workflow.handler_errors}
    assert failures  # counted, by handler
    logged = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("type") == "handler_error"]
    assert {f["handler"] for f in logged} == failures
    assert all("amazonaws" not in json.dumps(f) for f in logged)  # names only, no messages
    assert_not_half_written(api, reply)


def test_a_lambda_raises_on_every_attempt(make_api, caplog) -> None:
    faults = Faults().fail_always("detect_intent", "RuntimeError")
    api = make_api(faults=faults)
    with caplog.at_level(logging.WARNING, logger="support_assistant.workflow"):
        reply = ask(api)
    assert reply["response_type"] == "fallback" and reply["intent"] is None
    assert faults.calls["detect_intent"] == 1  # RuntimeError is not transient: no retry
    assert api.workflow.handler_errors[("detect_intent", "RuntimeError")] == 1
    assert [r.fields["handler"] for r in caplog.records if getattr(r, "fields", {}).get("type") == "handler_error"] \
        == ["detect_intent"]
    assert_not_half_written(api, reply)
