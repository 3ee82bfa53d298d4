"""Okapi BM25 ranking over small document collections (the offline model's knowledge).

Pure Python and dependency-free, so it can ship in a Lambda. The collection is a few
dozen curated articles, so the index is built in memory once per process.

**Scoring.** For a query ``q`` and a document ``d``::

    score(d, q) = sum over query terms t of
        idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

(Robertson and Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond", 2009;
the ``+ 1`` inside the logarithm keeps idf positive, as Lucene does.) A term that occurs
several times in the query counts once per occurrence.

**Fields.** A document has named fields (title, keywords, body …). Each field's tokens
are repeated ``weight`` times in the document's bag of words: the simple form of BM25F
(field-weighted term frequencies, then one saturation), which lets a word in the title
count for more than one deep in the body.

**Terms.** Lower-cased alphanumeric words without stopwords, lightly stemmed
(``timing``/``timed``/``times`` -> ``tim``), plus ordered pairs of nearby plain words (``tim_out``),
so a phrase like "connection timed out" matches as a phrase and not only word by word.
Identifiers such as ``ec2``, ``s3`` and ``route53`` are kept as they are.

Example:
    >>> index = BM25Index.build([
    ...     ("ssh", {"title": "EC2: SSH connection times out"}),
    ...     ("lambda", {"title": "Lambda: Task timed out"}),
    ... ])
    >>> index.search("ssh to my instance times out")[0].doc_id
    'ssh'
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["BM25Index", "Hit", "STOPWORDS", "stem", "terms", "words"]

#: Words that carry no topic in a support question.
STOPWORDS = frozenset(
    """
    a an the and or but if then else of to in on at for from by with without about into
    over is are was were be been being am do does did doing have has had having i me my
    we our you your it its this that these those there here what which who whom how why
    when where can could should would will shall may might must not no yes so too very
    just also any some all more most other such only own same than up down off again
    further once please help hi hello thanks thank get got getting use using used want
    need trying try tried still im ive dont cant wont doesnt
    """.split()
)

_WORD_RE = re.compile(r"[a-z0-9]+")
_PLAIN_RE = re.compile(r"[A-Za-z0-9]+")
#: Word pairs span up to this many content words (1 = adjacent bigrams only).
PAIR_WINDOW = 2
_SUFFIXES = ("ing", "ed", "es", "s")

#: Okapi BM25 defaults (Robertson & Zaragoza 2009; Lucene's values).
DEFAULT_K1 = 1.2
DEFAULT_B = 0.75


def stem(word: str) -> str:
    """A light, consistent suffix stripper: ``timing``, ``timed``, ``times`` -> ``tim``.

    Only alphabetic words of four letters or more are stemmed, so identifiers (``ec2``,
    ``s3``, ``503``) stay as written. It is applied to queries and documents alike, so its
    crudeness costs nothing in matching.
    """
    if len(word) < 4 or not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


#: Closed compounds written both ways in support questions ("timeout" / "timed out").
COMPOUNDS: dict[str, tuple[str, ...]] = {
    "timeout": ("time", "out"),
    "timeouts": ("time", "out"),
    "login": ("log", "in"),
    "logon": ("log", "on"),
    "signin": ("sign", "in"),
    "setup": ("set", "up"),
    "startup": ("start", "up"),
    "shutdown": ("shut", "down"),
}


def _chunk_words(chunk: str) -> list[str]:
    found: list[str] = []
    for word in _WORD_RE.findall(chunk.lower()):
        found.extend(COMPOUNDS.get(word, (word,)))
    return [stem(w) for w in found if w not in STOPWORDS]


def words(text: str) -> list[str]:
    """Stemmed content words of ``text`` in order (stopwords removed)."""
    return [w for chunk in text.split() for w in _chunk_words(chunk)]


def terms(text: str) -> list[str]:
    """The index terms of ``text``: its content words and the bigrams of adjacent plain words.

    Word pairs join a plain word (letters and digits only) with each of the
    :data:`PAIR_WINDOW` plain content words before it in the same phrase (stopwords are
    skipped, punctuation ends a phrase): "function keeps timing out" gives
    ``function_keep``, ``function_tim``, ``keep_tim``, ``keep_out`` and ``tim_out``, so
    "function timing out" matches it as a phrase with one word in between. Words inside a command line or an identifier
    (``key.pem``, ``ec2-user@host``) give no bigrams, so a pasted command matches by its
    words and does not outweigh the symptom the customer describes.
    """
    unigrams: list[str] = []
    bigrams: list[str] = []
    recent: list[str] = []  # the last plain words of the current phrase
    for chunk in text.split():
        chunk_words = _chunk_words(chunk)
        unigrams.extend(chunk_words)
        bare = chunk.strip(".,;:!?()[]\"'")
        if _PLAIN_RE.fullmatch(bare) is None:
            recent = []
            continue
        for word in chunk_words:  # a stopword has none: "timed out after" pairs out/after
            bigrams.extend(f"{earlier}_{word}" for earlier in recent)
            recent = [*recent, word][-PAIR_WINDOW:]
        if bare != chunk:
            recent = []  # punctuation ends a phrase
    return unigrams + bigrams


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked document: its id, BM25 score and the query terms it matched."""

    doc_id: str
    score: float
    matched: tuple[str, ...]


