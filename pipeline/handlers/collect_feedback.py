"""CollectFeedback: store the reply in the turn, record implicit feedback, respond.

Reads the whole state; returns the response shape of docs/workflow-contract.md.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.workflow.errors import WorkflowInputError
from pipeline.handlers import composition


@composition.lambda_handler(composition.WORKFLOW_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise WorkflowInputError("the event must be an object")
    response = composition.services().collection.collect(event)
    composition.logger().info(
        "interaction completed",
        extra={
            "session_id": response["session_id"],
            "interaction_id": response["interaction_id"],
            "response_type": response["response_type"],
            "intent": response["intent"],
            "quality_score": response["quality_score"],
        },
    )
    return response
