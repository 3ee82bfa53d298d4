"""``GET /sessions/{session_id}`` (API Gateway Lambda proxy): the session's redacted turns.

``?limit=N`` (1-1000, default 100) returns the last N turns, oldest first; 404 when the
session has no turns. Turns hold only redacted text, so they are safe to return. In AWS the
route is behind IAM; the local server checks ``X-Session-Token`` before calling this.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.domain.api_contract import check_session_id
from pipeline.handlers import composition

_LIMIT = re.compile(r"[0-9]{1,4}")


@composition.lambda_handler(composition.API_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req_id = composition.request_id(event, context)
    try:
        session_id = (event.get("pathParameters") or {}).get("session_id") or ""
        limit = (event.get("queryStringParameters") or {}).get("limit") or "100"
        check_session_id(session_id)
        if not isinstance(limit, str) or not _LIMIT.fullmatch(limit) or not 1 <= int(limit) <= 1000:
            raise composition.ApiError(
                400, "validation_error", "limit: must be an integer from 1 to 1000"
            )
        turns = composition.services().conversations.recent_turns(session_id, int(limit))
        if not turns:
            raise composition.ApiError(404, "not_found", f"session {session_id} not found")
    except Exception as error:  # noqa: BLE001 - mapped to a status in one place
        return composition.api_error(error, req_id)
    return composition.api_response(
        200, {"session_id": session_id, "turns": [t.to_dict() for t in turns]}
    )
