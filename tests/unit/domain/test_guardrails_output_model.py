"""The learned heads of the output guardrail (future_commitment, competitor_disparagement)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals.datasets import GOLDEN_DIR, load_cases
from evals.scorers import guardrail_match
from evals.suites import _guard_solver
from pipeline.domain.guardrails import RULES, Scanner, output_model, scan_output
from pipeline.domain.guardrails.engine import lowered_view
from pipeline.domain.textfeatures import BinaryHead, LinearHeadError


def test_the_shipped_heads_load_and_name_catalogue_rules() -> None:
    heads = {h.name: h for h in output_model.load_heads()}
    assert set(heads) == set(output_model.HEAD_RULES)
    rule_ids = {r.rule_id: r for r in RULES}
    for name, head in heads.items():
        rule = rule_ids[output_model.HEAD_RULES[name]]
        assert rule.category == name and rule.action.value == "block"
        assert 0.5 <= head.threshold < 1.0 and head.temperature > 0


def test_the_thresholds_keep_the_added_false_blocks_within_the_budget_out_of_fold() -> None:
    for head in output_model.load_heads():
        measured = head.metadata["measured"]
        budget = head.metadata["settings"]["max_false_rate"]
        # the threshold is judged on the answers (dev + train out of fold) and on the excerpts
        answers = [measured["dev_answers"], measured["train_answers_out_of_fold"]]
        added = sum(round(m["false_rate_added_by_head"] * m["allowed"]) for m in answers)
        assert added <= budget * sum(m["allowed"] for m in answers) + 1e-9
        excerpts = measured["excerpts_out_of_fold"]
        assert excerpts["false_rate_added_by_head"] <= budget + 1e-9
        for m in (*answers, excerpts):
            assert m["recall_combined"] >= m["recall_rules_only"]


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
