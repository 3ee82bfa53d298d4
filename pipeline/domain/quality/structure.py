"""``structure`` (GUIDE.md §5): Markdown that renders, steps as lists, a readable length.

Defects: an unclosed code fence, a heading without a space after ``#``, an unbalanced
``**`` or inline backtick, a malformed link, a table without its ``|---|`` row, a command
with options written as plain text instead of code, several steps or several bold-labelled
points written as one paragraph, or a 220-word paragraph (wall of text). An answer over :data:`MAX_WORDS` words is a warning; a short yes/no question answered in
more than :data:`SHORT_ANSWER_MAX_WORDS` words is far too long (a defect).
"""

from __future__ import annotations

import re

from pipeline.domain.models import QualityCheckResult
from pipeline.domain.quality.catalogue import catalogue
from pipeline.domain.quality.completeness import SEQUENCE_WORDS
from pipeline.domain.quality.parsing import WORD, ParsedResponse
from pipeline.domain.quality.scoring import Findings

MAX_WORDS = 900  # longer than this is a structure warning: nobody reads it in a chat
#: A question that asks for a short answer (or is one short yes/no question, at most
#: SHORT_QUESTION_WORDS words) answered in more than SHORT_ANSWER_MAX_WORDS words is "far
#: too long for the question" (GUIDE §5).
SHORT_QUESTION_WORDS = 25
SHORT_ANSWER_MAX_WORDS = 400
_CATALOGUE = catalogue()
_LIST_ITEM = _CATALOGUE.regex("structure.list_item")
_HEADING_NO_SPACE = _CATALOGUE.regex("structure.heading_no_space")
_BROKEN_LINK = _CATALOGUE.regex("structure.broken_link")
_BOLD_LEAD_IN = _CATALOGUE.regex("structure.bold_lead_in")
_TABLE_DELIMITER = _CATALOGUE.regex("structure.table_delimiter")
_COMMAND_IN_PROSE = _CATALOGUE.regex("structure.command_in_prose")
_INLINE_CODE_SPAN = re.compile(r"`[^`\n]*`")
_SHORT_ANSWER_WANTED = _CATALOGUE.regex("structure.short_answer_wanted")


def check_structure(response: str, parsed: ParsedResponse, query: str = "") -> QualityCheckResult:
    """Score ``structure``."""
    found = Findings()
    too_long = far_too_long(query, response)
    if too_long:
        found.errors.append(too_long)
    if parsed.unclosed_fence_line is not None:
        found.errors.append(f"line {parsed.unclosed_fence_line}: code fence is opened but never closed")
    in_table = False
    for number, line in parsed.prose:
        stripped = line.strip()
        if _HEADING_NO_SPACE.match(line):
            found.errors.append(f"line {number}: heading needs a space after '#' (`{stripped[:30]}`)")
        if line.count("**") % 2 == 1:
            found.errors.append(f"line {number}: unbalanced '**' bold marker")
        if _BROKEN_LINK.search(line):
            found.errors.append(f"line {number}: malformed Markdown link")
        without_fences = line.replace("```", "")
        if without_fences.count("`") % 2 == 1 and not in_table:
            found.errors.append(f"line {number}: unbalanced inline code backtick")
        in_table = stripped.startswith("|")
    words = len(WORD.findall(response))
    if words > MAX_WORDS:
        found.warnings.append(f"the answer is {words} words long; keep chat answers under {MAX_WORDS}")
    wall = wall_of_text(parsed)
    if wall:
        found.errors.append(wall)
    table = _table_without_delimiter(parsed)
    if table:
        found.errors.append(table)
    for number, line in parsed.prose:
        match = _COMMAND_IN_PROSE.search(_INLINE_CODE_SPAN.sub(" ", line))
        if match:
            found.errors.append(
                f"line {number}: a command is written as plain text (`{match.group(0)[:40]}…`); put it in a code block"
            )
            break
    return found.result("structure")


def _table_without_delimiter(parsed: ParsedResponse) -> str | None:
    """A Markdown table whose header is not followed by a ``|---|`` row does not render."""
    previous: tuple[int, str] | None = None
    for number, line in parsed.prose:
        is_row = line.strip().startswith("|") and line.strip().count("|") >= 2
        starts_table = is_row and (previous is None or not previous[1].strip().startswith("|"))
        if starts_table:
            following = next((text for n, text in parsed.prose if n == number + 1), "")
            if following.strip().startswith("|") and not _TABLE_DELIMITER.match(following):
                return f"line {number}: the table has no |---| row under its header, so it will not render"
            # GFM renders a table only when its delimiter row has as many cells as its header.
            if _TABLE_DELIMITER.match(following) and _cells(following) != _cells(line):
                return (
                    f"line {number}: the table header has {_cells(line)} columns but its |---| row has "
                    f"{_cells(following)}, so it will not render"
                )
        previous = (number, line)
    return None


def _cells(row: str) -> int:
    """The cells of a Markdown table row (unescaped pipes, without the outer ones)."""
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return len(re.split(r"(?<!\\)\|", inner))


def far_too_long(query: str, response: str) -> str | None:
    """A short question (or one asking for a short answer) answered at essay length."""
    if not query or len(WORD.findall(query)) > SHORT_QUESTION_WORDS or not _SHORT_ANSWER_WANTED.search(query.strip()):
        return None
    words = len(WORD.findall(response))
    if words <= SHORT_ANSWER_MAX_WORDS:
        return None
    return f"a short question answered in {words} words; answer it first in a sentence or two"


def wall_of_text(parsed: ParsedResponse) -> str | None:
    """A message for the first paragraph that should have been a list or split up."""
    paragraph: list[tuple[int, str]] = []
    paragraphs: list[list[tuple[int, str]]] = []
    for number, line in parsed.prose:
        if line.strip():
            paragraph.append((number, line))
        elif paragraph:
            paragraphs.append(paragraph)
            paragraph = []
    if paragraph:
        paragraphs.append(paragraph)
    has_list = any(_LIST_ITEM.match(line) for _, line in parsed.prose)
    for para in paragraphs:
        text = " ".join(line for _, line in para)
        if any(_LIST_ITEM.match(line) for _, line in para):
            continue
        words = len(WORD.findall(text))
        steps = len(SEQUENCE_WORDS.findall(text))
        points = len(_BOLD_LEAD_IN.findall(text))
        if points >= 2 and words >= 80:
            return (
                f"line {para[0][0]}: {points} separate points are run together in one {words}-word paragraph; "
                "use a list"
            )
        if steps >= 3 and words >= 60 and not has_list:
            return (
                f"line {para[0][0]}: {steps} steps are written as one {words}-word paragraph; "
                "use a numbered list"
            )
        if words >= 220:
            return f"line {para[0][0]}: a {words}-word paragraph (wall of text); split it up or use a list"
    return None
