"""Suites in parallel (``--jobs N``, evals/parallel.py): worker processes give the record a
sequential run gives (only timings, run id and the jobs setting differ), results keep the
requested order, and only registered suites that do not call the model leave the process."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from evals import cli, parallel, suites
from evals.datasets import GoldenCase
from evals.runner import RunConfig, SolverSpec, Suite
from evals.scorers import exact_match

#: Keys whose values are measurements of this run, not results.
_VOLATILE = {"timings", "timing", "latency_ms", "latency_histogram", "run_id", "created_at"}


def _results_only(value):
    if isinstance(value, dict):
        return {k: _results_only(v) for k, v in value.items()
                if k not in _VOLATILE and not k.startswith("latency_")}
    if isinstance(value, list):
        return [_results_only(v) for v in value]
    return value


def _run(tmp_path, name, jobs, capsys):
    out = tmp_path / name
    code = cli.main(["--suite", "intent", "--suite", "robustness", "--suite", "out_of_scope",
                     "--suite", "prompt_attacks", "--no-html", "--report-dir", str(out), "--jobs", str(jobs)])
    printed = capsys.readouterr()
    return code, json.loads((out / "latest" / "run.json").read_text(encoding="utf-8")), printed.err


@pytest.mark.slow
def test_a_parallel_run_writes_the_record_of_a_sequential_run(tmp_path, capsys):
    code_seq, seq, _ = _run(tmp_path, "seq", 1, capsys)
    code_par, par, err = _run(tmp_path, "par", 2, capsys)
    assert code_seq == code_par
    assert list(par["suites"]) == list(seq["suites"]) == ["intent", "robustness", "out_of_scope", "prompt_attacks"]
    assert (seq["config"].pop("jobs"), par["config"].pop("jobs")) == (1, 2)
    # Every case result, metric, detail (robustness's shrunk failures need the drawn base texts,
    # which a worker never drew), component argument, gate and comparison is the same.
    assert seq["suites"]["robustness"]["details"]["minimal_failures"]
    assert _results_only(par) == _results_only(seq)
    # Each suite said when it started and ended (plain lines: the output is not a terminal).
    for name in seq["suites"]:
        assert f"[{name}] running" in err and f"[{name}] " in err.split(f"[{name}] running", 1)[1]


def _echo_suite(name: str, generates: bool) -> Suite:
    pid = os.getpid()
    return Suite(name=name, description="echo", dataset=None,
                 solver=SolverSpec("echo", lambda config: (lambda x: {"value": x, "pid": os.getpid()})),
                 scorers=(exact_match("value"),), generates=generates,
                 load=lambda: [GoldenCase(f"{name}-{i}", str(i), {"value": str(i)}, (), "test", str(pid))
                               for i in range(3)])


def test_a_generating_suite_runs_here_beside_the_workers_and_results_keep_the_asked_order():
    oos = suites.get_suite("out_of_scope")
    attacks = suites.get_suite("prompt_attacks")
    local = _echo_suite("echo", generates=True)
    order = [attacks, local, oos]
    loaded = {s.name: s.load_cases()[:40] for s in order}
    assert parallel.workers_for(order, loaded, 2, {}) == [attacks, oos]
    par = parallel.run_suites(order, loaded, RunConfig(), jobs=2)
    seq = parallel.run_suites(order, loaded, RunConfig(), jobs=1)
    assert [r.suite.name for r in par] == ["prompt_attacks", "echo", "out_of_scope"]
    assert {c.output["pid"] for c in par[1].cases} == {os.getpid()}  # the model's suite never leaves
    for p, s in zip(par, seq, strict=True):
        assert p.suite is s.suite
        assert [(c.id, c.output, c.passed, c.scores) for c in p.cases] == \
               [(c.id, c.output, c.passed, c.scores) for c in s.cases]
        assert {k: v for k, v in p.metrics.items() if not k.startswith("latency_")} == \
               {k: v for k, v in s.metrics.items() if not k.startswith("latency_")}
    # the worker read its components from its own object graph; this process read none
    assert par[2].components == suites.offline_components("detector") and seq[2].components is None


def test_only_registered_non_generating_suites_go_to_workers_and_only_when_two_run_at_once(monkeypatch):
    intent, oos = suites.get_suite("intent"), suites.get_suite("out_of_scope")
    conv = replace(oos, name="conversations", generates=True)
    loaded = {"intent": [None] * 1584, "out_of_scope": [None] * 592, "conversations": [None] * 69}
    assert parallel.workers_for([intent, oos], loaded, 1, {}) == []            # --jobs 1
    assert parallel.workers_for([intent], loaded, 4, {}) == []                 # nothing to run beside it
    assert parallel.workers_for([intent, conv], loaded, 2, {}) == [intent]    # beside the model's suite
    assert parallel.workers_for([intent, oos], loaded, 2, {}) == [intent, oos]
    # auto (no --jobs): a run expected to be short stays in this process (no baseline: by size)
    assert parallel.workers_for([intent, oos], loaded, 2, {}, auto=True) == []
    big = {"intent": {"suites": {"intent": {"timings": {"total_s": 30.0}, "cases": [{}] * 1584}}}}
    assert parallel.workers_for([intent, oos], loaded, 2, big, auto=True) == [intent, oos]
    # a suite swapped into the registry (tests, callers) is not what a worker would build: it
    # runs here, beside the registered one
    monkeypatch.setitem(suites.SUITES, "intent", lambda: intent)
    assert parallel.workers_for([intent, oos], loaded, 2, {}) == [oos]
    monkeypatch.setattr(suites, "SUITES", {"intent": lambda: intent, "out_of_scope": lambda: oos})
    assert parallel.workers_for([intent, oos], loaded, 2, {}) == []


def test_jobs_out_of_range_is_bad_input(capsys):
    assert cli.main(["--suite", "intent", "--jobs", "0"]) == 2
    assert "--jobs must be between 1 and 32" in capsys.readouterr().err
