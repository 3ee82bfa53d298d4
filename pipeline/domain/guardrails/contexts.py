"""Contexts that change what a guardrail finding means, read from ``contexts.toml``.

* **quoted attack**: a customer quotes a prompt attack seen in their own application to ask
  how to defend it (GUIDE.md §3.3: allowed). ``prompt_attack`` findings are dropped.
* **own plan**: the customer talks about their own plans and dates, not about what AWS
  will release: the learned ``future_features`` head is not asked.
* **public info**: the customer asks about something AWS has already published (a
  deprecation date, the public roadmap, What's New): the ``future_features`` head is not
  asked either.
* **own practice**: how to keep, rotate or protect one's own credentials (a best practice, a
  leak risk), no other person, no hand-over: the ``credential_request`` head is not asked.
* **data payload**: base64 that is visibly binary data (gzip, zip, PNG, PDF, JPEG) and no talk of
  instructions: the ``prompt_attack`` head is not asked.

Each context is a conjunction of two alternations of patterns over the guardrail's
lower-cased, accent-folded view, with examples that must and must not be in it (tested).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.domain.guardrails.catalogue import CatalogueError, read_toml
from pipeline.domain.guardrails.engine import lowered_view
from pipeline.domain.prefilter import GatedPattern, PatternGroup
from pipeline.domain.textnorm import normalize

CONTEXTS_FILE = Path(__file__).resolve().parent / "contexts.toml"
FORMAT = "guardrail-contexts-v1"
#: A customer's question about a quoted attack is short; jailbreak prompts are long and
#: talk about users and filters too. Longer messages are never quoted-attack questions.
QUOTED_ATTACK_MAX_CHARS = 1500
#: Only the start of a message is read for a plan.
OWN_PLAN_MAX_CHARS = 5000


class ContextsError(CatalogueError):
    """contexts.toml is malformed (names the table and key)."""


@dataclass(frozen=True, slots=True)
class Context:
    """A context: some pattern of ``first`` matches and no / some pattern of ``second`` does."""

    name: str
    first: re.Pattern[str] | GatedPattern
    second: re.Pattern[str] | GatedPattern
    second_required: bool
    max_chars: int
    must_match: tuple[str, ...]
    must_not_match: tuple[str, ...]

    def holds(self, lowered: str) -> bool:
        if self.second_required and len(lowered) > self.max_chars:
            return False
        view = lowered[: self.max_chars]
        if self.first.search(view) is None:
            return False
        found = self.second.search(view) is not None
        return found if self.second_required else not found

    def holds_for(self, text: str) -> bool:
        """:meth:`holds` on raw text (normalised like the guardrail's view)."""
        return self.holds(lowered_view(normalize(text).text))


def _alternation(path: Path, where: str, patterns: Any) -> re.Pattern[str]:
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        raise ContextsError(f"{path}: {where} must be a non-empty list of patterns")
    try:
        return re.compile("|".join(f"(?:{p})" for p in patterns))
    except re.error as exc:
        raise ContextsError(f"{path}: {where}: {exc}") from exc


def load_contexts(path: Path = CONTEXTS_FILE) -> dict[str, Context]:
    """Read and validate ``contexts.toml``."""
    data = read_toml(path)  # the rule catalogues' reader (a TOML error names the file)
    if data.get("format") != FORMAT:
        raise ContextsError(f"{path}: format must be {FORMAT!r}, got {data.get('format')!r}")
    shapes = {"quoted_attack": ("attributed", "defending", True, QUOTED_ATTACK_MAX_CHARS),
              "own_plan": ("plan", "aws_future", False, OWN_PLAN_MAX_CHARS),
              "public_info": ("published", "asks_beyond", False, OWN_PLAN_MAX_CHARS),
              "own_ai_app": ("own_app", "addresses_assistant", False, OWN_PLAN_MAX_CHARS),
              "own_practice": ("practice", "others", False, OWN_PLAN_MAX_CHARS),
              "data_payload": ("payload", "instructions", False, OWN_PLAN_MAX_CHARS)}
    contexts = {}
    for name, (first, second, required, max_chars) in shapes.items():
        table = data.get(name)
        if not isinstance(table, dict):
            raise ContextsError(f"{path}: table [{name}] is missing")
        contexts[name] = Context(
            name, _alternation(path, f"[{name}].{first}", table.get(first)),
            _alternation(path, f"[{name}].{second}", table.get(second)), required, max_chars,
            tuple(table.get("must_match", ())), tuple(table.get("must_not_match", ())))
    return contexts


def gated(contexts: dict[str, Context], group: PatternGroup | None = None) -> dict[str, Context]:
    """The contexts with their patterns in one :class:`PatternGroup`: one RE2 pass per view
    says which can match; only those are searched (same answers)."""
    group = PatternGroup() if group is None else group
    return {name: replace(c, first=group.gate(c.first), second=group.gate(c.second))  # type: ignore[arg-type]
            for name, c in contexts.items()}


CONTEXTS = gated(load_contexts())
QUOTED_ATTACK = CONTEXTS["quoted_attack"]
OWN_PLAN = CONTEXTS["own_plan"]
PUBLIC_INFO = CONTEXTS["public_info"]
OWN_AI_APP = CONTEXTS["own_ai_app"]
OWN_PRACTICE = CONTEXTS["own_practice"]
DATA_PAYLOAD = CONTEXTS["data_payload"]


def is_quoted_attack_question(lowered: str) -> bool:
    """True when the (lower-cased, folded) message quotes an attack to ask how to defend."""
    return QUOTED_ATTACK.holds(lowered)


def is_own_plan(lowered: str) -> bool:
    """True when the message is about the customer's own plans, not AWS's future."""
    return OWN_PLAN.holds(lowered)


def is_about_published_information(lowered: str) -> bool:
    """True when the message asks about something AWS has already published."""
    return PUBLIC_INFO.holds(lowered)


def is_about_own_ai_app(lowered: str) -> bool:
    """True when the message is about the system prompt or guardrails of the customer's
    own generative-AI application, and does not address this assistant's."""
    return OWN_AI_APP.holds(lowered)


def is_about_own_credential_practice(lowered: str) -> bool:
    """True when the message asks how to keep, rotate or protect its own credentials safely
    (a best practice, a policy, a leak risk) and names no other person and no hand-over."""
    return OWN_PRACTICE.holds(lowered)


def carries_binary_payload(lowered: str) -> bool:
    """True when the message carries base64 that is visibly binary data (gzip, zip, PNG, PDF,
    JPEG) and says nothing about instructions or prompts."""
    return DATA_PAYLOAD.holds(lowered)
