"""Prompt templates: their vocabulary, validation (:func:`parse_template`) and selection.

A template file (``pipeline/prompts/{id}/{v}.json``) is validated by :func:`parse_template`;
:func:`select_template` picks the template for an intent and a mode (``answer``,
``clarification``, ``escalation``, ``fallback``).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.domain.models import GENERATION_MODES, INTENTS, ModelParameters, PromptTemplate

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
_KNOWN_FIELDS = frozenset(_REQUIRED_FIELDS) | {"description", "hypothesis", "format_instructions", "$schema"}
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


def parse_template_body(body: bytes | str, *, origin: str) -> PromptTemplate:
    """Validate a template sent as JSON text (``prompts publish``): the same checks as a file."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PromptTemplateError(f"{origin}: not valid JSON ({exc}). Fix: correct the JSON syntax.") from exc
    if not isinstance(data, dict):
        raise PromptTemplateError(f"{origin}: a template must be a JSON object. Fix: wrap the fields in {{...}}.")
    return parse_template(data, origin=origin)


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
    hypothesis = data.get("hypothesis", "")
    if not isinstance(hypothesis, str):
        raise _fail(origin, "hypothesis is not a string", "state what the version should improve, in one sentence")

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
        hypothesis=hypothesis,
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
