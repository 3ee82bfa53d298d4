"""analyze_feedback (scheduled): analyse the last hours of feedback and emit metrics.

The EventBridge rule sends ``{"window_hours": N}`` (``feedback.WINDOW_HOURS_KEY``, the name
the stack uses too); without it the window is ``FEEDBACK_WINDOW_HOURS``.
Returns the summary (``FeedbackAnalysis.to_dict()`` + ``window``).
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.feedback import WINDOW_HOURS_KEY
from pipeline.handlers import composition


@composition.lambda_handler(composition.WORKFLOW_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    services = composition.services()
    hours = event.get(WINDOW_HOURS_KEY) if isinstance(event, dict) else None
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
        hours = services.settings.feedback_window_hours
    summary = services.feedback_report.run(float(hours))
    composition.logger().info(
        "feedback analysed",
        extra={
            k: summary[k] for k in ("window", "records", "explicit", "csat", "low_rated_templates")
        },
    )
    return summary
