"""The closed-up view: a secret written in pieces, put back together for a rescan.

People and tools break keys apart: "sk_liv e_O4f …" in equal groups, "ghp_1M-hP8H-…" with
dashes, a no-break space or a middle dot inside a key pasted from a wiki, string literals
joined in code (``"glpat-W3" + "xtZA…"``, ``["AKIA2QP", "Q3XA6CH", …]``,
``"…".concat("…", "…")``, PHP ``'a' . 'b'``) and a shell line continued with a backslash
inside quotes. :func:`closed_up` deletes those joints and returns the view with its offset
map; the scanner runs the secret rules over it once (the original is scanned too, so the
view can only add findings) and maps the spans back.

Every pattern here is linear: pieces and separators are disjoint character classes with
bounded counts, and a string literal cannot contain its own quote.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence

# Characters that show up INSIDE pasted keys (no-break and wide spaces, line and paragraph
# separators, middle dots, bullets). Between two visible characters they are a joint.
_ODD_SEPARATOR = re.compile(
    r"(?<=\S)[\u00a0\u2007\u202f\u205f\u3000\u2028\u2029\u00b7\u2027\u2219\u22c5\u30fb\u2022](?=\S)"
)

# Groups of one length (4 to 10) separated by one or two blanks, or by single dashes: at
# least four groups, the last one shorter or equal ("nanuDPM2  SFE3eS/H  …", "sk_l ive_ jeZ2
# …", "ghp_1M-hP8Hss-fFYn15-…"). Prose rarely has four words of exactly one length in a
# row, and a run without a digit is dropped below.
_TOKEN = r"[A-Za-z0-9_\-./+=]"
_TOKEN_NO_DASH = r"[A-Za-z0-9_./+=]"


def _grouped_alternatives(token: str, sep: str) -> str:
    return "|".join(
        rf"(?:{token}{{{size}}}{sep}){{3,}}{token}{{1,{size}}}(?!{token})" for size in range(4, 11)
    )


_BLANKS = r"[ \t]{1,2}"
_GROUPED = re.compile(
    r"(?<![A-Za-z0-9_\-./+=])(?:" + _grouped_alternatives(_TOKEN, _BLANKS)
    + "|" + _grouped_alternatives(_TOKEN_NO_DASH, "-") + ")"
)
_GROUP_SEPARATOR = re.compile(r"[ \t]{1,2}|-")

# String literals joined in code. A literal never contains its own quote, so a failed
# attempt stops at the next quote on the line.
_LITERAL = r"""(?:"[^"\n]{1,200}"|'[^'\n]{1,200}'|`[^`\n]{1,200}`)"""
_CHAIN = re.compile(
    rf"{_LITERAL}(?:\s{{0,40}}(?:\.\.|[+.&])?\s{{0,40}}{_LITERAL})+"  # "a" + "b", 'a' . 'b', "a" "b"
    rf"|{_LITERAL}\s{{0,8}}\.concat\(\s{{0,8}}{_LITERAL}(?:\s{{0,8}},\s{{0,40}}{_LITERAL})*"  # "a".concat("b", "c")
    rf"|(?<=\[)\s{{0,40}}{_LITERAL}(?:\s{{0,8}},\s{{0,40}}{_LITERAL})+\s{{0,40}}(?=\])"  # ["a", "b", "c"]
)
_ONE_LITERAL = re.compile(_LITERAL)
# A backslash-newline inside a quoted shell string (or a C/Python string) is a continuation.
_CONTINUATION = re.compile(r"\\\r?\n")


def odd_separator_positions(original: str, offsets: Sequence[int] | None) -> list[int]:
    """Positions in the normalised view of joints written with odd separator characters.

    Args:
        original: The text as received.
        offsets: The normalised view's offset table (None: the view is the original).
    """
    if original.isascii():
        return []
    positions = []
    for match in _ODD_SEPARATOR.finditer(original):
        index = match.start()
        if offsets is None:
            positions.append(index)
            continue
        view_index = bisect_left(offsets, index)
        if view_index < len(offsets) - 1 and offsets[view_index] == index:
            positions.append(view_index)
    return positions


def _grouped_joints(text: str) -> Iterable[tuple[int, int]]:
    for run in _GROUPED.finditer(text):
        piece = run.group()
        if not (any(ch.isdigit() for ch in piece) and any(ch.isalpha() for ch in piece)):
            continue  # "that will make sure": words, not a key
        start = run.start()
        for sep in _GROUP_SEPARATOR.finditer(piece):
            yield start + sep.start(), start + sep.end()


def _chain_joints(text: str) -> Iterable[tuple[int, int]]:
    if not ('"' in text or "'" in text or "`" in text):
        return
    for chain in _CHAIN.finditer(text):
        previous_end = None
        for literal in _ONE_LITERAL.finditer(text, chain.start(), chain.end()):
            if previous_end is not None:
                # from the closing quote of one literal to the opening quote of the next
                yield previous_end - 1, literal.start() + 1
            previous_end = literal.end()


def closed_up(text: str, odd_positions: Sequence[int] = ()) -> tuple[str, list[int]] | None:
    """The text with every joint of a split secret deleted, and its offset map.

    Args:
        text: The normalised text.
        odd_positions: Positions of odd separators (:func:`odd_separator_positions`).

    Returns:
        ``(view, offsets)`` where ``offsets[i]`` is the index in ``text`` of ``view[i]``;
        None when the text has no joint.
    """
    joints: list[tuple[int, int]] = [(p, p + 1) for p in odd_positions]
    joints.extend(_grouped_joints(text))
    joints.extend(_chain_joints(text))
    if "\\" in text:
        joints.extend(m.span() for m in _CONTINUATION.finditer(text))
    if not joints:
        return None
    joints.sort()
    pieces: list[str] = []
    offsets: list[int] = []
    cursor = 0
    for start, end in joints:
        if end <= cursor:
            continue
        start = max(start, cursor)
        pieces.append(text[cursor:start])
        offsets.extend(range(cursor, start))
        cursor = end
    pieces.append(text[cursor:])
    offsets.extend(range(cursor, len(text)))
    return "".join(pieces), offsets
