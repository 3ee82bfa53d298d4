"""Words, loose stems, the asks of a question and the AWS services a text names.

Shared by ``completeness`` (is every ask answered?) and ``relevance`` (is the answer about
the question?). Word lists come from ``catalogue/lexicons.toml``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from functools import lru_cache

from pipeline.domain.quality.catalogue import catalogue
from pipeline.domain.quality.parsing import WORD
from pipeline.ports import AwsApiCatalog

_CATALOGUE = catalogue()
STOPWORDS = _CATALOGUE.words("stopwords")
ASK_VERBS = _CATALOGUE.words("ask_verbs")
ASK_GENERIC = _CATALOGUE.words("ask_generic")
AMBIGUOUS_SERVICE_WORDS = _CATALOGUE.words("ambiguous_service_words")
#: Words that count as mentioning a service (besides its name) when checking coverage.
SERVICE_ALIASES: Mapping[str, tuple[str, ...]] = _CATALOGUE.service_aliases
_SYNONYMS: dict[str, str] = {stem: group[0] for group in _CATALOGUE.synonym_groups for stem in group}
_SERVICE_TOKEN = re.compile(r"[A-Za-z0-9]+")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ions", "ion", "ed", "es", "s", "ly")
_PART_SPLIT = _CATALOGUE.regex("completeness.part_split")
_AND_CLAUSE = _CATALOGUE.regex("completeness.and_clause")
_COMPARISON = re.compile(r"\b(?:between|both|either|compare|comparing|vs|versus)\b", re.IGNORECASE)
ASK_KINDS: tuple[tuple[re.Pattern[str], re.Pattern[str], str], ...] = tuple(
    (_CATALOGUE.regex(f"completeness.ask.{kind}"), _CATALOGUE.regex(f"completeness.answer.{kind}"), label)
    for kind, label in (("cost", "how much it costs"), ("duration", "how long"), ("amount", "how many or how much"))
)


def _stem(word: str) -> str:
    return word.lower()[:6]


@lru_cache(maxsize=4096)
def content_terms(text: str) -> frozenset[str]:
    """Crudely stemmed (6-letter prefix) content words of a text, stopwords removed."""
    return frozenset(
        _stem(w)
        for w in WORD.findall(text)
        if w.lower() not in STOPWORDS and (len(w) >= 3 or w.isupper())
    )


def loose_stem(word: str) -> str:
    """Suffix-stripped 5-letter prefix: "copies"/"copy", "deletion"/"delete", "backups"/"backup"."""
    w = word.lower()
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            if suffix in ("ed", "ing", "ings") and len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeiouls":
                w = w[:-1]  # "stopped" -> "stop"
            break
    stem = w[:5]
    return _SYNONYMS.get(stem, stem)


#: Verbs that say what to do, not what it is about ("delete" my account, "see" my bill).
GENERIC_ACTIONS = frozenset(loose_stem(w) for w in ASK_VERBS | {"fix", "work", "do", "use", "go", "happen"})


@lru_cache(maxsize=4096)
def ask_terms(text: str) -> frozenset[str]:
    """Loosely stemmed content words of one ask, without words that carry no topic."""
    return frozenset(
        loose_stem(w)
        for w in WORD.findall(text)
        if w.lower() not in STOPWORDS
        and w.lower() not in ASK_GENERIC
        and (len(w) >= 3 or w.isupper() or any(ch.isdigit() for ch in w) or w.lower() in _SYNONYMS)
    )


_SENTENCE = re.compile(r"[^.?!\n]+(?:[.?!]+|$)")
#: A sentence that asks for something without a question mark ("please explain …").
_REQUEST = re.compile(
    r"^\W*(?:(?:and|also|so|but|then|ok|okay)\b[\s,]*)?(?:please\b|(?:can|could|would|will) you\b|"
    r"(?:tell|show|explain|give|walk|help|let) (?:me|us)\b|explain\b|i (?:need|want|would like|'d like) to (?:know|understand)\b|"
    r"(?:how|what|which|why|when|where|who|whom|whose|is|are|can|could|should|would|will|do|does|did|any)\b(?!['’]t\b))",
    re.IGNORECASE,
)


#: The end of a negated clause ("ideally without writing"): what follows "and" belongs to it.
_NEGATED_TAIL = re.compile(r"\b(?:without|instead\s+of|rather\s+than|avoid(?:ing)?|not)\s+\w+\s*$", re.IGNORECASE)


def ask_sentences(query: str) -> list[str]:
    """The sentences of a query that ask something: questions and requests.

    Statements around them (a pasted error, a log line, "my boss is yelling at me") are
    context: they say what the question is about, not what the answer must cover.
    """
    query = _PASTED_SERVICE_ERROR.sub(" ", query)
    return [
        s.strip() for s in _SENTENCE.findall(query)
        if s.strip() and (s.rstrip().endswith("?") or _REQUEST.match(s.strip()))
    ]


#: An AWS SDK/CLI error pasted into the question (botocore's ``ClientError`` text: "An error
#: occurred (Code) when calling the Operation operation: message"), to the end of its line: its
#: "Please visit … to request an adjustment" is the service's wording, not the customer's ask.
_PASTED_SERVICE_ERROR = re.compile(r"An error occurred \([\w.]+\)(?: \([^)\n]*\))? when calling the \w+ operation[^\n]*")


def question_parts(query: str) -> list[str]:
    """The separate asks in a question (sentences, "also", "1) … 2) …", "… and how …", "A and B")."""
    parts: list[str] = []
    for piece in _PART_SPLIT.split(query):
        if not piece or not piece.strip():
            continue
        parts.extend(_split_and(piece))
    return [
        p
        for p in parts
        if len(WORD.findall(p)) >= 2
        and (ask_terms(p) or any(asks.search(p) for asks, _, _ in ASK_KINDS))
    ]


def _split_and(piece: str) -> list[str]:
    """Split "X and Y" when Y is its own ask: a new action ("and copy it to another region")
    or a second object of two or more content words ("EBS volumes and Elastic IPs in my
    account"). "between A and B" and short pairs ("read and write") stay together."""
    result: list[str] = []
    rest = piece
    while True:
        split = None
        for match in _AND_CLAUSE.finditer(rest):
            left, right = rest[: match.start()], rest[match.end() :]
            if _COMPARISON.search(left) or _NEGATED_TAIL.search(left):
                continue  # "between A and B"; "without writing and maintaining a function" is one thing
            left_terms, right_terms = ask_terms(left), ask_terms(right)
            first = right.split(maxsplit=1)[0].lower() if right.split() else ""
            if len(left_terms) >= 2 and (
                (first in ASK_VERBS and len(right_terms) >= 1 and len(WORD.findall(right)) >= 2)
                or (len(right_terms) >= 2 and len(WORD.findall(right)) >= 3)
            ):
                split = (left, right)
                break
        if split is None:
            result.append(rest)
            return result
        result.append(split[0])
        rest = split[1]


class ServiceIndex:
    """Finds the customer-facing AWS service names a text mentions (cached per text).

    Args:
        catalog: Supplies ``service_names()`` (``EC2``, ``Route 53`` …).
    """

    def __init__(self, catalog: AwsApiCatalog) -> None:
        self._catalog = catalog
        self._index: dict[str, list[tuple[tuple[str, ...], str]]] | None = None
        self._cache: dict[str, frozenset[str]] = {}

    def _build(self) -> dict[str, list[tuple[tuple[str, ...], str]]]:
        # first token (lower) -> [(all tokens lower, display name)], longest first
        index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for name in self._catalog.service_names():
            tokens = tuple(t.lower() for t in _SERVICE_TOKEN.findall(name))
            if tokens:
                index.setdefault(tokens[0], []).append((tokens, name))
                if len(tokens) > 1:  # "Route53", "SecretsManager"
                    index.setdefault("".join(tokens), []).append((("".join(tokens),), name))
        for candidates in index.values():
            candidates.sort(key=lambda e: len(e[0]), reverse=True)
        return index

    def services_in(self, text: str) -> frozenset[str]:
        """Customer-facing service names mentioned in ``text``."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        if self._index is None:
            self._index = self._build()
        words = _SERVICE_TOKEN.findall(text)
        lowered = [w.lower() for w in words]
        found: set[str] = set()
        for position, word in enumerate(lowered):
            entries = self._index.get(word)
            if not entries:
                continue
            for tokens, name in entries:
                if tuple(lowered[position : position + len(tokens)]) != tokens:
                    continue
                # Lower-case "config", "support", "connect", "batch" … are ordinary words.
                if words[position].islower() and name.lower() in AMBIGUOUS_SERVICE_WORDS:
                    break
                found.add(name)
                break
        result = frozenset(found)
        if len(self._cache) > 2048:
            self._cache.clear()
        self._cache[text] = result
        return result


def mentions_service(service: str, response_lower: str, response_services: AbstractSet[str]) -> bool:
    """The answer names ``service`` or one of its aliases (bucket for S3, instance for EC2 …)."""
    if service in response_services or service.lower().replace(" ", "") in response_lower:
        return True
    return any(alias in response_lower for alias in SERVICE_ALIASES.get(service, ()))
