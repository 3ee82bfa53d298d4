"""Documented AWS quantities (``catalogue/quantities.toml``): numeric claims checked by kind.

The fact rules (:mod:`.facts`) are one pattern per wrong wording. This module reads every
*numeric claim* of an answer the same way, whatever the service or the language, and looks
the claimed value up in a table written from the AWS documentation:

1. a **value with a unit** (``15 minutes``, ``10,240 MB``, ``12 Stunden``, ``14 días``,
   ``900 秒``, ``25 items``), or the two ends of a range (``1–900 seconds``);
2. a **qualifier** that makes it a claim about a documented quantity, just before it
   ("maximum", "up to", "no more than", "default", "at least", "máximo", "bis zu", "最大",
   "par défaut" …) or just after it ("15 minutes max", "4 days by default"); the ends of a
   range are claims about the minimum and the maximum. A value without one (``set the
   timeout to 60 seconds``) is the user's setting, not a claim, and is left alone;
3. the **subject**: the service named last before the value (in the sentence, else in the
   text just above: a heading or a table row's title), and a **term** naming the quantity
   near the value (``timeout``, ``retention``, ``Aufbewahrung`` …).

A claim is wrong when at least one table entry has that subject, kind and dimension and a
term near the value, and the value equals none of those entries' documented values (sizes
compare in decimal and binary units: AWS writes 256 KB for 262,144 bytes). Naming a
service the table does not describe before the value (``API Gateway's 29-second limit``
after a paragraph about Lambda) stops the claim from being read as Lambda's.

Pure stdlib, one pass per sentence: every pattern is anchored on a number, so the work is
linear in the length of the answer.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from pipeline.domain.quality.scoring import Findings

QUANTITIES_FILE = Path(__file__).resolve().parent / "catalogue" / "quantities.toml"
KINDS = ("max", "min", "default")
DIMENSIONS = ("duration", "size", "count")
#: How far before a value its qualifier may end, and after it a trailing qualifier may start.
QUALIFIER_BEFORE = 48
QUALIFIER_AFTER = 44
#: How far from the value the quantity's term may be (before / after), within the sentence.
TERM_BEFORE = 110
TERM_AFTER = 45
#: How much of an answer's prose is read for claims: a support answer (200-1,500 words)
#: is 1-10 KB; past this point a text is a flood, and reading it all would only cost time
#: (the review budget is 250 ms per 100 KB for every check together).
MAX_TEXT = 15_000
#: How many claims are read at most: a support answer states a few dozen numbers at most.
MAX_CLAIMS = 150
#: Context above a sentence where its subject may be named (a heading, the row's title).
SUBJECT_CONTEXT = 300

_NUMBER = r"\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+(?!\d)|\d+(?:[.,]\d+)?"
#: A value that closes a range written around other words ("3,000 (default) - 80,000").
_RANGE_END = re.compile(r"\d[^\d\n]{0,15}[-–~]\s*\**$")
#: Where a clause ends inside a sentence: a semicolon, a table cell.
_CLAUSE_MARKS = (";", "|")
_INLINE_LITERAL = re.compile(r"`[^`\n]*\d[^`\n]*`")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])(?:\s+|$)|\n")


class QuantityError(ValueError):
    """``quantities.toml`` is malformed; the message names the entry."""


@dataclass(frozen=True, slots=True)
class Quantity:
    """One documented quantity: a subject's term, its kind, dimension and right values."""

    id: str
    subject: str
    term: re.Pattern[str]
    kind: str
    dimension: str
    #: The documented values in base units (seconds, bytes, or a count).
    values: tuple[float, ...]
    description: str
    source: str
    must_match: tuple[str, ...]
    must_not_match: tuple[str, ...]
    #: For a count: the nouns that follow the number ("25 items", "10 Nachrichten").
    nouns: re.Pattern[str] | None = None
    #: A rate ("1,000 records per second"): matches only values followed by a time unit.
    per_time: bool = False
    #: Only values above the documented bound are wrong: a narrower context may set a lower
    #: one (a console-made presigned URL, a data point's own retention).
    over_only: bool = False

    def accepts(self, amount: float) -> bool:
        """Whether ``amount`` agrees with this entry's documented values."""
        if self.over_only and amount <= max(self.values) * 1.001:
            return True
        return _matches(amount, self.dimension, self.values)


