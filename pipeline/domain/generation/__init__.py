"""Prompt templates, their selection and rendering, regeneration strategies and A/B buckets.

The pieces, in the order a request meets them:

1. :func:`parse_template` validates a template file's data (``pipeline/prompts/{id}/{v}.json``).
2. :func:`select_template` picks the template for an intent and a mode
   (``answer``, ``clarification``, ``escalation``, ``fallback``).
3. :func:`render_request` turns it into a :class:`ModelRequest`: the system prompt with a
   ``<format>`` block of machine-readable directives (which Claude reads as instructions
   and the OfflineModel parses, see :func:`parse_directives`), the last completed turns of
   the conversation as messages, and the user template filled in.
4. :class:`ResponseGenerator` calls the model and applies the output guardrail.

Example:
    >>> from pipeline.adapters.local.offline_model import OfflineModel
    >>> from pipeline.adapters.local.prompt_files import FilePromptStore
    >>> generator = ResponseGenerator(OfflineModel(), FilePromptStore())
    >>> generation, verdict = generator.generate("EC2 SSH times out", intent=None)

Templates whose ``format_instructions`` contain ``mode:static`` (the ``fallback``
template) are never sent to a model: their filled-in ``user_template`` *is* the reply.
That keeps the safe reply deterministic and available when the model is the problem.

Modules: :mod:`.templates` (vocabulary, validation, selection), :mod:`.rendering`
(strategies, the ``<format>`` block, requests), :mod:`.experiments` (A/B buckets) and
:mod:`.generator` (the :class:`ResponseGenerator`). Import from this package.
"""

from __future__ import annotations

from pipeline.domain.generation.experiments import assign_variant
from pipeline.domain.generation.generator import ResponseGenerator
from pipeline.domain.generation.rendering import (
    STRATEGIES,
    delimit_user_text,
    parse_directives,
    render_request,
    strategy_for_attempt,
)
from pipeline.domain.generation.templates import (
    ALLOWED_PLACEHOLDERS,
    DIRECTIVE_NAMES,
    INTENT_LABELS,
    MODE_TEMPLATE_IDS,
    MODES,
    PromptTemplateError,
    TemplateNotFoundError,
    natural_version_key,
    parse_template,
    parse_template_body,
    select_template,
)
from pipeline.domain.models import HISTORY_TURNS

__all__ = [
    "ALLOWED_PLACEHOLDERS",
    "DIRECTIVE_NAMES",
    "HISTORY_TURNS",
    "INTENT_LABELS",
    "MODES",
    "MODE_TEMPLATE_IDS",
    "STRATEGIES",
    "PromptTemplateError",
    "ResponseGenerator",
    "TemplateNotFoundError",
    "assign_variant",
    "delimit_user_text",
    "natural_version_key",
    "parse_directives",
    "parse_template",
    "parse_template_body",
    "render_request",
    "select_template",
    "strategy_for_attempt",
]
