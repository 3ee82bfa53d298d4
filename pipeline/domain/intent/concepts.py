"""Concept features for the escalate head: what a message is about, in any language.

``concepts.toml`` names a few concepts (a person, contacting, a bot, money, a dispute,
leaving, production, an outage, urgency, loss, compromise, being locked out, an account,
anger, a how-to question, support plans) by word stems in several languages and CJK
fragments (short stems and `words` match whole words). :func:`concept_features` returns ``k:<concept>`` for each concept present and
``k2:<a>+<b>`` for each pair present, so a linear head can learn combinations of meaning
that no phrase list enumerates.

Example:
    >>> sorted(f for f in concept_features("can someone call me") if f.startswith("k:"))
    ['k:contact', 'k:person']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path

from pipeline.domain.intent.catalogue import CatalogueError, load_toml
from pipeline.domain.prefilter import GatedPattern, PatternGroup
from pipeline.domain.textnorm import normalize

CONCEPTS_FILE = Path(__file__).resolve().parent / "concepts.toml"
FORMAT = "concepts-v1"
SHORT_STEM = 3
#: Only the start of a message is read: a pasted log adds cost, not meaning.
MAX_CHARS = 5000


class ConceptsError(CatalogueError):
    """concepts.toml is malformed (names the concept and the problem)."""


@dataclass(frozen=True, slots=True)
class Concept:
    """One concept: a compiled alternation of stems (word starts) and CJK fragments."""

    name: str
    pattern: re.Pattern[str] | GatedPattern
    must_match: tuple[str, ...]
    must_not_match: tuple[str, ...]

    def present(self, lowered: str) -> bool:
        return self.pattern.search(lowered) is not None


def _fold(term: str) -> str:
    return normalize(term).text.lower()


def _folds(term: str) -> set[str]:
    """A term as it can appear in the matching view: the view maps some lower-case Cyrillic
    letters to Latin look-alikes but not their capitals ("п" is "n", "П" stays), so a word
    that starts a sentence folds differently; both forms are kept."""
    return {_fold(term), _fold(term[:1].upper() + term[1:])}


def load_concepts(path: Path = CONCEPTS_FILE) -> tuple[Concept, ...]:
    """Read and validate the concept lexicons."""
    data = load_toml(path, FORMAT)  # the intent catalogues' reader: file, TOML and format errors
    concepts = []
    for name, entry in sorted(data.get("concept", {}).items()):
        terms = [f for s in entry.get("stems", ()) if s.strip() for f in _folds(s)]
        # A short stem ("ai", "bot", "rep") would start too many unrelated words ("both",
        # "repo"): stems of up to 3 characters, and those listed under `words`, match whole words.
        words = sorted({t for t in terms if len(t.strip()) <= SHORT_STEM}
                       | {f for w in entry.get("words", ()) if w.strip() for f in _folds(w)}, key=len, reverse=True)
        stems = sorted({t for t in terms if len(t.strip()) > SHORT_STEM}, key=len, reverse=True)
        # CJK fragments are folded like the text (accent folding splits kana voicing marks).
        cjk = sorted({_fold(s) for s in entry.get("cjk", ()) if s.strip()}, key=len, reverse=True)
        if not stems and not words and not cjk:
            raise ConceptsError(f"{path}: concept {name!r} has no stems and no cjk fragments")
        parts = []
        if stems:
            # A stem starts a word; its end is free ("escalat" matches "escalate").
            parts.append(r"(?<![a-z0-9])(?:" + "|".join(re.escape(s) for s in stems) + ")")
        if words:
            parts.append(r"(?<![a-z0-9])(?:" + "|".join(re.escape(w) for w in words) + r")(?![a-z0-9])")
        if cjk:
            parts.append("(?:" + "|".join(re.escape(s) for s in cjk) + ")")
        concepts.append(Concept(name, re.compile("|".join(parts)), tuple(entry.get("must_match", ())),
                                tuple(entry.get("must_not_match", ()))))
    return tuple(concepts)


def gated(concepts: tuple[Concept, ...], group: PatternGroup | None = None) -> tuple[Concept, ...]:
    """The concepts with their patterns in one :class:`PatternGroup`: one RE2 pass per text
    says which concepts can be present; only those are searched (same answers)."""
    group = PatternGroup() if group is None else group
    return tuple(replace(c, pattern=group.gate(c.pattern)) for c in concepts)  # type: ignore[arg-type]


CONCEPTS: tuple[Concept, ...] = gated(load_concepts())


def concept_names(text: str) -> tuple[str, ...]:
    """The concepts present in a text, in name order."""
    return concept_names_folded(_fold(text[:MAX_CHARS]))


def concept_names_folded(folded: str) -> tuple[str, ...]:
    """:func:`concept_names` of a text already in the matching view (normalised, lower-cased)."""
    return tuple(c.name for c in CONCEPTS if c.present(folded))


def pair_features(names: tuple[str, ...]) -> set[str]:
    """``k2:<a>+<b>`` for each pair of concept names (in name order)."""
    return {"k2:" + a + "+" + b for a, b in combinations(sorted(names), 2)}


def concept_features(text: str) -> set[str]:
    """``k:<concept>`` per concept present and ``k2:<a>+<b>`` per pair present."""
    names = concept_names(text)
    return {"k:" + n for n in names} | pair_features(names)
