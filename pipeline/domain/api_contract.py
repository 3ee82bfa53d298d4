"""The REST API's contract in code: limits, patterns, error codes and request parsing.

``api/openapi.yaml`` is the contract; this module is what every entry point (the API
handlers, the local server, the local workflow and ``python -m pipeline ask``) validates
with, so they all reject the same inputs with the same codes. ``tests/unit/domain/
test_api_contract.py`` checks these constants against the document, so they cannot drift.

Parsing is strict where Python's ``json`` is lenient: duplicate keys are rejected (not
last-wins), nesting is bounded (no ``RecursionError``), huge integers are rejected before
``int()`` runs (no ``ValueError: Exceeds the limit``) and non-finite numbers (``NaN``) are
not JSON.

Example:
    >>> request = parse_query_request(b'{"query": "my ec2 instance is down"}')
    >>> request.query
    'my ec2 instance is down'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SESSION_ID_RE = re.compile(r"[A-Za-z0-9-]{8,64}")
INTERACTION_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
USER_ID_RE = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9._:-]{8,128}")
QUERY_MIN_CHARS = 1
QUERY_MAX_CHARS = 4000
COMMENT_MAX_CHARS = 2000
MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 100

#: Every error code any layer answers with (lower_snake_case; the document's ErrorCode).
ERROR_CODES = (
    "invalid_json",
    "duplicate_key",
    "validation_error",
    "unauthorized_session",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "idempotency_conflict",
    "conflict",
    "payload_too_large",
    "unsupported_media_type",
    "client_error",
    "throttled",
    "internal_error",
    "workflow_failed",
    "service_unavailable",
    "workflow_timed_out",
)


class ContractError(ValueError):
    """A request breaks the contract: an HTTP status, a code from :data:`ERROR_CODES`.

    ``field`` names the offending field (or ``body`` / a header name).
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def validation_error(field: str, message: str) -> ContractError:
    return ContractError(400, "validation_error", f"{field}: {message}", field)


# ---------------------------------------------------------------------------
# Strict JSON
# ---------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ContractError(400, "duplicate_key", f"{_printable(key)}: duplicate key", key)
        seen[key] = value
    return seen


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ContractError(400, "invalid_json", f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ContractError(400, "invalid_json", f"{name} is not valid JSON")


def _nesting_depth_exceeds(text: str, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (strings skipped): linear, no recursion."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _printable(text: str, limit: int = 60) -> str:
    """A field name or value safe to put in an error message or a log line."""
    clipped = text if len(text) <= limit else text[:limit] + "…"
    return json.dumps(clipped, ensure_ascii=True)[1:-1]


def strict_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode JSON the contract's way; :class:`ContractError` (400) on anything else.

    Rejects invalid UTF-8, a BOM, lone surrogates in the text, duplicate keys, nesting
    deeper than ``max_depth``, integers over :data:`MAX_INT_DIGITS` digits, NaN/Infinity.
    """
    if isinstance(raw, bytes):
        if raw.startswith(b"\xef\xbb\xbf"):
            raise ContractError(400, "invalid_json", "the body starts with a byte order mark")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ContractError(
                400, "invalid_json", f"the body is not valid UTF-8 (byte {error.start})"
            ) from None
    else:
        text = raw
    if _nesting_depth_exceeds(text, max_depth):
        raise ContractError(400, "invalid_json", f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as error:
        raise ContractError(
            400, "invalid_json", f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
        ) from None
    except RecursionError:  # pragma: no cover - the depth check runs first
        raise ContractError(400, "invalid_json", "JSON nested too deeply") from None
    _check_surrogates(value)
    return value


def _check_surrogates(value: Any) -> None:
    """JSON ``"\\ud800"`` escapes decode to lone surrogates, which cannot be stored or printed."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                raise ContractError(400, "invalid_json", "a string holds a lone surrogate (\\ud800-\\udfff)")
        elif isinstance(item, dict):
            for key, child in item.items():
                if _has_surrogate(key):
                    raise ContractError(400, "invalid_json", "a key holds a lone surrogate")
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


# ---------------------------------------------------------------------------
# Field validators
# ---------------------------------------------------------------------------


def check_session_id(value: Any, field: str = "session_id") -> str:
    if not isinstance(value, str) or not SESSION_ID_RE.fullmatch(value):
        raise validation_error(field, "must be 8-64 characters of A-Z, a-z, 0-9 and '-'")
    return value


def check_query(value: Any, field: str = "query") -> str:
    if not isinstance(value, str):
        raise validation_error(field, "must be a string")
    if _has_surrogate(value):
        raise validation_error(field, "holds a lone surrogate")
    if not QUERY_MIN_CHARS <= len(value) <= QUERY_MAX_CHARS:
        raise validation_error(
            field, f"must be {QUERY_MIN_CHARS} to {QUERY_MAX_CHARS} characters (got {len(value)})"
        )
    if not value.strip():
        raise validation_error(field, "must not be only whitespace")
    return value


def check_user_id(value: Any, field: str = "user_id") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not USER_ID_RE.fullmatch(value):
        raise validation_error(field, "must be 1-128 characters of A-Z, a-z, 0-9 and '._:@-'")
    return value


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not IDEMPOTENCY_KEY_RE.fullmatch(value):
        raise validation_error("Idempotency-Key", "must be 8-128 characters of A-Z, a-z, 0-9 and '._:-'")
    return value


@dataclass(frozen=True, slots=True)
class QueryRequest:
    """A validated ``POST /query`` body."""

    query: str
    session_id: str | None = None
    user_id: str | None = None


QUERY_FIELDS = frozenset({"query", "session_id", "user_id"})


def query_request_from(body: Any) -> QueryRequest:
    """Validate a decoded ``POST /query`` body (unknown fields are rejected)."""
    if not isinstance(body, dict):
        raise validation_error("body", "must be a JSON object")
    unknown = sorted(set(body) - QUERY_FIELDS)
    if unknown:
        raise validation_error(_printable(unknown[0]), "is not a known field")
    if "query" not in body:
        raise validation_error("query", "is required")
    query = check_query(body["query"])
    session_id = body.get("session_id")
    if session_id is not None:
        check_session_id(session_id)
    return QueryRequest(query, session_id, check_user_id(body.get("user_id")))


def parse_query_request(raw: bytes | str) -> QueryRequest:
    """Strict JSON, then :func:`query_request_from`."""
    return query_request_from(strict_json(raw))


def error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message", "request_id"}}``."""
    return {"error": {"code": code, "message": message, "request_id": request_id}}
