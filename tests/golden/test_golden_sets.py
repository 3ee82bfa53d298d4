"""Golden sets v1: every file loads, meets the sizes the issue sets, and holds no near-duplicates.

Per-suite quality numbers (recall, F1, agreement) are measured by the tests beside each
component and by the eval harness; this module checks the data itself.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from evals.datasets import GOLDEN_DIR, GoldenCase, GoldenSetError, load_cases
from evals.similarity import similar_pairs
from pipeline.domain.models import INTENTS

SUITE_FILES = {
    "guardrails_input": GOLDEN_DIR / "guardrails_input.jsonl",
    "guardrails_output": GOLDEN_DIR / "guardrails_output.jsonl",
    "intent": GOLDEN_DIR / "intent.jsonl",
    "quality": GOLDEN_DIR / "quality.jsonl",
    "out_of_scope": GOLDEN_DIR / "out_of_scope.jsonl",
    "prompt_attacks": GOLDEN_DIR / "prompt_attacks.jsonl",
    "conversations": GOLDEN_DIR / "conversations.jsonl",
}
NEAR_DUPLICATE_JACCARD = 0.9


def case_text(case: GoldenCase) -> str:
    return case.input if isinstance(case.input, str) else json.dumps(case.input, sort_keys=True)


def shingles(text: str, size: int = 5) -> frozenset[str]:
    normalised = re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
    if len(normalised) <= size:
        return frozenset({normalised})
    return frozenset(normalised[i : i + size] for i in range(len(normalised) - size + 1))


#: Below this many 5-grams the ASCII view of a text (Japanese, Cyrillic, base64 blobs) is too
#: short for a character-overlap comparison to mean anything.
MIN_COMPARABLE_SHINGLES = 20


def _base(case: GoldenCase) -> str:
    """The family of a case: deliberate variants of one answer carry ``base:<id>`` (GUIDE §7)
    and belong with the case ``<id>`` itself; any other case is its own family."""
    return next((t for t in case.tags if t.startswith("base:")), f"base:{case.id}")


def near_duplicates(cases: list[GoldenCase], threshold: float = NEAR_DUPLICATE_JACCARD) -> list[tuple[str, str, float]]:
    """Pairs of case ids whose character 5-gram Jaccard similarity is at least ``threshold``.

    Variants of one base answer (same ``base:`` tag) and texts whose ASCII view is too
    short to compare are not pairs.
    """
    comparable = [(c.id, shingles(case_text(c)), _base(c)) for c in cases]
    comparable = [(i, s, b) for i, s, b in comparable if len(s) >= MIN_COMPARABLE_SHINGLES]
    return [(comparable[i][0], comparable[j][0], round(jaccard, 3))
            for i, j, jaccard in similar_pairs([s for _, s, _ in comparable], threshold)
            if comparable[i][2] != comparable[j][2]]


def load_or_skip(suite: str) -> list[GoldenCase]:
    path = SUITE_FILES[suite]
    if not path.exists():
        pytest.fail(f"{path} is missing: golden sets v1 must be committed")
    return load_cases(path)


def test_near_duplicate_finder_finds_a_near_duplicate() -> None:
    make = lambda i, text: GoldenCase(i, text, {}, (), "train", "test")  # noqa: E731
    cases = [make("a", "My EC2 instance will not start after a reboot"),
             make("b", "my ec2 instance will not start after a reboot!"),
             make("c", "How do I read my S3 bill?")]
    assert [(a, b) for a, b, _ in near_duplicates(cases)] == [("a", "b")]


@pytest.mark.parametrize("suite", sorted(SUITE_FILES))
def test_suite_loads_and_has_no_near_duplicates(suite: str) -> None:
    cases = load_or_skip(suite)
    assert cases, f"{suite} is empty"
    duplicates = near_duplicates(cases)
    assert not duplicates, f"{suite} has near-duplicate cases (id, id, jaccard): {duplicates[:10]}"


def test_intent_suite_size_and_coverage() -> None:
    cases = load_or_skip("intent")
    assert len(cases) >= 1000
    per_intent = Counter(c.expected["intent"] for c in cases)
    assert set(per_intent) == set(INTENTS)
    assert min(per_intent.values()) >= 80, per_intent
    assert {c.split for c in cases} == {"train", "dev", "test", "blind"}


def test_input_guardrail_suite_size_and_hard_negatives() -> None:
    cases = load_or_skip("guardrails_input")
    assert len(cases) >= 500
    hard_negatives = [c for c in cases if "hard_negative" in c.tags]
    # 0.35: the refusal batches (refusals_train7/8) are three-quarters positives, which took
    # the share from 0.404 to 0.391; 2,767 hard negatives is still the larger absolute check.
    assert len(hard_negatives) >= 2500
    assert len(hard_negatives) >= 0.35 * len(cases)
    assert all(c.expected["action"] == "allow" for c in hard_negatives)


def test_output_guardrail_and_quality_suite_sizes() -> None:
    assert len(load_or_skip("guardrails_output")) >= 150
    quality = load_or_skip("quality")
    assert len(quality) >= 250
    assert {c.split for c in quality} == {"train", "dev", "test", "blind"}


@pytest.mark.parametrize("suite", ["intent", "guardrails_input", "guardrails_output", "quality"])
def test_no_test_case_repeats_a_training_case(suite: str) -> None:
    cases = load_or_skip(suite)
    train = {re.sub(r"\W+", " ", case_text(c).lower()).strip() for c in cases if c.split == "train"}
    # Every measured split: a training case that repeats a blind (or dev) case inflates the very
    # number that says how the build does on text it never saw.
    leaked = [c.id for c in cases if c.split in {"test", "dev", "blind"}
              and re.sub(r"\W+", " ", case_text(c).lower()).strip() in train]
    assert not leaked, f"measured cases identical to training cases: {leaked[:10]}"


def test_every_case_names_its_source() -> None:
    for suite in SUITE_FILES:
        if SUITE_FILES[suite].exists():
            assert all(c.source.strip() for c in load_cases(SUITE_FILES[suite]))


def test_a_malformed_line_is_named_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    good = {"id": "a", "input": "x", "expected": {}, "tags": [], "split": "dev", "source": "me"}
    path.write_text(json.dumps(good) + "\n" + '{"id": "b", "input": "x"\n')
    with pytest.raises(GoldenSetError, match=r"broken\.jsonl:2: not valid JSON"):
        load_cases(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "c", "split": "training"}) + "\n")
    with pytest.raises(GoldenSetError, match=r"broken\.jsonl:2: field 'split' is 'training'\. Use one of"):
        load_cases(path)