@dataclass(frozen=True, slots=True)
class QuantityTable:
    """The vocabulary (qualifiers, units, subjects) and the entries, compiled."""

    quantities: tuple[Quantity, ...]
    subjects: Mapping[str, re.Pattern[str]]
    subject_any: re.Pattern[str]
    qualifier_before: Mapping[str, re.Pattern[str]]
    qualifier_after: Mapping[str, re.Pattern[str]]
    units: Mapping[str, tuple[str, float]]
    value: re.Pattern[str]
    words: Mapping[str, int]
    #: Words that make a value in their clause no claim: a denial, the past, the user's setting.
    skip: re.Pattern[str]
    #: What opens an allowed range ("between 1 and 900 seconds", "can be 1–900 seconds").
    range_start: re.Pattern[str]
    #: What makes a value a rate ("per second", "/s", "pro Sekunde").
    rate: re.Pattern[str]
    #: The entries by (subject, kind, dimension), in file order.
    by_key: Mapping[tuple[str, str, str], tuple[Quantity, ...]]


@dataclass(frozen=True, slots=True)
class Claim:
    """A value the answer states about a quantity: where, how much, of what kind."""

    start: int
    end: int
    amount: float
    dimension: str
    kind: str
    unit: str
    text: str
    #: Followed by "per second", "/s", "pro Sekunde" …: a rate, compared with rate entries only.
    per_time: bool = False


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise QuantityError(f"{where}: pattern does not compile ({exc})") from exc


def _alternation(patterns: list[str]) -> str:
    """One alternation, longest first. The alternatives that start at a word boundary share
    one ``\\b`` in front: the engine then tries them only where a word starts, which keeps
    a pass over 100 KB of text fast."""
    ordered = sorted(patterns, key=len, reverse=True)
    bounded = [p[2:] for p in ordered if p.startswith("\\b")]
    rest = [p for p in ordered if not p.startswith("\\b")]
    parts = ([rf"\b(?=[^\W\d_])(?:{'|'.join(f'(?:{p})' for p in bounded)})"] if bounded else []) + [f"(?:{p})" for p in rest]
    return "|".join(parts)


