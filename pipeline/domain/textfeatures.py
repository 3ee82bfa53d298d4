"""Sparse n-gram features and small linear models over them, in pure Python.

The intent classifier, its escalation head and the input guardrail's learned topic heads
all read a message the same way: word unigrams (``w:``), word bigrams (``b:``) and
character 3- and 4-grams inside words padded with spaces (``c:``, robust to misspellings
and inflections in other languages). Models are trained offline (scikit-learn, in
``evals``) and shipped as JSON; inference here is ``json`` + ``math`` so a Lambda stays
light.

Example:
    >>> sorted(f for f in ngram_features("Agent pls") if not f.startswith("c:"))
    ['b:agent pls', 'w:agent', 'w:pls']
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

WORD_RE = re.compile(r"[a-z0-9]+")


def ngram_features(lowered: str, words: list[str] | None = None) -> set[str]:
    """Word, bigram and in-word character n-gram features of a lower-cased text.

    Args:
        lowered: The text, already normalised and lower-cased (the caller bounds its length).
        words: ``WORD_RE.findall(lowered)``, when the caller has it already.
    """
    if words is None:
        words = WORD_RE.findall(lowered)
    features: set[str] = set()
    update = features.update
    cache = _WORD_FEATURES
    for word in words:
        found = cache.get(word)
        if found is None:
            found = _word_features(word)
        update(found)
    add = features.add
    for first, second in zip(words, words[1:], strict=False):
        add("b:" + first + " " + second)
    return features


def _word_features(word: str) -> tuple[str, ...]:
    """``w:`` and ``c:`` features of one word, memoised (bounded): words repeat across
    messages, and a cached feature string also keeps its hash for the models' lookups."""
    found = ["w:" + word]
    if len(word) > 2 and not word.isdigit():
        padded = " " + word[:20] + " "
        found.extend("c:" + padded[start : start + 3] for start in range(len(padded) - 2))
        found.extend("c:" + padded[start : start + 4] for start in range(len(padded) - 3))
    features = tuple(found)
    if len(word) <= _CACHED_WORD_CHARS:
        if len(_WORD_FEATURES) >= _CACHED_WORDS:
            _WORD_FEATURES.clear()  # a batch of new vocabulary starts over: memory stays bounded
        _WORD_FEATURES[word] = features
    return features


_WORD_FEATURES: dict[str, tuple[str, ...]] = {}
_CACHED_WORDS = 50_000
_CACHED_WORD_CHARS = 40


class LinearHeadError(ValueError):
    """A model file's head is malformed."""


