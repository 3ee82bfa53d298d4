"""``POST /feedback`` (API Gateway Lambda proxy): store explicit feedback.

Body ``{session_id, interaction_id, rating (1-5) | thumbs ("up"|"down"), comment?,
feedback_id?}`` (strict JSON: duplicate keys are 400); the comment is stored redacted.
The header ``X-Session-Token`` must own the session (403, or 404 for a session never
issued) before anything is read or written, wherever a session key is configured
(``SESSION_KEY_SECRET_ARN`` / ``SESSION_KEY_FILE``; see composition). 201 ``{"feedback_id"}``; the same
``feedback_id`` again is 200 with the original id and writes nothing. Errors are
``{"error": {"code", "message", "request_id"}}`` (api/openapi.yaml).
"""

from __future__ import annotations

from typing import Any

from pipeline.handlers import composition


@composition.lambda_handler(composition.API_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req_id = composition.request_id(event, context)
    try:
        from pipeline.domain.api_contract import check_session_id

        body = composition.json_body(event)
        services = composition.services()
        authority = services.session_authority
        if authority is not None and isinstance(body, dict) and "session_id" in body:
            authority.authorize(
                check_session_id(body["session_id"]), composition.header(event, "X-Session-Token")
            )
        record, created = services.feedback_intake.submit_once(body)
    except Exception as error:  # noqa: BLE001 - mapped to a status in one place
        return composition.api_error(error, req_id)
    composition.logger().info(
        "feedback stored" if created else "feedback replayed",
        extra={
            "feedback_id": record.feedback_id,
            "request_id": req_id,
            "comment_chars": len(record.comment or ""),
        },
    )
    return composition.api_response(201 if created else 200, {"feedback_id": record.feedback_id})