def load_quantities(path: Path = QUANTITIES_FILE) -> QuantityTable:
    """Read and validate ``quantities.toml``."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise QuantityError(f"{path}: {exc}") from exc
    if data.get("version") != 1:
        raise QuantityError(f"{path}: version must be 1")
    units: dict[str, tuple[str, float]] = {}
    for dimension, table in (data.get("units") or {}).items():
        if dimension not in DIMENSIONS:
            raise QuantityError(f"{path}: unknown unit dimension {dimension!r}")
        for factor_text, names in table.items():
            for name in names:
                units[name.lower()] = (dimension, float(factor_text))
    words = {str(k).lower(): int(v) for k, v in (data.get("number_words") or {}).items()}
    word_names = _alternation([re.escape(w) for w in words])
    value = re.compile(
        # Units are read as words and looked up (``_unit``): a regex alternation of every
        # unit name would be tried at every digit of the text.
        rf"(?<![\w.,])(?P<num>{_NUMBER}|\b(?:{word_names})\b)"
        # a unit or a range must follow: most numbers in a text are neither
        r"(?=\**[\s\u00a0]?-?\s?[^\W\d_]|[\s\u00a0]*(?:-|–|—|~|〜)\s*\d|[,.\s]\d)"
        rf"(?:(?:\s?(?P<lounit>[^\W\d_]{{1,12}}))?\s*(?P<sep>-|–|—|to|and|a|à|bis|y|e|et|und|até|~|〜|から)"
        rf"\s*(?P<hi>{_NUMBER}))?"
        rf"\**(?:\s?-?\s?|\u00a0)(?P<unit>[^\W\d_]+(?:[ \u00a0][^\W\d_]+){{0,2}})",
        re.IGNORECASE,
    )
    qualifiers = data.get("qualifiers") or {}
    before: dict[str, re.Pattern[str]] = {}
    after: dict[str, re.Pattern[str]] = {}
    for kind in KINDS:
        entry = qualifiers.get(kind) or {}
        if not entry.get("before"):
            raise QuantityError(f"{path}: qualifiers.{kind}.before is missing")
        before[kind] = _compile(rf"(?<![-_/`.])(?:{_alternation(entry['before'])})",
                                f"qualifiers.{kind}")
        reach = int(entry.get("after_reach", 3))
        after[kind] = _compile(rf"^[^\d\n.;:]{{0,{reach}}}?(?:{_alternation(entry.get('after') or ['(?!)'])})",
                               f"qualifiers.{kind}")
    subjects = {name: _compile(p, f"subjects.{name}") for name, p in (data.get("subjects") or {}).items()}
    subject_any = _compile(
        r"(?=\b[^\W\d_]|[^\x00-\x7f])(?:" + "|".join(f"(?P<{n}>{p.pattern})" for n, p in subjects.items()) + ")", "subjects"
    )
    quantities = []
    seen: set[str] = set()
    for raw in data.get("quantity") or []:
        quantities.append(_quantity(raw, subjects, units, seen))
    if not quantities:
        raise QuantityError(f"{path}: needs at least one [[quantity]]")
    skip = _compile(_alternation(data.get("not_a_claim") or ["(?!)"]), "not_a_claim")
    range_start = _compile(_alternation(data.get("range_start") or ["(?!)"]), "range_start")
    rate = _compile(rf"^\**\s*(?:{_alternation(data.get('rate') or ['(?!)'])})", "rate")
    by_key: dict[tuple[str, str, str], list[Quantity]] = {}
    for q in quantities:
        by_key.setdefault((q.subject, q.kind, q.dimension), []).append(q)
    return QuantityTable(tuple(quantities), subjects, subject_any, before, after, units, value, words, skip,
                         range_start, rate, {k: tuple(v) for k, v in by_key.items()})


_KEYS = frozenset({"id", "subject", "term", "kind", "dimension", "values", "description", "source",
                   "must_match", "must_not_match", "nouns", "per_time", "over_only"})


def _quantity(raw: dict[str, Any], subjects: Mapping[str, Any], units: Mapping[str, tuple[str, float]],
              seen: set[str]) -> Quantity:
    qid = raw.get("id")
    where = f"quantity {qid!r}"
    if not isinstance(qid, str) or not re.fullmatch(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+", qid) or qid in seen:
        raise QuantityError(f"{where}: 'id' must be unique and look like 'service.quantity.kind'")
    seen.add(qid)
    unknown = set(raw) - _KEYS
    if unknown:
        raise QuantityError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if raw.get("subject") not in subjects:
        raise QuantityError(f"{where}: subject {raw.get('subject')!r} is not in [subjects]")
    if raw.get("kind") not in KINDS or raw.get("dimension") not in DIMENSIONS:
        raise QuantityError(f"{where}: kind must be one of {KINDS}, dimension one of {DIMENSIONS}")
    for key in ("description", "source"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise QuantityError(f"{where}: {key!r} must be a non-empty string")
    if not str(raw["source"]).startswith("https://"):
        raise QuantityError(f"{where}: 'source' must be the documentation page (https://…)")
    for key in ("must_match", "must_not_match", "values"):
        if not isinstance(raw.get(key), list) or not raw[key]:
            raise QuantityError(f"{where}: {key!r} must be a non-empty list")
    values = []
    for text in raw["values"]:
        amount = _amount_of(str(text), raw["dimension"], units)
        if amount is None:
            raise QuantityError(f"{where}: value {text!r} is not a {raw['dimension']} (number and unit)")
        values.append(amount)
    nouns = raw.get("nouns")
    if raw["dimension"] == "count" and not nouns:
        raise QuantityError(f"{where}: a count needs 'nouns' (what is counted)")
    return Quantity(
        qid, raw["subject"], _compile(raw.get("term") or "(?!)", where), raw["kind"], raw["dimension"],
        tuple(values), raw["description"].strip(), raw["source"], tuple(raw["must_match"]),
        tuple(raw["must_not_match"]), _compile(nouns, where) if nouns else None, bool(raw.get("per_time", False)),
        bool(raw.get("over_only", False)),
    )


def _amount_of(text: str, dimension: str, units: Mapping[str, tuple[str, float]]) -> float | None:
    match = re.fullmatch(r"\s*([\d.]+)\s*([^\d\s]*)\s*", text)
    if not match:
        return None
    number = float(match.group(1))
    if dimension == "count":
        return number if not match.group(2) else None
    unit = units.get(match.group(2).lower())
    if unit is None or unit[0] != dimension:
        return None
    return number * unit[1]


def _number(text: str, words: Mapping[str, int]) -> float | None:
    lowered = text.lower()
    if lowered in words:
        return float(words[lowered])
    compact = text.replace("\u00a0", " ").replace("\u202f", " ")
    if re.fullmatch(r"\d{1,3}(?:[,. ]\d{3})+", compact):
        return float(re.sub(r"[,. ]", "", compact))
    try:
        return float(compact.replace(",", "."))
    except ValueError:
        return None


@cache
def quantity_table() -> QuantityTable:
    """The shipped table, loaded once per process."""
    return load_quantities()


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.start() > start:
            yield start, match.start()
        start = match.end()
    if start < len(text):
        yield start, len(text)


def _unit(token: str, units: Mapping[str, tuple[str, float]]) -> str | None:
    """The longest unit name ``token`` starts with ("global secondary indexes are" ->
    "global secondary indexes"; "分です" -> "分"), as written, or None."""
    words = token.replace("\u00a0", " ").split(" ")
    for count in range(len(words), 0, -1):
        name = " ".join(words[:count])
        if name.lower() in units:
            return name
    first = words[0]
    if not first.isascii():  # Japanese and Chinese write the unit and the next word together
        for length in range(min(4, len(first)), 0, -1):
            if first[:length].lower() in units:
                return first[:length]
    return None


class _Marks:
    """Every qualifier, denial, range opener and service name in a text, found in one pass
    each; a claim looks its neighbours up by offset (bisect), so the work stays linear.

    Each kind is found on first use: most answers state no quantity with a unit (a step
    number, a port, a version), and their marks were ~80 % of the check's cost."""

    def __init__(self, text: str, table: QuantityTable) -> None:
        self.text = text
        self._table = table

    @cached_property
    def before(self) -> dict[str, tuple[list[int], list[int]]]:
        return {k: _spans(self._table.qualifier_before[k], self.text) for k in KINDS}

    @cached_property
    def skip(self) -> tuple[list[int], list[int]]:
        return _spans(self._table.skip, self.text)

    @cached_property
    def range_start(self) -> tuple[list[int], list[int]]:
        return _spans(self._table.range_start, self.text)

    @cached_property
    def subjects(self) -> list[tuple[int, int, str]]:
        return [(m.start(), m.end(), m.lastgroup or "") for m in self._table.subject_any.finditer(self.text)]

    @cached_property
    def subject_starts(self) -> list[int]:
        return [start for start, _, _ in self.subjects]

    def last_before(self, spans: tuple[list[int], list[int]], position: int, reach: int,
                    gap: re.Pattern[str], floor: int) -> int | None:
        """The end of the last span starting at ``floor`` (the sentence) or later and ending
        at most ``reach`` characters before ``position`` with nothing matching ``gap`` in
        between, or None."""
        starts, ends = spans
        index = bisect.bisect_right(ends, position) - 1
        if index < 0 or starts[index] < floor or position - ends[index] > reach:
            return None
        if gap.search(self.text, ends[index], position):
            return None
        return ends[index]

    def subjects_between(self, start: int, end: int) -> list[tuple[int, int, str]]:
        lo = bisect.bisect_left(self.subject_starts, start)
        hi = bisect.bisect_left(self.subject_starts, end)
        return [span for span in self.subjects[lo:hi] if span[1] <= end]


