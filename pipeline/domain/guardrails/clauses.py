"""Sentences and clauses of a long answer, for rules that need sentence context.

A whole answer is Markdown: paragraphs, list items, table rows, code blocks whose comments
are prose too. A *sentence* here is a run of text ended by a line break or by ``.``/``!``/
``?`` followed by white space; a sentence longer than :data:`MAX_SENTENCE` characters is cut
into pieces of that size, so every check on a sentence costs a bounded amount of work and a
scan is linear in the text. A *clause* is a part of a sentence between ``;``, ``:``, a dash,
or a comma followed by a coordinating word (parentheses stay in their clause) (``, but``, ``, so``, ``, which`` …): negation and
hedges ("I can't promise", "if approved") are judged inside the clause they belong to.

Rules that use sentences find their anchor hits on the whole text and judge the sentence
around each hit; the result therefore does not depend on the engine's windows, which keeps
the fast path and the whole-text path identical by construction.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from functools import lru_cache

MAX_SENTENCE = 600

# A sentence ends at a line break, or after . ! ? (possibly doubled, or closed by a quote,
# bracket or emphasis mark) followed by white space. A match starts only at the first mark of
# a run and takes the run whole (possessive: a shorter run is followed by a mark, never by
# white space, so nothing is lost): a run of 100,000 dots with no space is read once, not once
# per dot (that was quadratic: 4 s for 5 KB of "." once the learned heads split every answer).
# The dot of a common abbreviation ("MongoDB Inc. lebt davon …", "e.g. S3", "z.B. Azure")
# ends no sentence. Japanese and Chinese write no space after their full stops: "。", "！" and
# "？" end a sentence wherever they stand (a paragraph of Japanese was one sentence, and a
# "申請は不要です" at its end cancelled the promise three sentences before it).
# The input guardrail's frames (:mod:`.frames`) read a customer's message, where a request
# and its question often sit in two short CJK sentences ("…確認しておいて」とのことです。いつ頃
# になりますか？"): they keep reading such a message as one sentence (``cjk_stops=False``).
_LATIN_SENTENCE_END = (
    r"\n|(?<![.!?])(?<!\bInc)(?<!\bLtd)(?<!\bCorp)(?<!\be\.g)(?<!\bi\.e)(?<!\bz\.B)(?<!\bbzw)(?<!\bvs)"
    r"[.!?]++[\"')\]*_`]*+(?=\s)"
)
_SENTENCE_END = re.compile(_LATIN_SENTENCE_END + r"|(?<![。！？])[。！？]++[」』）]*+")
_SENTENCE_END_WITHOUT_CJK_STOPS = re.compile(_LATIN_SENTENCE_END)
# Clause boundaries inside a sentence. Every alternative is bounded, so a search is linear.
# A comma before a conjunction starts a new clause in every language answers are written in:
# "…de este mes, ya que se trata de un error" is two clauses, and a word of the second ("se",
# "si": "if" in one language, a pronoun in another) must not cancel a promise in the first.
# One-letter conjunctions ("e", "o") are left out: after a comma they are as often an article
# ("No próximo trimestre, o limite será…"), and the time would be cut from its change.
_CONJUNCTIONS = (
    # English
    "but|so|and|which|whereas|while|though|although|yet|or|then|because|since|as|once|if|"
    "unless|otherwise|instead|however|"
    # Spanish, Portuguese
    "pero|porque|ya\\s+que|pues|as[ií]\\s+que|aunque|mientras|sino|entonces|por\\s+lo\\s+que|y|"
    "mas|pois|j[áa]\\s+que|ent[ãa]o|embora|enquanto|por\\s+isso|"
    # French
    "mais|car|donc|puisque|parce\\s+qu|alors|bien\\s+que|tandis\\s+que|et|ou|"
    # German
    "aber|denn|weil|doch|sondern|obwohl|w[äa]hrend|und|oder|"
    # Italian
    "ma|perch[ée]|poich[ée]|dato\\s+che|quindi|anche\\s+se|mentre|allora"
)
_CLAUSE_BREAK = re.compile(
    r"[;:]\s|\s[—–-]{1,2}\s|—|"
    rf",\s*(?=(?:{_CONJUNCTIONS})\b)"
    r"|\s(?=but\s)",
    re.IGNORECASE,
)


# A code comment's line: indentation, a comment marker, then its words ("*" is left out: it
# is also a Markdown bullet, and two bullets are two sentences).
_COMMENT_LINE = re.compile(r"[ \t]*(#+|//+|--)[ \t]+(\S)")


def _continues_comment(text: str, newline: int) -> bool:
    """Whether the line break at ``newline`` wraps one code comment onto its next line.

    A comment is prose wrapped to fit the code ("# boto3 will ship a paginator with\n
    # server-side filtering in its next release"): the break is no sentence end when both
    lines are comments with the same marker, the first does not end a sentence (. ! ? :) and
    the second goes on in lower case. Each line is read a bounded number of times: linear.
    """
    line_start = text.rfind("\n", 0, newline) + 1
    current = _COMMENT_LINE.match(text, line_start, newline)
    if current is None or text[line_start:newline].rstrip()[-1:] in ".!?:":
        return False
    following = _COMMENT_LINE.match(text, newline + 1)
    return (following is not None and following.group(1) == current.group(1)
            and following.group(2).islower())


@lru_cache(maxsize=4)
def sentence_spans(text: str, cjk_stops: bool = True) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(starts, ends) of the sentences of ``text``, in order, each at most MAX_SENTENCE long
    (``cjk_stops``: whether "。", "！" and "？" end a sentence with no space after them)."""
    starts: list[int] = []
    ends: list[int] = []
    cursor = 0
    size = len(text)

    def add(lo: int, hi: int) -> None:
        while hi - lo > MAX_SENTENCE:
            starts.append(lo)
            ends.append(lo + MAX_SENTENCE)
            lo += MAX_SENTENCE
        if hi > lo:
            starts.append(lo)
            ends.append(hi)

    ends_pattern = _SENTENCE_END if cjk_stops else _SENTENCE_END_WITHOUT_CJK_STOPS
    for match in ends_pattern.finditer(text):
        if match.group() == "\n" and _continues_comment(text, match.start()):
            continue
        add(cursor, match.end())
        cursor = match.end()
    add(cursor, size)
    return tuple(starts), tuple(ends)


def sentence_at(text: str, position: int) -> tuple[int, int]:
    """The (start, end) of the sentence holding ``position``."""
    starts, ends = sentence_spans(text)
    index = max(0, bisect_right(starts, position) - 1)
    return starts[index], ends[index]


def anchored_sentences(text: str, lowered: str, anchor: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """Each sentence that holds an anchor hit, once, in text order.

    The anchor is searched on the whole lower-cased text, whatever the engine's windows, so
    the sentences judged are the same on the fast path and on the whole-text path.
    """
    starts, ends = sentence_spans(text)
    last = -1
    for match in anchor.finditer(lowered):
        index = max(0, bisect_right(starts, match.start()) - 1)
        if index != last:
            last = index
            yield starts[index], ends[index]


def next_sentence(text: str, end: int) -> tuple[int, int] | None:
    """The sentence starting at or after ``end`` that has some content, if any (bounded)."""
    starts, ends = sentence_spans(text)
    index = bisect_right(starts, end - 1)
    for i in range(index, min(index + 3, len(starts))):
        if text[starts[i] : ends[i]].strip():
            return starts[i], ends[i]
    return None


def clauses(sentence: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the clauses of ``sentence``."""
    spans = []
    cursor = 0
    for match in _CLAUSE_BREAK.finditer(sentence):
        if match.start() > cursor:
            spans.append((cursor, match.start()))
        cursor = match.end()
    if cursor < len(sentence):
        spans.append((cursor, len(sentence)))
    return spans or [(0, len(sentence))]


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """The span ``start:end`` of ``text`` without its leading and trailing whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
