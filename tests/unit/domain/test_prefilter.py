"""The RE2 prefilter of intent and context patterns: gated searches answer exactly as Python's."""

from __future__ import annotations

import json
import re

import pytest

from pipeline.domain import prefilter
from pipeline.domain.guardrails import contexts
from pipeline.domain.intent import concepts, core, escalation
from pipeline.domain.prefilter import GatedPattern, PatternGroup, SplitSet
from pipeline.domain.quality import tone

GOLDEN = __import__("pathlib").Path(__file__).resolve().parents[3] / "golden_sets"


def _gated_patterns() -> list[GatedPattern]:
    found: list[GatedPattern] = [c.pattern for c in concepts.CONCEPTS]  # type: ignore[misc]
    for trigger in (*escalation.TRIGGERS, *escalation.SIGNALS.values()):
        found += [p for p in (trigger.any_of, trigger.unless) if p is not None]
        found += [p for group in trigger.all_of for p in group]
    for context in contexts.CONTEXTS.values():
        found += [context.first, context.second]
    found += [value for value in vars(core).values() if isinstance(value, GatedPattern)]
    found += [pattern for _intent, pattern in core._TOPIC_RES]
    found += [pattern for pattern, _label in tone._OFFENCES]
    found += [tone._SLANG, tone._EMPATHY, tone._UPSET_STRONG, tone._UPSET_WEAK]
    return found


def _seen_texts(limit_per_file: int = 100, max_chars: int = 1500) -> list[str]:
    """Inputs of the golden sets' seen splits (never the blind split)."""
    texts: list[str] = []
    for path in sorted(GOLDEN.glob("*.jsonl")):
        taken = 0
        for line in path.open(encoding="utf-8"):
            if not line.strip() or taken >= limit_per_file:
                continue
            case = json.loads(line)
            if case.get("split") == "blind":
                continue
            value = case.get("input")
            strings = [value] if isinstance(value, str) else [v for v in (value or {}).values() if isinstance(v, str)] \
                if isinstance(value, dict) else []
            for text in strings:
                texts += [text[:max_chars], text[:max_chars].lower()]
            taken += 1
    return texts


def test_every_hot_pattern_is_gated() -> None:
    patterns = _gated_patterns()
    assert len(patterns) > 40
    assert all(isinstance(p, GatedPattern) for p in patterns)


@pytest.mark.skipif(not prefilter.RE2_AVAILABLE, reason="google-re2 not installed")
def test_gated_searches_agree_with_python_on_the_golden_inputs() -> None:
    texts = _seen_texts()
    assert len(texts) > 500
    patterns = _gated_patterns()
    for text in texts:  # text by text, as the detectors ask (each text's RE2 pass is cached)
        for pattern in patterns:
            assert (pattern.search(text) is None) == (pattern.regex.search(text) is None), (pattern, text)


@pytest.mark.skipif(not prefilter.RE2_AVAILABLE, reason="google-re2 not installed")
def test_gated_searches_agree_with_python_on_generated_text() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    patterns = _gated_patterns()
    words = st.sampled_from(["refund", "REFUND", "human", "aws", "arn:aws:iam:", "i-0abc12345", "503", "quiero",
                             "hablar", "persona", "Rechnung", "ıstanbul", "ſecret", "K", "café", "人と", "$400",
                             "account", "hacked", "close", " ", "\n", "-", "'", "1234-5678-9012"])

    @settings(max_examples=200, deadline=None)
    @given(st.lists(words | st.text(max_size=6), max_size=12).map("".join))
    def check(text: str) -> None:
        for pattern in patterns:
            assert (pattern.search(text) is None) == (pattern.regex.search(text) is None), (pattern, text)

    check()


def test_a_pattern_without_an_re2_superset_is_always_searched() -> None:
    group = PatternGroup()
    backref = group.gate(re.compile(r"(ab)\1"))
    plain = group.gate(re.compile(r"refund"))
    assert backref.search("xxababyy") is not None
    assert plain.search("xxababyy") is None
    assert plain.search("a refund") is not None


def test_without_re2_every_member_is_searched() -> None:
    group = PatternGroup(use_re2=False)
    pattern = group.gate(re.compile(r"(?<!\w)bill"))
    assert group.candidates("a bill") is None
    assert pattern.search("a bill") is not None and pattern.search("abill") is None


def test_searches_with_bounds_and_other_methods_are_the_patterns_own() -> None:
    group = PatternGroup()
    pattern = group.gate(re.compile(r"bill"))
    assert pattern.search("bill and bill", 1) is not None  # bounded: not gated, still right
    assert [m.start() for m in pattern.finditer("bill bill")] == [0, 5]
    assert pattern.pattern == "bill"


@pytest.mark.skipif(not prefilter.RE2_AVAILABLE, reason="google-re2 not installed")
def test_a_split_set_finds_what_python_finds_across_its_sets() -> None:
    sources = [f"w{n}x" for n in range(40)] + ["ab+c", "[0-9]{3}-[0-9]{4}", "caf\u00e9"]
    split = SplitSet(size=16)
    assert [split.add(source) for source in sources] == list(range(len(sources)))
    split.compile()
    assert len(split._sets) == 3  # noqa: SLF001 - 43 patterns in sets of 16
    for text in ["w3x and w17x, w39x", "abbbc 555-0187", "un café", "nothing", "w40x"]:
        expected = [i for i, source in enumerate(sources) if re.search(source, text)]
        assert sorted(split.match(text) or []) == expected, text
        assert sorted(split.match(text.encode()) or []) == expected, text


@pytest.mark.skipif(not prefilter.RE2_AVAILABLE, reason="google-re2 not installed")
def test_a_split_set_whose_dfa_gives_up_says_it_cannot_tell() -> None:
    class GaveUp:  # an RE2 set whose DFA ran out of memory reports no match at all
        def Match(self, text: bytes) -> list[int]:  # noqa: N802 - RE2's name
            return []

    split = SplitSet(size=2)
    for source in ("refund", "bill", "human"):
        split.add(source)
    split.compile()
    assert split.match("a refund") == [0]
    _, start, size = split._sets[1]  # noqa: SLF001
    split._sets[1] = (GaveUp(), start, size)  # noqa: SLF001
    assert split.match("a refund") is None


@pytest.mark.skipif(not prefilter.RE2_AVAILABLE, reason="google-re2 not installed")
def test_a_pattern_re2_rejects_is_refused_when_added() -> None:
    split = SplitSet()
    with pytest.raises(prefilter._re2.error):  # noqa: SLF001
        split.add("(ab)\\1")
