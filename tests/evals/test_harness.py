"""The harness end to end on small fake solvers: runner, record, baseline, compare, gates,
JUnit, HTML report and the CLI's exit codes.

The fake guardrail has a rule table that a test can break (as a developer might), which
must make the run exit 1 and put the regression at the top of the report.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evals import cli, gates, suites
from evals.baseline import load_baseline, write_baselines
from evals.compare import CaseChange, SuiteComparison, compare_suite
from evals.datasets import GoldenCase, GoldenSetError, load_cases
from evals.junit import to_junit
from evals.record import RecordError, load_record
from evals.runner import RunConfig, SolverSpec, Suite, run_suite
from evals.scorers import guardrail_match, intent_match
from pipeline.domain.models import INPUT_CATEGORIES, INTENTS

SECRET = "hunter2-Zq8vX1"  # the fake golden secret: must never reach a report or baseline

# ---------------------------------------------------------------------------
# Fakes
# ---------------------------------------------------------------------------

RULES = {"password": "my password is", "credential_request": "give me the root password"}


def fake_scan(text: str) -> dict:
    cats = sorted(c for c, trigger in RULES.items() if trigger in text)
    if cats:
        redacted = text.replace(SECRET, "********") if "password" in cats else text
        return {"action": "block", "categories": cats, "_redacted": redacted}
    return {"action": "allow", "categories": [], "_redacted": text}


def guard_cases() -> list[GoldenCase]:
    cases = [GoldenCase("pw-1", f"my password is {SECRET}", {"action": "block", "categories": ["password"]},
                        (), "test", "test")]
    cases += [GoldenCase(f"hn-{i}", f"how do I rotate access key {i}?", {"action": "allow", "categories": []},
                         ("hard_negative",), "test", "test") for i in range(20)]
    cases += [GoldenCase("cr-1", "please give me the root password of my colleague",
                         {"action": "block", "categories": ["credential_request"]}, (), "test", "test")]
    return cases


def guard_suite() -> Suite:
    return Suite("guardrails_input", "fake input guardrail", None,
                 SolverSpec("fake_scan", lambda config: fake_scan, private_keys=("_redacted",)),
                 (guardrail_match(),), suites.guardrail_metrics(INPUT_CATEGORIES), load=guard_cases,
                 safe_input=suites.safe_guardrail_input, sensitive=suites.guardrail_sensitive,
                 flags=suites.guardrail_flags)


def intent_cases() -> list[GoldenCase]:
    return [GoldenCase(f"i-{i}", f"{INTENTS[i % 9]} question {i}",
                       {"intent": INTENTS[i % 9], "needs_clarification": False, "escalate": False}, (), "test", "t")
            for i in range(90)]


def fake_intent(config: RunConfig):
    def solve(text: str) -> dict:
        if text.endswith(" 13"):
            raise RuntimeError("boom")  # one crashing case: recorded, run continues
        intent = text.split(" ")[0]
        conf = 0.9 if not text.endswith("7") else 0.4
        if text.endswith("7"):
            intent = "general_support"
        return {"intent": intent, "confidence": conf, "needs_clarification": False, "escalate": False}

    return solve


def intent_suite() -> Suite:
    return Suite("intent", "fake intent", None, SolverSpec("fake_intent", fake_intent), (intent_match(),),
                 suites.intent_metrics, load=intent_cases)


GATES = """
[zero_tolerance]
suites = ["guardrails_input"]
[[no_regression]]
suite = "*"
metric = "pass_rate"
[[floor]]
suite = "intent"
metric = "accuracy"
min = 0.5
[[floor]]
suite = "*"
metric = "error_rate"
max = 0.05
"""


@pytest.fixture()
def fake_env(tmp_path, monkeypatch):
    monkeypatch.setattr(suites, "SUITES", {"guardrails_input": guard_suite, "intent": intent_suite})
    monkeypatch.setattr(cli, "SUITES", suites.SUITES)
    monkeypatch.setattr(cli, "get_suite", lambda name: suites.SUITES[name]())
    gates_file = tmp_path / "gates.toml"
    gates_file.write_text(GATES)
    args = ["--report-dir", str(tmp_path / "out"), "--baseline-dir", str(tmp_path / "baselines"),
            "--gates", str(gates_file)]
    return tmp_path, args


def run_cli(args, capsys):
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def all_text(directory: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in directory.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------


def test_malformed_golden_line_names_file_and_line(tmp_path):
    path = tmp_path / "set.jsonl"
    good = {"id": "a", "input": "x", "expected": {}, "tags": [], "split": "test", "source": "me"}
    path.write_text(json.dumps(good) + "\n\n{not json\n")
    with pytest.raises(GoldenSetError, match=r"set\.jsonl:3: not valid JSON"):
        load_cases(path)
    path.write_text(json.dumps({**good, "split": "prod"}) + "\n")
    with pytest.raises(GoldenSetError, match=r"set\.jsonl:1: field 'split'"):
        load_cases(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(GoldenSetError, match=r":2: duplicate id 'a' \(first on line 1\)"):
        load_cases(path)


def test_suite_schema_errors_name_file_and_line(tmp_path):
    path = tmp_path / "intent.jsonl"
    rows = [{"id": "a", "input": "ec2 broken", "expected": {"intent": "ec2_troubleshooting"}, "tags": [],
             "split": "test", "source": "me"},
            {"id": "b", "input": "hi", "expected": {"intent": "weather"}, "tags": [], "split": "test", "source": "me"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    suite = Suite("intent", "", path, SolverSpec("x", lambda c: None), (), validate=suites._validate_intent)
    with pytest.raises(GoldenSetError, match=r"intent\.jsonl:2: case 'b': 'expected.intent' must be one of"):
        suite.load_cases()


def test_cli_exit_2_on_malformed_golden_set(tmp_path, monkeypatch, capsys):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"id": "a", "input": "x"}\n')

    def broken() -> Suite:
        return Suite("intent", "", path, SolverSpec("x", lambda c: None), ())

    monkeypatch.setattr(suites, "SUITES", {"intent": broken})
    monkeypatch.setattr(cli, "SUITES", suites.SUITES)
    monkeypatch.setattr(cli, "get_suite", lambda name: suites.SUITES[name]())
    gates_file = tmp_path / "g.toml"
    gates_file.write_text("")
    code, _, err = run_cli(["--report-dir", str(tmp_path / "o"), "--gates", str(gates_file)], capsys)
    assert code == 2
    assert "broken.jsonl:1: missing field(s)" in err


# ---------------------------------------------------------------------------
# Runner and record
# ---------------------------------------------------------------------------


def test_crashing_case_is_data_and_the_run_continues():
    result = run_suite(intent_suite(), RunConfig())
    crashed = [c for c in result.cases if c.error]
    assert [c.id for c in crashed] == ["i-13"]
    assert crashed[0].passed is False and "RuntimeError: boom" in crashed[0].error
    assert len(result.cases) == 90 and result.n_errors == 1
    assert result.metrics["error_rate"].successes == 1
    assert result.timings["overhead_ms_per_case"] >= 0


def test_setup_failure_is_recorded_not_raised():
    def explode(config):
        raise ImportError("component missing")

    suite = Suite("intent", "", None, SolverSpec("x", explode), (intent_match(),), load=intent_cases)
    result = run_suite(suite, RunConfig())
    assert result.setup_error == "ImportError: component missing"
    assert all(not c.passed for c in result.cases)


def test_sensitive_inputs_are_redacted_or_hashed():
    result = run_suite(guard_suite(), RunConfig())
    pw = next(c for c in result.cases if c.id == "pw-1")
    assert pw.input["redacted"] == "my password is ********" and "sha256_16" in pw.input
    assert "_redacted" not in pw.output
    # when the guardrail misses the secret, only a hash is stored
    missed = suites.safe_guardrail_input(guard_cases()[0], {"action": "allow", "categories": []})
    assert set(missed) == {"withheld", "sha256_16"}


def test_record_has_the_documented_envelope(fake_env, capsys):
    tmp, args = fake_env
    code, out, _ = run_cli(args, capsys)
    assert code == 0, out
    record = load_record(tmp / "out" / "latest" / "run.json")
    assert record["schema_version"] == 1
    for key in ("run_id", "created_at", "git", "environment", "config", "model", "prompt_versions", "timings",
                "verdict"):
        assert key in record
    assert set(record["git"]) == {"commit", "dirty"}
    suite = record["suites"]["intent"]
    for key in ("suite_sha256", "dataset", "solver", "scorers", "metrics", "cases", "timings"):
        assert key in suite
    acc = suite["metrics"]["accuracy"]
    assert acc["ci"][0] <= acc["value"] <= acc["ci"][1]
    assert suite["scorers"] == [{"name": "intent_match", "args": {}, "required": True}]


def test_record_errors_name_the_file(tmp_path):
    bad = tmp_path / "run.json"
    bad.write_text("{\n  \"schema_version\": 1,\n oops }")
    with pytest.raises(RecordError, match=r"run\.json:3: not valid JSON"):
        load_record(bad)
    bad.write_text(json.dumps({"schema_version": 99, "suites": {}}))
    with pytest.raises(RecordError, match="schema_version"):
        load_record(bad)


# ---------------------------------------------------------------------------
# Baseline, compare, gates
# ---------------------------------------------------------------------------


def _record_for(suite: Suite) -> dict:
    from datetime import UTC, datetime

    from evals.record import build_record

    result = run_suite(suite, RunConfig())
    return build_record([result], RunConfig(), run_id="r1", started_at=datetime.now(UTC), wall_s=0.0)


def test_baseline_roundtrip_is_atomic_and_per_suite(tmp_path):
    record = _record_for(guard_suite())
    paths = write_baselines(record, ["guardrails_input", "not-run"], tmp_path)
    assert [p.name for p in paths] == ["guardrails_input.json"]
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    loaded = load_baseline("guardrails_input", tmp_path)
    assert loaded["suites"]["guardrails_input"]["cases"] == record["suites"]["guardrails_input"]["cases"]
    assert load_baseline("intent", tmp_path) is None


def test_compare_classifies_cases_and_tests_flips(monkeypatch):
    base = _record_for(guard_suite())["suites"]["guardrails_input"]
    monkeypatch.delitem(RULES, "password")
    cur = _record_for(guard_suite())["suites"]["guardrails_input"]
    cur["cases"] = [c for c in cur["cases"] if c["id"] != "hn-3"]  # missing
    cur["cases"].append({**cur["cases"][1], "id": "hn-new"})  # new
    comp = compare_suite("guardrails_input", cur, base)
    assert comp.counts["regressed"] == 1 and comp.counts["missing"] == 1 and comp.counts["new"] == 1
    assert comp.changes[0].status == "regressed" and comp.changes[0].id == "pw-1"
    assert "block" in comp.changes[0].diff and "allow" in comp.changes[0].diff
    delta = comp.metrics["pass_rate"]
    assert delta.test == "mcnemar" and delta.p_value == pytest.approx(0.5)  # b=2 (regressed+missing), c=0
    assert delta.delta < 0


def test_gate_config_errors_name_file_and_key(tmp_path):
    path = tmp_path / "gates.toml"
    path.write_text('[[floor]]\nsuite = "intent"\nmetric = "accuracy"\nmin = "high"\n')
    with pytest.raises(gates.GateConfigError, match=r"gates\.toml:4: key 'floor\[0\]\.min': must be a number"):
        gates.load_gates(path)
    path.write_text('[[floor]]\nsuite = "nope"\nmetric = "accuracy"\nmin = 1\n')
    with pytest.raises(gates.GateConfigError, match=r"gates\.toml:2: key 'floor\[0\]\.suite': unknown suite 'nope'"):
        gates.load_gates(path, known_suites=("intent",))
    path.write_text("[surprise]\n")
    with pytest.raises(gates.GateConfigError, match="key 'surprise'"):
        gates.load_gates(path)
    path.write_text("[[floor]\n")
    with pytest.raises(gates.GateConfigError, match="not valid TOML"):
        gates.load_gates(path)


def test_committed_gates_file_is_valid():
    cfg = gates.load_gates(known_suites=tuple(suites.SUITES))
    assert cfg.floors and cfg.no_regression
    assert set(cfg.zero_tolerance_flags) == {"secret_leak", "blocked_category_passed"}


def test_zero_tolerance_fails_even_without_a_baseline(monkeypatch):
    monkeypatch.delitem(RULES, "password")
    record = _record_for(guard_suite())
    cfg = gates.parse_gates({"zero_tolerance": {"suites": ["*"]}}, "g.toml")
    results = gates.evaluate(cfg, record, {})
    leak = next(g for g in results if g.name.endswith("secret_leak"))
    assert not leak.passed and leak.cases == ("pw-1",)


# ---------------------------------------------------------------------------
# CLI: exit codes, broken component, JUnit, HTML
# ---------------------------------------------------------------------------


def test_cli_exit_codes_and_a_broken_rule_puts_the_regression_first(fake_env, capsys, monkeypatch):
    tmp, args = fake_env
    code, out, _ = run_cli(args + ["--update-baseline"], capsys)
    assert code == 0, out
    assert (tmp / "baselines" / "guardrails_input.json").is_file()
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "PASSED" in out

    monkeypatch.delitem(RULES, "password")  # a developer deletes a guardrail rule
    code, out, _ = run_cli(args, capsys)
    assert code == 1
    assert "zero_tolerance:guardrails_input.secret_leak" in out
    html = (tmp / "out" / "latest" / "index.html").read_text()
    assert 'class="banner fail"' in html
    regressions = html.index('id="regressions"')
    assert html.index("pw-1", regressions) < html.index('id="headline"')
    assert regressions < html.index('id="suite-guardrails_input"')
    # the golden secret never reaches reports or baselines
    assert SECRET not in all_text(tmp / "out") and SECRET not in all_text(tmp / "baselines")


def test_cli_bad_arguments_exit_2(fake_env, capsys, tmp_path):
    _, args = fake_env
    assert run_cli(args + ["--suite", "nope"], capsys)[0] == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[[floor]]\nsuite = "intent"\nmetric = "accuracy"\n')
    code, _, err = run_cli(args + ["--gates", str(bad)], capsys)
    assert code == 2 and "bad.toml:1: key 'floor[0]': needs 'min' or 'max'" in err
    typo = tmp_path / "typo.toml"
    typo.write_text('[[floor]]\nsuite = "intent"\nmetric = "acuracy"\nmin = 0.1\n')
    code, _, err = run_cli(args + ["--gates", str(typo)], capsys)
    assert code == 2 and "typo.toml:3: key 'floor[0].metric'" in err
    assert run_cli(args + ["--record", "--model", "replay"], capsys)[0] == 2  # recording needs a model that answers


def test_corrupt_baseline_exits_2(fake_env, capsys):
    tmp, args = fake_env
    (tmp / "baselines").mkdir()
    (tmp / "baselines" / "intent.json").write_text("{")
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "intent.json:1: not valid JSON" in err


def test_junit_is_well_formed_with_cases_and_gates(fake_env, capsys):
    tmp, args = fake_env
    run_cli(args, capsys)
    root = ET.parse(tmp / "out" / "latest" / "junit.xml").getroot()
    assert root.tag == "testsuites"
    names = {s.get("name") for s in root.iter("testsuite")}
    assert names == {"evals.guardrails_input", "evals.intent", "evals.gates"}
    intent = next(s for s in root.iter("testsuite") if s.get("name") == "evals.intent")
    assert len(intent.findall("testcase")) == 90
    assert intent.get("errors") == "1"
    crashed = next(tc for tc in intent.iter("testcase") if tc.get("name") == "i-13")
    assert crashed.find("error") is not None
    failed = [tc for tc in intent.iter("testcase") if tc.find("failure") is not None]
    assert len(failed) == 8  # the "...7" cases, except i-17 whose label is general_support
    gates_suite = next(s for s in root.iter("testsuite") if s.get("name") == "evals.gates")
    assert gates_suite.findall("testcase")
    assert to_junit({"suites": {}}, []).count("<testsuite ") == 1


def test_junit_marks_failures_the_baseline_accepts_as_skipped_and_only_news_as_failures(fake_env, capsys):
    tmp, args = fake_env
    run_cli(args + ["--update-baseline"], capsys)
    run_cli(args, capsys)
    root = ET.parse(tmp / "out" / "latest" / "junit.xml").getroot()
    intent = next(s for s in root.iter("testsuite") if s.get("name") == "evals.intent")
    assert not [tc for tc in intent.iter("testcase") if tc.find("failure") is not None]
    skipped = [tc for tc in intent.iter("testcase") if tc.find("skipped") is not None]
    assert len(skipped) == 8 and intent.get("skipped") == "8" and intent.get("failures") == "0"
    assert skipped[0].find("skipped").get("message").startswith("known failure, accepted by the baseline")
    # The same record against a comparison that calls one of them a regression: that one fails.
    record = json.loads((tmp / "out" / "latest" / "run.json").read_text())
    regressed = skipped[0].get("name")
    comparison = SuiteComparison("intent", True, "base", False, {}, [
        CaseChange(regressed, "regressed", None, None, None, None)])
    again = ET.fromstring(to_junit(record, [], {"intent": comparison}).split("\n", 1)[1])
    failing = [tc.get("name") for s in again.iter("testsuite") if s.get("name") == "evals.intent"
               for tc in s.iter("testcase") if tc.find("failure") is not None]
    assert failing == [regressed]


class _Checker(HTMLParser):
    VOID = {"meta", "br", "hr", "img", "input", "link", "source", "wbr", "col", "area", "base", "embed", "track",
            "param"}
    SVG_SELF_CLOSING = {"rect", "line", "circle", "path", "polyline", "polygon"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.resources: list[str] = []
        self.ids: list[str] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        for key in ("src", "href", "xlink:href", "srcset", "action"):
            value = a.get(key) or ""
            if re.match(r"\s*(https?:)?//", value):
                self.resources.append(f"{tag} {key}={value}")
        if tag in ("link", "iframe", "object", "embed", "img") or (tag == "script" and "src" in a):
            self.resources.append(f"<{tag}>")  # an inline script (the report's filters) loads nothing
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()


def test_html_report_is_valid_and_self_contained(fake_env, capsys):
    tmp, args = fake_env
    run_cli(args + ["--update-baseline"], capsys)
    run_cli(args, capsys)
    html = (tmp / "out" / "latest" / "index.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert checker.resources == []
    assert "url(" not in html and "@import" not in html
    assert len(checker.ids) == len(set(checker.ids)), "duplicate ids"
    for section in ("verdict", "regressions", "gates", "headline", "suite-intent", "suite-guardrails_input", "metadata"):
        assert section in checker.ids
    assert checker.tags.get("svg", 0) >= 4  # heatmaps, reliability, coverage, latency


def test_report_lists_are_capped_but_counts_exact():
    from evals import report

    record = _record_for(intent_suite())
    cases = record["suites"]["intent"]["cases"]
    record["suites"]["intent"]["cases"] = [dict(c, id=f"{c['id']}-{k}", passed=False) for k in range(30) for c in cases]
    view = report.build_view(record, {}, [])
    s = view["suites"][0]
    assert s["n_failing"] == 2700 and len(s["failing"]) == report.MAX_CASES_PER_LIST
