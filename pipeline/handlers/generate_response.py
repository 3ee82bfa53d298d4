"""GenerateResponse / Clarify / Escalate: one generation for a mode.

Called two ways (docs/workflow-contract.md): with the whole state (``mode`` answer), or
with ``{"state": <state>, "mode": "answer"|"clarification"|"escalation"}``. Returns
``$.generation`` = ``Generation.to_dict()`` + ``output_guardrail``.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.workflow.errors import WorkflowInputError
from pipeline.domain.workflow.metrics import METRIC_MODEL_UNAVAILABLE
from pipeline.handlers import composition
from pipeline.ports import ModelUnavailableError


@composition.lambda_handler(composition.WORKFLOW_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise WorkflowInputError("the event must be an object")
    state = event["state"] if isinstance(event.get("state"), dict) else event
    mode = event.get("mode") or "answer"
    services = composition.services()
    try:
        generation = services.generation.generate(state, mode=mode)
    except ModelUnavailableError as error:
        # Not a bad answer but a deployment problem (end of life, no model access): counted
        # and alarmed, then raised under its own name; the workflow's Catch falls back.
        services.metrics.put_metric(METRIC_MODEL_UNAVAILABLE, 1, "Count")
        services.metrics.flush()
        composition.logger().error("model unavailable", extra={"error": str(error)[:300]})
        raise
    composition.logger().info(
        "response generated",
        extra={
            "mode": mode,
            "template": f"{generation['template_id']}@{generation['template_version']}",
            "attempt": generation["attempt"],
            "response_chars": len(generation["text"]),
            "output_guardrail": generation["output_guardrail"],
        },
    )
    return generation
