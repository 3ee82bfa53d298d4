"""Rendering a template into a :class:`ModelRequest`, and the regeneration strategies.

The system prompt gets a ``<format>`` block of machine-readable directives (which Claude
reads as instructions and the OfflineModel parses back with :func:`parse_directives`);
the last completed turns of the conversation become messages; the user template is
filled in with the (escaped) customer text. Regeneration attempts use stricter strategies.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.domain.generation.templates import (
    _FORMAT_CLOSE,
    _FORMAT_OPEN,
    DIRECTIVE_NAMES,
    INTENT_LABELS,
)
from pipeline.domain.models import (
    HISTORY_TURNS,
    IntentResult,
    Message,
    ModelParameters,
    ModelRequest,
    PromptTemplate,
    Turn,
)

#: Regeneration strategies; attempt ``n`` uses ``STRATEGIES[min(n - 1, len - 1)]``.
STRATEGIES: tuple[str, ...] = ("default", "strict", "conservative")

#: Per-turn character cap for history, so a long earlier answer cannot crowd out the question.
_HISTORY_TEXT_CHARS = 1200

# ---------------------------------------------------------------------------
# Strategies and rendering
# ---------------------------------------------------------------------------


def strategy_for_attempt(attempt: int) -> str:
    """The regeneration strategy for a 1-based attempt number (bounded at the last one).

    Args:
        attempt: 1 for the first generation, 2 for the first regeneration, …

    Returns:
        One of :data:`STRATEGIES`.
    """
    return STRATEGIES[min(max(attempt, 1) - 1, len(STRATEGIES) - 1)]


_STRICT_TEXT = (
    "Quality requirements for this answer (a previous answer fell short):\n"
    "- Address every part of the customer's question explicitly, in order.\n"
    "- Give concrete, numbered troubleshooting steps.\n"
    "- Use only real AWS CLI commands and parameters; never invent commands, flags or values,"
    " and never leave placeholders such as TODO or [INSERT ...].\n"
    "- Keep a professional, helpful tone."
)
_CONSERVATIVE_TEXT = (
    "Answer conservatively (previous answers fell short): state only what you are sure of,"
    " keep it short, use numbered steps and only real AWS CLI commands."
)
_CONSERVATIVE_TEMPERATURE = 0.2
_CONSERVATIVE_MAX_TOKENS = 1024
_CONSERVATIVE_MAX_WORDS = 250


def _merge_directives(base: Sequence[str], overrides: Sequence[str]) -> tuple[str, ...]:
    """Directives of ``overrides`` replace those with the same name in ``base``."""
    names = {d.partition(":")[0] for d in overrides}
    return tuple(d for d in base if d.partition(":")[0] not in names) + tuple(overrides)


def _strategy_directives(template: PromptTemplate, strategy: str) -> tuple[str, ...]:
    directives = template.format_instructions
    answering = not any(
        d in directives for d in ("mode:static", "mode:clarification", "mode:decline")
    )
    if strategy == "default" or not answering:
        return directives
    extra = ["steps:numbered", "address_all_parts", "real_cli_only"]
    if strategy == "conservative":
        current = next(
            (int(d.partition(":")[2]) for d in directives if d.startswith("max_words:")), None
        )
        limit = min(current or _CONSERVATIVE_MAX_WORDS, _CONSERVATIVE_MAX_WORDS)
        extra.append(f"max_words:{limit}")
    return _merge_directives(directives, extra)


def _format_block(directives: Sequence[str]) -> str:
    lines = [f"{d} — {DIRECTIVE_NAMES[d.partition(':')[0]]}" for d in directives]
    return "\n".join([_FORMAT_OPEN, *lines, _FORMAT_CLOSE])


def parse_directives(system: str) -> tuple[str, ...]:
    """Read the machine-readable directives back from a rendered system prompt.

    Args:
        system: ``ModelRequest.system`` as produced by :func:`render_request`.

    Returns:
        The directives (``name`` or ``name:value``) in order; empty if there is no block.
    """
    start = system.rfind(_FORMAT_OPEN)
    if start < 0:
        return ()
    end = system.find(_FORMAT_CLOSE, start)
    block = system[start + len(_FORMAT_OPEN) : end if end >= 0 else len(system)]
    directives = []
    for line in block.splitlines():
        head = line.split(" — ", 1)[0].strip()
        if head:
            directives.append(head)
    return tuple(directives)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _completed_turns(history: Sequence[Turn], limit: int) -> list[Turn]:
    # Only turns with a reply: the current turn (already stored without one) and failed turns
    # are skipped, which also keeps the messages alternating user/assistant as Converse requires.
    done = [t for t in history if t.assistant_text and t.user_text]
    done.sort(key=lambda t: t.turn_index)
    return done[-limit:] if limit > 0 else []


def _alternatives_text(intent: IntentResult | None) -> str:
    if intent is None:
        return ""
    labels = []
    for name, _p in intent.alternatives:
        if name != intent.intent and name != "out_of_scope" and name in INTENT_LABELS:
            labels.append(INTENT_LABELS[name])
    if intent.intent in INTENT_LABELS and intent.intent != "out_of_scope":
        labels.insert(0, INTENT_LABELS[intent.intent])
    unique = list(dict.fromkeys(labels))[:3]
    return " | ".join(unique)


def delimit_user_text(text: str) -> str:
    """User-controlled text made safe to place between the template's tags.

    ``<`` and ``>`` become ``&lt;`` and ``&gt;``, so no customer text (nor an earlier turn
    quoted as history) can close ``<question>`` or open ``<intent>``/``<format>``: every tag
    in a rendered prompt comes from the template. The offline model unescapes the question
    it reads back; Bedrock models read entities as the characters they stand for.
    """
    return text.replace("<", "&lt;").replace(">", "&gt;")


def render_request(
    template: PromptTemplate,
    query: str,
    *,
    intent: IntentResult | None,
    history: Sequence[Turn] = (),
    strategy: str = "default",
    history_turns: int = HISTORY_TURNS,
) -> ModelRequest:
    """Render a template into a model request.

    The system prompt is the template's, plus the strategy's extra instructions, plus a
    ``<format>`` block listing the directives. The last ``history_turns`` completed turns
    become alternating user/assistant messages before the filled-in user template.

    Args:
        template: The template to render.
        query: The customer's question, already redacted by the input guardrail.
        intent: The detected intent, if any (fills ``{intent}``, ``{alternatives}``, …).
        history: Earlier turns of the session (redacted); incomplete turns are skipped.
        strategy: One of :data:`STRATEGIES`.
        history_turns: How many completed turns to include (the ``HISTORY_TURNS`` setting).

    Returns:
        The request, containing only redacted text.

    Raises:
        ValueError: If ``strategy`` is unknown.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    turns = _completed_turns(history, history_turns)
    intent_id = intent.intent if intent is not None else "unknown"
    values = {
        "query": delimit_user_text(query.strip()),
        "history": "\n".join(
            f"Customer: {delimit_user_text(_clip(t.user_text, 300))}\n"
            f"Assistant: {delimit_user_text(_clip(t.assistant_text or '', 300))}"
            for t in turns
        )
        or "(none)",
        "intent": intent_id,
        "intent_label": INTENT_LABELS.get(intent_id, "an AWS question"),
        "services": ", ".join(intent.entities)
        if intent is not None and intent.entities
        else "none detected",
        "alternatives": _alternatives_text(intent),
        "sentiment": intent.sentiment if intent is not None else "NEUTRAL",
        "confidence": f"{intent.confidence:.2f}" if intent is not None else "0.00",
        "reasons": ", ".join(intent.reasons) if intent is not None and intent.reasons else "none",
    }
    user_text = template.user_template.format_map(values)

    directives = _strategy_directives(template, strategy)
    parts = [template.system_prompt.strip()]
    parameters = template.parameters
    if strategy == "strict" and directives != template.format_instructions:
        parts.append(_STRICT_TEXT)
    elif strategy == "conservative" and directives != template.format_instructions:
        parts.append(_CONSERVATIVE_TEXT)
        parameters = ModelParameters(
            model_id=parameters.model_id,
            temperature=min(parameters.temperature, _CONSERVATIVE_TEMPERATURE),
            max_tokens=min(parameters.max_tokens, _CONSERVATIVE_MAX_TOKENS),
            top_p=parameters.top_p,
        )
    if directives:
        parts.append(_format_block(directives))

    messages: list[Message] = []
    for turn in turns:
        messages.append(Message("user", delimit_user_text(_clip(turn.user_text, _HISTORY_TEXT_CHARS))))
        messages.append(
            Message("assistant", delimit_user_text(_clip(turn.assistant_text or "", _HISTORY_TEXT_CHARS)))
        )
    messages.append(Message("user", user_text))
    return ModelRequest(system="\n\n".join(parts), messages=tuple(messages), parameters=parameters)
