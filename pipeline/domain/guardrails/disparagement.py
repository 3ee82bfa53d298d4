"""Competitor disparagement by frame: a vendor and a negative judgement of THAT vendor.

The clause rules of ``competitor_disparagement`` list phrasings; this detector reads a
sentence the way GUIDE.md §4 draws the line, from two kinds of data:

* the vendor gazetteer (``catalogue/lexicons/competitors.toml``, through the rule's
  ``params.head``) and the per-language *groups* ("other clouds", "la concurrence");
* the evaluative lexicons of ``evaluations.toml`` (one table per language, validated on load,
  see its header): *judgements* that run a vendor down on their own, *weak* words that do so
  only when the answer judges with them, and what cancels either.

Frames (each with examples both ways in ``evaluations.toml``, run by a test):

* ``judgement``: a clause names a vendor and holds a judgement that is not negated ("is not
  a toy"), and the clause does not report the customer's own words ("you mentioned X has been
  flaky") nor put the judgement on the customer's own things after the vendor ("in Cloudflare,
  your DNS setup is a mess");
* ``weak``: as ``judgement``, with a weak word right after a judging word ("is painfully
  slow", "way too expensive"), in a clause without a number, a source or a condition (a
  documented limit or price, "if Cloud Run is slow for you");
* ``carry``: a clause names a vendor and judges nothing; the next clause (or sentence) starts
  with a pronoun that refers back to it and holds a judgement ("Twilio takes your money;
  their reporting is a joke").

Cost: anchored sentences only (:func:`.clauses.anchored_sentences`, each at most
``clauses.MAX_SENTENCE`` characters), a bounded number of searches per clause: linear.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.domain.guardrails import clauses, output_policies
from pipeline.domain.guardrails.catalogue import (
    CATALOGUE_DIR,
    CatalogueError,
    Lexicon,
    RuleSpec,
    fold_pattern,
    load_lexicons,
    read_toml,
)
from pipeline.domain.guardrails.engine import Hit, Window, lowered_view

EVALUATIONS_FILE = Path(__file__).resolve().parent / "evaluations.toml"
FORMAT = "guardrail-evaluations-v1"
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "pl", "ja", "ko", "zh")
FRAMES = ("judgement", "weak", "carry")
_LIST_KEYS = ("judgement", "weak", "judging", "negators", "reported", "pronouns", "groups",
              "conditions", "sources", "own")
#: Words read before a term for a negator or a judging word.
_LOOKBACK_WORDS = 2
_CJK_LOOKBACK = 4
_WORD = re.compile(r"[\w'’]+")
_LATIN = re.compile(r"[a-z]")
_DIGIT = re.compile(r"\d")
#: "Heroku's slow", "they're flaky": the copula is part of the word before.
_CONTRACTED_COPULA = ("'s", "'re", "’s", "’re")


class EvaluationsError(CatalogueError):
    """evaluations.toml is malformed (names the language and key)."""


@dataclass(frozen=True, slots=True)
class Evaluations:
    """The compiled lexicons of every language, merged (a clause is read in all of them)."""

    judgement: re.Pattern[str]
    weak: re.Pattern[str]
    judging: re.Pattern[str]
    judging_cjk: tuple[str, ...]
    negators: re.Pattern[str]
    reported: re.Pattern[str]
    pronoun_start: re.Pattern[str]
    groups: re.Pattern[str]
    conditions: re.Pattern[str]
    sources: re.Pattern[str]
    own: re.Pattern[str]
    frames: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]


def _entries(language: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise EvaluationsError(f"evaluations.toml [languages.{language}]: {key!r} must be a list of non-empty strings")
    out = []
    for entry in value:
        folded = fold_pattern(entry.lower())
        try:
            re.compile(folded)
        except re.error as exc:
            raise EvaluationsError(f"evaluations.toml [languages.{language}] {key}: {entry!r}: {exc}") from exc
        out.append(folded)
    return out


def _is_latin(entry: str) -> bool:
    return _LATIN.search(entry) is not None


def _bucketed(entries: list[str]) -> str:
    """An alternation dispatched on the first letter (``a(?:n?\\s+joke|wful)|b(?:...)``): the
    regex engine tries a handful of branches per position instead of every entry, which keeps a
    clause's search cheap with hundreds of entries."""
    buckets: dict[str, list[str]] = {}
    rest: list[str] = []
    for entry in entries:
        if entry[0].isalpha() and entry[0].isascii() and (len(entry) == 1 or entry[1] not in "?*+{"):
            buckets.setdefault(entry[0], []).append(entry[1:])
        else:
            rest.append(entry)
    parts = [f"{first}(?:{'|'.join(tails)})" for first, tails in sorted(buckets.items())]
    parts.extend(f"(?:{e})" for e in rest)
    return "|".join(parts)


