"""Metric names the workflow's steps emit: the dashboard and alarms in ``stack/`` use the same strings.

A module of its own so that ``stack/constants.py`` and the handlers name a metric without
reaching into the step logic. The dimension, when there is one, is noted beside each name.
"""

from __future__ import annotations

METRIC_QUERIES = "Queries"  # dimension response_type
METRIC_GUARDRAIL_BLOCKS = "GuardrailBlocks"  # dimension category
METRIC_GUARDRAIL_REDACTIONS = "GuardrailRedactions"  # dimension category
METRIC_INTENT = "IntentDetected"  # dimension intent
METRIC_QUALITY_SCORE = "QualityScore"  # no dimension (alarm on the average)
METRIC_REGENERATIONS = "Regenerations"
METRIC_LATENCY = "WorkflowLatency"  # milliseconds from capture to collect
METRIC_OUTPUT_GUARDRAIL = "OutputGuardrailActions"  # dimension action
METRIC_UNUSABLE_ANSWERS = "UnusableAnswers"  # dimension reason: replaced by the fallback reply
METRIC_MODEL_UNAVAILABLE = "ModelUnavailable"  # the configured model cannot be invoked (alarmed)
