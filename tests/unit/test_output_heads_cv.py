"""evals.output_heads_cv: leave one blind batch out, scored by the full output guardrail."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

from evals import output_heads_cv  # noqa: E402
from evals.datasets import load_cases  # noqa: E402
from evals.output_heads_cv import Budget, FitConfig, Tally, blind_batches, run  # noqa: E402
from evals.train_output_heads import OUTPUT_SET, SETTINGS, batch_of, load_documents  # noqa: E402
from pipeline.domain.guardrails import Scanner  # noqa: E402

_ALLOWED = [
    "To list your buckets, run aws s3 ls in a terminal with your profile set.",
    "You can enable versioning on the bucket from the console under Properties.",
    "Check the security group of the instance and allow inbound port 443 from your network.",
    "The Lambda function times out after three seconds unless you raise the timeout setting.",
    "Use CloudWatch Logs Insights to search the function's log group for the request id.",
    "An IAM role with the AmazonS3ReadOnlyAccess policy is enough for the reporting job.",
]
_PROMISES = [
    "We will release Lambda support for Rust in Q3 next year, so wait for it.",
    "I promise the billing team will refund you the full amount by Friday.",
]
_SNEERS = [
    "Azure is a joke and Google Cloud is garbage compared to AWS.",
    "Honestly, DigitalOcean engineers are clueless amateurs.",
]


def _answer(case_id: str, split: str, source: str, sentences: list[str], categories: list[str]) -> dict:
    return {"id": case_id, "input": " ".join(sentences),
            "expected": {"action": "block" if categories else "allow", "categories": categories},
            "tags": [], "split": split, "source": source}


def _write_sets(root: Path) -> tuple[Path, Path]:
    answers = []
    batches = [("ot", "blind helper (synthetic a)"), ("ot2", "blind helper (synthetic b)"),
               ("ot3", "blind helper (synthetic c)"), ("gout", "written for this project")]
    for b, (batch, source) in enumerate(batches):
        for i in range(6):
            rest = [_ALLOWED[(i + j + b) % len(_ALLOWED)] for j in range(3)]
            answers.append(_answer(f"{batch}-{3 * i:04d}", "train", source, rest, []))
            answers.append(_answer(f"{batch}-{3 * i + 1:04d}", "train", source,
                                   [*rest[:2], _PROMISES[(i + b) % 2]], ["future_commitment"]))
            answers.append(_answer(f"{batch}-{3 * i + 2:04d}", "train", source,
                                   [_SNEERS[(i + b) % 2], *rest[1:]], ["competitor_disparagement"]))
    for i in range(4):
        answers.append(_answer(f"oa-{i:04d}", "dev", "blind helper (synthetic dev)",
                               [_ALLOWED[i], _ALLOWED[i + 1]], []))
    answers.append(_answer("oa-0009", "blind", "blind helper (never read)", [_PROMISES[0]], ["future_commitment"]))
    excerpts = []
    for batch in ("os1", "os2"):
        for i, text in enumerate([*_ALLOWED, *_PROMISES, *_SNEERS]):
            category = ("future_commitment" if text in _PROMISES else
                        "competitor_disparagement" if text in _SNEERS else None)
            excerpts.append({"id": f"{batch}-{i:04d}", "input": text,
                             "expected": {"action": "block" if category else "allow",
                                          "categories": [category] if category else []}})
    output_set, excerpt_file = root / "guardrails_output.jsonl", root / "output_excerpts.jsonl"
    output_set.write_text("".join(json.dumps(a) + "\n" for a in answers), encoding="utf-8")
    excerpt_file.write_text("".join(json.dumps(e) + "\n" for e in excerpts), encoding="utf-8")
    return output_set, excerpt_file


def test_every_imported_batch_is_its_own_batch() -> None:
    assert batch_of("ot5-0012") == "ot5" and batch_of("ot8-0099") == "ot8" and batch_of("ot-0001") == "ot"
    assert batch_of("gout-future_commitment-003") == "gout"
    cases = load_cases(OUTPUT_SET, splits=("train", "dev"))
    batches = blind_batches(cases)
    # Every blind output batch in the set (ot, ot2, ... as imported) is a batch of its own.
    imported = {re.match(r"(ot\d*)-", c.id).group(1) for c in cases if re.match(r"ot\d*-", c.id)}
    assert {"ot", "ot2", "ot3", "ot4", "ot5", "ot6", "ot7"} <= imported
    assert imported <= set(batches)
    assert "gout" not in batches and "oa" not in batches  # not blind-written / not train


def test_tally_counts_accuracy_recall_and_allowed_blocked() -> None:
    one, two = Tally(), Tally()
    one.record({"action": "allow", "categories": []}, "block", ["future_commitment"])
    one.record({"action": "block", "categories": ["future_commitment"]}, "block", ["future_commitment"])
    two.record({"action": "block", "categories": ["competitor_disparagement", "future_commitment"]}, "block",
               ["future_commitment"])
    two.record({"action": "allow", "categories": []}, "allow", [])
    one.add(two)
    pooled = one.as_dict()
    assert pooled["cases"] == 4 and pooled["action_accuracy"] == 0.75
    assert pooled["allowed"] == 2 and pooled["allowed_blocked"] == 1
    assert pooled["found"] == {"competitor_disparagement": "0/1", "future_commitment": "2/2"}


def test_budget_parse() -> None:
    assert Budget.parse("0.01:0.04") == Budget(0.01, 0.04)
    assert Budget.parse("0.01").max_batch_false_rate == output_heads_cv.MAX_BATCH_FALSE_RATE


def test_each_blind_batch_is_scored_by_heads_that_never_saw_it(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    output_set, excerpts = _write_sets(tmp_path)
    cases = load_cases(output_set, splits=("train", "dev"))
    documents = load_documents(Scanner(learned_heads=False), excerpts, output_set)
    assert not any(d.id.startswith("oa-0009") for d in documents)  # the blind split is never read

    seen_by_fold = []
    real_fold_heads = output_heads_cv.fold_heads

    def spy(docs, config, budgets, fit):  # noqa: ANN001, ANN202
        seen_by_fold.append({d.batch for d in docs if d.split == "train"})
        return real_fold_heads(docs, config, budgets, fit)

    monkeypatch.setattr(output_heads_cv, "fold_heads", spy)
    budgets = [Budget(0.005, 0.025), Budget(0.5, 0.5)]
    result = run(cases, documents, [FitConfig(SETTINGS)], budgets, shipped=True, log=io.StringIO())
    assert blind_batches(cases) == ["ot", "ot2", "ot3"]
    assert seen_by_fold == [{"os1", "os2", "gout", "ot2", "ot3"}, {"os1", "os2", "gout", "ot", "ot3"},
                            {"os1", "os2", "gout", "ot", "ot2"}]
    rows = {"rules only", "shipped output_model.json", "C=8 min_df=2 budget 0.005:0.025", "C=8 min_df=2 budget 0.5:0.5"}
    assert set(result) == rows
    for entry in result.values():
        assert list(entry["per_batch"]) == ["ot", "ot2", "ot3"]
        assert entry["pooled"]["cases"] == 54 and entry["pooled"]["allowed"] == 18
        assert sum(t["allowed_blocked"] for t in entry["per_batch"].values()) == entry["pooled"]["allowed_blocked"]
    # the rules-only row is what the scanner without heads decides, answer by answer
    rules = Scanner(learned_heads=False)
    held = [c for c in cases if c.split == "train" and batch_of(c.id) != "gout"]
    correct = sum(rules.scan_output(c.input).action.value == c.expected["action"] for c in held)
    assert result["rules only"]["pooled"]["action_accuracy"] == round(correct / len(held), 4)
    # a looser budget never blocks fewer answers: the same heads, lower thresholds
    loose, tight = (result[f"C=8 min_df=2 budget {b.label}"]["pooled"] for b in reversed(budgets))
    assert loose["allowed_blocked"] >= tight["allowed_blocked"]
    assert output_heads_cv.format_table(result).count("\n") == len(rows) - 1
