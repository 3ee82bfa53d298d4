"""The learned heads of the output guardrail (future_commitment, competitor_disparagement)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals.datasets import GOLDEN_DIR, load_cases
from evals.scorers import guardrail_match
from evals.suites import _guard_solver
from pipeline.domain.guardrails import (
    OUTPUT_HEADS_NOT_ASKED,
    RULES,
    SPECS,
    Scanner,
    output_model,
    scan_output,
)
from pipeline.domain.guardrails.engine import lowered_view
from pipeline.domain.textfeatures import BinaryHead, LinearHeadError
from pipeline.domain.textnorm import normalize


def test_the_shipped_heads_load_and_name_catalogue_rules() -> None:
    heads = {h.name: h for h in output_model.load_heads()}
    assert set(heads) == set(output_model.HEAD_RULES)
    rule_ids = {r.rule_id: r for r in RULES}
    for name, head in heads.items():
        rule = rule_ids[output_model.HEAD_RULES[name]]
        assert rule.category == name and rule.action.value == "block"
        assert 0.5 <= head.threshold < 1.0 and head.temperature > 0


def test_the_thresholds_keep_the_added_false_blocks_within_the_budget_held_out() -> None:
    for head in output_model.load_heads():
        measured = head.metadata["measured"]
        budget = head.metadata["settings"]["max_false_rate"]
        per_batch = head.metadata["max_batch_false_rate"]
        # the threshold is judged on the answers (dev + train batches held out) and on the excerpts
        answers = [measured["dev_answers"], measured["train_answers_held_out"]]
        added = sum(round(m["false_rate_added_by_head"] * m["allowed"]) for m in answers)
        assert added <= budget * sum(m["allowed"] for m in answers) + 1e-9
        excerpts = measured["excerpts_held_out"]
        assert excerpts["false_rate_added_by_head"] <= budget + 1e-9
        batches = [m for name, m in measured.items() if name.startswith("batch ")]
        assert len(batches) >= 6  # os1, os2, ot, ot2, ot3, ot4, ... each scored by a model that never saw it
        for m in (*answers, excerpts, *batches):
            assert m["recall_combined"] >= m["recall_rules_only"]
        for m in (measured["dev_answers"], *batches):
            assert m["false_rate_added_by_head"] <= per_batch + 1e-9


def _not_asked_examples(kind: str) -> list[tuple[str, str]]:
    return [(head, text) for head, rule_id in output_model.HEAD_RULES.items()
            for text in _RULE_SPECS[rule_id].params.get(kind, [])]


_RULE_SPECS = {spec.rule_id: spec for spec in SPECS}


def _words(text: str) -> list[str]:
    words = output_model.words_of(lowered_view(normalize(text).text))
    assert words is not None
    return words


def test_every_head_with_passages_it_is_not_asked_about_has_examples_both_ways() -> None:
    for head, rule_id in output_model.HEAD_RULES.items():
        params = _RULE_SPECS[rule_id].params
        if params.get("not_asked"):
            assert params.get("not_asked_examples") and params.get("asked_examples"), head


@pytest.mark.parametrize(("head", "text"), _not_asked_examples("not_asked_examples"))
def test_the_kinds_the_guide_allows_are_not_asked(head: str, text: str) -> None:
    assert OUTPUT_HEADS_NOT_ASKED[head].covers(_words(text)), text


@pytest.mark.parametrize(("head", "text"), _not_asked_examples("asked_examples"))
def test_close_commitments_and_outcomes_are_still_asked(head: str, text: str) -> None:
    assert not OUTPUT_HEADS_NOT_ASKED[head].covers(_words(text)), text


def test_a_malformed_not_asked_entry_is_an_error_naming_the_rule() -> None:
    spec = _RULE_SPECS["future_commitment.learned"]
    broken = replace(spec, params={**spec.params, "not_asked": "deprecated"})
    with pytest.raises(ValueError, match="future_commitment.learned"):
        output_model.NotAsked.from_spec(broken)


def test_a_passage_not_asked_about_is_not_judged_and_its_neighbour_still_is(monkeypatch: pytest.MonkeyPatch) -> None:
    _toy_heads(monkeypatch, {"w:runtime": 8.0})
    allowed = "The Node.js 16 runtime will be deprecated next year; plan the upgrade."
    assert Scanner(output_heads=True).scan_output(allowed).action.value == "allow"
    promised = "Pick the runtime that the console patches for you on its own, from today."
    verdict = Scanner(output_heads=True).scan_output(f"{allowed} {promised}")
    assert verdict.action.value == "block"
    finding = verdict.findings[0]
    assert finding.rule_id == "future_commitment.learned"
    assert "patches" in f"{allowed} {promised}"[finding.start : finding.end]


def test_the_heads_are_on_by_default() -> None:
    assert Scanner().output_heads is True


def _write(tmp_path: Path, data: dict) -> str:
    path = tmp_path / "heads.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_a_model_file_of_another_format_or_with_an_unknown_head_is_an_error(tmp_path: Path) -> None:
    head = {"weights": {"w:x": 1.0}, "bias": 0.0, "threshold": 0.9}
    with pytest.raises(LinearHeadError, match="format"):
        output_model.load_heads(_write(tmp_path, {"format": "guardrail-topic-heads-v1", "heads": {}}))
    with pytest.raises(LinearHeadError, match="unknown heads"):
        output_model.load_heads(_write(tmp_path, {"format": output_model.FORMAT, "heads": {"prompt_attack": head}}))
    with pytest.raises(LinearHeadError, match="threshold"):
        output_model.load_heads(_write(tmp_path, {"format": output_model.FORMAT,
                                                  "heads": {"future_commitment": {**head, "threshold": 1.5}}}))


def test_passages_are_the_sentences_with_enough_words() -> None:
    text = "Open the console and choose Lambda. Ok.\n# then pick the function you want to change\n"
    found = [(text[s:e].strip(), len(w)) for s, e, w in output_model.passages(lowered_view(text))]
    # "Ok." is too short to judge; a code comment is a line, hence a sentence
    assert found == [("Open the console and choose Lambda.", 6), ("# then pick the function you want to change", 8)]


def test_passages_are_read_only_from_the_start_of_a_long_text() -> None:
    sentence = "Choose the function and open its configuration tab. "
    text = sentence * (2 * output_model.MAX_CHARS // len(sentence))
    found = output_model.passages(lowered_view(text))
    assert found and max(s for s, _e, _w in found) < output_model.MAX_CHARS


def test_cjk_text_is_read_in_pieces() -> None:
    assert output_model.words_of("このリージョンは来年の第二四半期に東京で提供されます") is not None


def _toy_heads(monkeypatch: pytest.MonkeyPatch, weights: dict[str, float], name: str = "future_commitment") -> None:
    head = BinaryHead(name, weights, -4.0, 1.0, 0.5, {})
    monkeypatch.setattr(output_model, "load_heads", lambda path=None: (head,))


def test_a_head_blocks_a_passage_no_rule_describes_and_masks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Your table is fine as it is. Quedará resuelto cuando el equipo despliegue el parche."
    assert Scanner(learned_heads=False).scan_output(text).action.value == "allow"
    _toy_heads(monkeypatch, {"w:parche": 8.0})
    verdict = Scanner(output_heads=True).scan_output(text)
    assert verdict.action.value == "block"
    assert verdict.categories == ("future_commitment",)
    finding = verdict.findings[0]
    assert finding.rule_id == "future_commitment.learned"
    assert "parche" in text[finding.start : finding.end]
    assert "parche" not in verdict.redacted_text


def test_a_head_is_not_asked_when_a_rule_found_its_category(monkeypatch: pytest.MonkeyPatch) -> None:
    _toy_heads(monkeypatch, {"w:rust": 8.0})
    verdict = Scanner(output_heads=True).scan_output("Rust support will be released in Q3 next year.")
    assert verdict.action.value == "block"
    assert "future_commitment.learned" not in {f.rule_id for f in verdict.findings}


_PROVIDERS = ["Azure", "Google Cloud", "GCP", "Oracle Cloud", "DigitalOcean", "Cloudflare", "Heroku",
              "Microsoft Azure", "IBM Cloud", "Alibaba Cloud"]
_SERVICES = ["Amazon S3", "AWS Lambda", "Amazon RDS", "Amazon EKS", "Amazon DynamoDB", "Amazon CloudFront"]
_NEUTRAL = [
    "{p} and {s} both bill per request, so compare the request counts of your workload.",
    "{p} offers a similar managed service; {s} integrates with IAM and CloudTrail in your account.",
    "If you are migrating from {p}, {s} supports the same protocol and you can copy the data with DataSync.",
    "Both {p} and {s} support encryption at rest with customer managed keys.",
    "{s} is a good fit here because your other workloads already run on AWS, although {p} has a comparable feature.",
    "{p} calls this feature by another name; in {s} you configure it in the console under Settings.",
    "Pricing models differ: {p} charges per hour of capacity, while {s} charges per GB stored and per request.",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_NEUTRAL), st.sampled_from(_PROVIDERS), st.sampled_from(_SERVICES)),
                min_size=1, max_size=5))
def test_neutral_comparisons_with_other_providers_stay_allowed(parts: list[tuple[str, str, str]]) -> None:
    text = " ".join(template.format(p=p, s=s) for template, p, s in parts)
    verdict = scan_output(text)
    assert verdict.action.value == "allow", (text, [f.rule_id for f in verdict.findings])


def test_rules_and_heads_decide_as_the_suite_scores() -> None:
    """The suite's solver (the composition root) gives scan_output's verdict, learned
    findings included, and the suite's scorer passes a case exactly when that verdict
    matches the label."""
    solve = _guard_solver("output")(None)  # type: ignore[arg-type]
    scorer = guardrail_match(categories="subset")
    cases = load_cases(GOLDEN_DIR / "guardrails_output.jsonl", splits=("dev",))
    for case in cases:
        verdict = scan_output(case.input)
        output = solve(case.input)
        assert output["action"] == verdict.action.value
        assert output["categories"] == list(verdict.categories)
        expected = case.expected
        agrees = verdict.action.value == expected["action"] and (
            expected["action"] == "allow" or set(expected.get("categories") or ()) <= set(verdict.categories))
        assert scorer.fn(case, output).passed == agrees
    assert cases
