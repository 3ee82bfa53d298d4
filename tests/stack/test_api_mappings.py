"""POST /query's mapping templates, taken from the SYNTHESIZED template and rendered offline.

The request template turns the client's body into a ``StartSyncExecution`` request whose
``input`` must be exactly the workflow input of docs/workflow-contract.md; the response
templates turn the ``StartSyncExecution`` reply back into the public response shape
(issue 3) or a JSON error with the status code the method declares. A wrong backslash in
those Velocity strings is invisible to both the stack's property tests and the handlers'
tests, so here they are *executed*.

Rendering uses ``airspeed`` (a Python Velocity engine) with small stand-ins for API
Gateway's ``$input``, ``$context`` and ``$util``, written after the API Gateway mapping
template reference:

* ``$input.json(path)``: the JSONPath result serialised as JSON. How API Gateway escapes
  inside JSON strings is not documented, so every test runs with three serialisers (raw
  UTF-8, ASCII ``\\uXXXX``, and Gson-style HTML-safe escaping of ``< > & = '``). A missing
  path yields an empty string (or ``null``; both are tried).
* ``$input.path(path)``: the JSONPath result as an object (a string renders as itself).
* ``$util.escapeJavaScript``: Apache commons-lang ``escapeJavaScript`` (``'`` → ``\\'``,
  ``"`` → ``\\"``, ``\\`` → ``\\\\``, ``/`` → ``\\/``, control characters, and every
  non-ASCII UTF-16 unit as ``\\uXXXX``), which is why the templates undo ``\\'``.
* ``$context.requestId`` and ``$context.responseOverride.status`` (an override changes
  the status of the integration response that was selected).

Two airspeed deviations from Velocity 1.7 are corrected while rendering: Velocity keeps
backslashes in string literals as written (``"\\\\'"`` reaches ``replaceAll`` as the
regex ``\\\\'``; airspeed would unescape it to ``\\'``), and ``String.replaceAll`` takes a
Java regex and a Java replacement string.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest

airspeed = pytest.importorskip("airspeed")

from stack import constants as c  # noqa: E402
from stack.constructs import api as api_module  # noqa: E402

JSON_CT = "application/json"
REQUEST_ID = "c0ffee00-1234-4abc-9def-0123456789ab"
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:SupportWorkflow"
ERROR_KEYS = {"code", "message", "request_id"}


# ---------------------------------------------------------------------------
# API Gateway stand-ins
# ---------------------------------------------------------------------------


def _json_raw(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_ascii(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


def _json_gson_html_safe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    for ch in "<>&='":
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


JSON_SERIALISERS: dict[str, Callable[[Any], str]] = {
    "raw": _json_raw,
    "ascii": _json_ascii,
    "gson-html-safe": _json_gson_html_safe,
}
_MISSING = object()
#: $context.requestTimeEpoch: when API Gateway received the request (epoch ms, a number).
REQUEST_TIME_EPOCH = 1764900000123


def _json_path(document: Any, path: str) -> Any:
    """The subset of JSONPath the templates use: ``$``, ``$.a.b``, ``$['a']``, ``$.a[0]``."""
    if not path.startswith("$"):
        raise ValueError(f"not a JSONPath: {path!r}")
    current = document
    for name, quoted, index in re.findall(r"\.([A-Za-z_][\w-]*)|\['([^']*)'\]|\[(\d+)\]", path[1:]):
        key: Any = name or quoted
        if index:
            key = int(index)
            ok = isinstance(current, list) and key < len(current)
        else:
            ok = isinstance(current, dict) and key in current
        if not ok:
            return _MISSING
        current = current[key]
    return current


class InputStandIn:
    """``$input`` for a JSON body."""

    def __init__(self, body: str, *, serialise: Callable[[Any], str], missing_json: str) -> None:
        self.body = body
        self._document = json.loads(body) if body.strip() else {}
        self._serialise = serialise
        self._missing_json = missing_json

    def json(self, path: str) -> str:
        found = _json_path(self._document, path)
        return self._missing_json if found is _MISSING else self._serialise(found)

    def path(self, path: str) -> Any:
        found = _json_path(self._document, path)
        return None if found is _MISSING else found

    def params(self, name: str | None = None) -> Any:
        return {} if name is None else None


def escape_javascript(text: Any) -> str:
    """commons-lang ``StringEscapeUtils.escapeJavaScript`` over Java's UTF-16 string."""
    text = "" if text is None else str(text)
    units = text.encode("utf-16-be")
    out = []
    named = {"\b": "\\b", "\n": "\\n", "\t": "\\t", "\f": "\\f", "\r": "\\r",
             "'": "\\'", '"': '\\"', "\\": "\\\\", "/": "\\/"}
    for i in range(0, len(units), 2):
        code = int.from_bytes(units[i:i + 2], "big")
        ch = chr(code) if not 0xD800 <= code <= 0xDFFF else None
        if code > 0x7F or (code < 32 and ch not in named):
            out.append(f"\\u{code:04X}")
        else:
            assert ch is not None
            out.append(named.get(ch, ch))
    return "".join(out)


