"""``POST /query`` (API Gateway Lambda proxy): the same service the local server runs.

:class:`~pipeline.domain.query_api.QueryApi` parses the body strictly, checks or issues the
session token (``X-Session-Token``; key from Secrets Manager), applies the per-session limit
(429), claims the ``Idempotency-Key`` in DynamoDB (a retry gets the first answer, or 409
while the first is still running past this invocation's time) and starts the Express
workflow with ``StartSyncExecution`` (execution name derived from the key). Errors are
``{"error": {"code", "message", "request_id"}}`` (api/openapi.yaml).
"""

from __future__ import annotations

from typing import Any

from pipeline.handlers import composition


@composition.lambda_handler(composition.API_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req_id = composition.request_id(event, context)
    try:
        received = composition.received_at_ms(event)
        api = composition.services().query_api(
            received_at_ms=received, wait_seconds=composition.seconds_left(context, received)
        )
        status, payload = api.handle(composition.raw_body(event), composition.headers_of(event), req_id)
    except Exception as error:  # noqa: BLE001 - mapped to a status in one place
        return composition.api_error(error, req_id)
    composition.logger().info(
        "query answered",
        extra={"status": status, "request_id": req_id, "response_type": payload.get("response_type")},
    )
    return composition.api_response(status, payload)
