"""Text normalisation for matching, with a map back to the original positions.

Guardrail rules match a *normalised* view of the text so that look-alike characters,
zero-width characters and full-width forms cannot hide a secret, but findings must point
into the *original* text so that :func:`pipeline.domain.guardrails.redact` masks the right
characters. :class:`NormalizedText` carries both.

Plain ASCII text without control characters (the vast majority of customer queries) is
returned as is, with no offset table: normalising it would change nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Characters that render as nothing and are used to split keywords and secrets
# ("pass\u200bword", "AKIA\u2060..."): dropped from the matching view.
_INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u200b\u200c\u200d"
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067"
    "\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufeff\uffa0"
    "\u2800"  # braille pattern blank: renders as a space, used to split keys

)

# Look-alike letters that NFKC leaves alone (Cyrillic, Greek, a few others), mapped to
# the Latin letter they imitate. Only letters an attacker can use to spell ASCII words
# and key prefixes are listed; the full Unicode confusables table is not needed for that.
_CONFUSABLES: dict[str, str] = {
    # Cyrillic capitals
    "А": "A",
    "В": "B",
    "С": "C",
    "Е": "E",
    "Н": "H",
    "І": "I",
    "Ј": "J",
    "К": "K",
    "М": "M",
    "О": "O",
    "Р": "P",
    "Ѕ": "S",
    "Т": "T",
    "Х": "X",
    "У": "Y",
    "Ү": "Y",
    "Ԁ": "D",
    "Ԛ": "Q",
    "Ԝ": "W",
    "Ӏ": "I",
    "З": "3",
    "Ь": "b",
    # Cyrillic small
    "а": "a",
    "с": "c",
    "е": "e",
    "һ": "h",
    "і": "i",
    "ј": "j",
    "к": "k",
    "м": "m",
    "о": "o",
    "р": "p",
    "ѕ": "s",
    "т": "t",
    "х": "x",
    "у": "y",
    "ү": "y",
    "ԁ": "d",
    "ԛ": "q",
    "ԝ": "w",
    "ӏ": "l",
    "в": "b",
    "н": "h",
    "п": "n",
    "г": "r",
    "ь": "b",
    # Greek capitals
    "Α": "A",
    "Β": "B",
    "Ε": "E",
    "Ζ": "Z",
    "Η": "H",
    "Ι": "I",
    "Κ": "K",
    "Μ": "M",
    "Ν": "N",
    "Ο": "O",
    "Ρ": "P",
    "Τ": "T",
    "Υ": "Y",
    "Χ": "X",
    # Greek small
    "α": "a",
    "ο": "o",
    "ρ": "p",
    "ν": "v",
    "ι": "i",
    "κ": "k",
    "τ": "t",
    "υ": "u",
    "χ": "x",
    "ε": "e",
    "ϲ": "c",
    "ϳ": "j",
    # Others seen in evasion attempts
    "ı": "i",
    "ȷ": "j",
    "ℓ": "l",
    "∕": "/",
    "⁄": "/",
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "−": "-",
    "＿": "_",
}

# ASCII control characters other than tab, line feed and carriage return.
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A matching view of a text and the way back to the original.

    Attributes:
        text: The normalised text rules are matched against.
        offsets: ``offsets[i]`` is the index in the original text of ``text[i]``; one
            extra entry holds the original length. ``None`` means the view is the
            original text (identity map).
    """

    text: str
    offsets: tuple[int, ...] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` span of :attr:`text` to the original text.

        Args:
            start: Start index in the normalised text.
            end: End index (exclusive) in the normalised text; ``end > start``.

        Returns:
            The smallest original span that covers every original character the
            normalised span came from.
        """
        if self.offsets is None:
            return start, end
        if end <= start:
            return self.offsets[start], self.offsets[start]
        return self.offsets[start], self.offsets[end - 1] + 1


def _normalize_char(char: str) -> str:
    """The matching form of one character: NFKD, no combining marks, no look-alikes."""
    if char in _INVISIBLE:
        return ""
    category = unicodedata.category(char)
    if category == "Cf" or (category == "Cc" and char not in "\t\n\r"):
        return ""
    if char in _CONFUSABLES:
        return _CONFUSABLES[char]
    if "\uac00" <= char <= "\ud7a3":
        # A Hangul syllable decomposes into conjoining letters that are not marks: kept
        # whole, so "비밀번호" in a rule matches "비밀번호" in a message.
        return char
    decomposed = unicodedata.normalize("NFKD", char)
    pieces = []
    for part in decomposed:
        if unicodedata.category(part) == "Mn":
            continue  # "é" -> "e", and stacked marks used to break up words disappear
        pieces.append(_CONFUSABLES.get(part, part))
    return "".join(pieces)


def normalize(text: str) -> NormalizedText:
    """Build the matching view of ``text``.

    Args:
        text: Any text.

    Returns:
        The original text unchanged (no offset table) when it is ASCII without control
        characters; otherwise the NFKD-folded text without zero-width, format and
        control characters, with Cyrillic and Greek look-alikes mapped to Latin letters,
        and its offset table.
    """
    if text.isascii() and not _ASCII_CONTROL.search(text):
        return NormalizedText(text)
    out: list[str] = []
    offsets: list[int] = []
    cursor = 0
    fold = _folded_char
    # Runs of plain ASCII (kept as they are) are copied whole; only the characters between
    # them are folded one by one (a long answer with a few curly quotes stays cheap).
    for run in _PLAIN_RUN.finditer(text):
        start, end = run.span()
        for index in range(cursor, start):
            folded = fold(text[index])
            out.append(folded)
            offsets.extend([index] * len(folded))
        out.append(text[start:end])
        offsets.extend(range(start, end))
        cursor = end
    for index in range(cursor, len(text)):
        folded = fold(text[index])
        out.append(folded)
        offsets.extend([index] * len(folded))
    offsets.append(len(text))
    return NormalizedText("".join(out), tuple(offsets))


#: ASCII characters that :func:`normalize` keeps as they are: ASCII minus ``_ASCII_CONTROL``.
_PLAIN_RUN = re.compile(r"[\t\n\r\x20-\x7e]+")
#: :func:`_normalize_char` is a pure function of one character: remembered (bounded).
_folded_char = lru_cache(maxsize=8192)(_normalize_char)


def fold_char(char: str) -> str:
    """What :func:`normalize` turns one character into ("パ" -> "ハ", "é" -> "e", "" for a mark)."""
    return _folded_char(char)
