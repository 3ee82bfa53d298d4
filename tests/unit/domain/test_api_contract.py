"""The contract in code (pipeline/domain/api_contract.py) against api/openapi.yaml, and the
strict request parser against hostile input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import api_contract as c
from pipeline.domain.feedback import FEEDBACK_ID_PATTERN, MAX_COMMENT_CHARS, SESSION_ID_PATTERN

DOCUMENT = yaml.safe_load((Path(__file__).resolve().parents[3] / "api" / "openapi.yaml").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]


def test_limits_and_patterns_match_the_document() -> None:
    query = SCHEMAS["QueryRequest"]["properties"]["query"]
    assert (query["minLength"], query["maxLength"]) == (c.QUERY_MIN_CHARS, c.QUERY_MAX_CHARS)
    assert SCHEMAS["SessionId"]["pattern"] == "^" + c.SESSION_ID_RE.pattern + "$"
    assert SESSION_ID_PATTERN.pattern == SCHEMAS["SessionId"]["pattern"]
    assert SCHEMAS["QueryRequest"]["properties"]["user_id"]["pattern"].strip("^$+") in c.USER_ID_RE.pattern
    feedback = SCHEMAS["FeedbackRequest"]["properties"]
    assert feedback["comment"]["maxLength"] == MAX_COMMENT_CHARS == c.COMMENT_MAX_CHARS
    assert feedback["feedback_id"]["pattern"] == FEEDBACK_ID_PATTERN.pattern
    assert feedback["interaction_id"]["pattern"] == "^" + c.INTERACTION_ID_RE.pattern + "$"
    idem = DOCUMENT["components"]["parameters"]["IdempotencyKey"]["schema"]["pattern"]
    assert idem == "^" + c.IDEMPOTENCY_KEY_RE.pattern + "$"
    assert set(SCHEMAS["QueryRequest"]["properties"]) == set(c.QUERY_FIELDS)


def test_one_error_code_scheme_everywhere() -> None:
    assert tuple(SCHEMAS["ErrorCode"]["enum"]) == c.ERROR_CODES
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in c.ERROR_CODES)
    with pytest.raises(ValueError):
        c.ContractError(400, "INVALID_REQUEST", "upper case is not a code")


def test_every_operation_documents_its_errors_with_the_error_schema() -> None:
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    name = response["$ref"].rsplit("/", 1)[1]
                    schema = DOCUMENT["components"]["responses"][name]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"query": "a", "query": "b"}', "duplicate_key"),
        (b'{"query": {"x": 1, "x": 2}}', "duplicate_key"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        (b'{"n": ' + b"9" * 5000 + b"}", "invalid_json"),
        (b'{"query": NaN}', "invalid_json"),
        (b'\xef\xbb\xbf{"query": "x"}', "invalid_json"),
        (b'{"query": "\\ud800"}', "invalid_json"),
        (b'{"query": "\xff"}', "invalid_json"),
        (b"", "invalid_json"),
    ],
)
def test_strict_json_rejects_what_json_loads_accepts_or_crashes_on(raw: bytes, code: str) -> None:
    with pytest.raises(c.ContractError) as caught:
        c.strict_json(raw)
    assert (caught.value.status, caught.value.code) == (400, code)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   \n"}, "query"),
        ({"query": "x" * 4001}, "query"),
        ({"query": 5}, "query"),
        ({}, "query"),
        ({"query": "hi", "session_id": "../../x"}, "session_id"),
        ({"query": "hi", "session_id": "has space1"}, "session_id"),
        ({"query": "hi", "session_id": "line\nbreak1"}, "session_id"),
        ({"query": "hi", "session_id": ""}, "session_id"),
        ({"query": "hi", "session_id": "a" * 5000}, "session_id"),
        ({"query": "hi", "user_id": "x y"}, "user_id"),
        ({"query": "hi", "extra": 1}, "extra"),
        ([], "body"),
    ],
)
def test_query_request_names_the_bad_field(body: object, field: str) -> None:
    with pytest.raises(c.ContractError) as caught:
        c.query_request_from(body)
    assert caught.value.code == "validation_error" and caught.value.field == field
    assert caught.value.message.startswith(field)


def test_query_boundaries_are_accepted() -> None:
    assert c.query_request_from({"query": "x"}).query == "x"
    request = c.query_request_from({"query": "x" * 4000, "session_id": "a" * 64, "user_id": "u@x.io"})
    assert len(request.query) == 4000 and request.session_id == "a" * 64


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_a_value_or_a_400_never_a_crash(raw: bytes) -> None:
    try:
        c.parse_query_request(raw)
    except c.ContractError as error:
        assert error.status == 400 and error.code in c.ERROR_CODES
        assert "\n" not in error.message  # a message cannot forge a log line


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids), max_leaves=20))
def test_strict_json_agrees_with_json_on_ordinary_documents(value: object) -> None:
    text = json.dumps(value)
    try:
        decoded = c.strict_json(text)
    except c.ContractError:
        return  # lone surrogates or huge integers: refused on purpose
    assert decoded == json.loads(text)
