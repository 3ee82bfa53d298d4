"""Per-tag must-not-regress gates, max_regressions, gate names checked before any suite runs
(with the line of the gates file), per-case score gates and the multiplicity note."""

from __future__ import annotations

import pytest

from evals import gates
from evals.compare import compare_suite
from evals.gates import (
    GateResult,
    SuiteNames,
    check_names,
    load_gates,
    multiplicity_note,
    parse_gates,
)

from . import test_harness as th
from .test_harness import GATES, RULES, run_cli

fake_env = th.fake_env


def _case(cid, passed, tags=()):
    return {"id": cid, "input": cid, "expected": {"a": 1}, "output": {"a": 1 if passed else 0}, "passed": passed,
            "scores": {"m": {"value": 1.0 if passed else 0.0, "passed": passed}}, "error": None,
            "latency_ms": 1.0, "tags": list(tags), "split": "test", "flags": []}


def _suite(cases):
    from evals.metrics import rate

    metrics = {"pass_rate": rate(sum(c["passed"] for c in cases), len(cases)).to_dict()}
    return {"cases": cases, "metrics": metrics, "setup_error": None, "scorers": [{"name": "m", "args": {}}]}


def _evaluate(cfg_data, base_cases, cur_cases):
    cfg = parse_gates(cfg_data, "g.toml")
    record = {"suites": {"s": _suite(cur_cases)}}
    comps = {"s": compare_suite("s", _suite(cur_cases), _suite(base_cases))}
    return {g.name: g for g in gates.evaluate(cfg, record, comps)}


def test_one_tagged_case_that_regresses_fails_whatever_else_improved():
    base = [_case("sec-1", True, ("secret:pem",)), *(_case(f"x{i}", False) for i in range(30))]
    cur = [_case("sec-1", False, ("secret:pem",)), *(_case(f"x{i}", True) for i in range(30))]
    results = _evaluate({"must_not_regress": [{"suite": "*", "name": "secrets", "tags": ["secret", "secret:*"]}],
                         "no_regression": [{"suite": "s", "metric": "pass_rate"}]}, base, cur)
    assert results["no_regression:s.pass_rate"].passed  # 30 fixed, 1 regressed: the paired test is happy
    gate = results["must_not_regress:s[secrets]"]
    assert not gate.passed and gate.cases == ("sec-1",)
    # an untagged regression does not trip it
    results = _evaluate({"must_not_regress": [{"suite": "s", "tags": ["secret"]}]},
                        [_case("a", True)], [_case("a", False)])
    assert results["must_not_regress:s[secret]"].passed


def test_max_regressions_counts_regressed_and_missing_cases():
    base = [_case(f"c{i}", True) for i in range(10)]
    cur = [_case(f"c{i}", i >= 2) for i in range(9)]  # c0, c1 regressed, c9 missing
    results = _evaluate({"max_regressions": [{"suite": "s", "max": 2}]}, base, cur)
    gate = results["max_regressions:s <= 2"]
    assert not gate.passed and gate.value == 3 and set(gate.cases) == {"c0", "c1", "c9"}
    assert _evaluate({"max_regressions": [{"suite": "*", "max": 3}]}, base, cur)["max_regressions:s <= 3"].passed


def test_per_case_score_metric_gate_uses_the_paired_bootstrap():
    base = [_case(f"c{i}", True) for i in range(40)]
    cur = [_case(f"c{i}", i % 2 == 0) for i in range(40)]
    gate = _evaluate({"no_regression": [{"suite": "s", "metric": "score:m"}]}, base, cur)["no_regression:s.score:m"]
    assert not gate.passed and "paired_bootstrap" in gate.detail and gate.p_value is not None and gate.p_value < 0.05
    with pytest.raises(gates.GateConfigError, match="has no scorer 'nope'"):
        _evaluate({"no_regression": [{"suite": "s", "metric": "score:nope"}]}, base, cur)


