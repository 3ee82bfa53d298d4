"""Human review: export the failed or changed cases of a run, import the judged ones as
adjudications with provenance, append-only and all-or-nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evals import cli, review
from evals.compare import compare_suite


def _golden(tmp_path: Path) -> Path:
    golden = tmp_path / "golden"
    golden.mkdir()
    cases = [
        {"id": "i-1", "input": "my bill doubled", "expected": {"intent": "billing_cost", "escalate": False},
         "tags": ["money"], "split": "dev", "source": "test"},
        {"id": "i-2", "input": "ssh times out", "expected": {"intent": "ec2_troubleshooting", "escalate": False},
         "tags": [], "split": "train", "source": "test"},
        {"id": "i-3", "input": "close my account", "expected": {"intent": "account_management", "escalate": True},
         "tags": [], "split": "blind", "source": "test"},
        {"id": "i-4", "input": "lambda timeout", "expected": {"intent": "lambda_troubleshooting", "escalate": False},
         "tags": [], "split": "dev", "source": "test"},
    ]
    (golden / "intent.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return golden


def _case(cid, expected, output, passed, split):
    return {"id": cid, "input": "q", "expected": expected, "output": output, "scores": {}, "passed": passed,
            "error": None, "latency_ms": 1.0, "tags": [], "split": split, "flags": []}


def _suite(cases):
    return {"name": "intent", "dataset": {"path": "golden_sets/intent.jsonl", "sha256": None, "n_cases": len(cases),
                                          "splits": None}, "metrics": {}, "cases": cases}


def _run_and_base():
    exp1, exp2 = {"intent": "billing_cost", "escalate": False}, {"intent": "ec2_troubleshooting", "escalate": False}
    exp3, exp4 = {"intent": "account_management", "escalate": True}, {"intent": "lambda_troubleshooting", "escalate": False}
    cur = _suite([_case("i-1", exp1, {"intent": "account_management", "escalate": False}, False, "dev"),
                  _case("i-2", exp2, exp2, True, "train"),
                  _case("i-3", exp3, {"intent": "general_support", "escalate": False}, False, "blind"),
                  _case("i-4", exp4, {**exp4, "confidence": 0.6}, True, "dev")])
    base = _suite([_case("i-1", exp1, exp1, True, "dev"), _case("i-2", exp2, exp2, True, "train"),
                   _case("i-3", exp3, exp3, True, "blind"), _case("i-4", exp4, {**exp4, "confidence": 0.9}, True, "dev")])
    return {"run_id": "run-7", "suites": {"intent": cur}}, {"intent": compare_suite("intent", cur, base)}


def test_export_lists_failed_and_changed_cases_never_blind():
    record, comps = _run_and_base()
    rows, blind = review.export_rows(record, comps)
    assert [(r["id"], r["status"], r["fields"]) for r in rows] == [("i-1", "regressed", ["intent"]),
                                                                   ("i-4", "changed", ["intent", "escalate"])]
    assert blind == 1  # i-3 failed too, but it is blind
    assert all(r["label"] == "" and r["comment"] == "" and r["run_id"] == "run-7" for r in rows)
    assert rows[0]["got"] == {"intent": "account_management", "escalate": False}


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_import_appends_judged_cases_with_provenance_and_keeps_what_is_there(tmp_path, capsys):
    golden = _golden(tmp_path)
    record, comps = _run_and_base()
    rows, _ = review.export_rows(record, comps)
    rows[0].update(label="expected", comment="GUIDE §2: a doubled bill is billing_cost")
    rows[1].update(label={"intent": "lambda_troubleshooting"}, comment="GUIDE §2.4")
    rows.append({**rows[0], "id": "i-2", "label": "", "comment": ""})  # not judged: skipped
    adjudications = tmp_path / "adjudications.jsonl"
    existing = '{"set": "intent", "id": "old", "field": "intent", "decision": "x", "authored": {"intent": "y"}}\n'
    adjudications.write_text(existing)
    code = cli.main(["review-import", str(_write(tmp_path / "review.jsonl", rows)), "--reviewer", "Ada",
                     "--adjudications", str(adjudications), "--golden-dir", str(golden), "--date", "2026-12-06"])
    out = capsys.readouterr().out
    assert code == 0 and "2 adjudication(s) from 2 judged case(s)" in out and "1 line(s) without a label" in out
    text = adjudications.read_text()
    assert text.startswith(existing)
    added = [json.loads(line) for line in text.splitlines()[1:]]
    assert added == [
        {"set": "intent", "id": "i-1", "field": "intent", "label_a": "billing_cost", "label_b": "account_management",
         "decision": "billing_cost", "reason": "GUIDE §2: a doubled bill is billing_cost",
         "authored": {"intent": "billing_cost", "escalate": False}, "adjudicator": "Ada", "source": "review",
         "date": "2026-12-06", "run_id": "run-7"},
        {"set": "intent", "id": "i-4", "field": "intent", "label_a": "lambda_troubleshooting",
         "label_b": "lambda_troubleshooting", "decision": "lambda_troubleshooting", "reason": "GUIDE §2.4",
         "authored": {"intent": "lambda_troubleshooting", "escalate": False}, "adjudicator": "Ada",
         "source": "review", "date": "2026-12-06", "run_id": "run-7"},
    ]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda rows: rows.__setitem__(1, "{oops"), ":2: not valid JSON"),
    (lambda rows: rows[0].update(label="expected", comment=""), ":1: field 'comment'"),
    (lambda rows: rows[0].update(label={"intnet": "x"}, comment="c"), ":1: field 'label.intnet'"),
    (lambda rows: rows[0].update(label="maybe", comment="c"), ":1: field 'label': must be"),
    (lambda rows: rows[1].update(id="i-3", label="got", comment="c"), ":2: field 'id': 'i-3' is a blind-split case"),
    (lambda rows: rows[1].update(id="nope", label="got", comment="c"), ":2: field 'id': no case 'nope'"),
    (lambda rows: rows[0].pop("fields"), ":1: field 'fields' missing"),
])
def test_a_bad_line_is_named_and_nothing_is_written(tmp_path, capsys, mutate, message):
    golden = _golden(tmp_path)
    record, comps = _run_and_base()
    rows, _ = review.export_rows(record, comps)
    rows[1].update(label="expected", comment="fine")
    mutate(rows)
    path = tmp_path / "review.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    adjudications = tmp_path / "adjudications.jsonl"
    adjudications.write_text('{"keep": true}\n')
    code = cli.main(["review-import", str(path), "--reviewer", "Ada", "--adjudications", str(adjudications),
                     "--golden-dir", str(golden)])
    err = capsys.readouterr().err
    assert code == 2 and f"review.jsonl{message}" in err and "nothing was written" in err
    assert adjudications.read_text() == '{"keep": true}\n'


def test_a_failed_write_leaves_the_file_whole_and_no_temporary_behind(tmp_path, monkeypatch):
    target = tmp_path / "adjudications.jsonl"
    target.write_text('{"keep": true}\n')

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        review.append_atomic([{"new": 1}], target)
    assert target.read_text() == '{"keep": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["adjudications.jsonl"]


def test_export_command_writes_the_file_from_two_records(tmp_path, capsys):
    record, _ = _run_and_base()
    base = {**record, "run_id": "base"}
    base["suites"] = {"intent": _suite([_case(c["id"], c["expected"], c["expected"], True, c["split"])
                                        for c in record["suites"]["intent"]["cases"]])}

    def full(rec):
        suite = rec["suites"]["intent"]
        suite.update(description="d", components=[], suite_sha256="s", solver={"name": "s", "params": {}},
                     scorers=[], details={}, timings={}, n_errors=0, setup_error=None)
        return {"schema_version": 1, "run_id": rec["run_id"], "created_at": "t", "git": {"commit": None, "dirty": None},
                "environment": {}, "config": {"model": "offline", "record": False, "seed": 1},
                "model": {"id": "m", "params": {}}, "prompt_versions": {}, "timings": {"wall_s": 1.0, "suites": {}},
                "suites": rec["suites"]}

    run_path, base_path = tmp_path / "run.json", tmp_path / "base.json"
    run_path.write_text(json.dumps(full(record)))
    base_path.write_text(json.dumps(full(base)))
    out = tmp_path / "review.jsonl"
    code = cli.main(["review-export", str(run_path), "--against", str(base_path), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "1 blind-split case(s) left out" in text
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["i-1", "i-4"]
    code = cli.main(["review-export", str(tmp_path / "missing.json"), "--out", str(out)])
    assert code == 2 and "missing.json: cannot read" in capsys.readouterr().err
