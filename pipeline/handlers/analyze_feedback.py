"""analyze_feedback (scheduled): analyse the last hours of feedback and emit metrics.

The EventBridge rule sends ``{"window_hours": N}`` (``feedback.WINDOW_HOURS_KEY``, the name
the stack uses too); without it the window is ``FEEDBACK_WINDOW_HOURS``. ``"windows_hours":
[24, 168]`` adds more windows to the segment tables. Experiment verdicts look back
``EXPERIMENT_WINDOW_HOURS``. Returns the summary (``FeedbackReport.run``), which is also
written to ``FEEDBACK_SUMMARY_BUCKET`` when that is set.
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.feedback import WINDOW_HOURS_KEY, WINDOWS_HOURS_KEY
from pipeline.handlers import composition


@composition.lambda_handler(composition.WORKFLOW_CORRELATION)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    services = composition.services()
    hours = event.get(WINDOW_HOURS_KEY) if isinstance(event, dict) else None
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
        hours = services.settings.feedback_window_hours
    extra = event.get(WINDOWS_HOURS_KEY) if isinstance(event, dict) else None
    windows = [
        float(w) for w in (extra if isinstance(extra, list) else [])
        if not isinstance(w, bool) and isinstance(w, int | float) and 0 < w <= 24 * 90
    ]
    summary = services.feedback_report.run(float(hours), windows=windows)
    composition.logger().info(
        "feedback analysed",
        extra={
            **{k: summary[k] for k in ("window", "records", "explicit", "csat", "low_rated_templates")},
            "experiments": {e["experiment_id"]: e["recommendation"] for e in summary["experiments"]},
        },
    )
    return summary
