"""API Gateway (Lambda proxy) requests and responses for the API handlers, with every
error mapped to the public error shape in one place.

Split out of :mod:`pipeline.handlers.composition` (which re-exports these names).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from pipeline.domain.api_contract import ContractError
from pipeline.domain.workflow.errors import (
    RecordExistsError,
    RecordNotFoundError,
    WorkflowInputError,
)
from pipeline.handlers.observability import logger


class ApiError(ContractError):
    """An error with an HTTP status and a code from the contract's ``ERROR_CODES``."""


def request_id(event: Mapping[str, Any], context: Any) -> str:
    """API Gateway's request id, else the Lambda request id, else ``"unknown"``."""
    ctx = event.get("requestContext") if isinstance(event, Mapping) else None
    if isinstance(ctx, Mapping) and ctx.get("requestId"):
        return str(ctx["requestId"])
    return str(getattr(context, "aws_request_id", None) or "unknown")


def json_body(event: Mapping[str, Any]) -> Any:
    """The strictly decoded JSON body of a Lambda-proxy event (the contract's rules).

    Raises :class:`~pipeline.domain.api_contract.ContractError` (400/413): no body, a body
    over 64 KiB, invalid UTF-8 or JSON, duplicate keys, excessive nesting.
    """
    from pipeline.domain.api_contract import strict_json

    return strict_json(raw_body(event))


def raw_body(event: Mapping[str, Any]) -> bytes | str:
    """The body of a Lambda-proxy event as sent (base64 decoded), at most 64 KiB (else 413)."""
    from pipeline.domain.api_contract import MAX_BODY_BYTES, ContractError

    body = event.get("body")
    if body is None:
        raise ContractError(400, "validation_error", "body: the request needs a JSON body", "body")
    if event.get("isBase64Encoded"):
        import base64
        import binascii

        try:
            raw: bytes | str = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ContractError(400, "invalid_json", "the body is not valid base64") from None
    else:
        raw = body if isinstance(body, str) else str(body)
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise ContractError(413, "payload_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    return raw


def received_at_ms(event: Mapping[str, Any]) -> int | None:
    """API Gateway's receipt of the request (``requestContext.requestTimeEpoch``, epoch ms)."""
    ctx = event.get("requestContext") if isinstance(event, Mapping) else None
    value = ctx.get("requestTimeEpoch") if isinstance(ctx, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def headers_of(event: Mapping[str, Any]) -> dict[str, str]:
    """The string-valued request headers of a Lambda-proxy event."""
    headers = event.get("headers") or {}
    if not isinstance(headers, Mapping):
        return {}
    return {k: v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)}


#: API Gateway ends a REST integration 29 s after its receipt of the request.
API_GATEWAY_TIMEOUT_MS = 29_000


def seconds_left(context: Any, received_at_ms: int | None = None, margin_seconds: float = 2.0) -> float:
    """Time this request may still use, less a margin: the invocation's remaining time, and
    API Gateway's 29 s from ``received_at_ms`` (0 without a Lambda context)."""
    import time

    remaining = getattr(context, "get_remaining_time_in_millis", None)
    left = remaining() / 1000.0 if callable(remaining) else 0.0
    if received_at_ms is not None:
        left = min(left, (received_at_ms + API_GATEWAY_TIMEOUT_MS) / 1000.0 - time.time())
    return max(0.0, left - margin_seconds)


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header of a Lambda-proxy event, matched case-insensitively."""
    wanted = name.lower()
    return next((v for k, v in headers_of(event).items() if k.lower() == wanted), None)


def api_response(status: int, payload: Any) -> dict[str, Any]:
    """A Lambda-proxy response; with a proxy integration the CORS header is ours to send
    (``CORS_ALLOW_ORIGIN``, set by the stack on the API functions)."""
    headers = {"Content-Type": "application/json"}
    origin = os.environ.get("CORS_ALLOW_ORIGIN")
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return {"statusCode": status, "headers": headers, "body": json.dumps(payload, separators=(",", ":"))}


def api_error(error: Exception, req_id: str) -> dict[str, Any]:
    """Map any exception to ``{"error": {"code", "message", "request_id"}}`` and a status."""
    from pipeline.domain.api_contract import error_body
    from pipeline.domain.feedback import FeedbackConflictError, FeedbackValidationError

    if isinstance(error, ContractError):
        status, code, message = error.status, error.code, error.message
    elif isinstance(error, FeedbackConflictError):
        status, code, message = 409, "conflict", str(error)
    elif isinstance(error, FeedbackValidationError):
        status, code, message = 400, "validation_error", str(error)
    elif isinstance(error, RecordNotFoundError):
        status, code, message = 404, "not_found", str(error)
    elif isinstance(error, RecordExistsError):
        status, code, message = 409, "conflict", str(error)
    elif isinstance(error, WorkflowInputError):
        status, code, message = 400, "validation_error", str(error)
    else:
        # The message of an unexpected error may hold anything: log the type, reply generically.
        logger().exception(
            "unhandled error", extra={"error_type": type(error).__name__, "request_id": req_id}
        )
        status, code, message = 500, "internal_error", "an internal error occurred"
    return api_response(status, error_body(code, message, req_id))
