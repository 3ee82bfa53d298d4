"""Passwords in the cells of a table column headed by a password word: a pasted query result
or a Markdown table."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.common import HEX, is_placeholder
from pipeline.domain.guardrails.engine import Hit, Window
from pipeline.domain.guardrails.secrets.values import looks_like_password

_TABLE_ROW = re.compile(r"[ \t]*\|[^\n]*\|[ \t]*")
_TABLE_RULE = re.compile(r"[ \t]*[|+][\s|+\-:=]*")
_HASH_COLUMN = re.compile(
    r"hash|bcrypt|crypt|md5|sha|salt|digest|enc|hint|policy|reset|expir|changed|length|updated|set_?at|_at$|date|"
    r"last|used|age\b|status|strength|required|enabled|type|count|rotat|manager",
    re.I,
)


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


def password_column(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """The cells of a table column headed by a password word: a pasted query result or a
    Markdown table (``| login | senha |`` then ``| mcardoso | Cajuina@1971 |``). The header
    names the column once; each cell is judged as a value (hashes, masks and placeholders are
    not passwords).

    ``patterns[0]`` finds header rows (one regex pass); only the rows of a table under a
    header are walked, each once, so a text of 50,000 lines with a bar costs that pass, not
    a Python loop per line (``whole_text``: windows would cut a table)."""
    header_row, cell_name = spec.patterns[:2]
    position = 0
    size = len(text)
    while position < size:
        header = header_row.search(text, position)
        if header is None:
            return
        line_end = header.end()
        cells = text[header.start():line_end].split("|")
        column = next(
            (index for index, cell in enumerate(cells)
             if cell_name.fullmatch(cell.strip()) and not _HASH_COLUMN.search(cell.strip())),
            None,
        )
        position = line_end + 1
        if column is None:
            continue
        while position < size:
            line_end = text.find("\n", position)
            if line_end < 0:
                line_end = size
            if _TABLE_RULE.fullmatch(text, position, line_end) is None:
                if _TABLE_ROW.fullmatch(text, position, line_end) is None:
                    break  # the table ended
                row = text[position:line_end].split("|")
                if len(row) != len(cells):
                    break
                raw = row[column]
                value = raw.strip()
                if _table_cell_password(value):
                    start = position + sum(len(cell) + 1 for cell in row[:column]) + raw.index(value)
                    yield spec.rule_id, start, start + len(value)
            position = line_end + 1


# The detector walks the text itself from its own header pass: windows would cut a table.
password_column.whole_text = True  # type: ignore[attr-defined]
