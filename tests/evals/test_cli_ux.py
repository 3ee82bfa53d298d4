"""The command line as a person meets it: --help, every exit-2 message names the file and
the line or key, the progress output (bar on a terminal, plain lines in CI) and the
one-screen summary (failing gates, top regressions, report path)."""

from __future__ import annotations

import io
import json

import pytest

from evals import cli

from . import test_harness as th
from .test_harness import RULES, run_cli

fake_env = th.fake_env  # the harness tests' fixture: two fake suites, a gates file, temp dirs


def test_help_explains_the_command_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for needle in ("usage: python -m evals", "--suite", "--update-baseline", "stand-in for Bedrock",
                   "exit codes:", "0  every gate passed", "1  a gate failed", "2  bad input", "examples:"):
        assert needle in text, needle
    assert "``" not in text  # no reStructuredText markup leaking into the terminal


def test_invalid_toml_names_file_and_line(fake_env, capsys, tmp_path):
    _, args = fake_env
    bad = tmp_path / "syntax.toml"
    bad.write_text('[settings]\nalpha = 0.05\n[[floor]\nsuite = "intent"\n')
    code, _, err = run_cli(args + ["--gates", str(bad)], capsys)
    assert code == 2
    assert "syntax.toml: not valid TOML" in err and "line 3" in err


def test_missing_gates_file_names_it(fake_env, capsys, tmp_path):
    _, args = fake_env
    code, _, err = run_cli(args + ["--gates", str(tmp_path / "nope.toml")], capsys)
    assert code == 2 and "nope.toml: file not found" in err


def test_gate_with_unknown_suite_names_the_key(fake_env, capsys, tmp_path):
    _, args = fake_env
    bad = tmp_path / "suite.toml"
    bad.write_text('[[no_regression]]\nsuite = "intnet"\nmetric = "accuracy"\n')
    code, _, err = run_cli(args + ["--gates", str(bad)], capsys)
    assert code == 2 and "suite.toml:2: key 'no_regression[0].suite': unknown suite 'intnet'" in err


def test_baseline_of_another_suite_names_file_and_key(fake_env, capsys):
    tmp, args = fake_env
    run_cli(args + ["--update-baseline"], capsys)
    base = tmp / "baselines"
    (base / "intent.json").write_text((base / "guardrails_input.json").read_text())
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "intent.json: key 'suites.intent' missing" in err


def test_truncated_baseline_names_file_and_line(fake_env, capsys):
    tmp, args = fake_env
    run_cli(args + ["--update-baseline"], capsys)
    path = tmp / "baselines" / "intent.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert "intent.json:" in err and "not valid JSON" in err
    line = err.split("intent.json:", 1)[1].split(":", 1)[0]
    assert line.isdigit() and int(line) > 1  # the line where the JSON breaks, not just the file


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_in_ci(fake_env, capsys, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    now = [0.0]
    stream = Tty()
    progress = cli.Progress(stream, clock=lambda: now[0])
    assert progress.tty
    progress.start("intent", 10)
    progress("intent", 1, 10)
    assert stream.getvalue() == ""  # a suite that finishes within the delay draws no bar
    now[0] = progress.delay_s + 0.1
    for done in range(2, 11):
        progress("intent", done, 10)
    assert "\r" in stream.getvalue() and "10/10" in stream.getvalue() and "#" * 30 in stream.getvalue()

    monkeypatch.setenv("CI", "true")
    stream = Tty()
    progress = cli.Progress(stream)
    assert not progress.tty
    progress.start("intent", 10)
    progress("intent", 5, 10)
    assert stream.getvalue() == "[intent] running 10 cases\n"

    monkeypatch.delenv("CI")
    assert not cli.Progress(io.StringIO()).tty  # a pipe or a file: plain lines


def test_summary_names_failing_gates_top_regressions_and_the_report(fake_env, capsys, monkeypatch):
    tmp, args = fake_env
    run_cli(args + ["--update-baseline"], capsys)
    monkeypatch.delitem(RULES, "credential_request")  # a developer deletes a guardrail rule
    code, out, err = run_cli(args, capsys)
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith("FAILED:") for line in lines)
    assert any("✗ zero_tolerance:guardrails_input.blocked_category_passed: 1 case(s): cr-1" in line for line in lines)
    reg = next(i for i, line in enumerate(lines) if line.startswith("regressions ("))
    first = lines[reg + 1]
    assert "guardrails_input" in first and "cr-1" in first and "action: block → allow" in first
    report = next(line for line in lines if line.startswith("report: "))
    assert report.endswith("index.html")
    assert "model: offline stand-in for Bedrock" in out
    assert len(lines) < 60  # one screen
    record = json.loads((tmp / "out" / "latest" / "run.json").read_text())
    assert record["verdict"]["passed"] is False
    assert "running" in err  # progress went to stderr, not into the summary