class BM25Index:
    """An in-memory BM25 index; build it with :meth:`build`.

    Args:
        doc_ids: Document ids, in collection order (ties rank in this order).
        bags: Each document's term frequencies (field weights already applied).
        k1: Term-frequency saturation.
        b: Length normalisation (0 = none, 1 = full).
    """

    def __init__(
        self,
        doc_ids: Sequence[str],
        bags: Sequence[Mapping[str, float]],
        *,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
    ) -> None:
        if len(doc_ids) != len(bags):
            raise ValueError("one bag of terms per document id")
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("document ids must be unique")
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError("BM25 needs k1 >= 0 and 0 <= b <= 1")
        self.doc_ids = tuple(doc_ids)
        self.k1, self.b = k1, b
        self._bags = [dict(bag) for bag in bags]
        self._lengths = [sum(bag.values()) for bag in self._bags]
        count = len(self._bags)
        self._avgdl = (sum(self._lengths) / count) if count else 0.0
        df: Counter[str] = Counter()
        for bag in self._bags:
            df.update(bag.keys())
        self._idf = {t: math.log(1.0 + (count - n + 0.5) / (n + 0.5)) for t, n in df.items()}

    @classmethod
    def build(
        cls,
        documents: Iterable[tuple[str, Mapping[str, str | Sequence[str]]]],
        *,
        field_weights: Mapping[str, int] | None = None,
        raw_fields: Collection[str] = (),
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
    ) -> BM25Index:
        """Index documents given as ``(doc_id, {field: text or list of texts})``.

        Args:
            documents: The collection.
            field_weights: How many times each field's terms count (default 1 each).
                A field with weight 0 is not indexed.
            raw_fields: Fields whose values are index terms as they are (tags such as an
                intent id), not text to tokenise; a query reaches them through
                ``extra_terms`` of :meth:`search`.
            k1: Term-frequency saturation.
            b: Length normalisation.

        Returns:
            The index.
        """
        weights = dict(field_weights or {})
        doc_ids: list[str] = []
        bags: list[Counter[str]] = []
        for doc_id, fields in documents:
            bag: Counter[str] = Counter()
            for name, value in fields.items():
                weight = weights.get(name, 1)
                if weight <= 0:
                    continue
                texts = [value] if isinstance(value, str) else list(value)
                for text in texts:
                    for term in [text] if name in raw_fields else terms(text):
                        bag[term] += weight
            doc_ids.append(doc_id)
            bags.append(bag)
        return cls(doc_ids, bags, k1=k1, b=b)

    def idf(self, term: str) -> float:
        """The term's inverse document frequency (0 for a term no document has)."""
        return self._idf.get(term, 0.0)

    def score(self, position: int, query_terms: Sequence[str]) -> tuple[float, tuple[str, ...]]:
        """BM25 score of the document at ``position`` and the query terms it contains."""
        bag = self._bags[position]
        norm = self.k1 * (1.0 - self.b + self.b * self._lengths[position] / self._avgdl) if self._avgdl else 0.0
        total = 0.0
        matched: list[str] = []
        for term in query_terms:
            tf = bag.get(term)
            if not tf:
                continue
            total += self._idf[term] * tf * (self.k1 + 1.0) / (tf + norm)
            matched.append(term)
        return total, tuple(dict.fromkeys(matched))

    def search(self, query: str, *, extra_terms: Sequence[str] = (), limit: int | None = None) -> list[Hit]:
        """Documents matching ``query``, best first (ties in collection order).

        Args:
            query: Free text.
            extra_terms: Index terms to add to the query as they are (e.g. an intent tag
                that documents carry in a field).
            limit: Return at most this many hits.

        Returns:
            Hits with a positive score.
        """
        query_terms = [*terms(query), *extra_terms]
        hits = []
        for position, doc_id in enumerate(self.doc_ids):
            total, matched = self.score(position, query_terms)
            if total > 0:
                hits.append((total, position, Hit(doc_id, round(total, 6), matched)))
        hits.sort(key=lambda item: (-item[0], item[1]))
        ranked = [hit for _total, _position, hit in hits]
        return ranked[:limit] if limit is not None else ranked