#: Katakana (and the prolonged sound mark): a katakana word is a run of these.
_KATAKANA = "\u30a0-\u30ff"
_KATAKANA_WORD = re.compile(rf"[{_KATAKANA}]+")


def _alternation(entries: list[str]) -> re.Pattern[str]:
    """Latin-script entries as whole words, CJK and Hangul ones anywhere (those scripts do
    not separate words), except that a katakana entry is a whole katakana run.

    Japanese writes a katakana word without spaces but never runs two katakana words together
    without a mark, so 'ゴミ' (garbage) must not match inside 'コミット' (commit): folded (the
    voicing mark dropped) the two would share 'コミ'.
    """
    ordered = sorted(set(entries), key=lambda e: (-len(e), e))
    latin = [e for e in ordered if _is_latin(e)]
    katakana = [e for e in ordered if _KATAKANA_WORD.fullmatch(e)]
    other = [e for e in ordered if not _is_latin(e) and not _KATAKANA_WORD.fullmatch(e)]
    parts = []
    if latin:
        parts.append(rf"(?<![\w'])(?:{_bucketed(latin)})(?!\w)")
    if katakana:
        parts.append(rf"(?<![{_KATAKANA}])(?:{'|'.join(katakana)})(?![{_KATAKANA}])")
    if other:
        parts.append("|".join(f"(?:{e})" for e in other))
    return re.compile("|".join(parts) or r"(?!x)x")


