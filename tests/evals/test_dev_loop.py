"""The developer loop: --case, --tag, --split, --limit, --rerun-failed make a partial run whose
whole-suite gates are skipped (not passed), whose per-case gates still decide, and which can
never become a baseline."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from evals.datasets import GoldenCase
from evals.selection import Selection, failed_case_ids, select_cases

from . import test_harness as th
from .test_harness import RULES, run_cli

fake_env = th.fake_env


def _latest(tmp):
    return json.loads((tmp / "out" / "latest" / "run.json").read_text())


def test_case_runs_only_the_suite_that_has_it_and_says_the_run_is_partial(fake_env, capsys):
    tmp, args = fake_env
    gates_file = tmp / "with_target.toml"
    gates_file.write_text(th.GATES + '\n[[target]]\nsuite = "guardrails_input"\nmetric = "pass_rate"\nmin = 1.0\n')
    args = args[:-1] + [str(gates_file)]
    assert run_cli(args + ["--update-baseline"], capsys)[0] == 0
    code, out, _ = run_cli(args + ["--case", "pw-1", "--case", "hn-3"], capsys)
    assert code == 0, out
    record = _latest(tmp)
    assert list(record["suites"]) == ["guardrails_input"]
    assert [c["id"] for c in record["suites"]["guardrails_input"]["cases"]] == ["pw-1", "hn-3"]
    assert record["selection"]["selected"] == {"guardrails_input": 2}
    assert record["selection"]["available"] == {"guardrails_input": 22}
    assert "PARTIAL RUN (--case pw-1,hn-3)" in out and "guardrails_input 2/22" in out
    assert "skipped" in out and "PASSED: all" in out
    assert "targets: 1 skipped (partial run)" in out and "missed" not in out  # skipped is not missed
    gates = {g["name"]: g for g in record["verdict"]["gates"]}
    assert gates["no_regression:guardrails_input.pass_rate"]["skipped"] is True
    assert gates["no_regression:guardrails_input.pass_rate"]["passed"] is False  # skipped is not passed
    assert gates["zero_tolerance:guardrails_input.secret_leak"]["skipped"] is False
    # the 20 cases left out are not "missing" regressions
    assert record["verdict"]["comparison"]["guardrails_input"]["counts"]["missing"] == 0
    junit = ET.parse(tmp / "out" / "latest" / "junit.xml").getroot()
    skipped = {tc.get("name") for tc in junit.iter("testcase") if tc.find("skipped") is not None}
    assert "no_regression:guardrails_input.pass_rate" in skipped
    html = (tmp / "out" / "latest" / "index.html").read_text()
    assert "Partial run" in html


def test_per_case_gates_still_decide_a_partial_run(fake_env, capsys, monkeypatch):
    tmp, args = fake_env
    assert run_cli(args + ["--update-baseline"], capsys)[0] == 0
    monkeypatch.delitem(RULES, "password")
    code, _, err = run_cli(args + ["--tag", "hard_negative", "--case", "pw-1"], capsys)
    assert code == 2 and "no case matches" in err  # both apply, and pw-1 is no hard negative
    code, out, _ = run_cli(args + ["--case", "pw-1"], capsys)
    assert code == 1
    assert "zero_tolerance:guardrails_input.secret_leak" in out


def test_update_baseline_blind_split_and_unknown_cases_are_refused(fake_env, capsys):
    tmp, args = fake_env
    code, _, err = run_cli(args + ["--tag", "hard_negative", "--update-baseline"], capsys)
    assert code == 2 and "a partial run is never a baseline" in err
    assert not (tmp / "baselines").exists()
    code, _, err = run_cli(args + ["--split", "blind"], capsys)
    assert code == 2 and "--split blind" in err
    code, _, err = run_cli(args + ["--case", "no-such-case"], capsys)
    assert code == 2 and "no-such-case" in err
    code, _, err = run_cli(args + ["--limit", "0"], capsys)
    assert code == 2 and "--limit" in err


def test_rerun_failed_runs_the_failures_of_the_latest_run(fake_env, capsys):
    tmp, args = fake_env
    assert run_cli(args + ["--update-baseline"], capsys)[0] == 0
    failed = {c["id"] for c in _latest(tmp)["suites"]["intent"]["cases"] if not c["passed"]}
    assert failed and len(failed) < 90
    code, out, _ = run_cli(args + ["--rerun-failed"], capsys)
    assert code == 0, out
    record = _latest(tmp)
    assert list(record["suites"]) == ["intent"]  # the guardrail suite had no failure
    assert {c["id"] for c in record["suites"]["intent"]["cases"]} == failed
    assert record["selection"]["rerun_failed"].endswith("latest/run.json")
    assert "--rerun-failed" in out


def test_limit_split_and_tags_select_in_dataset_order_and_never_blind():
    cases = [GoldenCase(f"c{i}", "x", {}, ("escalate:refund",) if i % 3 == 0 else (),
                        ("blind", "dev", "train")[i % 3], "t") for i in range(12)]
    assert [c.id for c in select_cases(cases, Selection(limit=3))] == ["c1", "c2", "c4"]
    assert [c.id for c in select_cases(cases, Selection(splits=("dev",)))] == ["c1", "c4", "c7", "c10"]
    # c0, c3, … carry the tag but are blind: a selection never includes them
    assert select_cases(cases, Selection(tags=("escalate:*",))) == []
    assert select_cases(cases, Selection()) == cases  # no selection: a whole run, blind included


def test_failed_case_ids_cover_failures_and_cases_named_by_failed_gates():
    record = {"suites": {"s": {"cases": [{"id": "a", "passed": False}, {"id": "b", "passed": True},
                                         {"id": "c", "passed": True, "error": None}]},
                         "t": {"cases": [{"id": "x", "passed": True}]}},
              "verdict": {"gates": [{"suite": "s", "passed": False, "cases": ["b"]},
                                    {"suite": "s", "passed": False, "skipped": True, "cases": ["c"]}]}}
    assert failed_case_ids(record) == {"s": frozenset({"a", "b"})}