def test_bad_entries_name_the_line(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('[settings]\nalpha = 0.05\n\n[[max_regressions]]\nsuite = "intent"\nmax = -1\n')
    with pytest.raises(gates.GateConfigError, match=r"g\.toml:6: key 'max_regressions\[0\]\.max'"):
        load_gates(path)
    path.write_text('[[must_not_regress]]\nsuite = "intent"\ntags = "secret"\n')
    with pytest.raises(gates.GateConfigError, match=r"g\.toml:3: key 'must_not_regress\[0\]\.tags'"):
        load_gates(path)


def test_names_are_checked_against_baseline_metrics_scores_and_case_tags(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('[[floor]]\nsuite = "intent"\nmetric = "macro_f1"\nmin = 0.5\n\n'
                    '[[floor]]\nsuite = "intent"\nmetric = "macro_f2"\nmin = 0.5\n')
    cfg = load_gates(path)
    names = {"intent": SuiteNames(frozenset({"macro_f1", "pass_rate"}), frozenset({"intent_match"}),
                                  frozenset({"escalation"}))}
    with pytest.raises(gates.GateConfigError, match=r"g\.toml:8: key 'floor\[1\]\.metric': suite 'intent' has no "
                                                    r"metric 'macro_f2'; it has macro_f1, pass_rate, "
                                                    r"score:intent_match"):
        check_names(cfg, names)
    check_names(cfg, {"intent": SuiteNames(None)})  # no baseline yet: metrics cannot be checked
    path.write_text('[[must_not_regress]]\nsuite = "*"\ntags = ["escalation", "escalte:*"]\n')
    with pytest.raises(gates.GateConfigError, match=r"g\.toml:3: .*no case of every suite of this run carries "
                                                    r"a tag matching 'escalte:\*'"):
        check_names(load_gates(path), names)
    check_names(load_gates(path), names, complete=False)  # some suites only: the tag may be another's


def test_committed_gates_names_match_the_committed_baselines():
    from evals.baseline import BASELINE_DIR, baseline_suite, load_baseline
    from evals.gates import suite_names
    from evals.suites import OPT_IN_SUITES, SUITES

    cfg = load_gates(known_suites=tuple(SUITES))
    names = {}
    for name in SUITES:
        if name in OPT_IN_SUITES:
            continue
        base = baseline_suite(load_baseline(name, BASELINE_DIR), name)
        names[name] = suite_names(base, base["cases"] if base else (), [s["name"] for s in (base or {}).get("scorers", [])])
    check_names(cfg, names)
    assert {m.label for m in cfg.must_not_regress} >= {"secrets", "escalation"} and cfg.max_regressions


def test_an_unknown_gate_name_stops_the_cli_before_any_suite_runs(fake_env, capsys, tmp_path):
    tmp, args = fake_env
    assert run_cli(args + ["--update-baseline"], capsys)[0] == 0
    bad = tmp_path / "typo.toml"
    bad.write_text(GATES + '\n[[no_regression]]\nsuite = "intent"\nmetric = "acuracy"\n')
    code, _, err = run_cli(args[:-1] + [str(bad)], capsys)
    assert code == 2 and "typo.toml:18: key 'no_regression[1].metric': suite 'intent' has no metric 'acuracy'" in err
    assert "running" not in err  # no suite ran
    bad.write_text(GATES + '\n[[must_not_regress]]\nsuite = "guardrails_input"\ntags = ["hard_negativ"]\n')
    code, _, err = run_cli(args[:-1] + [str(bad)], capsys)
    assert code == 2 and "typo.toml:18: key 'must_not_regress[0].tags'" in err and "'hard_negativ'" in err


def test_a_tagged_regression_fails_the_cli_run(fake_env, capsys, monkeypatch, tmp_path):
    tmp, args = fake_env
    gates_file = tmp_path / "tagged.toml"
    gates_file.write_text(GATES + '\n[[must_not_regress]]\nsuite = "guardrails_input"\nname = "negatives"\n'
                          'tags = ["hard_negative"]\n')
    args = args[:-1] + [str(gates_file)]
    assert run_cli(args + ["--update-baseline"], capsys)[0] == 0
    RULES["rotate"] = "rotate access key 3"  # a new rule blocks one hard negative
    try:
        code, out, _ = run_cli(args, capsys)
    finally:
        del RULES["rotate"]
    assert code == 1
    assert "✗ must_not_regress:guardrails_input[negatives]: 1 case(s): hn-3" in out


def test_multiplicity_note_counts_the_tests_and_holm_survivors():
    def gate(name, p, ok):
        return GateResult(name, "no_regression", "s", ok, "", "m", p_value=p)

    note = multiplicity_note([gate("a", 0.001, False), gate("b", 0.04, False), gate("c", 0.5, True),
                              gate("d", 0.9, True)], 0.05)
    assert note.startswith("4 paired tests decide no-regression gates at alpha=0.05")
    assert "about 0.2 would flag by chance" in note
    assert "2 flagged, 1 of them also significant after Holm's correction" in note
    assert multiplicity_note([GateResult("f", "floor", "s", True, "")]) is None