def _spans(pattern: re.Pattern[str], text: str) -> tuple[list[int], list[int]]:
    starts, ends = [], []
    for match in pattern.finditer(text):
        starts.append(match.start())
        ends.append(match.end())
    return starts, ends


#: Between a qualifier and its value: no other number (a digit after a letter is a name: S3).
_NUMBER_GAP = re.compile(r"(?<![A-Za-z\d])\d|\n")
#: Between a denial and the value: no end of clause.
_CLAUSE_GAP = re.compile(r"[.;:!?\n]")
_DIGIT_GAP = re.compile(r"[\d\n]")


def claims(text: str, table: QuantityTable, start: int, end: int, marks: _Marks | None = None) -> Iterator[Claim]:
    """The qualified numeric claims in ``text[start:end]`` (one sentence)."""
    marks = marks or _Marks(text, table)
    for match in table.value.finditer(text, start, end):
        unit_text = _unit(match.group("unit"), table.units)
        if unit_text is None:
            continue
        unit = unit_text.lower()
        dimension, factor = table.units[unit]
        claim_end = match.start("unit") + len(unit_text)
        low = _number(match.group("num"), table.words)
        if low is None:
            continue
        at = match.start()
        if marks.last_before(marks.skip, at, 80, _CLAUSE_GAP, start) is not None:
            continue  # denied, past, or the user's own setting: not a claim about the limit
        if _RANGE_END.search(text, max(start, at - 20), at):
            continue
        tail = text[claim_end : min(end, claim_end + QUALIFIER_AFTER)]
        per_time = bool(table.rate.match(tail))  # "3,000 messages per second" is a rate
        written = text[at:claim_end]
        if match.group("hi"):
            high = _number(match.group("hi"), table.words)
            low_factor = factor
            if match.group("lounit"):
                low_unit = _unit(match.group("lounit"), table.units)
                if low_unit is None:
                    continue
                if table.units[low_unit.lower()][0] != dimension:
                    # "at most 4 vCPU and 30 GB": two values of different kinds, not a range;
                    # the qualifier reads the first one (the second has a number before it).
                    low_dimension, low_factor = table.units[low_unit.lower()]
                    low_end = match.start("lounit") + len(low_unit)
                    kind = _kind(marks, table, text, start, at, text[low_end : min(end, low_end + QUALIFIER_AFTER)])
                    if kind is not None:
                        yield Claim(at, low_end, low * low_factor, low_dimension, kind, low_unit.lower(),
                                    text[at:low_end], bool(table.rate.match(text[low_end : low_end + QUALIFIER_AFTER])))
                    continue
                low_factor = table.units[low_unit.lower()][1]
            if high is None or high * factor <= low * low_factor:
                continue
            if marks.last_before(marks.range_start, at, 40, _DIGIT_GAP, start) is None:
                continue
            for kind, amount in (("min", low * low_factor), ("max", high * factor)):
                yield Claim(at, claim_end, amount, dimension, kind, unit, written, per_time)
            continue
        if match.group("lounit"):
            continue  # "5 GB 10 GB": two values, not one claim
        kind = _kind(marks, table, text, start, at, tail)
        if kind is None:
            continue
        yield Claim(at, claim_end, low * factor, dimension, kind, unit, written, per_time)


