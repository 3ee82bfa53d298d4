"""``POST /feedback`` (API Gateway Lambda proxy): store explicit feedback.

Body ``{session_id, interaction_id, rating (1-5) | thumbs ("up"|"down"), comment?}``;
the comment is stored redacted. 201 ``{"feedback_id"}``; errors are
``{"error": {"code", "message", "request_id"}}`` with 400, 404 or 500.
"""

from __future__ import annotations

from typing import Any

from pipeline.handlers import composition


@composition.lambda_handler(composition.API_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req_id = composition.request_id(event, context)
    try:
        record = composition.services().feedback_intake.submit(composition.json_body(event))
    except Exception as error:  # noqa: BLE001 - mapped to a status in one place
        return composition.api_error(error, req_id)
    composition.logger().info(
        "feedback stored",
        extra={
            "feedback_id": record.feedback_id,
            "request_id": req_id,
            "comment_chars": len(record.comment or ""),
        },
    )
    return composition.api_response(201, {"feedback_id": record.feedback_id})
