"""Every AWS call the handlers really make is allowed by the role the stack gives them.

The calls are not written down by hand: the synthesized workflow runs on moto through
:class:`pipeline.local.workflow.LocalWorkflow` (the real handlers with each function's
environment from the template, tables and buckets created from the template's own
definitions), with ``MODEL_BACKEND=bedrock`` and ``NLP_BACKEND=comprehend`` so the AWS
adapters run too. A botocore hook on the default session records every operation (service,
operation, parameters) while a handler runs, attributed to the function being invoked;
Bedrock ``Converse`` and the Comprehend ``Detect*`` calls (not in moto) are answered by the
hook with replies computed by the offline model and NLP. The API and scheduled handlers are
invoked through the same runner with the event fixtures of tests/events.

Each recorded call becomes an IAM (action, resource ARN) pair, e.g. ``Converse`` →
``bedrock:InvokeModel`` on the foundation-model ARN, a ``Query`` with ``IndexName`` → the
index ARN, ``GetObject`` → the object ARN, and must be allowed by the Allow statements of
the IAM policies attached to that function's role in the synthesized template.

Grants that no recorded call uses are compared with :data:`KNOWN_UNUSED_GRANTS`: a new
unused grant fails the test (least privilege drifting), and a grant that becomes used or is
removed must be taken off the list.
"""

from __future__ import annotations

import fnmatch
import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from stack import constants as c
from stack.config import DEFAULT_MODEL_ID, INFERENCE_PROFILE_REGIONS

EVENTS = Path(__file__).resolve().parents[1] / "events"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzREALKEY"

#: IAM action for an API operation where it is not ``<signing name>:<operation>``.
IAM_ACTION = {
    ("bedrock", "Converse"): "bedrock:InvokeModel",
    ("bedrock", "ConverseStream"): "bedrock:InvokeModelWithResponseStream",
}

#: handler -> "action on resource" granted but used by no recorded call; a grant added
#: without a call fails the test. The one kind allowed: the caller invokes the inference profile; Bedrock then checks the same role for the
#: foundation model in the Region it routes the request to (prerequisites for inference
#: profiles), a call no client-side recording can see.
KNOWN_UNUSED_GRANTS: dict[str, set[str]] = {
    "generate_response": {
        f"bedrock:InvokeModel on arn:aws:bedrock:{region}::foundation-model/{DEFAULT_MODEL_ID[3:]}"
        for region in INFERENCE_PROFILE_REGIONS["us"]
    }
    # The history query: these steps take the session's earlier turns from
    # $.capture.history and read the table only when the state holds none (a retried
    # capture, a state written before the key existed; docs/workflow-contract.md), which
    # the recorded runs do not produce.
    | {"dynamodb:Query on Conversations"},
    "detect_intent": {"dynamodb:Query on Conversations"},
}


# ---------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------


