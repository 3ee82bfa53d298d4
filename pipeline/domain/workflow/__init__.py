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
path returns). This package re-exports their public names, each module imported the first
time one of its names is used (PEP 562 ``__getattr__``): a handler that needs only the state
records or the errors does not load the five steps, so splitting the one module into
eleven did not make the handlers' cold-start imports slower.

Example:
    >>> capture = QueryCapture(conversations, clock, input_guard=scan_input)  # doctest: +SKIP
    >>> capture.capture(WorkflowInput.from_dict(event)).to_dict()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each public name, by the module (in this package) that defines it.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "capture_step": ("QueryCapture",),
    "collaborators": (
        "ExperimentAssigning",
        "Guard",
        "IntentDetecting",
        "QualityValidating",
        "ResponseGenerating",
        "VariantAssignment",
    ),
    "errors": ("RecordExistsError", "RecordNotFoundError", "WorkflowInputError"),
    "feedback_step": (
        "FeedbackCollection",
        "budget_decision",
        "implicit_feedback_id",
        "replaced_answer_reasons",
    ),
    "generation_step": ("GenerationStep",),
    "intent_step": ("IntentStep",),
    "metrics": (
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
    ),
    "quality_step": ("QualityStep",),
    "response": ("build_response",),
    "state": (
        "MODES",
        "ROUTES",
        "Capture",
        "WorkflowInput",
        "generation_from_state",
        "intent_from_state",
        "intent_to_state",
    ),
}
_MODULE_OF: dict[str, str] = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    """The public name ``name``, importing the module that defines it on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups find it without calling this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
