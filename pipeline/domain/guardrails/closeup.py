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
# …", "ghp_1M-hP8Hss-fFYn15-…"). One pass finds runs of 4-10 character pieces; the equal
# lengths and a digit (prose rarely has either) are checked on the few runs it returns.
_BLANK_RUN = re.compile(
    r"(?<![A-Za-z0-9_\-./+=])(?:[A-Za-z0-9_\-./+=]{4,10}[ \t]{1,2}){3,}[A-Za-z0-9_\-./+=]{1,10}(?![A-Za-z0-9_\-./+=])"
)
_DASH_RUN = re.compile(
    r"(?<![A-Za-z0-9_\-./+=])(?:[A-Za-z0-9_./+=]{4,10}-){3,}[A-Za-z0-9_./+=]{1,10}(?![A-Za-z0-9_\-./+=])"
)
_BLANKS = re.compile(r"[ \t]{1,2}")
_DASH = re.compile(r"-")
_DIGIT = re.compile(r"[0-9]")
_WORD = re.compile(r"[A-Za-z]?[a-z]+")


# String literals joined in code. A literal never contains its own quote, so a failed
# attempt stops at the next quote on the line.
_LITERAL = r"""(?:"[^"\s][^"\n]{0,199}"|'[^'\s][^'\n]{0,199}'|`[^`\s][^`\n]{0,199}`)"""
_CHAIN = re.compile(
    rf"{_LITERAL}(?:\s{{0,40}}(?:\.\.|[+.&])?\s{{0,40}}{_LITERAL})+"  # "a" + "b", 'a' . 'b', "a" "b"
    rf"|{_LITERAL}\s{{0,8}}\.concat\(\s{{0,8}}{_LITERAL}(?:\s{{0,8}},\s{{0,40}}{_LITERAL})*"  # "a".concat("b", "c")
    rf"|(?<=\[)\s{{0,40}}{_LITERAL}(?:\s{{0,8}},\s{{0,40}}{_LITERAL})+\s{{0,40}}(?=\])"  # ["a", "b", "c"]
)
_ONE_LITERAL = re.compile(_LITERAL)
# A piece of a split secret has no blank and no colon: "iam:ChangePassword", "sts:GetSessionToken"
# in a policy's action list, or "Hello, " + name, are not pieces of one value.
_FRAGMENT = re.compile(r"[^\s:]{1,200}")
# A closing quote, a joiner and an opening quote: every chain has one (cheap to look for).
_JOINT = re.compile(r"""["'`]\s{0,40}(?:\.\.|[+.&,]|\.concat\()?\s{0,40}["'`]""")
# A backslash-newline inside a quoted shell string (or a C/Python string) is a continuation.
_CONTINUATION = re.compile(r"\\\r?\n")

# A hard-wrapped line: a terminal, a log viewer or an event log breaks a long line at a fixed
# width, mid-token ("…mysql://app:Tulip" / "Rr4t$@db…", "…;Pass" / "word=…"). The break is a
# joint when the line before is long (a wrap happens at a width, never after a few words), the
# next line goes on right after the prefix both lines share (a container name "app-1  | ", a
# timestamp "2025-04-03T11:20:45.118Z  ") and the two pieces fit together as one token:
# * the last field of the line (after ";", ",", "&" or "|") started a value ("key=Tulip",
#   "user:pass") and the next line does not start a key of its own;
# * or it is a key name cut in two inside a field list ("…;User ID=app;Pass" / "word=…");
# * or both pieces are opaque runs of letters and digits (a secret wrapped in a CSV cell).
# A line that ends a word, a flag or a command ("-p" / "Enter password:", "…amazonaws.com" /
# "WARNING!", "GITHUB_TOKEN=ghp_…" / "APPLE_ID=…") is not glued to the next.
_WRAP_MIN_LINE = 30
_WRAP_PREFIX_MAX = 64
_WRAP_TOKEN_MAX = 240
_WRAP_LINE_END = re.compile(r"[A-Za-z0-9_\-+/!@#$%^&*~]\r?\n(?=\S)")
_WRAP_FIELD_SEPARATOR = re.compile(r"[;,&|]")
_WRAP_KEY_START = re.compile(r"[A-Za-z_][\w.\-]{0,40}[ \t]*[=:]")
_WRAP_KEY_PART = re.compile(r"[A-Za-z][A-Za-z_]{0,23}")
_WRAP_OPAQUE = re.compile(r"(?=[^\s]*[0-9])(?=[^\s]*[A-Za-z])[A-Za-z0-9+/_\-]{12,}")
_WRAP_NEXT_OPAQUE = re.compile(r"(?=[A-Za-z+/_\-=]*[0-9])[A-Za-z0-9+/_\-=]{4,}(?=[\s\"',;}\]]|$)")
_WRAP_PLAIN_WORD = re.compile(r"[A-Za-z]?[a-z]*(?=[\s,.;:!?)]|$)")
_WRAP_VALUE_START = re.compile(r"[A-Za-z0-9_\-+/!@#$%^&*~.]")


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


