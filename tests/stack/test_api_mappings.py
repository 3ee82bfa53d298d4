"""API Gateway's own error responses (GatewayResponse templates), taken from the
SYNTHESIZED template and rendered offline.

``POST /query`` is a Lambda proxy now (the ``query_api`` handler answers its own errors);
what API Gateway still renders itself are its gateway responses: a body that fails the
model, a missing API key, throttling, an unknown route, a 5xx. Each must render into the
one error shape ``{"error": {"code", "message", "request_id"}}`` with the document's codes.
A wrong quote in those Velocity strings is invisible to the stack's property tests, so here
they are *executed*.

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
#: $context.error: messageString is already a quoted JSON string; validationErrorString is
#: not (API Gateway's examples quote it), and may hold quotes and backslashes.
ERROR_CONTEXT = {
    "messageString": json.dumps('Forbidden "x" \\ y'),
    "validationErrorString": "[instance failed to match pattern ^[A-Za-z0-9-]{8,64}$]",
}


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
        "error": dict(ERROR_CONTEXT),
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
# The gateway responses, from the synthesized CloudFormation
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_responses(resources: Any, template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["Properties"]["ResponseType"]: g["Properties"]
            for g in resources(template_json, "AWS::ApiGateway::GatewayResponse").values()}


def test_every_gateway_response_the_api_defines_is_synthesized(gateway_responses: dict) -> None:
    assert set(gateway_responses) == {t.response_type for t, *_ in api_module.GATEWAY_RESPONSES}


@pytest.mark.parametrize("entry", api_module.GATEWAY_RESPONSES, ids=lambda e: e[0].response_type)
def test_gateway_responses_render_the_error_shape(
    entry: tuple, gateway_responses: dict, resources: Any, template_json: dict[str, Any]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    response_type, code, status, _message = entry
    props = gateway_responses[response_type.response_type]
    output, _ = render(props["ResponseTemplates"][JSON_CT], "{}")
    body = json.loads(output)
    assert set(body["error"]) == ERROR_KEYS and body["error"]["code"] == code
    assert body["error"]["request_id"] == REQUEST_ID
    assert body["error"]["message"] in (json.loads(ERROR_CONTEXT["messageString"]),
                                        ERROR_CONTEXT["validationErrorString"], "no such route")
    models = {m["Properties"]["Name"]: m["Properties"]["Schema"]
              for m in resources(template_json, "AWS::ApiGateway::Model").values()}
    jsonschema.validate(body, models["Error"])
    assert props.get("StatusCode") == status
