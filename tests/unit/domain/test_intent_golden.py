"""Golden-set tests for intent detection: the data's shape and the acceptance numbers.

The acceptance numbers (issue 2: macro-F1 >= 0.90 and ECE <= 0.05) are measured on the
TEST split only, which training never reads. The model's recorded training-data hash is
checked against the current train split so a stale model fails loudly.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter

import pytest

from evals.datasets import GOLDEN_DIR, load_cases
from evals.train_intent import (
    INTENT_SET,
    expected_calibration_error,
    macro_f1,
    training_data_sha256,
)
from pipeline.adapters.local.offline_nlp import OfflineNlp
from pipeline.domain.intent import MODEL_PATH, IntentDetector, load_intent_model
from pipeline.domain.models import INTENTS

OUT_OF_SCOPE_SET = GOLDEN_DIR / "out_of_scope.jsonl"
BANK_LOOKALIKES = {
    "bill_balance",
    "pay_bill",
    "account_blocked",
    "pin_change",
    "freeze_account",
    "change_user_name",
}


@pytest.fixture(scope="module")
def cases():
    return load_cases(INTENT_SET)


@pytest.fixture(scope="module")
def detector():
    return IntentDetector(load_intent_model(), OfflineNlp())


def _tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def _char_trigrams(text: str) -> set[str]:
    joined = " ".join(_tokens(text))
    return {joined[i : i + 3] for i in range(len(joined) - 2)}


# --- the data ---------------------------------------------------------------------------------


def test_intent_set_size_labels_and_splits(cases):
    cases = [c for c in cases if c.source == "written for this project (intent v1)"]  # v2: tests/golden
    assert len(cases) >= 1000
    per_intent = Counter(c.expected["intent"] for c in cases)
    assert set(per_intent) == set(INTENTS)
    assert min(per_intent.values()) >= 80, per_intent
    for case in cases:
        assert set(case.expected) == {"intent", "needs_clarification", "escalate"}, case.id
        assert isinstance(case.expected["needs_clarification"], bool) and isinstance(
            case.expected["escalate"], bool
        )
        assert case.source == "written for this project (intent v1)"
    # Stratified ~60/20/20 per intent.
    for intent in INTENTS:
        splits = Counter(c.split for c in cases if c.expected["intent"] == intent)
        total = sum(splits.values())
        assert 0.5 <= splits["train"] / total <= 0.7, (intent, splits)
        assert splits["dev"] >= 0.15 * total and splits["test"] >= 0.15 * total, (intent, splits)


def test_intent_set_covers_the_hard_cases(cases):
    cases = [c for c in cases if c.source == "written for this project (intent v1)"]
    tags = Counter(t for c in cases for t in c.tags)
    for tag in (
        "terse",
        "misspelled",
        "angry",
        "pasted_error",
        "vague",
        "boundary",
        "escalation",
        "multi_sentence",
    ):
        assert tags[tag] >= 20, (tag, tags[tag])
    for split in ("train", "dev", "test"):
        in_split = [c for c in cases if c.split == split]
        assert sum(c.expected["needs_clarification"] for c in in_split) >= 8
        assert sum(c.expected["escalate"] for c in in_split) >= 8


def test_no_near_duplicates(cases):
    cases = [c for c in cases if c.source == "written for this project (intent v1)"]  # v2: tests/golden
    seen: dict[frozenset[str], str] = {}
    for case in cases:
        key = frozenset(_tokens(case.input))
        assert key not in seen, f"{case.id} has the same tokens as {seen[key]}"
        seen[key] = case.id
    grams = [(c.id, _char_trigrams(c.input)) for c in cases]
    too_close = []
    for (id_a, a), (id_b, b) in itertools.combinations(grams, 2):
        if a and b and len(a & b) / len(a | b) > 0.75:
            too_close.append((id_a, id_b))
    assert not too_close


def test_out_of_scope_suite_is_derived_from_clinc_val():
    suite = load_cases(OUT_OF_SCOPE_SET)
    assert 550 <= len(suite) <= 650
    assert all(c.expected == {"intent": "out_of_scope"} and c.split == "dev" for c in suite)
    assert all(c.source == "CLINC150 (Larson et al. 2019), CC BY 3.0, val split" for c in suite)
    labels = Counter(
        t.split(":", 1)[1] for c in suite for t in c.tags if t.startswith("clinc_intent:")
    )
    assert len(labels) == 151  # 150 everyday intents + oos
    assert labels["oos"] == 100
    for case in suite:
        label = next(t.split(":", 1)[1] for t in case.tags if t.startswith("clinc_intent:"))
        assert ("bank_account_lookalike" in case.tags) == (label in BANK_LOOKALIKES), case.id
    assert len({c.input.lower() for c in suite}) == len(suite)


# --- the model is trained on the current data -----------------------------------------------------


def test_committed_model_was_trained_on_the_current_train_split(cases):
    recorded = json.loads(MODEL_PATH.read_text())["training"]["data_sha256"]
    assert recorded == training_data_sha256(cases), (
        "stale intent model: run `python -m evals.train_intent`"
    )


def test_training_hash_detects_a_changed_train_case(cases):
    changed = list(cases)
    first_train = next(i for i, c in enumerate(changed) if c.split == "train")
    original = changed[first_train]
    changed[first_train] = type(original)(
        id=original.id,
        input=original.input + " (edited)",
        expected=original.expected,
        tags=original.tags,
        split=original.split,
        source=original.source,
    )
    assert training_data_sha256(changed) != training_data_sha256(cases)
    # Dev and test cases are not part of the training-data hash.
    not_train = [c for c in cases if c.split != "train"]
    assert training_data_sha256(not_train) == training_data_sha256([])


# Acceptance numbers (macro-F1, ECE, escalation P/R on the seen and blind splits) are measured by
# the eval suite (`nox -s eval`, which CI runs) against evals/gates.toml: one place for thresholds.


def test_metric_helpers():
    assert macro_f1(["a", "b"], ["a", "b"], labels=("a", "b")) == 1.0
    assert macro_f1(["a", "a"], ["b", "b"], labels=("a", "b")) == 0.0
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0, 1.0], [False, False]) == pytest.approx(1.0)
