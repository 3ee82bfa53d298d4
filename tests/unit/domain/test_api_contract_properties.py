"""Property tests of the request parser (pipeline/domain/api_contract.py) and of the
server's log lines, against hostile input: deep JSON, huge strings, invalid UTF-8,
control characters and newlines, session ids with path characters. The example-based
cases (and random bytes) are in test_api_contract.py."""

from __future__ import annotations

import io
import json
import logging
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import api_contract as c

SESSION_ID = re.compile(r"[A-Za-z0-9-]{8,64}")  # the document's pattern, restated
HOSTILE_TEXT = st.lists(st.characters(codec="utf-8") | st.sampled_from(
    ["\n", "\r", "\u2028", "\x00", "\x1b", "/", "..", "%2F", "\\", '"', "{", "}", "-", "a1"]),
    max_size=80).map("".join)


def _outcome(raw: bytes | str) -> c.QueryRequest | c.ContractError:
    try:
        return c.parse_query_request(raw)
    except c.ContractError as error:
        assert error.status == 400 and error.code in c.ERROR_CODES
        assert not re.search(r"[\x00-\x1f\x7f\u2028\u2029]", error.message), error.message
        return error


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 200_000), opener=st.sampled_from(["[", '{"a":', '{"query":[']))
def test_deep_json_is_a_400_never_a_crash(depth: int, opener: str) -> None:
    closer = {"[": "]", '{"a":': "}", '{"query":[': "]}"}[opener]
    outcome = _outcome(opener * depth + "1" + closer * depth)
    assert isinstance(outcome, c.ContractError)


@settings(max_examples=80, deadline=None)
@given(length=st.integers(0, 70_000), char=st.sampled_from(["a", " ", "é", "\U0001f600", "\n"]))
def test_a_query_is_accepted_exactly_when_it_has_1_to_4000_characters(length: int, char: str) -> None:
    text = char * length
    outcome = _outcome(json.dumps({"query": text}))
    if text.strip() and length <= 4000:
        assert isinstance(outcome, c.QueryRequest) and outcome.query == text
    else:
        assert isinstance(outcome, c.ContractError) and outcome.field == "query"


@settings(max_examples=300, deadline=None)
@given(session_id=HOSTILE_TEXT | st.from_regex(SESSION_ID, fullmatch=True))
def test_a_session_id_is_accepted_exactly_when_it_matches_the_pattern(session_id: str) -> None:
    outcome = _outcome(json.dumps({"query": "hi", "session_id": session_id}))
    if SESSION_ID.fullmatch(session_id):
        assert isinstance(outcome, c.QueryRequest) and outcome.session_id == session_id
    else:
        assert isinstance(outcome, c.ContractError)


@settings(max_examples=200, deadline=None)
@given(prefix=st.binary(max_size=40), junk=st.binary(min_size=1, max_size=40))
def test_invalid_utf8_inside_a_string_is_a_400(prefix: bytes, junk: bytes) -> None:
    raw = b'{"query": "' + prefix.replace(b'"', b"") + junk.replace(b'"', b"") + b'"}'
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        outcome = _outcome(raw)
        assert isinstance(outcome, c.ContractError) and outcome.code == "invalid_json"
    else:
        _outcome(raw)  # valid UTF-8: a value or a 400, never an exception


@settings(max_examples=200, deadline=None)
@given(value=HOSTILE_TEXT, key=HOSTILE_TEXT)
def test_user_text_cannot_forge_a_server_log_line(value: str, key: str) -> None:
    from pipeline.local.server import _JsonLines

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_JsonLines())
    log = logging.getLogger("test.forge")
    log.handlers[:] = [handler]
    log.propagate = False
    log.warning("access", extra={"fields": {"type": "access", "path": value, key or "k": value}})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1  # str.splitlines() also splits on \r, \x1c-\x1e, \x85, \u2028 …
    assert json.loads(lines[0])["path"] == value
