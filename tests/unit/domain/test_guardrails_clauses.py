"""Sentences and clauses of long answers: boundaries, bounded size, anchored sentences."""

from __future__ import annotations

import re

from pipeline.domain.guardrails import clauses


def _sentences(text: str) -> list[str]:
    starts, ends = clauses.sentence_spans(text)
    return [text[s:e].strip() for s, e in zip(starts, ends, strict=True) if text[s:e].strip()]


def test_sentences_end_at_punctuation_and_line_breaks() -> None:
    text = "First one. Second one!\n- a list item\n```\n# a code comment\n```\nLast (quoted.) Done"
    assert _sentences(text) == [
        "First one.", "Second one!", "- a list item", "```", "# a code comment", "```", "Last (quoted.)", "Done",
    ]


def test_dots_inside_words_and_numbers_do_not_end_a_sentence() -> None:
    assert _sentences("Use boto3.client('s3') with version 1.2.3 today.") == [
        "Use boto3.client('s3') with version 1.2.3 today."
    ]


def test_a_run_of_marks_ends_a_sentence_whole_and_only_before_white_space() -> None:
    assert _sentences('Wait... what?! "Really?!" Yes.') == ["Wait...", "what?!", '"Really?!"', "Yes."]
    assert _sentences("see v1...v2 here") == ["see v1...v2 here"]
    # a long run with no white space after it is no sentence end anywhere (read once, not
    # once per mark: the pattern starts only at a run's first mark)
    text = "a" + "." * 5000 + "b"
    assert [m.span() for m in clauses._SENTENCE_END.finditer(text)] == []
    assert [m.span() for m in clauses._SENTENCE_END.finditer(text + " ")] == []
    assert [m.span() for m in clauses._SENTENCE_END.finditer("a" + "." * 5000 + " b")] == [(1, 5001)]


def test_spans_cover_the_text_and_are_bounded() -> None:
    text = "x" * (3 * clauses.MAX_SENTENCE + 17) + ". tail"
    starts, ends = clauses.sentence_spans(text)
    assert starts[0] == 0 and ends[-1] == len(text)
    assert all(e - s <= clauses.MAX_SENTENCE for s, e in zip(starts, ends, strict=True))
    assert all(starts[i + 1] == ends[i] for i in range(len(starts) - 1))


def test_sentence_at_finds_the_enclosing_sentence() -> None:
    text = "One. Two words here. Three."
    start, end = clauses.sentence_at(text, text.index("words"))
    assert text[start:end].strip() == "Two words here."


def test_anchored_sentences_yield_each_sentence_once() -> None:
    text = "soon and soon. nothing here. later soon."
    found = [text[s:e].strip() for s, e in clauses.anchored_sentences(text, text, re.compile("soon"))]
    assert found == ["soon and soon.", "later soon."]


def test_next_sentence_skips_blank_ones() -> None:
    text = "Azure is here.\n\nThey are fine."
    end = clauses.sentence_at(text, 0)[1]
    start, stop = clauses.next_sentence(text, end)
    assert text[start:stop].strip() == "They are fine."


def test_clauses_split_at_semicolons_dashes_and_coordinated_commas() -> None:
    sentence = "I can't promise an outcome, but the team reviews it; it usually takes a day — or two"
    parts = [sentence[s:e].strip() for s, e in clauses.clauses(sentence)]
    assert parts == ["I can't promise an outcome", "but the team reviews it", "it usually takes a day", "or two"]


def test_parentheses_and_plain_commas_stay_in_their_clause() -> None:
    sentence = "App Runner will support egress (VPC for RDS, public for the rest) in an update next quarter."
    assert clauses.clauses(sentence) == [(0, len(sentence))]