@dataclass(frozen=True, slots=True)
class BinaryHead:
    """A binary logistic regression over binary features, with its decision threshold.

    The score is ``bias + sum(weights of present features) / sqrt(n present)`` (the
    features are L2-normalised binary vectors, as in training); the probability is the
    logistic of the score divided by ``temperature`` (fitted on the dev split).

    Attributes:
        name: What the head decides (``escalate``, ``prompt_attack``…).
        weights: Feature -> weight.
        bias: The intercept.
        temperature: Calibration of the probability (1.0 = none).
        threshold: The probability at or above which the head says yes (chosen on dev).
        metadata: How it was trained and chosen (training sizes, dev measurements).
    """

    name: str
    weights: Mapping[str, float]
    bias: float
    temperature: float
    threshold: float
    metadata: Mapping[str, Any]

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> BinaryHead:
        """Load one head from the JSON written by the trainers in ``evals``."""
        try:
            weights = {str(k): float(v) for k, v in data["weights"].items()}
            head = cls(name, weights, float(data["bias"]), float(data.get("temperature", 1.0)),
                       float(data["threshold"]), dict(data.get("metadata", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LinearHeadError(f"head {name!r}: {exc!r}; retrain it (see evals)") from exc
        if not 0.0 < head.threshold < 1.0 or head.temperature <= 0.0:
            raise LinearHeadError(f"head {name!r}: threshold must be in (0, 1) and temperature > 0")
        return head

    def score(self, features: Iterable[str]) -> float:
        """The uncalibrated score of a feature set."""
        weights = self.weights
        present = [weights[f] for f in features if f in weights]
        if not present:
            return self.bias
        return self.bias + math.fsum(present) / math.sqrt(len(present))

    def probability(self, features: Iterable[str]) -> float:
        """The calibrated probability that the answer is yes."""
        return self.probability_of_score(self.score(features))

    def probability_of_score(self, score: float) -> float:
        """The calibrated probability of an uncalibrated score."""
        z = score / self.temperature
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def decide(self, features: Iterable[str]) -> bool:
        """True when the probability reaches the head's threshold.

        A text with no feature the head knows (a script the features do not cover, a
        lone emoji) is never a yes: the bias alone is a prior, not evidence.
        """
        weights = self.weights
        return self.decide_weights([weights[f] for f in features if f in weights])

    def decide_weights(self, present: Sequence[float]) -> bool:
        """:meth:`decide` given the weights of the features present (in any order: ``fsum``
        is exact, so the order of the terms does not change the sum).

        The decision is that of ``z = (bias + fsum(present) / sqrt(n)) / temperature``. A
        plain ``sum`` costs a fraction of ``fsum`` and is within ``(n - 1)·u·Σ|w|`` of the
        exact sum (``u`` = 2⁻⁵³); ``z`` is non-decreasing in the sum, rounding included, so
        when both ends of a wider interval around ``sum`` decide alike, ``fsum`` decides the
        same. Only a score within that hair of the threshold pays for ``fsum``.
        """
        if not present:
            return False
        size = len(present)
        root = math.sqrt(size)
        bias, temperature, threshold = self.bias, self.temperature, self._logit_threshold
        approx = sum(present)
        slack = (2 * size + 4) * _UNIT_ROUNDOFF * sum(map(abs, present)) + _TINY
        if (bias + (approx - slack) / root) / temperature >= threshold:
            return True
        if (bias + (approx + slack) / root) / temperature < threshold:
            return False
        return (bias + math.fsum(present) / root) / temperature >= threshold

    @property
    def _logit_threshold(self) -> float:
        return math.log(self.threshold / (1.0 - self.threshold))


def load_head_file(path: str | Path, fmt: str, names: Iterable[str], trainer: str) -> tuple[BinaryHead, ...]:
    """The heads of a model file written by a trainer in ``evals`` (validated: a file of another
    format, a malformed head or a head not in ``names`` is an error naming ``trainer``).

    Shared by the input guardrail's refusal heads and the output guardrail's policy heads."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != fmt:
        raise LinearHeadError(f"{path}: format must be {fmt!r}; retrain with python -m {trainer}")
    heads = tuple(BinaryHead.from_dict(name, head) for name, head in sorted(data["heads"].items()))
    unknown = {h.name for h in heads} - set(names)
    if unknown:
        raise LinearHeadError(f"{path}: unknown heads {sorted(unknown)}")
    return heads


_UNIT_ROUNDOFF = 2.0**-53  # the relative rounding error of one float operation
_TINY = 1e-300  # covers underflow in the slack itself


class HeadBank:
    """Several heads over one feature vocabulary, decided together.

    One dictionary maps each feature to the tuple of its weights in every head (None where a
    head has none), so a feature is looked up once instead of once per head. The decisions
    are exactly those of :meth:`BinaryHead.decide`: the same weights are present, and
    ``fsum`` is exact whatever their order.
    """

    def __init__(self, heads: Iterable[BinaryHead]) -> None:
        self.heads: tuple[BinaryHead, ...] = tuple(heads)
        features: dict[str, None] = {}
        for head in self.heads:
            features.update(dict.fromkeys(head.weights))
        self.table: dict[str, tuple[float | None, ...]] = {
            f: tuple(head.weights.get(f) for head in self.heads) for f in features
        }
        # The word-level fast path (:meth:`decisions_for_words`): every known feature gets
        # an id (from 1, so ``filter(None, …)`` drops unknown ones) and a row of its weights
        # in every head (0.0 where a head has none; ``_missing`` says which), and each word
        # the ids of its known features, computed once.
        self._ids: dict[str, int] = {f: i for i, f in enumerate(self.table, start=1)}
        # Columns are arrays of doubles (contiguous: gathering ~200 scattered ids from a list
        # of 60,000 float objects was mostly cache misses); the values are the same doubles.
        self._columns: list[array[float]] = [
            array("d", [0.0] + [0.0 if row[k] is None else row[k] for row in self.table.values()])  # type: ignore[misc]
            for k in range(len(self.heads))
        ]
        self._missing: list[frozenset[int]] = [
            frozenset(i for f, i in self._ids.items() if self.table[f][k] is None) for k in range(len(self.heads))
        ]
        self._word_ids: dict[str, frozenset[int]] = {}
        self._bigram_prefix: dict[str, str] = {}

    def decisions(self, features: Iterable[str], skip: Iterable[str] = ()) -> list[bool]:
        """``head.decide(features)`` for every head, in order (False for the names in ``skip``)."""
        skipped = frozenset(skip)
        rows = [row for row in map(self.table.get, features) if row is not None]
        decided = []
        for k, head in enumerate(self.heads):
            if head.name in skipped:
                decided.append(False)
                continue
            decided.append(head.decide_weights([row[k] for row in rows if row[k] is not None]))
        return decided

    def decisions_for_words(self, words: list[str], skip: Iterable[str] = ()) -> list[bool]:
        """``decisions(ngram_features(text, words), skip)`` from the words alone, faster.

        The features of a text are the union of its words' features and its bigrams; the
        ids of each word's known features are computed once and remembered (bounded), so a
        message costs a few set unions in C and one ``fsum`` per head. The decisions are
        exactly :meth:`decisions`': the same known features are present (a set of ids is a
        set of features), with the same weights, and ``fsum`` is exact in any order.
        """
        skipped = frozenset(skip)
        if all(head.name in skipped for head in self.heads):
            return [False] * len(self.heads)
        cache = self._word_ids
        prefixes = self._bigram_prefix
        new_words = set(words).difference(cache)
        if new_words:
            if len(cache) + len(new_words) > _CACHED_WORDS:
                # a batch of new vocabulary starts over: memory stays bounded
                cache.clear()
                prefixes.clear()
                new_words = set(words)
            ids = self._ids
            for word in new_words:
                cache[word] = frozenset(filter(None, map(ids.get, _word_features(word))))
                prefixes[word] = "b:" + word + " "
        present: set[int] = set().union(*map(cache.__getitem__, words))
        if len(words) > 1:
            bigrams = map(str.__add__, map(prefixes.__getitem__, words[:-1]), words[1:])
            present.update(filter(None, map(self._ids.get, bigrams)))
        # One gather in C per head (itemgetter of one id returns the item, not a tuple).
        gather = itemgetter(*present) if len(present) > 1 else (lambda column: (column[next(iter(present))],))
        decided = []
        for k, head in enumerate(self.heads):
            if head.name in skipped or not present:
                decided.append(False)
                continue
            column = self._columns[k]
            missing = self._missing[k]
            if missing and not missing.isdisjoint(present):
                # features this head has no weight for are not present for it
                weights = [column[i] for i in present if i not in missing]
            else:
                weights = gather(column)
            decided.append(head.decide_weights(weights))
        return decided


