"""Suite definitions: golden-set schemas, the robustness mutations and their seeding."""

from __future__ import annotations

import json

import pytest

from evals import robustness as R
from evals import suites
from evals.datasets import GOLDEN_DIR, GoldenCase, GoldenSetError, load_cases
from evals.runner import SolverSpec, Suite


def test_every_suite_definition_builds_without_running_components():
    for name, factory in suites.SUITES.items():
        suite = factory()
        assert suite.name == name
        assert suite.scorers
        assert len(suite.definition_sha256()) == 64


def test_conversations_golden_set_is_valid_and_covers_every_path():
    cases = suites.conversations_suite().load_cases()
    assert len(cases) >= 25
    seen = {t["response_type"] for c in cases for t in c.expected["turns"]}
    assert seen == set(suites.RESPONSE_TYPES)
    actions = {t["guardrail_action"] for c in cases for t in c.expected["turns"]}
    assert actions == {"allow", "redact", "block"}
    assert any(len(c.input["turns"]) > 1 for c in cases)


def test_conversation_schema_error_names_file_and_line(tmp_path):
    path = tmp_path / "conversations.jsonl"
    good = json.loads((GOLDEN_DIR / "conversations.jsonl").read_text().splitlines()[0])
    bad = {**good, "id": "bad", "expected": {"turns": [{"response_type": "shrug"}] * len(good["input"]["turns"])}}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    suite = Suite("conversations", "", path, SolverSpec("x", lambda c: None), (),
                  validate=suites._validate_conversation)
    with pytest.raises(GoldenSetError, match=r"conversations\.jsonl:2: case 'bad': turn 1: 'response_type'"):
        suite.load_cases()


def test_conversation_inputs_with_secrets_are_never_stored_in_clear():
    case = next(c for c in load_cases(GOLDEN_DIR / "conversations.jsonl") if c.id == "conv-secret-config")
    missed = suites._conversation_safe_input(case, {"_redacted": [("allow", [], case.input["turns"][0]["query"])]})
    assert missed["turns"][0]["query"]["withheld"] is True
    caught = suites._conversation_safe_input(case, {"_redacted": [("block", ["aws_secret_key"], "key = ****")]})
    assert caught["turns"][0]["query"] == "key = ****"


def test_mask_long_tokens_masks_mixed_tokens_only():
    assert suites.mask_long_tokens("id abcdefghijklmnopq and a1b2c3d4e5f6g7h8i9") == "id abcdefghijklmnopq and ‹masked›"


@pytest.mark.parametrize(("kind", "ops", "want"), [
    ("casing", [(0,), (3,)], "Ab Cd"),
    ("whitespace", [(2, 1)], "ab\tcd"),
    ("typos", [(0, 0)], "b cd"),
    ("typos", [(0, 1)], "ba cd"),
    ("homoglyphs", [(0,)], "\u0430b cd"),
    ("zero_width", [(1, 0)], "a\u200bb cd"),
    ("line_splits", [(2,)], "ab\ncd"),
])
def test_mutations(kind, ops, want):
    assert R.mutate("ab cd", kind, ops) == want


def test_visible_shows_invisible_characters():
    assert R.visible("a\u200bb\nc") == "a\\u200bb\\u000ac"


def test_generated_cases_are_reproducible(monkeypatch):
    monkeypatch.setattr(R, "SOURCES", {"intent": GOLDEN_DIR / "intent.jsonl"})
    monkeypatch.setattr(R, "BASES_PER_SOURCE", 10)
    first = R.generate_cases(123, examples=15)
    second = R.generate_cases(123, examples=15)
    assert [c.id for c in first] == [c.id for c in second]
    assert {c.input["kind"] for c in first} == set(R.MUTATIONS)
    other = R.generate_cases(124, examples=15)
    assert [c.id for c in other] != [c.id for c in first]


def test_robustness_metrics_per_mutation():
    from evals.runner import CaseResult

    results = [CaseResult(f"c{i}", {}, {"label": "x"}, {"label": "x"}, {}, i % 2 == 0, None, 0.1,
                          ("typos", "intent"), "test") for i in range(10)]
    m = R.robustness_metrics(results)
    assert m.metrics["invariance_rate"].value == 0.5
    assert m.metrics["invariance_typos"].n == 10
    assert m.details["per_mutation"]["typos"]["intent"] == 0.5


def test_guardrail_flags():
    case = GoldenCase("s", "t", {"action": "block", "categories": ["aws_secret_key"]}, (), "test", "x")
    assert suites.guardrail_flags(case, {"action": "allow"}) == ("blocked_category_passed", "secret_leak")
    assert suites.guardrail_flags(case, {"action": "block"}) == ()
    assert suites.guardrail_flags(case, None) == ()
