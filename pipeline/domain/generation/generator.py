"""The :class:`ResponseGenerator`: select, render, call the model, apply the output guardrail."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from pipeline.domain.generation.rendering import render_request, strategy_for_attempt
from pipeline.domain.generation.templates import TemplateNotFoundError, select_template
from pipeline.domain.models import (
    HISTORY_TURNS,
    Generation,
    GuardrailAction,
    GuardrailVerdict,
    IntentResult,
    PromptTemplate,
    Turn,
)
from pipeline.ports import ModelClient, PromptStore

# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------


class ResponseGenerator:
    """Selects and renders a template, calls the model, and applies the output guardrail.

    Args:
        model: Any :class:`~pipeline.ports.ModelClient`.
        prompts: Where the templates come from; listed once per generator instance
            (a Lambda container keeps its templates until it is recycled).
        output_guard: ``scan_output``-like callable; ``None`` disables the output check.
        template_versions: Pinned versions by template id; the key ``"*"`` applies to every
            template that has that version (others use their latest).
    """

    def __init__(
        self,
        model: ModelClient,
        prompts: PromptStore,
        *,
        output_guard: Callable[[str], GuardrailVerdict] | None = None,
        template_versions: Mapping[str, str] | None = None,
        history_turns: int = HISTORY_TURNS,
    ) -> None:
        self._model = model
        self._prompts = prompts
        self._history_turns = history_turns
        self._output_guard = output_guard
        self._template_versions = dict(template_versions or {})
        self._templates: tuple[PromptTemplate, ...] | None = None

    def templates(self) -> tuple[PromptTemplate, ...]:
        """All templates of the store (loaded on first use, then cached)."""
        if self._templates is None:
            self._templates = tuple(self._prompts.list_templates())
        return self._templates

    def select(
        self, intent: str, mode: str = "answer", *, versions: Mapping[str, str] | None = None
    ) -> PromptTemplate:
        """The template :meth:`generate` would use for ``intent`` and ``mode``.

        Args:
            intent: The intent id.
            mode: One of :data:`MODES`.
            versions: Per-call version pins that override the constructor's.

        Returns:
            The template.
        """
        templates = self.templates()
        latest = select_template(intent, templates, mode)
        pins = {**self._template_versions, **(versions or {})}
        version = pins.get(latest.template_id)
        if version is None and "*" in pins:
            wildcard = pins["*"]
            if any(
                t.template_id == latest.template_id and t.version == wildcard for t in templates
            ):
                version = wildcard
        if version is None:
            return latest
        try:
            return select_template(intent, templates, mode, version=version)
        except TemplateNotFoundError:
            # A version published after this container listed the templates (an experiment
            # now pins it): list them again, once.
            self._templates = None
            return select_template(intent, self.templates(), mode, version=version)

    def generate(
        self,
        query: str,
        intent: IntentResult | None,
        *,
        history: Sequence[Turn] = (),
        attempt: int = 1,
        mode: str = "answer",
        versions: Mapping[str, str] | None = None,
    ) -> tuple[Generation, GuardrailVerdict | None]:
        """Generate the reply for one query.

        Args:
            query: The redacted query (never log it).
            intent: The detected intent (``None`` is treated as ``general_support``).
            history: Earlier turns of the session.
            attempt: 1-based attempt number; picks the strategy (:func:`strategy_for_attempt`).
            mode: ``answer``, ``clarification``, ``escalation`` or ``fallback``.
            versions: Per-call version pins (e.g. from :func:`assign_variant`).

        Returns:
            The generation and the output guardrail's verdict (``None`` without a guard or
            for a static reply). When the verdict blocks, the generation is the ``fallback``
            template's safe reply; when it redacts, the text is the redacted text.

        Raises:
            ModelError: When the model fails; ``transient`` tells the caller to retry.
            TemplateNotFoundError: When no template serves the intent or mode.
        """
        intent_id = intent.intent if intent is not None else "general_support"
        strategy = strategy_for_attempt(attempt)
        template = self.select(intent_id, mode, versions=versions)
        if "mode:static" in template.format_instructions:
            return self._static_reply(template, query, intent, history, strategy, attempt), None

        request = render_request(
            template, query, intent=intent, history=history, strategy=strategy, history_turns=self._history_turns
        )
        started = time.perf_counter()
        response = self._model.generate(request)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        generation = Generation(
            text=response.text,
            template_id=template.template_id,
            template_version=template.version,
            model_id=response.model_id,
            strategy=strategy,
            attempt=attempt,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            latency_ms=round(response.latency_ms or elapsed_ms, 3),
        )
        if self._output_guard is None:
            return generation, None
        verdict = self._output_guard(generation.text)
        if verdict.action is GuardrailAction.BLOCK:
            fallback = self.select(intent_id, "fallback", versions=versions)
            safe = self._static_reply(fallback, query, intent, history, strategy, attempt)
            # Keep the blocked call's model, cost and latency: they were spent.
            replaced = replace(
                generation,
                text=safe.text,
                template_id=safe.template_id,
                template_version=safe.template_version,
            )
            return replaced, verdict
        if verdict.action is GuardrailAction.REDACT:
            generation = replace(generation, text=verdict.redacted_text)
        return generation, verdict

    def _static_reply(
        self,
        template: PromptTemplate,
        query: str,
        intent: IntentResult | None,
        history: Sequence[Turn],
        strategy: str,
        attempt: int,
    ) -> Generation:
        if "mode:static" not in template.format_instructions:
            raise TemplateNotFoundError(
                f"template {template.template_id}/{template.version} is not static (needs 'mode:static')"
            )
        # Rendering with the default strategy: a static reply has no strategy-specific text.
        request = render_request(template, query, intent=intent, history=history, history_turns=self._history_turns)
        return Generation(
            text=request.messages[-1].text.strip(),
            template_id=template.template_id,
            template_version=template.version,
            model_id="static",
            strategy=strategy,
            attempt=attempt,
        )
