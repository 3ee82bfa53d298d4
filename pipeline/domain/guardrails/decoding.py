"""Encoded content: base64 runs, ROT13, leetspeak and reversed text, decoded for a rescan.

Every view is bounded (:data:`MAX_CANDIDATES` base64 runs, :data:`MAX_DECODED` characters
in all) and only built when a cheap gate says the text may hide something; the scanner
rescans a view once (no recursion) and reports hits on the encoded span.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

MAX_CANDIDATES = 8
MAX_DECODED = 20_000
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=_\-])[A-Za-z0-9+/]{16,8192}={0,2}(?![A-Za-z0-9+/=_\-])")
_PRINTABLE = re.compile(r"[\x20-\x7e\t\r\n\u00a0-\uffff]*")


def base64_views(text: str) -> Iterator[tuple[int, int, str, bool]]:
    """(start, end, decoded, phrase) for base64 runs that decode to readable text.

    ``phrase`` is False when the decoded text is one token (no space, ``:`` or ``=``):
    such a view can hide a key (a Kubernetes secret's ``data``, ``echo … | base64 -d``) but
    no sentence, so the scanner looks for secrets in it and nothing else.
    """
    budget = MAX_DECODED
    found = 0
    for match in _BASE64_RUN.finditer(text):
        token = match.group()
        if len(token) % 4 == 1:
            continue
        if not (any(c.isupper() for c in token) and any(c.islower() for c in token)):
            continue
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        if not decoded.strip() or not _PRINTABLE.fullmatch(decoded):
            continue
        phrase = " " in decoded.strip() or ":" in decoded or "=" in decoded
        yield match.start(), match.end(), decoded, phrase
        found += 1
        budget -= len(decoded)
        if found >= MAX_CANDIDATES or budget <= 0:
            return


_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM",
)
# ROT13 of words an encoded attack or credential request is made of.
_ROT13_GATE = re.compile(
    r"rot-?\s?13|vtaber|qvfertneq|sbetrg|cerivbhf|vafgehpgvbaf|flfgrz|cebzcg|cnffjbeq|ehyrf|erirny|wnvyoernx|tehneqenvyf"
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "|": "l", "!": "i"})
_LEET_WORDS = re.compile(
    r"ignore|instruction|prompt|system|jailbreak|disregard|pretend|restriction|guardrail|password|previous|reveal|override"
)
_LEET_GATE = re.compile(r"[a-z][0134579@$|!][a-z]|[0134579@$][a-z]{2}")
#: Reversed attack vocabulary as the matching view reads it: English, then Spanish, German,
#: Italian and Portuguese "instructions", "ignora", and Russian/Ukrainian промпт, инструкц/інструкц,
#: игнор/ігнор, систем, пароль in their homoglyph-folded form (Cyrillic reversed was never gated).
_REVERSED_GATE = re.compile(
    r"snoitcurtsni|tpmorp|erongi|drowssap|metsys"
    r"|senoiccurtsni|negnusiewna|inoizurtsi|seocurtsni|arongi"
    r"|tnmopn|kyptch[иi]|pohr[иi]|metcиc|bлopan"
    # Swedish/Danish/Norwegian "instruktion"/"instruks", Finnish "ohje" (instruction), "kehote"
    # (prompt), "järjestelmä" (system), Hungarian "utasítás", "rendszer": a reversed request in
    # these languages was never rescanned, whatever the frames know.
    r"|noitkurtsni|skurtsni|ejho|etohek|amletsejraj|satisatu|rezsdner"
)


def rot13_view(lowered: str) -> str | None:
    """The ROT13 decoding of the text when it contains ROT13 of attack vocabulary."""
    if _ROT13_GATE.search(lowered):
        return lowered[:MAX_DECODED].translate(_ROT13)
    return None


def leet_view(lowered: str) -> str | None:
    """The leetspeak decoding when it reveals attack vocabulary the text does not show."""
    if not _LEET_GATE.search(lowered):
        return None
    view = lowered[:MAX_DECODED].translate(_LEET)
    if view == lowered[:MAX_DECODED]:
        return None
    revealed = {m.group() for m in _LEET_WORDS.finditer(view)} - {m.group() for m in _LEET_WORDS.finditer(lowered)}
    return view if revealed else None


def reversed_view(lowered: str) -> str | None:
    """The text reversed, when it contains reversed attack vocabulary."""
    if _REVERSED_GATE.search(lowered):
        return lowered[:MAX_DECODED][::-1]
    return None