def _kind(marks: _Marks, table: QuantityTable, text: str, start: int, at: int, tail: str) -> str | None:
    """What a value at ``at`` claims (max, min or default) by its qualifiers, or None."""
    ends = {k: e for k in KINDS if (e := marks.last_before(marks.before[k], at, QUALIFIER_BEFORE, _NUMBER_GAP, start))
            is not None}
    kinds = set(ends) | {k for k in KINDS if table.qualifier_after[k].search(tail)}
    if not kinds and _opens_with_default(table, text, start, at):
        return "default"
    # "up to 10 … by default" is a quota's maximum: a bound outranks "default".
    kind = next((k for k in ("max", "min", "default") if k in kinds), None)
    if kind is not None and {"max", "min"} <= kinds and "max" in ends and "min" in ends:
        kind = "max" if ends["max"] >= ends["min"] else "min"
    return kind


#: What may stand before a sentence's first word: list marks, emphasis, a heading's hashes.
_SENTENCE_LEAD = re.compile(r"[\s>*_#+-]*")
#: How far a sentence-opening "By default," reaches: the first value of its clause.
DEFAULT_OPENING_REACH = 120


def _opens_with_default(table: QuantityTable, text: str, start: int, at: int) -> bool:
    """A sentence that opens with "By default," / "Por padrão," / "Standardmäßig" states
    a default for the first value of its clause, however long the subject between them."""
    if at - start > DEFAULT_OPENING_REACH:
        return False
    lead = _SENTENCE_LEAD.match(text, start, at)
    begin = lead.end() if lead else start
    opening = table.qualifier_before["default"].match(text, begin, at)
    if opening is None or opening.start() != begin:
        return False
    return _NUMBER_GAP.search(text, opening.end(), at) is None and _CLAUSE_GAP.search(text, opening.end(), at) is None


