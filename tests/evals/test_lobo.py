"""evals.lobo: the pieces the leave-one-batch-out evaluations share (batches from ids, what a
fold holds out, the --batch/--json options and the --json file)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evals.datasets import GoldenCase
from evals.lobo import (
    add_batch_option,
    add_json_option,
    batch_of,
    held_batches,
    is_held,
    split_fold,
    write_json,
)


def _case(case_id: str, split: str = "train", source: str = "blind helper") -> GoldenCase:
    return GoldenCase(case_id, f"text of {case_id}", {"action": "allow"}, (), split, source)


def _cases() -> list[GoldenCase]:
    # Deliberately not in name order, with a dev case whose id names a train batch.
    return [_case("rt2-0001"), _case("it3-0042"), _case("rt-0007"), _case("intent-v1-0868", source="CLINC150"),
            _case("rt2-0002", split="dev"), _case("rt12-0003"), _case("rt2-0004"), _case("ra-0001", split="dev")]


def test_a_batch_is_the_id_without_its_trailing_number() -> None:
    assert batch_of("rt12-0042") == "rt12"
    assert batch_of("rt-0001") == "rt"
    assert batch_of("intent-v1-0868") == "intent-v1"  # a hyphenated batch name survives
    assert batch_of("aws-docs-0213") == "aws-docs"
    assert batch_of("ia-12") == "ia"
    assert batch_of("rt2-0042") != batch_of("rt-0042")


def test_the_folds_are_the_train_batches_in_name_order() -> None:
    cases = _cases()
    assert held_batches(cases) == ["intent-v1", "it3", "rt", "rt12", "rt2"]  # ra is only in dev
    rt_only = held_batches(cases, held=lambda c: batch_of(c.id).startswith("rt"))
    assert rt_only == ["rt", "rt12", "rt2"]
    blind = held_batches(cases, held=lambda c: c.source.startswith("blind helper"))
    assert "intent-v1" not in blind and len(blind) == 4
    # ``only`` keeps name order, whatever order it is given in, and drops names that are no fold.
    assert held_batches(cases, only=["rt2", "rt", "ra", "nope"]) == ["rt", "rt2"]
    assert held_batches(cases, only=[]) == []  # an empty selection holds nothing out (None: every batch)
    # Another naming of batches: the id's first part (as the output set names them).
    assert held_batches(cases, lambda case_id: case_id.split("-", 1)[0]) == ["intent", "it3", "rt", "rt12", "rt2"]


def test_a_fold_holds_out_its_batch_train_cases_only_and_keeps_the_order() -> None:
    cases = _cases()
    rest, held = split_fold(cases, "rt2")
    assert [c.id for c in held] == ["rt2-0001", "rt2-0004"]
    # the dev case with an rt2 id stays in: dev calibrates every fold
    assert [c.id for c in rest] == ["it3-0042", "rt-0007", "intent-v1-0868", "rt2-0002", "rt12-0003", "ra-0001"]
    assert sorted(c.id for c in rest + held) == sorted(c.id for c in cases)
    assert [c.id for c in cases if is_held(c, "rt2")] == [c.id for c in held]
    # "rt" is not a prefix match: rt2 and rt12 cases are not held with it
    assert [c.id for c in split_fold(cases, "rt")[1]] == ["rt-0007"]
    assert split_fold(cases, "absent") == (cases, [])


def test_the_batch_and_json_options() -> None:
    parser = argparse.ArgumentParser()
    add_batch_option(parser)
    add_json_option(parser)
    args = parser.parse_args(["--batch", "rt12", "--json", "/tmp/cv.json", "--batch", "rt2"])
    assert args.batch == ["rt12", "rt2"] and args.json == "/tmp/cv.json"
    defaults = parser.parse_args([])
    assert defaults.batch is None and defaults.json is None


def test_the_json_file_is_the_full_result_indented_by_one(tmp_path: Path) -> None:
    result = [{"pooled": {"5.0% added": {"recall": 0.5, "found": "1/2"}}, "folds": ["rt", "rt2"]}]
    path = tmp_path / "cv.json"
    write_json(path, result)
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(result, indent=1)  # the format users and the docs read
    assert json.loads(text) == result
    write_json(str(tmp_path / "as-str.json"), {"a": 1})
    assert json.loads((tmp_path / "as-str.json").read_text(encoding="utf-8")) == {"a": 1}
    write_json(None, result)  # no --json: nothing is written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["as-str.json", "cv.json"]
