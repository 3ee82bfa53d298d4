"""DetectIntent: the intent of the redacted query, with history, and its route.

Reads ``$.capture``; returns ``$.intent`` = ``IntentResult.to_dict()`` + ``route``.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.workflow.errors import WorkflowInputError
from pipeline.domain.workflow.state import Capture
from pipeline.handlers import composition


@composition.lambda_handler(composition.WORKFLOW_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or not isinstance(event.get("capture"), dict):
        raise WorkflowInputError("$.capture must be an object")
    capture = Capture.from_dict(event["capture"])
    intent = composition.services().intent.detect(capture)
    composition.logger().info(
        "intent detected",
        extra={
            "interaction_id": capture.interaction_id,
            "intent": intent["intent"],
            "confidence": intent["confidence"],
            "route": intent["route"],
        },
    )
    return intent
