"""Escalation triggers (golden_sets/GUIDE.md §2.3), read from ``escalation.toml``.

Six triggers hand a conversation to a human: an explicit request for one, a threat to
leave or go outside (chargeback, lawyer, regulator, going public), money lost or
disputed, production down with business impact, account compromise, and an account
locked or suspended with no self-service path. Anger alone is a *signal*, not a trigger:
it makes the reply acknowledge the frustration and never escalates by itself.

Example:
    >>> escalation_reasons("I want to talk to a real person about my bill")
    ('explicit_human_request',)
    >>> escalation_reasons("This is ridiculous, my Lambda keeps timing out")
    ()
    >>> frustration_signals("This is ridiculous, my Lambda keeps timing out")
    ('strong_anger',)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.domain.intent.catalogue import (
    CATALOGUE,
    ESCALATION_FILE,
    CatalogueError,
    compile_pattern,
    load_toml,
)
from pipeline.domain.models import NlpAnalysis
from pipeline.domain.prefilter import GatedPattern, PatternGroup
from pipeline.domain.textnorm import normalize

FORMAT = "escalation-catalogue-v1"
#: Triggers, in the order reasons are reported.
TRIGGER_IDS = ("explicit_human_request", "threat_to_leave", "billing_dispute", "production_impact",
               "account_compromise", "locked_out")
#: Only the first characters are scanned: a 100 KB pasted log says nothing more about escalation.
MAX_SCAN_CHARS = 5000


@dataclass(frozen=True, slots=True)
class Trigger:
    """One escalation trigger: any alternative, or every pattern of one group, and not ``unless``."""

    id: str
    any_of: re.Pattern[str] | GatedPattern | None
    all_of: tuple[tuple[re.Pattern[str] | GatedPattern, ...], ...]
    unless: re.Pattern[str] | GatedPattern | None
    must_match: tuple[str, ...]
    must_not_match: tuple[str, ...]
    #: The catalogue's framings (hypothetical, general, hearsay, past and resolved) that
    #: keep this trigger silent, joined into one pattern: the trigger's own `unless` names
    #: what is specific to it, `not_when` what is shared.
    not_when: re.Pattern[str] | GatedPattern | None = None

    def fires(self, text: str) -> bool:
        hit = bool(self.any_of and self.any_of.search(text)) or any(
            all(p.search(text) for p in group) for group in self.all_of)
        return hit and not (self.unless is not None and self.unless.search(text)) and not (
            self.not_when is not None and self.not_when.search(text))


def _folded(source: Any) -> Any:
    """A pattern source in the matching view of the texts it is asked about.

    The detector matches the guardrails' normalised text, in which voicing marks are gone
    ("が" is "か"), accents are folded and Cyrillic look-alikes are Latin: a pattern written
    as people write ("電話で", "перейдём") is folded the same way, or it could never match.
    Folding leaves ASCII, and so every regular-expression operator, as it is.
    """
    if isinstance(source, list):
        return [_folded(s) for s in source]
    return normalize(source).text if isinstance(source, str) else source


def _regex(entry: dict[str, Any], key: str, where: str, path: Path) -> re.Pattern[str] | None:
    if key not in entry:
        return None
    source = _folded(entry[key])
    spec = {"any_of": source} if isinstance(source, list) else {"pattern": source}
    return compile_pattern(f"{where}.{key}", spec, path).regex


def _framings(data: dict[str, Any], path: Path) -> dict[str, Trigger]:
    """The ``[framing.<name>]`` tables: ways of asking that are not a current incident."""
    framings = {}
    for name, entry in (data.get("framing") or {}).items():
        where = f"framing.{name}"
        if not isinstance(entry, dict) or "any_of" not in entry:
            raise CatalogueError(f"{path}: {where} needs any_of")
        framings[name] = Trigger(name, _regex(entry, "any_of", where, path), (), None,
                                 tuple(entry.get("must_match", [])), tuple(entry.get("must_not_match", [])))
    return framings


def _joined(names: Any, framings: dict[str, Trigger], where: str, path: Path) -> re.Pattern[str] | None:
    """One pattern for the framings a trigger names in ``not_when``."""
    if names is None:
        return None
    if not isinstance(names, list) or not names or any(n not in framings for n in names):
        raise CatalogueError(f"{path}: {where}.not_when must list framings among {', '.join(sorted(framings))}")
    sources = [framings[n].any_of.pattern for n in names]  # type: ignore[union-attr]
    return re.compile("|".join(f"(?:{s})" for s in sources), re.IGNORECASE)


def load_framings(path: Path = ESCALATION_FILE) -> dict[str, Trigger]:
    """The catalogue's framings by name (each a pattern with its examples)."""
    return _framings(load_toml(path, FORMAT), path)


def load_triggers(path: Path = ESCALATION_FILE) -> tuple[tuple[Trigger, ...], dict[str, Trigger]]:
    """Triggers and signals of the escalation catalogue; CatalogueError names file and entry."""
    data = load_toml(path, FORMAT)
    framings = _framings(data, path)
    triggers = []
    for i, entry in enumerate(data.get("trigger", [])):
        where = f"trigger[{i}]"
        if not isinstance(entry, dict) or entry.get("id") not in TRIGGER_IDS:
            raise CatalogueError(f"{path}: {where}.id must be one of {', '.join(TRIGGER_IDS)}")
        groups = entry.get("all_of", [])
        if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
            raise CatalogueError(f"{path}: {where}.all_of must be a list of lists of patterns")
        all_of = tuple(tuple(compile_pattern(f"{where}.all_of", {"pattern": _folded(p)}, path).regex for p in g)
                       for g in groups)
        any_of = _regex(entry, "any_of", where, path)
        if any_of is None and not all_of:
            raise CatalogueError(f"{path}: {where} needs any_of or all_of")
        triggers.append(Trigger(entry["id"], any_of, all_of, _regex(entry, "unless", where, path),
                                tuple(entry.get("must_match", [])), tuple(entry.get("must_not_match", [])),
                                _joined(entry.get("not_when"), framings, where, path)))
    missing = set(TRIGGER_IDS) - {t.id for t in triggers}
    if missing:
        raise CatalogueError(f"{path}: no trigger for {', '.join(sorted(missing))}")
    signals = {}
    for name, entry in (data.get("signals") or {}).items():
        signals[name] = Trigger(name, _regex(entry, "any_of", f"signals.{name}", path), (), None,
                                tuple(entry.get("must_match", [])), tuple(entry.get("must_not_match", [])))
    order = {t: i for i, t in enumerate(TRIGGER_IDS)}
    return tuple(sorted(triggers, key=lambda t: order[t.id])), signals


