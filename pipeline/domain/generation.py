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
"""

from __future__ import annotations

import hashlib
import re
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pipeline.domain.models import (
    GENERATION_MODES,
    HISTORY_TURNS,
    INTENTS,
    Generation,
    GuardrailAction,
    GuardrailVerdict,
    IntentResult,
    Message,
    ModelParameters,
    ModelRequest,
    PromptTemplate,
    Turn,
)
from pipeline.ports import ModelClient, PromptStore

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
    "natural_version_key",
    "parse_directives",
    "parse_template",
    "render_request",
    "select_template",
    "strategy_for_attempt",
]

# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

#: How ``ResponseGenerator.generate`` may be asked to reply (defined in ``models``).
MODES: tuple[str, ...] = GENERATION_MODES

#: The template that serves each non-answer mode. Answer-mode selection skips these ids.
MODE_TEMPLATE_IDS: Mapping[str, str] = {
    "clarification": "clarification",
    "escalation": "escalation",
    "fallback": "fallback",
}

#: Regeneration strategies; attempt ``n`` uses ``STRATEGIES[min(n - 1, len - 1)]``.
STRATEGIES: tuple[str, ...] = ("default", "strict", "conservative")

#: Per-turn character cap for history, so a long earlier answer cannot crowd out the question.
_HISTORY_TEXT_CHARS = 1200

#: Placeholders a ``user_template`` may use, and what they are filled with.
ALLOWED_PLACEHOLDERS: Mapping[str, str] = {
    "query": "the customer's (already redacted) question",
    "history": "a compact transcript of the last completed turns, or '(none)'",
    "intent": "the intent id, e.g. ec2_troubleshooting ('unknown' when there is none)",
    "intent_label": "a human description of the intent",
    "services": "AWS services mentioned, comma separated, or 'none detected'",
    "alternatives": "the other likely topics, human readable, separated by ' | '",
    "sentiment": "POSITIVE, NEGATIVE, NEUTRAL or MIXED",
    "confidence": "the intent confidence with two decimals",
    "reasons": "why the intent step asked to clarify or escalate, comma separated",
}

#: Directive names the ``format_instructions`` may use (``name`` or ``name:value``), with
#: the plain-English meaning written next to each in the rendered ``<format>`` block.
DIRECTIVE_NAMES: Mapping[str, str] = {
    "mode": "reply kind: answer, clarification, escalation, decline or static",
    "sections": "use exactly these Markdown '## ' headings, in this order",
    "steps": "write the steps as a 'numbered' list or as 'bullets'",
    "cli_examples": "include working AWS CLI examples in a ```bash code block",
    "references": "end with links to the relevant AWS documentation",
    "tone": "tone of voice: professional, empathetic or friendly",
    "empathy_if_negative": "acknowledge the customer's frustration when the sentiment is NEGATIVE",
    "max_words": "stay under this many words",
    "max_steps": "use at most this many steps",
    "single_question": "ask exactly one question and nothing else",
    "address_all_parts": "address every part of the customer's question explicitly",
    "real_cli_only": "only use real AWS CLI commands and parameters; never invent any",
}
_DIRECTIVE_VALUES: Mapping[str, tuple[str, ...]] = {
    "mode": ("answer", "clarification", "escalation", "decline", "static"),
    "steps": ("numbered", "bullets"),
    "tone": ("professional", "empathetic", "friendly"),
}
_INT_DIRECTIVES = ("max_words", "max_steps")
_SECTION_NAMES = (
    "Summary",
    "Likely causes",
    "Steps",
    "Commands",
    "Verify",
    "Prevention",
    "References",
    "Next steps",
)
_FORMAT_OPEN = "<format>"
_FORMAT_CLOSE = "</format>"

#: Human descriptions of the intents, used in clarification questions and prompts.
INTENT_LABELS: Mapping[str, str] = {
    "ec2_troubleshooting": "an EC2 instance (connectivity, status checks, performance)",
    "s3_troubleshooting": "Amazon S3 (buckets, objects, access errors)",
    "lambda_troubleshooting": "a Lambda function (errors, timeouts, permissions)",
    "rds_database": "an RDS database (connections, performance, backups)",
    "networking": "networking (VPC, subnets, security groups, load balancers, DNS)",
    "iam_security": "IAM and security (permissions, roles, MFA, access keys)",
    "billing_cost": "billing and costs (charges, invoices, budgets)",
    "account_management": "your AWS account (quotas, support plans, account settings)",
    "general_support": "another AWS service",
    "out_of_scope": "something outside AWS",
}

_TEMPLATE_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSION_RE = re.compile(r"^v\d+(?:\.\d+)*$")
_REQUIRED_FIELDS = (
    "template_id",
    "version",
    "intents",
    "system_prompt",
    "user_template",
    "parameters",
)
_KNOWN_FIELDS = frozenset(_REQUIRED_FIELDS) | {"description", "format_instructions", "$schema"}
# Claude 3 on Bedrock: temperature and top_p in [0, 1], at most 4096 output tokens.
_MAX_TOKENS_LIMIT = 4096


class PromptTemplateError(ValueError):
    """A prompt template is invalid. The message names the template, the problem and the fix."""


class TemplateNotFoundError(LookupError):
    """No template matches the requested intent, mode, id or version."""


# ---------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------


def natural_version_key(version: str) -> tuple[Any, ...]:
    """Sort key so that ``v10`` sorts after ``v9`` and ``v2.1`` after ``v2``.

    Args:
        version: A version string such as ``v2`` or ``v2.1``.

    Returns:
        A tuple comparable across versions.
    """
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version))


def _fail(origin: str, problem: str, fix: str) -> PromptTemplateError:
    return PromptTemplateError(f"{origin}: {problem}. Fix: {fix}.")


def _placeholders(text: str, *, origin: str, field_name: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise _fail(
            origin,
            f"{field_name} is not a valid format string ({exc})",
            "balance the braces; write a literal brace as '{{' or '}}'",
        ) from exc
    names: set[str] = set()
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in ALLOWED_PLACEHOLDERS:
            raise _fail(
                origin,
                f"{field_name} uses unknown placeholder {{{name}}}",
                f"use only {', '.join('{' + p + '}' for p in ALLOWED_PLACEHOLDERS)}, "
                "or write a literal brace as '{{' or '}}'",
            )
        if spec or conversion:
            raise _fail(
                origin,
                f"placeholder {{{name}}} in {field_name} has a format spec or conversion",
                f"write it plainly as {{{name}}}",
            )
        names.add(name)
    return names


def _validate_directive(directive: str, *, origin: str) -> str:
    if not isinstance(directive, str) or not directive.strip():
        raise _fail(
            origin, f"format instruction {directive!r} is empty or not a string", "remove it"
        )
    directive = directive.strip()
    name, _, value = directive.partition(":")
    if name not in DIRECTIVE_NAMES:
        raise _fail(
            origin,
            f"unknown format instruction {directive!r}",
            f"use one of {', '.join(DIRECTIVE_NAMES)}",
        )
    if name in _DIRECTIVE_VALUES and value not in _DIRECTIVE_VALUES[name]:
        raise _fail(
            origin,
            f"format instruction {directive!r} has an invalid value",
            f"write {name}:<one of {', '.join(_DIRECTIVE_VALUES[name])}>",
        )
    if name in _INT_DIRECTIVES and not (value.isdigit() and int(value) > 0):
        raise _fail(
            origin,
            f"format instruction {directive!r} needs a positive integer",
            f"write {name}:250",
        )
    if name == "sections":
        sections = [s.strip() for s in value.split(",") if s.strip()]
        unknown = [s for s in sections if s not in _SECTION_NAMES]
        if not sections or unknown:
            raise _fail(
                origin,
                f"format instruction {directive!r} names no or unknown sections {unknown}",
                f"choose from {', '.join(_SECTION_NAMES)}",
            )
    if (
        name not in _DIRECTIVE_VALUES
        and name not in _INT_DIRECTIVES
        and name != "sections"
        and value
    ):
        raise _fail(
            origin, f"format instruction {directive!r} takes no value", f"write just {name}"
        )
    return directive


def _number(
    value: Any, name: str, low: float, high: float, *, origin: str, integer: bool = False
) -> Any:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not (low <= value <= high):
        raise _fail(
            origin,
            f"parameters.{name} = {value!r} is out of range",
            f"use a {'whole ' if integer else ''}number between {low} and {high}",
        )
    return value


def parse_template(data: dict[str, Any], *, origin: str) -> PromptTemplate:
    """Validate a template's JSON data and build the :class:`PromptTemplate`.

    Args:
        data: The decoded JSON object.
        origin: Where it came from (a file path or ``s3://`` URI), used in error messages.

    Returns:
        The validated template. Missing ``parameters`` fields take the documented defaults
        (Claude 3 Sonnet, temperature 0.7, 2048 max tokens, top-p 0.9).

    Raises:
        PromptTemplateError: On a missing or unknown field, an unknown placeholder, an
            intent that is not one of ``INTENTS``, a parameter out of range or an invalid
            format instruction. The message names ``origin``, the problem and the fix.
    """
    if not isinstance(data, dict):
        raise _fail(
            origin,
            "the template is not a JSON object",
            "write a JSON object with the template fields",
        )
    missing = [f for f in _REQUIRED_FIELDS if f not in data]
    if missing:
        raise _fail(origin, f"missing required field(s) {', '.join(missing)}", "add them")
    unknown = sorted(set(data) - _KNOWN_FIELDS)
    if unknown:
        raise _fail(
            origin,
            f"unknown field(s) {', '.join(unknown)}",
            f"remove them; allowed: {', '.join(sorted(_KNOWN_FIELDS))}",
        )

    template_id, version = data["template_id"], data["version"]
    if not isinstance(template_id, str) or not _TEMPLATE_ID_RE.match(template_id):
        raise _fail(
            origin,
            f"template_id {template_id!r} is invalid",
            "use lower_snake_case, e.g. compute_troubleshooting",
        )
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise _fail(origin, f"version {version!r} is invalid", "use v1, v2, v2.1 …")
    origin = f"{origin} ({template_id}/{version})"

    for text_field in ("system_prompt", "user_template"):
        if not isinstance(data[text_field], str) or not data[text_field].strip():
            raise _fail(origin, f"{text_field} is empty", f"write the {text_field}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(origin, "description is not a string", "write a one-line description")

    intents = data["intents"]
    if not isinstance(intents, list) or not intents:
        raise _fail(
            origin,
            "intents must be a non-empty list",
            f"list the intents it serves, from {', '.join(INTENTS)}",
        )
    bad_intents = [i for i in intents if i not in INTENTS]
    if bad_intents:
        raise _fail(origin, f"unknown intent(s) {bad_intents}", f"use only {', '.join(INTENTS)}")

    raw_directives = data.get("format_instructions", [])
    if not isinstance(raw_directives, list):
        raise _fail(
            origin,
            "format_instructions must be a list of strings",
            'write e.g. ["sections:Summary,Steps", "steps:numbered"]',
        )
    directives = tuple(_validate_directive(d, origin=origin) for d in raw_directives)
    static = "mode:static" in directives

    # The system prompt is sent as-is (no placeholders), so literal braces are allowed there.
    used = _placeholders(data["user_template"], origin=origin, field_name="user_template")
    if "query" not in used and not static:
        raise _fail(
            origin,
            "user_template never uses {query}",
            "put {query} where the customer's question goes",
        )

    params = data["parameters"]
    if not isinstance(params, dict):
        raise _fail(
            origin,
            "parameters must be an object",
            "write {model_family, temperature, max_tokens, top_p}",
        )
    unknown_params = sorted(set(params) - set(ModelParameters.__dataclass_fields__))
    if unknown_params:
        raise _fail(
            origin,
            f"unknown parameter(s) {unknown_params}",
            "use model_family, temperature, max_tokens, top_p (model_id only to pin one)",
        )
    defaults = ModelParameters()
    model_family = params.get("model_family", defaults.model_family)
    if not isinstance(model_family, str) or not model_family.strip():
        raise _fail(
            origin,
            "parameters.model_family is empty",
            "name the family the prompt is written for, e.g. anthropic.claude",
        )
    model_id = params.get("model_id", defaults.model_id)
    if not isinstance(model_id, str):
        raise _fail(
            origin,
            "parameters.model_id must be a string",
            "leave it out: the deployment's MODEL_ID setting chooses the model",
        )
    parameters = ModelParameters(
        model_family=model_family,
        model_id=model_id,
        temperature=float(
            _number(
                params.get("temperature", defaults.temperature),
                "temperature",
                0.0,
                1.0,
                origin=origin,
            )
        ),
        max_tokens=_number(
            params.get("max_tokens", defaults.max_tokens),
            "max_tokens",
            1,
            _MAX_TOKENS_LIMIT,
            origin=origin,
            integer=True,
        ),
        top_p=float(_number(params.get("top_p", defaults.top_p), "top_p", 0.0, 1.0, origin=origin)),
    )
    return PromptTemplate(
        template_id=template_id,
        version=version,
        system_prompt=data["system_prompt"],
        user_template=data["user_template"],
        parameters=parameters,
        intents=tuple(intents),
        format_instructions=directives,
        description=description,
    )


# ---------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------


def select_template(
    intent: str,
    templates: Sequence[PromptTemplate],
    mode: str = "answer",
    *,
    version: str | None = None,
) -> PromptTemplate:
    """Pick the template for an intent and a mode.

    In ``answer`` mode the template is the one whose ``intents`` contain ``intent``
    (``general_support``'s template when the intent is unknown); the other modes use their
    own template (:data:`MODE_TEMPLATE_IDS`) whatever the intent.

    Args:
        intent: The detected intent id.
        templates: All available templates, every version.
        mode: One of :data:`MODES`.
        version: A specific version; ``None`` means the latest (natural sort).

    Returns:
        The selected template.

    Raises:
        ValueError: If ``mode`` is unknown.
        TemplateNotFoundError: If no template serves the intent/mode, or the version is missing.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "answer":
        effective_intent = intent if intent in INTENTS else "general_support"
        mode_ids = set(MODE_TEMPLATE_IDS.values())
        candidates = [
            t for t in templates if t.template_id not in mode_ids and effective_intent in t.intents
        ]
        what = f"intent {effective_intent!r}"
    else:
        candidates = [t for t in templates if t.template_id == MODE_TEMPLATE_IDS[mode]]
        what = f"mode {mode!r}"
    if not candidates:
        raise TemplateNotFoundError(
            f"no prompt template serves {what}; add one under pipeline/prompts/"
        )
    template_ids = sorted({t.template_id for t in candidates})
    if len(template_ids) > 1:
        # Ambiguity is a configuration error; pick deterministically rather than fail a reply.
        candidates = [t for t in candidates if t.template_id == template_ids[0]]
    if version is not None:
        matching = [t for t in candidates if t.version == version]
        if not matching:
            have = sorted((t.version for t in candidates), key=natural_version_key)
            raise TemplateNotFoundError(
                f"template {template_ids[0]!r} has no version {version!r} (have {', '.join(have)})"
            )
        return matching[0]
    return max(candidates, key=lambda t: natural_version_key(t.version))


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


# ---------------------------------------------------------------------------
# A/B assignment
# ---------------------------------------------------------------------------


def assign_variant(
    session_id: str,
    experiment: str,
    variants: Sequence[str],
    weights: Sequence[float] | None = None,
) -> str:
    """Deterministically assign a session to a variant of an experiment.

    The bucket is a sha256 of ``experiment`` and ``session_id``, so a session keeps its
    variant across turns and Lambda instances, and different experiments are independent.

    Args:
        session_id: The session to bucket.
        experiment: The experiment's name, e.g. ``"compute_prompt_v2"``.
        variants: The variant names, e.g. ``("v1", "v2")``.
        weights: Relative, non-negative weights (equal when omitted).

    Returns:
        One of ``variants``.

    Raises:
        ValueError: On no variants, mismatched or invalid weights.
    """
    if not variants:
        raise ValueError("assign_variant needs at least one variant")
    if weights is None:
        weights = [1.0] * len(variants)
    if len(weights) != len(variants) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be non-negative, one per variant, with a positive sum")
    digest = hashlib.sha256(f"{experiment}\x00{session_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(weights)
    cumulative = 0.0
    for variant, weight in zip(variants, weights, strict=True):
        cumulative += weight
        if point < cumulative:
            return variant
    return next(v for v, w in zip(reversed(variants), reversed(weights), strict=True) if w > 0)


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