class UtilStandIn:
    """``$util``."""

    escapeJavaScript = staticmethod(escape_javascript)  # noqa: N815 - API Gateway's name

    @staticmethod
    def parseJson(text: str) -> Any:  # noqa: N802
        return json.loads(text)

    @staticmethod
    def urlEncode(text: str) -> str:  # noqa: N802
        return urllib.parse.quote_plus(text)

    @staticmethod
    def urlDecode(text: str) -> str:  # noqa: N802
        return urllib.parse.unquote_plus(text)

    @staticmethod
    def base64Encode(text: str) -> str:  # noqa: N802
        return base64.b64encode(text.encode()).decode()

    @staticmethod
    def base64Decode(text: str) -> str:  # noqa: N802
        return base64.b64decode(text).decode()


def _java_replace_all(text: str, regex: str, replacement: str) -> str:
    """``String.replaceAll``: ``$n`` is a group, ``\\x`` is a literal ``x``."""

    def expand(match: re.Match[str]) -> str:
        out, i = [], 0
        while i < len(replacement):
            ch = replacement[i]
            if ch == "\\" and i + 1 < len(replacement):
                out.append(replacement[i + 1])
                i += 2
            elif ch == "$":
                digits = re.match(r"\d+", replacement[i + 1:])
                assert digits, f"bad Java replacement {replacement!r}"
                out.append(match.group(int(digits.group())) or "")
                i += 1 + len(digits.group())
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    return re.sub(regex, expand, text)


@contextlib.contextmanager
def _velocity_1_7_semantics() -> Iterator[None]:
    """Keep string-literal backslashes as written; Java ``replaceAll``."""
    never = re.compile(r"(?!)")
    saved = (airspeed.StringLiteral.ESCAPED_CHAR, airspeed.InterpolatedStringLiteral.ESCAPED_CHAR,
             airspeed.__additional_methods__[str]["replaceAll"])
    airspeed.StringLiteral.ESCAPED_CHAR = never
    airspeed.InterpolatedStringLiteral.ESCAPED_CHAR = never
    airspeed.__additional_methods__[str]["replaceAll"] = _java_replace_all
    try:
        yield
    finally:
        (airspeed.StringLiteral.ESCAPED_CHAR, airspeed.InterpolatedStringLiteral.ESCAPED_CHAR,
         airspeed.__additional_methods__[str]["replaceAll"]) = saved


def render(template: str, body: str, *, serialise: Callable[[Any], str] = _json_raw,
           missing_json: str = "") -> tuple[str, dict[str, Any]]:
    """Render a mapping template; returns (output, $context) to read overrides back."""
    context: dict[str, Any] = {
        "requestId": REQUEST_ID,
        "requestTimeEpoch": REQUEST_TIME_EPOCH,
        "responseOverride": {"status": None, "header": {}},
        "requestOverride": {"header": {}, "path": {}, "querystring": {}},
    }
    namespace = {
        "input": InputStandIn(body, serialise=serialise, missing_json=missing_json),
        "context": context,
        "util": UtilStandIn(),
    }
    with _velocity_1_7_semantics():
        output = airspeed.Template(template).merge(namespace)
    return output, context