def _equal_groups(run: re.Match[str], separator: re.Pattern[str]) -> Iterable[tuple[int, int]]:
    """The separators of the run's stretches of 4+ pieces of one length (last one shorter)."""
    text, offset = run.group(), run.start()
    if _DIGIT.search(text) is None:
        return  # "that will make sure": words, not a key
    seps = [(m.start(), m.end()) for m in separator.finditer(text)]
    bounds = [0] + [end for _s, end in seps]  # piece starts
    ends = [start for start, _e in seps] + [len(text)]  # piece ends
    lengths = [e - b for b, e in zip(bounds, ends, strict=True)]
    first = 0
    while first < len(lengths):
        equal_end = first
        while equal_end + 1 < len(lengths) and lengths[equal_end + 1] == lengths[first]:
            equal_end += 1
        last = equal_end
        if last + 1 < len(lengths) and lengths[last + 1] < lengths[first]:
            last += 1  # the shorter tail piece
        start = first
        while start < last and _WORD.fullmatch(text, bounds[start], ends[start]):
            start += 1  # "the code sk_l ive_ …": leading prose words are not part of the key
        if last - start >= 3:
            yield from ((offset + s, offset + e) for s, e in seps[start:last])
            first = last + 1
        else:
            first = equal_end + 1  # the tail piece may start the next stretch


def _grouped_joints(text: str) -> Iterable[tuple[int, int]]:
    for run in _BLANK_RUN.finditer(text):
        yield from _equal_groups(run, _BLANKS)
    if "-" in text:
        for run in _DASH_RUN.finditer(text):
            yield from _equal_groups(run, _DASH)


def _chain_joints(text: str) -> Iterable[tuple[int, int]]:
    if _JOINT.search(text) is None:
        return
    for chain in _CHAIN.finditer(text):
        previous: re.Match[str] | None = None
        for literal in _ONE_LITERAL.finditer(text, chain.start(), chain.end()):
            if previous is not None and _FRAGMENT.fullmatch(text, previous.start() + 1, previous.end() - 1) \
                    and _FRAGMENT.fullmatch(text, literal.start() + 1, literal.end() - 1):
                # from the closing quote of one literal to the opening quote of the next
                yield previous.end() - 1, literal.start() + 1
            previous = literal


def _wrap_joints(text: str) -> Iterable[tuple[int, int]]:
    """The line breaks of hard-wrapped lines, with the next line's repeated prefix."""
    for end in _WRAP_LINE_END.finditer(text):
        newline = end.end() - 1
        cut = end.start() + 1  # the "\r" or "\n" after the line's last character
        line_start = text.rfind("\n", max(0, newline - 4096), newline) + 1  # bounded: linear
        if cut - line_start < _WRAP_MIN_LINE:
            continue
        next_start = end.end()
        # the prefix both lines share, cut after its last blank or "|" (a log prefix ends there)
        shared = 0
        limit = min(_WRAP_PREFIX_MAX, cut - line_start, len(text) - next_start)
        while shared < limit and text[line_start + shared] == text[next_start + shared] != "\n":
            shared += 1
        prefix = 0
        for index in range(shared - 1, -1, -1):
            if text[next_start + index] in " \t|":
                prefix = index + 1
                break
        body = next_start + prefix
        if body >= len(text) or not _WRAP_VALUE_START.match(text, body):
            continue  # more blanks (an indented line), a bracket, a quote: not a wrap
        token_start = max(line_start, cut - _WRAP_TOKEN_MAX)
        for index in range(cut - 1, token_start - 1, -1):
            if text[index] in " \t":
                token_start = index + 1
                break
        token = text[token_start:cut]
        field = _WRAP_FIELD_SEPARATOR.split(token)[-1]
        starts_key = _WRAP_KEY_START.match(text, body) is not None
        if "=" in field or ":" in field:
            # a value started and goes on, with more of a value, not a word ("Task timed out")
            glued = not starts_key and _WRAP_PLAIN_WORD.match(text, body) is None
        elif starts_key:
            glued = field != token and _WRAP_KEY_PART.fullmatch(field) is not None  # "…;Pass" / "word=…"
        else:
            glued = _WRAP_OPAQUE.fullmatch(field) is not None and _WRAP_NEXT_OPAQUE.match(text, body) is not None
        if glued:
            yield cut, body


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
    if "\n" in text:
        joints.extend(_wrap_joints(text))
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