def _subjects(marks: _Marks, sentence: tuple[int, int], claim: Claim) -> list[str]:
    """The service a claim is about: the one named last before it in the sentence (with a
    name written just before it: "RDS IAM authentication"), else the first named after it
    in its clause, else the last named in the context above."""
    text = marks.text
    s_start, s_end = sentence
    lo = max(s_start, claim.start - SUBJECT_CONTEXT)
    before = marks.subjects_between(lo, claim.start)
    if before:
        names = [before[-1][2]]
        if len(before) > 1 and before[-1][0] - before[-2][1] <= 2:
            names.append(before[-2][2])
        return [n for n in names if n]
    s_end = min(s_end, claim.end + TERM_AFTER)
    cuts = [c for c in (text.find(mark, claim.end, s_end) for mark in _CLAUSE_MARKS) if c >= 0]
    after = marks.subjects_between(claim.start, min(cuts) if cuts else s_end)
    if after:
        return [after[0][2]] if after[0][2] else []
    if lo > s_start or text.startswith("|", s_start):
        return []  # a table row names its subject in the row, or in a column header we cannot see
    above = marks.subjects_between(max(0, s_start - SUBJECT_CONTEXT), s_start)
    return [above[-1][2]] if above and above[-1][2] else []


def _near(text: str, sentence: tuple[int, int], claim: Claim) -> tuple[str, int]:
    """The words around a claim where its term may be, and the claim's offset in them.

    A term in the next or the previous clause ("…; Standard workflows up to a year") or
    table cell is about another value.
    """
    s_start, s_end = sentence
    lo = max(s_start, claim.start - TERM_BEFORE)
    hi = min(s_end, claim.end + TERM_AFTER)
    lo = max(lo, max(text.rfind(mark, lo, claim.start) for mark in _CLAUSE_MARKS) + 1)
    cuts = [c for c in (text.find(mark, claim.end, hi) for mark in _CLAUSE_MARKS) if c >= 0]
    return text[lo : min(cuts) if cuts else hi], claim.start - lo


def _scored(
    table: QuantityTable, subjects: list[str] | set[str], claim: Claim, near: str, at: int
) -> list[tuple[tuple[int, int], Quantity]]:
    scored = []
    end = at + len(claim.text)
    for q in (q for subject in subjects for q in table.by_key.get((subject, claim.kind, claim.dimension), ())):
        if q.per_time != claim.per_time:
            continue
        if q.nouns is not None and not q.nouns.fullmatch(claim.unit):
            continue
        # Distance from the value; a term after the value counts double (a claim usually
        # names its quantity before its value).
        distances = [
            (at - m.end() if m.end() <= at else 2 * max(0, m.start() - end), -(m.end() - m.start()))
            for m in q.term.finditer(near)
        ]
        if distances:
            scored.append((min(distances), q))
    return scored