class Recorder:
    """Collects (function, service, operation, params) while a handler runs."""

    def __init__(self) -> None:
        #: What StartSyncExecution answers: (status, output) per call, in order.
        self.sync_replies: list[tuple[str, dict[str, Any] | None]] = []
        self.current: str | None = None
        self.calls: list[tuple[str, str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.current is None:  # the test's own set-up and polling calls
            return
        service = model.service_model.signing_name or model.service_model.endpoint_prefix
        with self._lock:
            self.calls.append((self.current, service, model.name, dict(params)))

    def stub(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        """Answer Bedrock and Comprehend (not in moto) with offline-computed replies."""
        from botocore.awsrequest import AWSResponse

        service = model.service_model.endpoint_prefix
        if service == "states" and model.name == "StartSyncExecution":
            # Not in moto, and the workflow cannot run inside a handler call here (the local
            # engine serialises handler calls): answer with a finished execution.
            return AWSResponse("https://stub", 200, {}, None), self.sync_reply(params)
        if service not in ("bedrock-runtime", "comprehend"):
            return None
        body = json.loads(params["body"] or b"{}")
        parsed = _bedrock_reply(body) if service == "bedrock-runtime" else _comprehend_reply(
            model.name, body)
        return AWSResponse("https://stub", 200, {}, None), parsed


    def sync_reply(self, params: dict[str, Any]) -> dict[str, Any]:
        status, output = self.sync_replies.pop(0)
        body = json.loads(params["body"])
        workflow_input = json.loads(body["input"])
        reply: dict[str, Any] = {"executionArn": "arn:aws:states:us-east-1:123456789012:express:x",
                                 "startDate": 0, "stopDate": 0, "status": status}
        if output is not None:
            reply["output"] = json.dumps({**output, "session_id": workflow_input["session_id"],
                                          "interaction_id": workflow_input["interaction_id"]})
        return reply


def _bedrock_reply(body: dict[str, Any]) -> dict[str, Any]:
    from pipeline.adapters.local.offline_model import OfflineModel
    from pipeline.domain.models import Message, ModelParameters, ModelRequest

    request = ModelRequest(
        system="".join(block["text"] for block in body.get("system", [])),
        messages=tuple(Message(m["role"], "".join(b["text"] for b in m["content"]))
                       for m in body["messages"]),
        parameters=ModelParameters(),
    )
    reply = OfflineModel().generate(request)
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": reply.text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": reply.input_tokens, "outputTokens": reply.output_tokens},
        "metrics": {"latencyMs": 5},
    }


def _comprehend_reply(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    from pipeline.adapters.local.offline_nlp import OfflineNlp

    analysis = OfflineNlp().analyze(body["Text"])
    if operation == "DetectSentiment":
        names = {"POSITIVE": "Positive", "NEGATIVE": "Negative", "NEUTRAL": "Neutral",
                 "MIXED": "Mixed"}
        return {"Sentiment": analysis.sentiment,
                "SentimentScore": {names[k]: v for k, v in analysis.sentiment_scores.items()}}
    if operation == "DetectEntities":
        return {"Entities": [{"Text": e.text, "Type": "COMMERCIAL_ITEM", "Score": e.score}
                             for e in analysis.entities]}
    if operation == "DetectKeyPhrases":
        return {"KeyPhrases": [{"Text": p, "Score": 0.9} for p in analysis.key_phrases]}
    raise AssertionError(f"unexpected Comprehend call {operation}")


def _session_token(workflow: Any, session_id: str) -> str:
    """The token the stack's session key (the template's secret, in moto) signs."""
    from pipeline.domain.sessions import SessionAuthority, StaticKey

    (secret,) = workflow.template.of_type("AWS::SecretsManager::Secret")
    key = workflow.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
    return SessionAuthority(StaticKey(key.encode()), has_turns=lambda _: False).token_for(session_id)


def _load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def recorded(stack_template: Any) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    """function logical id -> [(service, operation, params)] over every flow."""
    import boto3

    from pipeline.local.workflow import LocalWorkflow

    recorder = Recorder()
    workflow = LocalWorkflow(
        stack_template, env={"MODEL_BACKEND": "bedrock", "NLP_BACKEND": "comprehend"}
    )
    by_handler = {spec.short_name: logical for logical, spec in workflow.functions.items()}
    original_invoke = workflow._invoke

    def invoke(function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        logical = function_name.rsplit(":function:", 1)[-1].split(":", 1)[0]
        recorder.current = logical
        try:
            return original_invoke(function_name, body, response_headers)
        finally:
            recorder.current = None

    workflow._invoke = invoke  # type: ignore[method-assign]

    def call(handler: str, event: dict[str, Any]) -> dict[str, Any]:
        headers: dict[str, str] = {}
        raw = invoke(by_handler[handler], json.dumps(event).encode(), headers)
        assert "x-amz-function-error" not in headers, raw[:500]
        return json.loads(raw)

    with workflow:
        # mock_aws swaps boto3's default session, so register on the one inside it; the
        # handlers' clients are built lazily from it (LocalWorkflow resets composition).
        events = boto3._get_default_session().events
        events.register("before-parameter-build.*.*", recorder.on_params)
        events.register("before-call.*.*", recorder.stub)
        try:
            session, runs = "grants-session-0001", []
            runs.append(workflow.run("Why does my EC2 instance refuse SSH connections? It times out.",
                                     session_id=session, user_id="user-42"))
            runs.append(workflow.run("I checked that, still timing out", session_id=session,
                                     user_id="user-42"))
            runs.append(workflow.run(f"my secret key is {SECRET}, why is S3 denied?",
                                     session_id="grants-blocked-0001"))
            runs.append(workflow.run("it doesn't work", session_id="grants-clarify-01"))
            runs.append(workflow.run("I want to speak to a human agent now",
                                     session_id="grants-escalate-1"))
            for run in runs:
                assert run.status == "SUCCEEDED" and not run.errors, (run.path, run.errors)
                assert run.output["response_type"] != "fallback", run.path
            paths = {run.output["response_type"] for run in runs}
            assert paths >= {"answer", "blocked"}, paths

            first = runs[0].output
            token = _session_token(workflow, first["session_id"])
            feedback = _load("feedback_api_post.json")
            feedback["headers"]["X-Session-Token"] = token
            feedback["body"] = json.dumps({"session_id": first["session_id"],
                                           "interaction_id": first["interaction_id"],
                                           "rating": 5, "comment": "thanks"})
            assert call("feedback_api", feedback)["statusCode"] == 201

            # POST /query: a new session (claim + complete), its retry (read back), a wrong
            # token on a session with turns (Query: 403), a continued session (counter) whose
            # execution fails (release).
            query = _load("query_api_post.json")
            recorder.sync_replies = [("SUCCEEDED", first), ("FAILED", None)]
            created = call("query_api", query)
            assert created["statusCode"] == 200, created
            answer = json.loads(created["body"])
            assert call("query_api", query)["body"] == created["body"]
            stranger = {**query, "headers": {**query["headers"], "X-Session-Token": token}}
            stranger["body"] = json.dumps({"query": "show me", "session_id": "grants-blocked-0001"})
            assert call("query_api", stranger)["statusCode"] == 403
            again = {**query, "headers": {**query["headers"], "X-Session-Token": answer["session_token"],
                                          "Idempotency-Key": "grants-retry-key-0002"}}
            again["body"] = json.dumps({"query": "still failing", "session_id": answer["session_id"]})
            assert call("query_api", again)["statusCode"] == 500
            assert recorder.sync_replies == []
            sessions = _load("sessions_api_get.json")
            sessions["pathParameters"] = {"session_id": session}
            assert call("sessions_api", sessions)["statusCode"] == 200
            missing = {**sessions, "pathParameters": {"session_id": "no-such-session-0"}}
            assert call("sessions_api", missing)["statusCode"] == 404
            summary = call("analyze_feedback", _load("analyze_feedback_scheduled.json"))
            assert summary["explicit"] == 1, summary
        finally:
            events.unregister("before-parameter-build.*.*", recorder.on_params)
            events.unregister("before-call.*.*", recorder.stub)

    found: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
    for logical, service, operation, params in recorder.calls:
        found[logical].append((service, operation, params))
    return dict(found)


# ---------------------------------------------------------------------------
# Calls -> (IAM action, resource ARN)
# ---------------------------------------------------------------------------


def _arn(stack_template: Any, service: str, operation: str, params: dict[str, Any]) -> str:
    from pipeline.local.workflow import ACCOUNT, PARTITION, REGION

    if service == "dynamodb":
        arn = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{params['TableName']}"
        return f"{arn}/index/{params['IndexName']}" if params.get("IndexName") else arn
    if service == "s3":
        key = params.get("Key")
        return f"arn:{PARTITION}:s3:::{params['Bucket']}" + (f"/{key}" if key else "")
    if service == "bedrock":
        model = params["modelId"]
        if model.startswith("arn:"):
            return model
        if model.split(".", 1)[0] in INFERENCE_PROFILE_REGIONS:  # a cross-Region profile
            return f"arn:{PARTITION}:bedrock:{REGION}:{ACCOUNT}:inference-profile/{model}"
        return f"arn:{PARTITION}:bedrock:{REGION}::foundation-model/{model}"
    if service == "comprehend":
        return "*"  # the synchronous Detect* APIs have no resource type
    if service == "secretsmanager":
        return params["SecretId"]  # the local name the template's Ref resolves to
    if service == "states":
        return params["stateMachineArn"]
    raise AssertionError(f"no ARN rule for {service}:{operation}; add one")


def _required(stack_template: Any, calls: list[tuple[str, str, dict[str, Any]]]) -> set[tuple[str, str]]:
    return {
        (IAM_ACTION.get((service, operation), f"{service}:{operation}"),
         _arn(stack_template, service, operation, params))
        for service, operation, params in calls
    }


# ---------------------------------------------------------------------------
# The synthesized policies
# ---------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resolve(stack_template: Any, value: Any) -> str:
    """Resolve to an ARN (pattern); what cannot be resolved locally becomes a marker."""
    from pipeline.local.workflow import LocalWorkflowError

    try:
        return str(stack_template.resolve(value))
    except LocalWorkflowError:
        return f"<unresolved {json.dumps(value, sort_keys=True)}>"


def _role_statements(stack_template: Any, template_json: dict[str, Any], function: str) -> list[dict]:
    role = template_json["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = []
    for resource in template_json["Resources"].values():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        props = resource["Properties"]
        if {"Ref": role} not in props.get("Roles", []):
            continue
        for statement in props["PolicyDocument"]["Statement"]:
            assert set(statement) <= {"Action", "Effect", "Resource", "Sid"}, statement
            statements.append({
                "Effect": statement["Effect"],
                "Action": _as_list(statement["Action"]),
                "Resource": [_resolve(stack_template, r) for r in _as_list(statement["Resource"])],
            })
    return statements


def _matches(pattern: str, value: str, *, case_insensitive: bool = False) -> bool:
    if case_insensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _allowed(statements: list[dict], action: str, arn: str) -> bool:
    def hits(effect: str) -> bool:
        return any(
            s["Effect"] == effect
            and any(_matches(a, action, case_insensitive=True) for a in s["Action"])
            and any(_matches(r, arn) for r in s["Resource"])
            for s in statements
        )

    return hits("Allow") and not hits("Deny")


@pytest.fixture(scope="module")
def functions(stack_template: Any) -> dict[str, str]:
    """handler module -> function logical id."""
    from pipeline.local.workflow import LocalWorkflow

    return {spec.short_name: logical
            for logical, spec in LocalWorkflow(stack_template).functions.items()}


def test_every_handler_is_exercised(recorded: dict, functions: dict[str, str]) -> None:
    assert set(functions) == set(c.ALL_HANDLERS)
    # validate_quality makes no AWS call; every other handler must have been recorded.
    silent = {h for h, logical in functions.items() if logical not in recorded}
    assert silent == {"validate_quality"}, silent


@pytest.mark.parametrize("handler", c.ALL_HANDLERS)
def test_every_call_is_allowed_on_its_resource(
    handler: str, recorded: dict, functions: dict[str, str], stack_template: Any,
    template_json: dict[str, Any],
) -> None:
    logical = functions[handler]
    statements = _role_statements(stack_template, template_json, logical)
    required = _required(stack_template, recorded.get(logical, []))
    denied = sorted(pair for pair in required if not _allowed(statements, *pair))
    assert not denied, f"{handler} calls what its role does not allow: {denied}"


def _label(template_json: dict[str, Any], arn: str) -> str:
    """``Conversations``, ``Feedback/index/*``, ``PromptBucket/prompts/*``: stable names."""
    from pipeline.local.workflow import StackTemplate

    names = {
        StackTemplate(template_json).ref(logical): label
        for logical, resource in template_json["Resources"].items()
        for label in ("Conversations", "Feedback", "Prompts", "PromptBucket", "Idempotency",
                      "SessionThrottle")
        if resource["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket")
        and logical.startswith((f"Tables{label}Table", f"Prompts{label}"))
    }
    tail = arn.split(":table/", 1)[-1] if ":dynamodb:" in arn else arn.split(":::", 1)[-1]
    name, _, rest = tail.partition("/")
    return f"{names.get(name, name)}/{rest}" if rest else names.get(name, name)


def _unused_grants(handler: str, recorded: dict, functions: dict[str, str], stack_template: Any,
                   template_json: dict[str, Any]) -> set[str]:
    logical = functions[handler]
    required = _required(stack_template, recorded.get(logical, []))
    unused = set()
    for statement in _role_statements(stack_template, template_json, logical):
        for action in statement["Action"]:
            if action.startswith(("logs:", "xray:")):
                continue  # the runtime's own log group and tracing, not the handler's calls
            for resource in statement["Resource"]:
                if not any(_matches(action, a, case_insensitive=True) and _matches(resource, r)
                           for a, r in required):
                    unused.add(f"{action} on {_label(template_json, resource)}")
    return unused


def test_unused_grants_are_the_known_ones(
    recorded: dict, functions: dict[str, str], stack_template: Any, template_json: dict[str, Any]
) -> None:
    unused = {
        handler: found for handler in c.ALL_HANDLERS
        if (found := _unused_grants(handler, recorded, functions, stack_template, template_json))
    }
    assert unused == {h: set(g) for h, g in KNOWN_UNUSED_GRANTS.items()}

