"""Importing blind-written cases: split by hash, validation, duplicates, agreement."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals import agreement, golden_import
from evals.datasets import GoldenSetError, load_cases


def _case(i: int, text: str, intent: str = "networking") -> dict:
    return {"id": f"t-{i:04d}", "input": text, "expected": {"intent": intent, "needs_clarification": False,
                                                           "escalate": False},
            "tags": [], "source": "blind helper (test)"}


def test_split_is_a_stable_hash_of_the_id_in_the_stated_shares() -> None:
    splits = Counter(golden_import.assign_split(f"case-{i}", golden_import.TRAINABLE_SHARES) for i in range(4000))
    assert golden_import.assign_split("case-7", golden_import.TRAINABLE_SHARES) == \
        golden_import.assign_split("case-7", golden_import.TRAINABLE_SHARES)
    assert abs(splits["train"] / 4000 - 0.35) < 0.03 and abs(splits["blind"] / 4000 - 0.50) < 0.03


def test_import_validates_appends_and_skips_duplicates(tmp_path: Path) -> None:
    golden = tmp_path / "intent.jsonl"
    existing = dict(_case(1, "VPC peering does not route"), split="dev")
    golden.write_text(json.dumps(existing) + "\n")
    incoming = tmp_path / "in.jsonl"
    incoming.write_text("\n".join(json.dumps(c) for c in [_case(2, "vpc  peering does NOT route"),
                                                          _case(3, "NAT gateway drops packets\u2028at night")]) + "\n")
    rows = golden_import.load_incoming(incoming, "intent")
    dry = golden_import.merge("intent", rows, golden_dir=tmp_path)
    assert dry == {"added": 1, "duplicate_inputs_skipped": 1, "splits": dry["splits"], "written": False}
    assert len(golden.read_text().splitlines()) == 1
    golden_import.merge("intent", rows, golden_dir=tmp_path, write=True)
    cases = load_cases(golden)
    assert [c.id for c in cases] == ["t-0001", "t-0003"]
    assert cases[1].input.endswith("\u2028at night") and cases[1].split in ("train", "dev", "blind")
    assert len(golden.read_text(encoding="utf-8").splitlines()) == 2  # U+2028 is escaped on disk


def test_a_malformed_incoming_line_names_file_and_line(tmp_path: Path) -> None:
    incoming = tmp_path / "in.jsonl"
    incoming.write_text(json.dumps(_case(1, "ok")) + "\n" + json.dumps(dict(_case(2, "x"), tags="bad")) + "\n")
    with pytest.raises(GoldenSetError, match=r"in.jsonl:2: field 'tags'"):
        golden_import.load_incoming(incoming, "intent")
    incoming.write_text(json.dumps(dict(_case(1, "ok"), expected={"intent": "weather"})) + "\n")
    with pytest.raises(GoldenSetError, match=r"in.jsonl:1: case 't-0001'"):
        golden_import.load_incoming(incoming, "intent")


def test_agreement_measures_the_authored_label_not_the_adjudicated_one(tmp_path: Path) -> None:
    rows = [dict(_case(i, f"text {i}"), split="dev") for i in range(4)]
    rows[0]["expected"]["intent"] = "billing_cost"  # adjudicated from networking
    (tmp_path / "intent.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "relabels").mkdir()
    (tmp_path / "relabels" / "intent.jsonl").write_text("".join(
        json.dumps({"id": r["id"], "expected": {**r["expected"], "intent": "billing_cost"}}) + "\n" for r in rows))
    (tmp_path / "adjudications.jsonl").write_text(json.dumps({
        "set": "intent", "id": "t-0000", "field": "intent", "label_a": "networking", "label_b": "billing_cost",
        "decision": "billing_cost", "reason": "guide", "authored": {**rows[0]["expected"], "intent": "networking"},
    }) + "\n")
    result, pending = agreement.compute(tmp_path)
    intent = result["sets"]["intent"]["intent"]
    # authored: networking x4 vs relabel: billing_cost x4 -> no agreement; one disagreement adjudicated
    assert intent["agreement"] == 0.0 and intent["disagreements"] == 4 and intent["adjudicated"] == 1
    assert len([p for p in pending if p["field"] == "intent"]) == 3


def test_a_corrupt_agreement_file_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "agreement.json"
    bad.write_text("{not json")
    with pytest.raises(GoldenSetError, match="agreement.json"):
        agreement.load_agreement(bad)
    assert agreement.load_agreement(tmp_path / "absent.json") == {}


def test_a_training_batch_goes_to_train_whole_and_never_to_blind(tmp_path: Path) -> None:
    incoming = tmp_path / "in.jsonl"
    incoming.write_text("\n".join(json.dumps(_case(n, f"question number {n} about s3")) for n in range(40)) + "\n")
    hashed = {r["split"] for r in golden_import.load_incoming(incoming, "intent")}
    batch = {r["split"] for r in golden_import.load_incoming(incoming, "intent", training_batch=True)}
    assert "blind" in hashed  # 40 ids: the hash puts some in blind
    assert batch == {"train"}