@cache
def load_evaluations(path: Path = EVALUATIONS_FILE) -> Evaluations:
    """``evaluations.toml``, validated: every language of :data:`LANGUAGES` with every key,
    entries that compile, frames of :data:`FRAMES` with examples both ways."""
    data = read_toml(path)
    if data.get("format") != FORMAT:
        raise EvaluationsError(f"evaluations.toml: 'format' must be {FORMAT!r}")
    languages = data.get("languages")
    if not isinstance(languages, dict) or set(languages) != set(LANGUAGES):
        raise EvaluationsError(f"evaluations.toml: [languages] must be exactly {LANGUAGES}")
    merged: dict[str, list[str]] = {key: [] for key in _LIST_KEYS}
    for language in LANGUAGES:
        table = languages[language]
        unknown = set(table) - set(_LIST_KEYS)
        missing = {"judgement", "weak", "judging", "pronouns", "groups"} - set(table)
        if unknown or missing:
            raise EvaluationsError(f"evaluations.toml [languages.{language}]: unknown {sorted(unknown)}, missing {sorted(missing)}")
        for key in _LIST_KEYS:
            value = table.get(key, [])
            if value == [] and key not in ("negators",) and key in ("judgement", "weak", "judging"):
                raise EvaluationsError(f"evaluations.toml [languages.{language}]: {key!r} is empty")
            merged[key].extend(_entries(language, key, value) if value else [])
    frames = data.get("frames")
    if not isinstance(frames, list) or {f.get("name") for f in frames} != set(FRAMES):
        raise EvaluationsError(f"evaluations.toml: [[frames]] must name exactly {FRAMES}")
    compiled_frames = []
    for frame in frames:
        must, must_not = frame.get("must_match"), frame.get("must_not_match")
        if not must or not must_not:
            raise EvaluationsError(f"evaluations.toml frame {frame.get('name')!r}: needs must_match and must_not_match")
        compiled_frames.append((frame["name"], tuple(must), tuple(must_not)))
    judging_latin = [e for e in merged["judging"] if _LATIN.search(e) or not e.isalpha()]
    judging_cjk = tuple(e for e in merged["judging"] if not _LATIN.search(e) and e.isalpha())
    # A Latin-script pronoun ends at a word boundary; a CJK or Hangul one does not (those
    # scripts do not separate words: "他们的服务" starts with "他们").
    pronouns = "|".join(f"(?:{p}(?![\\w]))" if _is_latin(p) else f"(?:{p})"
                        for p in sorted(set(merged["pronouns"]), key=len, reverse=True))
    return Evaluations(
        judgement=_alternation(merged["judgement"]),
        weak=_alternation(merged["weak"]),
        judging=re.compile("|".join(f"(?:{e})" for e in judging_latin)),
        judging_cjk=judging_cjk,
        negators=re.compile("|".join(f"(?:{e})" for e in merged["negators"]) or r"(?!x)x"),
        reported=_alternation(merged["reported"]),
        pronoun_start=re.compile(rf"^\W*(?:(?:and|but|so|y|et|und|e|en|i|pero|mais|aber|ma|maar|ale)\s+)?(?:{pronouns})"),
        groups=_alternation(merged["groups"]),
        conditions=_alternation(merged["conditions"]),
        sources=_alternation(merged["sources"]),
        own=_alternation(merged["own"]),
        frames=tuple(compiled_frames),
    )


def _last_words(prefix: str) -> list[str]:
    return _WORD.findall(prefix[-80:])[-_LOOKBACK_WORDS:]


def _negated(evaluations: Evaluations, lowered: str, start: int) -> bool:
    return any(evaluations.negators.fullmatch(w) for w in _last_words(lowered[:start]))


def _judged(evaluations: Evaluations, lowered: str, start: int) -> bool:
    """A judging word (copula or intensifier) in the words right before ``start``."""
    words = _last_words(lowered[:start])
    if any(evaluations.judging.fullmatch(w) or w.endswith(_CONTRACTED_COPULA) for w in words):
        return True
    before = lowered[max(0, start - _CJK_LOOKBACK) : start]
    return any(j in before for j in evaluations.judging_cjk)


def _vendor_spans(head: re.Pattern[str], evaluations: Evaluations, unit: str, lowered: str) -> list[tuple[int, int]]:
    """The vendor mentions of a clause; "your Terraform config" is the customer's own thing."""
    spans = [m.span() for m in head.finditer(unit)
             if not any(evaluations.own.fullmatch(w) for w in _last_words(lowered[: m.start()])[-1:])]
    spans.extend(m.span() for m in evaluations.groups.finditer(lowered))
    return spans


def _about_vendor(evaluations: Evaluations, lowered: str, vendors: list[tuple[int, int]], start: int) -> bool:
    """The term at ``start`` is said of a vendor: not after the customer's own thing that
    follows every vendor mention before it ("in Cloudflare, your DNS setup is a mess")."""
    before = [end for _s, end in vendors if end <= start]
    if not before:
        return True  # the term precedes the vendor ("an unreliable host like Vultr")
    return evaluations.own.search(lowered, max(before), start) is None


