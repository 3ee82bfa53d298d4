"""Passwords in tables: the cells of a column headed by a password word (a pasted query
result, a Markdown table, or a delimited export: CSV, TSV, semicolon-separated, a password
manager's export, a spreadsheet pasted as text), and the value cell of a row whose first
cell names a password (a settings table in a wiki or a runbook)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.common import HEX, is_placeholder, value_of
from pipeline.domain.guardrails.engine import Hit, Window, finditer_windows
from pipeline.domain.guardrails.secrets.values import looks_like_password

_TABLE_ROW = re.compile(r"[ \t]*\|[^\n]*\|[ \t]*")
_TABLE_RULE = re.compile(r"[ \t]*[|+][\s|+\-:=]*")
_HASH_COLUMN = re.compile(
    r"hash|bcrypt|crypt|md5|sha|salt|digest|enc|hint|policy|reset|expir|changed|length|updated|set_?at|_at$|date|"
    r"last|used|age\b|status|strength|required|enabled|type|count|rotat|manager",
    re.I,
)
#: The delimiters of a delimited export, in the order a header line is tried with them.
_DELIMITERS = ("\t", ";", ",")


def _table_cell_password(value: str) -> bool:
    """A cell of a password column that is a password: one token with a letter and a digit,
    a symbol or an inner capital ("flamengo2019", "teal.otter.42"); not a word ("mandatory"),
    a date, a hash, a mask or a placeholder."""
    if len(value) < 6 or " " in value or not any(ch.isalpha() for ch in value):
        return False
    if HEX.fullmatch(value) or is_placeholder(value) or not looks_like_password(value, False):
        return False
    has_digit = any(ch.isdigit() for ch in value)
    has_symbol = any(not ch.isalnum() for ch in value)
    inner_capital = any(ch.isupper() for ch in value[1:]) and any(ch.islower() for ch in value)
    return has_digit or has_symbol or inner_capital


def _password_column(cells: Sequence[str], cell_name: re.Pattern[str]) -> int | None:
    """The index of the first cell naming a password (not its hash, policy or date), or None."""
    for index, cell in enumerate(cells):
        name = cell.strip().strip("\"'").strip()
        if cell_name.fullmatch(name) and not _HASH_COLUMN.search(name):
            return index
    return None


def _delimited_fields(text: str, start: int, end: int, delimiter: str) -> list[tuple[int, int]]:
    """The spans of the fields of ``text[start:end]`` split by ``delimiter``, a double-quoted
    field kept whole ("AWS root, old",… is one field); each span without its quotes."""
    fields: list[tuple[int, int]] = []
    position = start
    while True:
        if text.startswith('"', position):
            close = text.find('"', position + 1, end)
            while close >= 0 and text.startswith('""', close):
                close = text.find('"', close + 2, end)  # "" is an escaped quote inside the field
            if close >= 0:
                after = close + 1
                if after == end or text.startswith(delimiter, after):
                    fields.append((position + 1, close))
                    if after == end:
                        return fields
                    position = after + 1
                    continue
        cut = text.find(delimiter, position, end)
        if cut < 0:
            fields.append((position, end))
            return fields
        fields.append((position, cut))
        position = cut + 1


def _table_lines(text: str, walk: list[int]) -> Iterator[tuple[int, int]]:
    """(start, end) of each line from ``walk[0]`` on; ``walk[0]`` moves past a line once the
    caller asks for the next one, so a caller that stops at a line (the table ended) leaves
    the walk there."""
    size = len(text)
    position = walk[0]
    while position < size:
        line_end = text.find("\n", position)
        if line_end < 0:
            line_end = size
        yield position, line_end
        position = walk[0] = line_end + 1


def _pipe_rows(spec: RuleSpec, text: str, walk: list[int], cells: list[str], column: int) -> Iterator[Hit]:
    """The rows under a pipe header; ``walk[0]``: where the walk is (left after the table)."""
    for position, line_end in _table_lines(text, walk):
        if _TABLE_RULE.fullmatch(text, position, line_end) is not None:
            continue
        if _TABLE_ROW.fullmatch(text, position, line_end) is None:
            return  # the table ended
        row = text[position:line_end].split("|")
        if len(row) != len(cells):
            return
        raw = row[column]
        value = raw.strip()
        if _table_cell_password(value):
            start = position + sum(len(cell) + 1 for cell in row[:column]) + raw.index(value)
            yield spec.rule_id, start, start + len(value)


def _delimited_rows(spec: RuleSpec, text: str, walk: list[int], delimiter: str, width: int, column: int) -> Iterator[Hit]:
    """The rows under a delimited header, while they have its number of fields (a quoted
    field may hold the delimiter; a blank line or a sentence ends the table)."""
    for position, line_end in _table_lines(text, walk):
        row_end = line_end - 1 if text[line_end - 1 : line_end] == "\r" else line_end
        fields = _delimited_fields(text, position, row_end, delimiter)
        if len(fields) != width:
            return
        start, end = fields[column]
        raw = text[start:end]
        value = raw.strip()
        if _table_cell_password(value):
            start += raw.index(value)
            yield spec.rule_id, start, start + len(value)


def password_column(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """The cells of a table column headed by a password word: a pasted query result or a
    Markdown table (``| login | senha |`` then ``| mcardoso | Cajuina@1971 |``), or a
    delimited export (``name,url,username,password`` then one row per login). The header
    names the column once; each cell is judged as a value (hashes, masks and placeholders are
    not passwords).

    ``patterns[0]`` finds pipe header rows and ``patterns[2]`` delimited ones (one regex pass
    each); only the rows of a table under a header are walked, each once, so a text of
    50,000 lines with a bar costs those passes, not a Python loop per line (``whole_text``:
    windows would cut a table)."""
    header_row, cell_name = spec.patterns[:2]
    header_patterns = (header_row, *spec.patterns[2:3])
    # The next match of each header pattern at or after the position (searched again only
    # when the walk has passed it): each pattern's matches are found in one pass overall.
    # A pattern with no match left is searched no more (``exhausted``).
    pending: list[re.Match[str] | None] = [None] * len(header_patterns)
    exhausted = [False] * len(header_patterns)
    position = 0
    size = len(text)
    while position < size:
        header = None
        for index, pattern in enumerate(header_patterns):
            if exhausted[index]:
                continue
            found = pending[index]
            if found is None or found.start() < position:
                found = pending[index] = pattern.search(text, position)
                exhausted[index] = found is None
            if found is not None and (header is None or found.start() < header.start()):
                header = found
        if header is None:
            return
        line_end = header.end()
        line = text[header.start():line_end]
        walk = [line_end + 1]  # every row is walked once: the next header is searched after the table
        if line.lstrip().startswith("|"):
            cells = line.split("|")
            column = _password_column(cells, cell_name)
            if column is not None:
                yield from _pipe_rows(spec, text, walk, cells, column)
            position = walk[0]
            continue
        for delimiter in _DELIMITERS:
            if delimiter not in line:
                continue
            header_end = line_end - 1 if line.endswith("\r") else line_end
            fields = _delimited_fields(text, header.start(), header_end, delimiter)
            column = _password_column([text[s:e] for s, e in fields], cell_name)
            if column is not None:
                yield from _delimited_rows(spec, text, walk, delimiter, len(fields), column)
                break
        position = walk[0]


def password_row(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """The value of a table row whose first cell names a password (``| SMTP password |
    `Kq8…` |``): a settings table of a wiki or runbook. The label must name the password
    itself, not its hash, policy or date; the value is judged as a column's cell is, and a
    path or a reference (``prod/db/password``, an ARN) names where it is kept."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            if _HASH_COLUMN.search(match.group("label")):
                continue
            value, start, _end, _quoted = value_of(match)
            value = value.strip()
            if "/" in value or ":" in value or not _table_cell_password(value):
                continue
            start = text.index(value, start)
            yield spec.rule_id, start, start + len(value)


password_row.uniform_patterns = True  # type: ignore[attr-defined]
# The detector walks the text itself from its own header passes: windows would cut a table.
password_column.whole_text = True  # type: ignore[attr-defined]
