"""The workflow's step services: what each Step Functions task does, over the ports.

Each service is the whole logic of one Lambda (``pipeline/handlers``); the handler only
parses the event and calls it. The state keys each step reads and writes are defined in
``docs/workflow-contract.md`` and mirrored by the ``to_dict`` helpers in :mod:`.state`, so
the state machine and the code cannot disagree silently.

The services receive their collaborators (guardrail functions, intent detector, response
generator, quality validator, stores, metrics, clock) from the composition root; this
package imports no other domain service, so it stays importable and testable with fakes.

Modules, one per concern: :mod:`.state` (the state records and their (de)serialisation,
ROUTES and MODES), :mod:`.errors`, :mod:`.metrics` (metric names), :mod:`.collaborators`
(the protocols the steps use), :mod:`.history` (the session's earlier turns), one module per
step (:mod:`.capture_step`, :mod:`.intent_step`, :mod:`.generation_step`,
:mod:`.quality_step`, :mod:`.feedback_step`) and :mod:`.response` (the response shape every
path returns). This package re-exports their public names.

Example:
    >>> capture = QueryCapture(conversations, clock, input_guard=scan_input)  # doctest: +SKIP
    >>> capture.capture(WorkflowInput.from_dict(event)).to_dict()  # doctest: +SKIP
"""

from __future__ import annotations

from pipeline.domain.workflow.capture_step import QueryCapture
from pipeline.domain.workflow.collaborators import (
    ExperimentAssigning,
    Guard,
    IntentDetecting,
    QualityValidating,
    ResponseGenerating,
    VariantAssignment,
)
from pipeline.domain.workflow.errors import (
    RecordExistsError,
    RecordNotFoundError,
    WorkflowInputError,
)
from pipeline.domain.workflow.feedback_step import (
    FeedbackCollection,
    budget_decision,
    implicit_feedback_id,
    replaced_answer_reasons,
)
from pipeline.domain.workflow.generation_step import GenerationStep
from pipeline.domain.workflow.intent_step import IntentStep
from pipeline.domain.workflow.metrics import (
    METRIC_GUARDRAIL_BLOCKS,
    METRIC_GUARDRAIL_REDACTIONS,
    METRIC_INTENT,
    METRIC_LATENCY,
    METRIC_MODEL_UNAVAILABLE,
    METRIC_OUTPUT_GUARDRAIL,
    METRIC_QUALITY_SCORE,
    METRIC_QUERIES,
    METRIC_REGENERATIONS,
    METRIC_UNUSABLE_ANSWERS,
)
from pipeline.domain.workflow.quality_step import QualityStep
from pipeline.domain.workflow.response import build_response
from pipeline.domain.workflow.state import (
    MODES,
    ROUTES,
    Capture,
    WorkflowInput,
    generation_from_state,
    intent_from_state,
    intent_to_state,
)

__all__ = [
    "METRIC_GUARDRAIL_BLOCKS",
    "METRIC_GUARDRAIL_REDACTIONS",
    "METRIC_INTENT",
    "METRIC_LATENCY",
    "METRIC_MODEL_UNAVAILABLE",
    "METRIC_OUTPUT_GUARDRAIL",
    "METRIC_QUALITY_SCORE",
    "METRIC_QUERIES",
    "METRIC_REGENERATIONS",
    "METRIC_UNUSABLE_ANSWERS",
    "MODES",
    "ROUTES",
    "Capture",
    "ExperimentAssigning",
    "FeedbackCollection",
    "GenerationStep",
    "Guard",
    "IntentDetecting",
    "IntentStep",
    "QualityStep",
    "QualityValidating",
    "QueryCapture",
    "RecordExistsError",
    "RecordNotFoundError",
    "ResponseGenerating",
    "VariantAssignment",
    "WorkflowInput",
    "WorkflowInputError",
    "budget_decision",
    "build_response",
    "generation_from_state",
    "implicit_feedback_id",
    "intent_from_state",
    "intent_to_state",
    "replaced_answer_reasons",
]