def judgement_at(evaluations: Evaluations, lowered: str, vendors: list[tuple[int, int]], frame: str) -> bool:
    """The clause (lower-cased) holds a judgement of the frame about one of ``vendors``."""
    if evaluations.reported.search(lowered):
        return False
    if frame in ("judgement", "carry"):
        for match in evaluations.judgement.finditer(lowered):
            if not _negated(evaluations, lowered, match.start()) and _about_vendor(evaluations, lowered, vendors, match.start()):
                return True
        return False
    if _DIGIT.search(lowered) or evaluations.conditions.search(lowered) or evaluations.sources.search(lowered):
        return False
    for match in evaluations.weak.finditer(lowered):
        start = match.start()
        if (_judged(evaluations, lowered, start) and not _negated(evaluations, lowered, start)
                and _about_vendor(evaluations, lowered, vendors, start)):
            return True
    return False


@cache
def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source)


@cache
def _lexicon(name: str) -> Lexicon:
    lexicons = load_lexicons(CATALOGUE_DIR)
    if name not in lexicons:
        raise CatalogueError(f"params.short_forms_of: no lexicon {name!r}")
    return lexicons[name]


#: Clauses naming a vendor judged per text: a real answer has a few dozen; a text made of
#: vendor names costs no more than this many (the scan stays linear whatever the input).
MAX_VENDOR_CLAUSES = 400
#: Clauses after a vendor's clause read for a judgement that refers back to it with a pronoun.
CARRY_CLAUSES = 2


def find(text: str, head: re.Pattern[str], anchor: re.Pattern[str],
         evaluations: Evaluations | None = None) -> Iterator[tuple[str, int, int]]:
    """(frame, start, end) of every clause of ``text`` where a frame finds a vendor judged.

    ``head`` matches a vendor's name in the text as written (the gazetteer is case-sensitive),
    ``anchor`` the literals of every vendor and group in the lower-cased text.
    """
    evaluations = evaluations or load_evaluations()
    lowered_text = lowered_view(text)
    budget = MAX_VENDOR_CLAUSES
    cells = [output_policies.MAX_TABLE_CELLS]
    table_end = -1  # a line before this is a header or body row already read
    section_end = -1  # a sentence before this is in a section already read

    def judged(lowered_unit: str) -> bool:
        return any(judgement_at(evaluations, lowered_unit, [], kind) for kind in ("judgement", "weak"))

    for lo, hi in clauses.anchored_sentences(text, lowered_text, anchor):
        if budget <= 0:
            return
        if lo >= table_end:
            # A comparison table whose column is headed by a vendor: its cells are said of it.
            found: list[tuple[int, int]] = []
            table_end = output_policies.column_cell_hits(
                text, output_policies._line(text, lo), lambda cell: head.search(cell) is not None,
                lambda cell: not head.search(cell) and judged(lowered_view(cell)), found, cells)
            for a, b in found:
                yield ("judgement", a, b)
        if lo >= section_end and _SECTION_TITLE.fullmatch(text, lo, hi) and head.fullmatch(
                _SECTION_TITLE.fullmatch(text, lo, hi).group("title")):
            # A section titled by a vendor ("## Netlify"): its sentences that name no vendor
            # are said of it, up to the next heading.
            section_end = yield from _section(text, lowered_text, hi, head, judged)
        sentence = text[lo:hi]
        lowered = lowered_text[lo:hi]
        parts = clauses.clauses(sentence)
        for index, (start, end) in enumerate(parts):
            vendors = _vendor_spans(head, evaluations, sentence[start:end], lowered[start:end])
            if not vendors:
                continue
            budget -= 1
            unit = lowered[start:end]
            found = False
            for kind in ("judgement", "weak"):
                if judgement_at(evaluations, unit, vendors, kind):
                    yield (kind, *clauses.trimmed(text, lo + start, lo + end))
                    found = True
                    break
            if found:
                continue
            # The judgement may come one clause later, after a clause that names nobody
            # ("You mentioned Backblaze B2. I'd steer clear: they're a discount shop …").
            following = _following(text, lo, hi, parts, index)
            for _step in range(CARRY_CLAUSES):
                if following is None:
                    break
                a, b = following
                nxt = lowered_text[a:b]
                if (evaluations.pronoun_start.search(nxt) and evaluations.own.search(nxt) is None
                        and judgement_at(evaluations, nxt, [], "carry")):
                    yield ("carry", *clauses.trimmed(text, a, b))
                    break
                if _vendor_spans(head, evaluations, text[a:b], nxt):
                    break
                following = _after(text, a, b)


