"""CaptureUserQuery: scan the query, store the redacted turn, decide whether to block.

Reads ``query``, ``session_id``, ``interaction_id``, ``user_id``; returns ``$.capture``
(docs/workflow-contract.md). The raw query is dropped here: only lengths are logged.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.workflow.state import WorkflowInput
from pipeline.handlers import composition


@composition.lambda_handler(composition.WORKFLOW_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = WorkflowInput.from_dict(event)
    capture = composition.services().capture.capture(request)
    composition.logger().info(
        "query captured",
        extra={
            "session_id": capture.session_id,
            "interaction_id": capture.interaction_id,
            "turn_index": capture.turn_index,
            "query_chars": len(request.query),
            "guardrail": capture.guardrail,
        },
    )
    return capture.to_dict()
