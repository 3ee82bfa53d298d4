"""The typed run record and its published JSON Schema; ``python -m evals report`` rebuilding
a report from two records alone."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from evals import run_record
from evals.baseline import BASELINE_DIR
from evals.record import RecordError, load_record

from . import test_harness as th
from .test_harness import RULES, run_cli

fake_env = th.fake_env


def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(run_record.SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_generated_from_the_typed_record():
    assert run_record.SCHEMA_FILE.read_text(encoding="utf-8") == run_record.schema_text(), (
        "evals/schema/run-record.schema.json is out of date: run `python -m evals.run_record --write`")
    assert run_record.main(["--check"]) == 0


@pytest.mark.parametrize("path", sorted(BASELINE_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_committed_baselines_validate_against_the_schema(path):
    record = json.loads(path.read_text(encoding="utf-8"))
    _validator().validate(record)
    typed = run_record.parse_record(record)
    assert isinstance(typed.suites[path.stem], run_record.SuiteRecord)
    assert all(isinstance(c, run_record.CaseRecord) for c in typed.suites[path.stem].cases)


def test_a_fresh_run_json_validates_and_both_checkers_reject_the_same_faults(fake_env, capsys):
    tmp, args = fake_env
    assert run_cli(args + ["--update-baseline"], capsys)[0] == 0
    assert run_cli(args + ["--suite", "intent", "--limit", "5"], capsys)[0] == 0  # a partial run too
    validator = _validator()
    for path in (tmp / "out").glob("*/run.json"):
        validator.validate(json.loads(path.read_text()))
    record = json.loads((tmp / "out" / "latest" / "run.json").read_text())
    assert record["selection"]["limit"] == 5

    faults = {
        "suites.intent.cases[0].passed": lambda r: r["suites"]["intent"]["cases"][0].update(passed="yes"),
        "suites.intent.metrics.pass_rate.n": lambda r: r["suites"]["intent"]["metrics"]["pass_rate"].update(n=1.5),
        "git.commit": lambda r: r["git"].update(commit=7),
        "suites.intent.cases[1].surprise": lambda r: r["suites"]["intent"]["cases"][1].update(surprise=1),
        "run_id": lambda r: r.pop("run_id"),
    }
    for field_path, mutate in faults.items():
        bad = copy.deepcopy(record)
        mutate(bad)
        assert not validator.is_valid(bad), field_path
        with pytest.raises(run_record.RecordShapeError) as exc:
            run_record.check_record(bad)
        assert exc.value.field == field_path


def _two_runs(tmp, args, capsys, monkeypatch) -> tuple[Path, Path]:
    assert run_cli(args + ["--update-baseline"], capsys)[0] == 0
    first = next((tmp / "out").glob("2*/run.json"))
    monkeypatch.delitem(RULES, "credential_request")  # a developer deletes a guardrail rule
    assert run_cli(args, capsys)[0] == 1
    second = next(p for p in (tmp / "out").glob("2*/run.json") if p != first)
    return first, second


def test_report_rebuilds_html_junit_and_summary_from_two_records(fake_env, capsys, monkeypatch, tmp_path):
    tmp, args = fake_env
    first, second = _two_runs(tmp, args, capsys, monkeypatch)
    gates = args[args.index("--gates") + 1]
    out = tmp_path / "rebuilt"
    # Only the two records: the fake suites are not even needed to compare them.
    code, text, err = run_cli(["report", str(second), "--against", str(first), "--out", str(out),
                               "--gates", gates], capsys)
    assert code == 1, err
    assert "rebuilt from records" in text and "cr-1" in text and "FAILED" in text
    html = (out / "index.html").read_text()
    assert "cr-1" in html[html.index('id="regressions"'):]
    junit = ET.parse(out / "junit.xml").getroot()
    failures = [tc.get("name") for tc in junit.iter("testcase") if tc.find("failure") is not None]
    assert "cr-1" in failures
    # compared the other way round, cr-1 is a fix and nothing regressed
    code, text, _ = run_cli(["report", str(first), "--against", str(second), "--out", str(tmp_path / "back"),
                             "--gates", gates], capsys)
    assert code == 0 and "PASSED" in text
    assert json.loads(second.read_text())["verdict"]["passed"] is False  # the run's own record is untouched


def test_report_refuses_malformed_and_other_version_records_naming_file_and_field(fake_env, capsys, monkeypatch,
                                                                                  tmp_path):
    tmp, args = fake_env
    first, second = _two_runs(tmp, args, capsys, monkeypatch)
    record = json.loads(second.read_text())
    bad = tmp_path / "bad.json"
    record["suites"]["intent"]["cases"][2]["latency_ms"] = "fast"
    bad.write_text(json.dumps(record))
    code, _, err = run_cli(["report", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert "bad.json: field 'suites.intent.cases[2].latency_ms': expected a number, got str" in err
    record["schema_version"] = 2
    old = tmp_path / "old.json"
    old.write_text(json.dumps(record))
    code, _, err = run_cli(["report", str(first), "--against", str(old), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "old.json: field 'schema_version': is 2, this harness reads 1" in err
    (tmp_path / "broken.json").write_text('{"schema_version": 1,\n  "run_id": }')
    code, _, err = run_cli(["report", str(tmp_path / "broken.json")], capsys)
    assert code == 2 and "broken.json:2: not valid JSON" in err
    with pytest.raises(RecordError, match="old.json: field 'schema_version'"):
        load_record(old)
