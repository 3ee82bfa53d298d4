"""Learned heads for the output policies: future commitments and competitor disparagement.

The clause rules of ``catalogue/output_policies.toml`` are precise, but they list phrasings,
and answers written by other hands (other languages, sneers without a listed pejorative,
promises of a callback) slip past them. Two binary heads over the same word and character
n-grams as the input guardrail's refusal heads (:mod:`.topic_model`,
:mod:`pipeline.domain.textfeatures`) read each *passage* of an answer, that is every
sentence (code comments included: a sentence here is a line too, :mod:`.clauses`), and add a finding for the passage when a rule did not find
the category. They are trained by ``python -m evals.train_output_heads`` on the output set's
``train`` split and the blind-written excerpts of ``golden_sets/training/``, and thresholded
out of fold so that they add few false blocks of allowed answers.

Some kinds of passage the guide allows read like a promise to a bag of words (a documented
deprecation, the customer's own next deployment): the learned rule's ``not_asked`` patterns
in the catalogue name them, and the head is not asked about such a passage
(:class:`NotAsked`; each with examples both ways, tested).

Cost: a passage is judged from its words (:meth:`HeadBank.decisions_for_words`, a few set
unions and one sum per head); only passages starting in the first :data:`MAX_CHARS`
characters are read and only those of at least ``MIN_WORDS`` words, so an answer of any
size costs a bounded amount.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.domain.guardrails import clauses
from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.topic_model import head_view
from pipeline.domain.textfeatures import BinaryHead, HeadBank, load_head_file, ngram_features

MODEL_PATH = Path(__file__).resolve().parent / "output_model.json"
FORMAT = "guardrail-output-heads-v1"
TRAINER = "evals.train_output_heads"
#: The categories a head may add, and the catalogue rule each one reports.
HEAD_RULES = {
    "future_commitment": "future_commitment.learned",
    "competitor_disparagement": "competitor_disparagement.learned",
}
#: Passages are read from the start of an answer (an answer is at most a few thousand words;
#: a longer text adds cost, not new kinds of sentences the rules would not judge anyway).
MAX_CHARS = 30_000
#: A word: a run of letters or digits in any script; a run of CJK characters is read in
#: pieces of up to four (those scripts write no spaces, and a sentence would be one "word").
_WORD_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]{1,4}|[^\W_]+")


def words_of(lowered: str) -> list[str] | None:
    """The words a head reads of a lower-cased passage, or None when it abstains (too short,
    or only a placeholder setting such as ``password: ${DB_PASSWORD}``)."""
    view = head_view(lowered)
    return None if view is None else _WORD_RE.findall(view)


@dataclass(frozen=True, slots=True)
class NotAsked:
    """The passages a head is not asked about: one of ``patterns`` occurs in the passage's
    words (joined by single spaces) and none of ``unless`` does.

    ``deflections`` are the assistant saying what it cannot do ("I can't promise", "I'm not
    able to waive or refund"): a bag of words reads "waive", "refund" and "promise" as a
    promise. A passage with a deflection is not asked either, and the words a deflection
    negates are not outcomes for ``unless``: "I can't waive it myself, but the billing team
    will refund you" keeps its "refund" after the deflection is taken out, and stays asked.
    """

    patterns: re.Pattern[str] | None
    unless: re.Pattern[str] | None
    deflections: re.Pattern[str] | None = None

    @classmethod
    def from_spec(cls, spec: RuleSpec) -> NotAsked:
        """From the learned rule's ``params`` (``not_asked``, ``not_asked_unless``: lists of
        patterns, one meaning each); a malformed entry is an error naming the rule."""
        def compiled(key: str) -> re.Pattern[str] | None:
            value = spec.params.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ValueError(f"{spec.source}, rule {spec.rule_id!r}: params.{key} must be a list of patterns")
            return re.compile("|".join(f"(?:{v})" for v in value)) if value else None
        return cls(compiled("not_asked"), compiled("not_asked_unless"), compiled("not_asked_deflections"))

    def covers(self, words: list[str] | tuple[str, ...]) -> bool:
        text = " ".join(words)
        found = self.patterns is not None and self.patterns.search(text) is not None
        if self.deflections is not None:
            rest = self.deflections.sub(" ", text)
            if rest != text:
                found, text = True, rest
        return found and (self.unless is None or self.unless.search(text) is None)


NOBODY = NotAsked(None, None)


def passage_features(words: list[str]) -> set[str]:
    """The features of a passage's words (what the trainer fits on)."""
    return ngram_features("", words)


def passages(lowered: str) -> list[tuple[int, int, list[str]]]:
    """(start, end, words) of every passage of a lower-cased answer the heads judge: each
    sentence that has enough words (judging pairs of adjacent sentences too gave the same
    out-of-fold recall, at twice the cost and with false blocks of neutral comparisons)."""
    starts, ends = clauses.sentence_spans(lowered)
    found: list[tuple[int, int, list[str]]] = []
    for start, end in zip(starts, ends, strict=True):
        if start >= MAX_CHARS:
            break
        words = words_of(lowered[start:end])
        if words is not None:
            found.append((start, end, words))
    return found


@lru_cache(maxsize=4)
def load_heads(path: str = str(MODEL_PATH)) -> tuple[BinaryHead, ...]:
    """The heads shipped with the package (validated; a malformed file is an error)."""
    return load_head_file(path, FORMAT, HEAD_RULES, TRAINER)


_BANK: list[HeadBank] = []  # the bank of the heads last loaded


def _bank(heads: tuple[BinaryHead, ...]) -> HeadBank:
    if not _BANK or _BANK[0].heads is not heads:
        _BANK[:] = [HeadBank(heads)]
    return _BANK[0]


def learned_hits(lowered: str, already: frozenset[str] = frozenset(),
                 not_asked: Mapping[str, NotAsked] | None = None,
                 heads: tuple[BinaryHead, ...] | None = None) -> list[tuple[str, int, int]]:
    """(rule id, start, end) of the passages a head says yes to, at most one per head (the
    first passage), skipping the categories in ``already`` (a rule found them) and, per
    head, the passages its ``not_asked`` covers. ``heads``: the shipped ones unless given
    (the batch cross-validation passes the heads fitted without the batch it scores)."""
    heads = load_heads() if heads is None else heads
    pending = {h.name for h in heads} - already
    if not pending:
        return []
    bank = _bank(heads)
    hits = []
    not_asked = not_asked or {}
    for start, end, words in passages(lowered):
        skip = already | (set(HEAD_RULES) - pending)
        skip |= {name for name in pending if not_asked.get(name, NOBODY).covers(words)}
        if skip >= pending:
            continue
        decided = bank.decisions_for_words(words, skip)
        for head, yes in zip(heads, decided, strict=True):
            if yes and head.name in pending:
                pending.discard(head.name)
                hits.append((HEAD_RULES[head.name], start, end))
        if not pending:
            break
    return hits