# A line that is only a title: a Markdown heading, or a line in bold ("**Netlify**").
_SECTION_TITLE = re.compile(r"[ \t]*(?:#{1,6}[ \t]+|\*\*)(?P<title>[^\n*#]{1,60}?)(?:\*\*)?[ \t]*:?[ \t]*\n?")
_HEADING = re.compile(r"[ \t]*#{1,6}[ \t]")
#: Characters of a vendor's section read after its title (bounded: linear).
MAX_SECTION = 4000


def _section(text: str, lowered_text: str, start: int, head: re.Pattern[str],
             judged: Callable[[str], bool]) -> Generator[tuple[str, int, int], None, int]:
    """The clauses judged in the section after a vendor's title (``start``: the title's
    end) that name no vendor; returns where the section ends."""
    end = min(len(text), start + MAX_SECTION)
    heading = _HEADING.search(text, start, end)
    while heading is not None and heading.start() > 0 and text[heading.start() - 1] != "\n":
        heading = _HEADING.search(text, heading.end(), end)
    if heading is not None:
        end = heading.start()
    starts, ends = clauses.sentence_spans(text)
    index = bisect_right(starts, start)
    while index < len(starts) and starts[index] < end:
        lo, hi = starts[index], min(ends[index], end)
        sentence = text[lo:hi]
        if not head.search(sentence):
            for a, b in clauses.clauses(sentence):
                if judged(lowered_text[lo + a : lo + b]):
                    yield ("judgement", *clauses.trimmed(text, lo + a, lo + b))
                    break
        index += 1
    return end


def frame(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """The rule's findings: the clauses :func:`find` returns (the windows are not used: the
    anchor is searched on the whole text, so the fast path and the whole-text path agree).

    ``params.short_forms_of`` names a lexicon whose short forms ("Atlas") count as vendors in
    a text that names their full term ("MongoDB Atlas"); the full term holds an anchor
    literal, so the rule is a candidate of every such text on the fast path too.
    """
    head = _compiled(spec.params["head"])
    anchor = _compiled(spec.anchor)
    lexicon_name = spec.params.get("short_forms_of")
    if lexicon_name:
        shorts = _lexicon(lexicon_name).short_forms_named(text)
        if shorts:
            names = "|".join(re.escape(short) for short in shorts)
            head = _compiled(f"{head.pattern}|(?<![A-Za-z0-9])(?-i:{names})(?![A-Za-z0-9])")
            anchor = _compiled(f"{anchor.pattern}|{'|'.join(re.escape(short.lower()) for short in shorts)}")
    for _kind, start, end in find(text, head, anchor):
        yield spec.rule_id, start, end


def _after(text: str, a: int, b: int) -> tuple[int, int] | None:
    """The clause after the clause ``text[a:b]`` (in its sentence or the next one)."""
    lo, hi = clauses.sentence_at(text, a)
    parts = clauses.clauses(text[lo:hi])
    for index, (_start, end) in enumerate(parts):
        if lo + end >= b:
            return _following(text, lo, hi, parts, index)
    return None


def _following(text: str, lo: int, hi: int, parts: list[tuple[int, int]], index: int) -> tuple[int, int] | None:
    """The clause after ``parts[index]`` in its sentence, or the first clause of the next sentence."""
    if index + 1 < len(parts):
        start, end = parts[index + 1]
        return lo + start, lo + end
    nxt = clauses.next_sentence(text, hi)
    if nxt is None:
        return None
    first = clauses.clauses(text[nxt[0] : nxt[1]])[0]
    return nxt[0] + first[0], nxt[0] + first[1]


frame.whole_text = True  # type: ignore[attr-defined]

DETECTORS = {"output_policies.frame": frame}