def gated(trigger: Trigger, group: PatternGroup) -> Trigger:
    """The trigger with its patterns in ``group``: one RE2 pass per text says which of the
    catalogue's patterns can match; only those are searched (same answers)."""
    def gate(pattern: re.Pattern[str] | GatedPattern | None) -> GatedPattern | None:
        return None if pattern is None else group.gate(pattern)  # type: ignore[arg-type]

    return replace(trigger, any_of=gate(trigger.any_of), unless=gate(trigger.unless),
                   not_when=gate(trigger.not_when), all_of=tuple(tuple(group.gate(p) for p in g) for g in trigger.all_of))  # type: ignore[arg-type]


#: Searched by Python's engine, not gated by an RE2 set. The triggers are few (30 patterns) but
#: each is a folded multilingual word list (100-220 KB as an RE2 superset), and one RE2 set of
#: all of them is a product automaton whose DFA states do not fit any memory budget: on texts it
#: has not seen it rebuilds them, 3-10 ms per message against 0.4 ms for the Python searches
#: (which stop at the first trigger that fires). Measured by ``nox -s bench`` (prefilter rows).
_GROUP = PatternGroup(use_re2=False)
TRIGGERS, SIGNALS = load_triggers()
TRIGGERS = tuple(gated(t, _GROUP) for t in TRIGGERS)
SIGNALS = {name: gated(t, _GROUP) for name, t in SIGNALS.items()}
FRAMINGS = {name: gated(t, _GROUP) for name, t in load_framings().items()}
_BY_ID = {t.id: t for t in TRIGGERS}
#: Words that are anger only in a negative message ("tell me a joke" is not angry).
_ANGER_IF_NEGATIVE_RE = re.compile(r"\b(?:joke|worst|damn|terrible|awful)\b", re.IGNORECASE)


@lru_cache(maxsize=64)
def escalation_reasons(text: str) -> tuple[str, ...]:
    """The triggers that hand this message to a human, in a stable order; empty when none.

    Cached per text: the intent rules (:func:`trigger_fires`) and the detector ask about the
    same message, and the triggers are evaluated once.

    Args:
        text: The customer message (raw, or already in the guardrails' normalised view:
            normalising is idempotent, and the patterns are written in that view).
    """
    head = _matching_view(text)
    return tuple(t.id for t in TRIGGERS if t.fires(head))


def _matching_view(text: str) -> str:
    """The first characters of a message in the view the patterns are folded to."""
    return normalize(text[:MAX_SCAN_CHARS]).text


def trigger_fires(trigger_id: str, text: str) -> bool:
    """Whether one named trigger fires (used by the intent rules)."""
    if trigger_id not in _BY_ID:
        raise KeyError(f"unknown escalation trigger {trigger_id!r}; known: {', '.join(TRIGGER_IDS)}")
    return trigger_id in escalation_reasons(text)


def not_a_current_incident(text: str) -> bool:
    """True when a message asks hypothetically, in general, about hearsay, about a past
    incident already resolved, about an alert it explains as a false alarm or a port probe it
    asks the meaning of, or describes a person by the access they must have (GUIDE §2.3:
    "asking how refunds work in general → no").

    The learned ``escalate`` head is silent on such a message: it reads what a message is
    about (money, an outage, a person), not whether it is happening to the customer now.
    """
    head = _matching_view(text)
    return any(f.fires(head) for f in FRAMINGS.values())


def is_shouting(text: str) -> bool:
    """Three or more consecutive words in capitals that are not acronyms or log levels."""
    for run in _CAPS_RUN_RE.findall(text[:MAX_SCAN_CHARS]):
        if sum(1 for w in _CAPS_WORD_RE.findall(run) if w not in _NOT_SHOUTING) >= 3:
            return True
    return False


_CAPS_RUN_RE = re.compile(r"\b[A-Z]{2,}(?:'[A-Z]+)?(?:[\s,.!?;:]+(?:I\s+)?[A-Z]{2,}(?:'[A-Z]+)?){2,}\b")
_CAPS_WORD_RE = re.compile(r"[A-Z]{2,}")
#: Acronyms, log levels and keywords that are upper case without anyone shouting.
_NOT_SHOUTING = CATALOGUE.words("not_shouting")


def frustration_signals(text: str, analysis: NlpAnalysis | None = None) -> tuple[str, ...]:
    """``("strong_anger",)`` when the customer is plainly upset; it never escalates by itself."""
    head = _matching_view(text)
    negative = analysis is not None and (analysis.sentiment in ("NEGATIVE", "MIXED") or analysis.negativity >= 0.5)
    anger = SIGNALS.get("strong_anger")
    if (anger is not None and anger.fires(head)) or is_shouting(head) or (
            negative and _ANGER_IF_NEGATIVE_RE.search(head)):
        return ("strong_anger",)
    return ()