#: A sentence that opens with only a qualifier before its value ("The maximum is", "O valor
#: máximo é", "El máximo permitido por Lambda es de", "Der Standardwert ist"): it names no
#: quantity of its own and continues the sentence before it.
_BARE_QUALIFIER = re.compile(
    r"\W*(?:(?:the|its|el|la|lo|o|a|le|der|die|das|il)\s+)?(?:(?:value|valor|valeur|wert|limit|l[íi]mite|grenze)\s+)?"
    r"(?:m[áa]x\w*|min\w*|m[íi]nim\w*|default\w*|predeterminad\w*|padr[ãa]o|par\s+d[ée]faut|standard\w*|h[öo]chst\w*|upper\s+limit)"
    r"(?:\s+(?:value|valor|valeur|wert))?(?:\s+(?:permitid\w*|allowed|autoris\w*|erlaubt\w*|possible|supported))?"
    r"(?:\s+(?:por|by|in|for|f[üu]r|pour|para|en|bei)\s+[\w-]+)?\s*(?::|is|es|é|est|ist|è|are|son|sont|sind|são)?"
    r"(?:\s+(?:de|of|von|di))?[\s*_]*",
    re.IGNORECASE,
)


def _candidates(marks: _Marks, table: QuantityTable, sentence: tuple[int, int], claim: Claim,
                previous: tuple[int, int] | None = None) -> list[Quantity]:
    """The entries a claim is about: its service's entries of its kind and dimension with a
    term near the value, the nearest term first (the longest on a tie).

    A sentence that names none of its service's quantities of that dimension ("The maximum
    is 60 seconds.") continues the
    sentence before it on the same line ("Long polling waits for messages with
    `WaitTimeSeconds`."): its term is read there."""
    subjects = _subjects(marks, sentence, claim)
    if not subjects or "other" in subjects:
        return []  # another product ("Azure Load Balancer", "HealthOmics"): not the table's
    near, at = _near(marks.text, sentence, claim)
    scored = _scored(table, subjects, claim, near, at)
    if (not scored and previous is not None and "\n" not in marks.text[previous[1] : sentence[0]]
            and _BARE_QUALIFIER.fullmatch(marks.text[sentence[0] : claim.start])):
        own = marks.text[sentence[0] : sentence[1]]
        related = (q for q in table.quantities if q.subject in subjects and q.dimension == claim.dimension)
        if not any(q.term.search(own) for q in related):
            before = marks.text[previous[0] : previous[1]]
            scored = _scored(table, subjects, claim, before, len(before) + TERM_BEFORE)
    if not scored:
        return []
    best = min(score for score, _ in scored)
    return [q for score, q in scored if score == best]


def wrong_quantities(text: str, table: QuantityTable | None = None) -> list[tuple[int, Quantity, Claim]]:
    """``(offset, entry, claim)`` for each claim that contradicts the documented values.

    A value that is right for another service the answer names, with a term of that
    service's entry near it, is given the benefit of the doubt (a Lambda@Edge limit stated
    under a paragraph that names Lambda last).
    """
    table = table or quantity_table()
    text = text[:MAX_TEXT]
    marks = _Marks(text, table)
    named: set[str] | None = None  # the services the answer names, once it makes a claim
    found = []
    read = 0
    previous: tuple[int, int] | None = None
    for sentence in _sentences(text):
        if read >= MAX_CLAIMS:
            break
        for claim in claims(text, table, *sentence, marks=marks):
            read += 1
            candidates = _candidates(marks, table, sentence, claim, previous)
            if not candidates or any(q.accepts(claim.amount) for q in candidates):
                continue
            near, at = _near(text, sentence, claim)
            if named is None:
                named = {name for _, _, name in marks.subjects if name}
            if any(q.accepts(claim.amount) for _, q in _scored(table, named, claim, near, at)):
                continue
            found.append((claim.start, candidates[0], claim))
        previous = sentence
    return found