def test_stand_ins_match_the_documented_behaviour() -> None:
    # escapeJavaScript escapes ' (invalid in JSON), which is why templates undo "\'".
    assert escape_javascript("it's \"x\" \\ </a>\n é 😀") == (
        "it\\'s \\\"x\\\" \\\\ <\\/a>\\n \\u00E9 \\uD83D\\uDE00"
    )
    # Velocity 1.7 keeps "\\'" as written: the Java regex \\' matches a backslash + quote.
    body = json.dumps({"s": "a\\'b"})  # the value a\'b
    out, _ = render("""$input.path('$.s').replaceAll("\\\\'", "'")""", body)
    assert out == "a'b"
    out, _ = render("[$input.json('$.missing')][$!input.path('$.missing')]", "{}")
    assert out == "[][]"


# ---------------------------------------------------------------------------
# The templates, from the synthesized CloudFormation
# ---------------------------------------------------------------------------


def _query_method(resources: Any, template_json: dict[str, Any]) -> dict[str, Any]:
    found = [
        m["Properties"] for m in resources(template_json, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "POST"
        and "StartSyncExecution" in json.dumps(m["Properties"].get("Integration", {}).get("Uri"))
    ]
    assert len(found) == 1
    return found[0]


def _state_machine_id(resources: Any, template_json: dict[str, Any]) -> str:
    (logical,) = resources(template_json, "AWS::StepFunctions::StateMachine")
    return logical


def _resolve_arn(value: Any, state_machine_id: str) -> str:
    """The request template is a Fn::Join around the state machine's Ref."""
    if isinstance(value, str):
        return value
    (sep, parts), = [value["Fn::Join"]]
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        else:
            assert part == {"Ref": state_machine_id}, part
            out.append(STATE_MACHINE_ARN)
    return sep.join(out)


@pytest.fixture(scope="module")
def query_method(resources: Any, template_json: dict[str, Any]) -> dict[str, Any]:
    return _query_method(resources, template_json)


@pytest.fixture(scope="module")
def request_template(query_method: dict[str, Any], resources: Any,
                     template_json: dict[str, Any]) -> str:
    raw = query_method["Integration"]["RequestTemplates"][JSON_CT]
    return _resolve_arn(raw, _state_machine_id(resources, template_json))


@pytest.fixture(scope="module")
def integration_responses(query_method: dict[str, Any]) -> list[dict[str, Any]]:
    return query_method["Integration"]["IntegrationResponses"]


def test_the_templates_are_the_ones_api_py_defines(request_template: str,
                                                  integration_responses: list) -> None:
    assert request_template == api_module.QUERY_REQUEST_TEMPLATE % {"arn": STATE_MACHINE_ARN}
    templates = {r["StatusCode"]: r["ResponseTemplates"][JSON_CT] for r in integration_responses}
    assert templates == {"200": api_module.QUERY_RESPONSE_TEMPLATE,
                         "500": api_module.UPSTREAM_ERROR_TEMPLATE}


# ---------------------------------------------------------------------------
# Request: client body -> StartSyncExecution -> workflow input
# ---------------------------------------------------------------------------

QUERIES = [
    "why does my EC2 instance refuse SSH?",
    'my bucket policy says "Principal": "*" - is that bad?',
    "path is C:\\Users\\me\\.aws\\credentials and \\n is literal",
    "line one\nline two\r\n\ttabbed",
    "it's the user's role, isn't it? ''quoted''",
    "unicode: café, 東京リージョン, emoji 😀, RTL שלום, \u2028 separator",
    "</script><script>alert('x')</script> & <b>bold</b>",
    "ends with a backslash \\",
    "\\' a backslash before a quote, and \\\" before a double quote",
    "dollar $context.requestId and #set($x = 1) are not Velocity",
    "control \x01\x1f chars",
    "q" * c.QUERY_MAX_CHARS,
]
SESSION_IDS = [None, "session-0001", "A-" + "b" * 62]
USER_IDS = [None, "user-42", 'we"ird \\ \'user\' </script> ü']


def _start_sync_execution(request_template: str, body: dict[str, Any], **render_options: Any) -> dict:
    output, _ = render(request_template, json.dumps(body), **render_options)
    request = json.loads(output)  # must be valid JSON for the StartSyncExecution API
    assert set(request) == {"stateMachineArn", "name", "input"}
    return request


def _expected_input(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "query": body["query"],
        "session_id": body.get("session_id") or REQUEST_ID,
        "interaction_id": REQUEST_ID,
        "user_id": body.get("user_id"),
        "request_id": REQUEST_ID,
        # the latency budget starts when API Gateway received the request
        "received_at_ms": REQUEST_TIME_EPOCH,
    }


@pytest.mark.parametrize("serialiser", sorted(JSON_SERIALISERS))
@pytest.mark.parametrize("missing_json", ["", "null"])
@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_request_mapping_produces_exactly_the_workflow_input(
    request_template: str, query: str, serialiser: str, missing_json: str
) -> None:
    for session_id in SESSION_IDS:
        for user_id in USER_IDS:
            body: dict[str, Any] = {"query": query}
            if session_id is not None:
                body["session_id"] = session_id
            if user_id is not None:
                body["user_id"] = user_id
            request = _start_sync_execution(
                request_template, body,
                serialise=JSON_SERIALISERS[serialiser], missing_json=missing_json,
            )
            assert request["stateMachineArn"] == STATE_MACHINE_ARN
            assert isinstance(request["input"], str)
            assert json.loads(request["input"]) == _expected_input(body), body


def test_execution_name_is_the_request_id_and_valid(request_template: str) -> None:
    request = _start_sync_execution(request_template, {"query": "hi"})
    # StartSyncExecution: 1-80 chars, no whitespace, brackets, wildcards or special characters.
    assert request["name"] == REQUEST_ID
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", request["name"])


def test_request_input_has_the_keys_of_the_contract(request_template: str) -> None:
    from pipeline.local.workflow import LocalWorkflow

    request = _start_sync_execution(request_template, {"query": "hi", "user_id": "u-1"})
    # pipeline/local produces the same workflow input as the API (docs/workflow-contract.md).
    local = LocalWorkflow.workflow_input(None, "hi", None, "u-1")  # type: ignore[arg-type]
    assert set(json.loads(request["input"])) == set(local)


def test_the_state_machine_arn_is_the_one_the_api_role_may_start(
    resources: Any, template_json: dict[str, Any], query_method: dict[str, Any]
) -> None:
    machine = _state_machine_id(resources, template_json)
    raw = query_method["Integration"]["RequestTemplates"][JSON_CT]
    assert {"Ref": machine} in raw["Fn::Join"][1]
    role = query_method["Integration"]["Credentials"]["Fn::GetAtt"][0]
    statements = [
        s for p in resources(template_json, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [{"Action": "states:StartSyncExecution", "Effect": "Allow",
                           "Resource": {"Ref": machine}}]


# ---------------------------------------------------------------------------
# Response: StartSyncExecution reply -> client response
# ---------------------------------------------------------------------------


def _select_integration_response(responses: list[dict[str, Any]], backend_status: int) -> dict:
    """API Gateway: for AWS back ends the selection pattern is matched (whole string)
    against the back end's HTTP status code; no match -> the default (no pattern)."""
    for response in responses:
        pattern = response.get("SelectionPattern")
        if pattern and re.fullmatch(pattern, str(backend_status)):
            return response
    (default,) = [r for r in responses if not r.get("SelectionPattern")]
    return default


def _respond(responses: list[dict[str, Any]], backend_status: int,
             body: dict[str, Any]) -> tuple[int, Any]:
    selected = _select_integration_response(responses, backend_status)
    output, context = render(selected["ResponseTemplates"][JSON_CT], json.dumps(body))
    status = context["responseOverride"]["status"] or int(selected["StatusCode"])
    return int(status), json.loads(output)


def _sync_reply(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "executionArn": f"arn:aws:states:us-east-1:123456789012:express:SupportWorkflow:{REQUEST_ID}:x",
        "stateMachineArn": STATE_MACHINE_ARN,
        "name": REQUEST_ID,
        "startDate": 1.7e9,
        "stopDate": 1.7e9 + 1,
        "status": status,
        "input": "{}",
        "inputDetails": {"included": True},
        "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 300},
        **extra,
    }


WORKFLOW_RESPONSES = [
    {
        "session_id": "session-0001", "interaction_id": REQUEST_ID,
        "response": 'Check the security group: "port 22" must allow your IP.\n\n```bash\n'
                    "aws ec2 describe-security-groups --group-ids sg-123 --query 'x'\n```\n"
                    "Path C:\\temp, </script>, café 😀",
        "response_type": "answer", "intent": "ec2_troubleshooting", "confidence": 0.87,
        "quality_score": 0.91, "template": {"id": "ec2_troubleshooting", "version": "v1"},
        "guardrail": {"action": "redact", "categories": ["email"]},
    },
    {
        "session_id": REQUEST_ID, "interaction_id": REQUEST_ID, "response": c.FALLBACK_MESSAGE,
        "response_type": "fallback", "intent": None, "confidence": None, "quality_score": None,
        "template": None, "guardrail": {"action": "allow", "categories": []},
    },
]


@pytest.mark.parametrize("workflow_response", WORKFLOW_RESPONSES, ids=["answer", "fallback"])
def test_succeeded_renders_exactly_the_workflow_response(
    integration_responses: list, workflow_response: dict[str, Any]
) -> None:
    reply = _sync_reply("SUCCEEDED", output=json.dumps(workflow_response),
                        outputDetails={"included": True})
    status, body = _respond(integration_responses, 200, reply)
    assert (status, body) == (200, workflow_response)


def _declared_statuses(query_method: dict[str, Any]) -> set[int]:
    return {int(r["StatusCode"]) for r in query_method["MethodResponses"]}


@pytest.mark.parametrize(
    ("execution_status", "http_status", "code"),
    [("FAILED", 500, "workflow_failed"), ("TIMED_OUT", 504, "workflow_timed_out"),
     ("ABORTED", 500, "workflow_failed")],
)
def test_failed_executions_render_a_json_error(
    integration_responses: list, query_method: dict[str, Any],
    execution_status: str, http_status: int, code: str,
) -> None:
    reply = _sync_reply(execution_status, error="States.Runtime",
                        cause='An error "with quotes" \\ and\nnewlines')
    status, body = _respond(integration_responses, 200, reply)
    assert status == http_status and status in _declared_statuses(query_method)
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code and body["error"]["request_id"] == REQUEST_ID
    assert "quotes" not in body["error"]["message"]  # the cause is not leaked to the client


@pytest.mark.parametrize("backend_status", [400, 403, 404, 413, 429, 500, 502, 503])
def test_start_sync_execution_api_errors_select_the_upstream_error(
    integration_responses: list, query_method: dict[str, Any], backend_status: int
) -> None:
    error = {"__type": "com.amazonaws.swf.service.v2.model#InvalidExecutionInput",
             "message": "Invalid input: \"quoted\""}
    status, body = _respond(integration_responses, backend_status, error)
    assert status == 500 and status in _declared_statuses(query_method)
    assert set(body["error"]) == ERROR_KEYS and body["error"]["code"] == "service_unavailable"
    assert body["error"]["request_id"] == REQUEST_ID


def test_success_is_not_caught_by_the_error_pattern(integration_responses: list) -> None:
    for response in integration_responses:
        pattern = response.get("SelectionPattern")
        if pattern:
            assert not re.fullmatch(pattern, "200")
    assert len([r for r in integration_responses if not r.get("SelectionPattern")]) == 1


def test_error_bodies_match_the_error_model(
    integration_responses: list, resources: Any, template_json: dict[str, Any]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    models = {m["Properties"]["Name"]: m["Properties"]["Schema"]
              for m in resources(template_json, "AWS::ApiGateway::Model").values()}
    for _status, body in (
        _respond(integration_responses, 200, _sync_reply("FAILED")),
        _respond(integration_responses, 200, _sync_reply("TIMED_OUT")),
        _respond(integration_responses, 400, {"message": "x"}),
    ):
        jsonschema.validate(body, models["Error"])
    for workflow_response in WORKFLOW_RESPONSES:
        _, body = _respond(integration_responses, 200, _sync_reply(
            "SUCCEEDED", output=json.dumps(workflow_response)))
        jsonschema.validate(body, models["QueryResponse"])
