"""The matching view: the run-by-run normaliser equals the character-by-character definition."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import textnorm
from pipeline.domain.textnorm import normalize


def _reference(text: str) -> tuple[str, tuple[int, ...] | None]:
    """normalize() written out one character at a time (its definition)."""
    if text.isascii() and not textnorm._ASCII_CONTROL.search(text):
        return text, None
    out, offsets = [], []
    for index, char in enumerate(text):
        if char.isascii() and not textnorm._ASCII_CONTROL.match(char):
            out.append(char)
            offsets.append(index)
            continue
        for piece in textnorm._normalize_char(char):
            out.append(piece)
            offsets.append(index)
    offsets.append(len(text))
    return "".join(out), tuple(offsets)


@pytest.mark.parametrize("text", ["plain ascii", "caf\u00e9 \u2014 \u201cquoted\u201d", "\x00\x07tab\tok\x7f",
                                  "z\u200bero\u200dwidth", "\u0410\u0412\u0421 cyrillic", "\ufb01 ligature \u2460",
                                  "e\u0301\u0301 stacked", "\u00e9", "", "\r\n\t"])
def test_normalize_equals_its_character_by_character_definition(text: str) -> None:
    view = normalize(text)
    assert (view.text, view.offsets) == _reference(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec=None) | st.sampled_from("ab \t\n\x00\x1f\x7f\u200b\u00e9\u0430"),
               max_size=40))
def test_normalize_equals_its_definition_on_generated_text(text: str) -> None:
    view = normalize(text)
    assert (view.text, view.offsets) == _reference(text)


def test_hangul_syllables_stay_whole_so_korean_rules_can_match_them() -> None:
    # NFKD splits a syllable into conjoining letters that are not marks; the view keeps it
    assert normalize("비밀번호는 Hangang!2025").text == "비밀번호는 Hangang!2025"
    assert normalize("パスワード").text == "ハスワート"  # kana still lose their voicing marks