def _matches(amount: float, dimension: str, values: tuple[float, ...]) -> bool:
    for value in values:
        if abs(amount - value) <= 1e-6 * max(1.0, value):
            return True
        if dimension == "size":
            # 256 KB may mean 256,000 or 262,144 bytes: compare in both systems.
            for power in range(1, 5):
                scale = 1.024**power
                if abs(amount * scale - value) <= 1e-3 * value or abs(amount / scale - value) <= 1e-3 * value:
                    return True
    return False


def prose_for_quantities(prose_lines: tuple[tuple[int, str], ...]) -> str:
    """The prose lines joined, inline code with a digit blanked: a literal (a log line, a
    command's value) is not a claim. Offsets stay those of the joined lines."""
    return "\n".join(_INLINE_LITERAL.sub(lambda m: " " * len(m.group(0)), line) for _, line in prose_lines)


_TABLE_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
#: What a table's header says its values are: limits, defaults or allowed ranges. A header
#: names the quantity for every cell of its column ("| Limit | Value |", "| Token | Default |").
_HEADER_MAX = re.compile(r"\b(?:limits?|max(?:imum)?|quotas?|l[íi]mites?|Grenze|Höchst\w*|limiti)\b|上限|最大", re.IGNORECASE)
_HEADER_DEFAULT = re.compile(r"\b(?:default|por\s+defecto|predeterminad[oa]|padr[ãa]o|par\s+d[ée]faut|Standardwert|predefinit[oa])\b|デフォルト|既定|默认",
                             re.IGNORECASE)
_HEADER_RANGE = re.compile(r"\b(?:range|rango|intervalo|plage|Bereich|allowed|configurable|valid|intervallo)\b|範囲", re.IGNORECASE)


def _cells(line: str) -> list[str]:
    row = _TABLE_ROW.match(line)
    return [c.strip() for c in row.group(1).split("|")] if row else []


def table_sentences(prose_lines: tuple[tuple[int, str], ...]) -> tuple[tuple[int, str], ...]:
    """The prose with each Markdown table row read as sentences: a cell's value under its
    row's title and its column's header ("| Refresh token | 7 days |" under "| Token |
    Default |" reads "Refresh token (Default): by default 7 days."). A row alone has no
    qualifier: the header says whether its values are limits, defaults or ranges."""
    lines: list[tuple[int, str]] = []
    header: list[str] = []
    previous = ""
    for number, line in prose_lines:
        cells = _cells(line)
        if not cells:
            header, previous = [], line
            lines.append((number, line))
            continue
        if _TABLE_RULE.match(line):
            header = _cells(previous)
            lines.append((number, ""))
            previous = line
            continue
        previous = line
        if not header or len(cells) < 2:
            lines.append((number, line))
            continue
        for j, cell in enumerate(cells[1:], start=1):
            column = header[j] if j < len(header) else ""
            named = f"{header[0]} {column}"
            lead = ("between " if _HEADER_RANGE.search(named) else "up to " if _HEADER_MAX.search(named)
                    else "by default " if _HEADER_DEFAULT.search(named) else "")
            label = f" ({column})" if column else ""
            lines.append((number, f"{cells[0]}{label}: {lead}{cell.rstrip('.')}."))
    return tuple(lines)


def check_quantities(prose_lines: tuple[tuple[int, str], ...], found: Findings) -> None:
    """Add a defect for each documented quantity the prose states wrongly (one per entry)."""
    prose_lines = table_sentences(prose_lines)
    text = prose_for_quantities(prose_lines)
    if not any(ch.isdigit() for ch in text):
        return
    offsets = []
    offset = 0
    for number, line in prose_lines:
        offsets.append((offset, number))
        offset += len(line) + 1
    reported: set[str] = set()
    for position, entry, claim in wrong_quantities(text):
        if entry.id in reported:
            continue
        reported.add(entry.id)
        number = next(n for o, n in reversed(offsets) if o <= position)
        found.errors.append(f'line {number}: {entry.description} (the answer says "{claim.text.replace("**", "")}")')
