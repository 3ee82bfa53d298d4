"""ValidateQuality: score the generated answer and decide whether to regenerate.

Reads ``$.capture``, ``$.intent``, ``$.generation``; returns ``$.quality`` =
``QualityReport.to_dict()`` + ``retry`` + ``attempt`` + ``unusable`` / ``unusable_reasons``
(CheckQuality replaces an unusable answer that is not regenerated with the fallback reply).
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.workflow.errors import WorkflowInputError
from pipeline.handlers import composition


@composition.lambda_handler(composition.WORKFLOW_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise WorkflowInputError("the event must be an object")
    quality = composition.services().quality.validate(event)
    composition.logger().info(
        "quality validated",
        extra={
            "score": quality["score"],
            "passed": quality["passed"],
            "attempt": quality["attempt"],
            "retry": quality["retry"],
            "unusable_reasons": quality.get("unusable_reasons"),
        },
    )
    return quality
