"""Tests for evals.epochs: reducing several runs of a suite case by case."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from evals.epochs import reduce_case, reduce_epochs
from evals.runner import CaseResult, RunConfig, Score, Scorer, SolverSpec, Suite, run_suite

from . import test_harness as th

fake_env = th.fake_env  # two fake deterministic suites, a gates file, temp dirs


def _result(passed: bool, value: float, error: str | None = None, flags=()) -> CaseResult:
    return CaseResult("c1", "q", {}, {"text": f"v{value}"}, {"score": Score(value, passed)}, passed, error, 10.0,
                      ("t",), "dev", tuple(flags))


@pytest.mark.parametrize(
    ("passes", "majority"),
    [((True, True, False), True), ((True, False, False), False), ((True, True, False, False), False)],
)
def test_majority_passes_only_with_more_than_half(passes, majority):
    epochs = [_result(p, 1.0 if p else 0.0) for p in passes]
    reduced = reduce_case(epochs, "majority", frozenset({"score"}))
    assert reduced.passed is majority
    assert reduced.scores["score"].passed is majority
    assert reduced.output["text"] == epochs[0].output["text"]
    assert [e["passed"] for e in reduced.output["epochs"]] == list(passes)


def test_majority_value_is_the_most_common_and_mean_the_average():
    epochs = [_result(True, 0.8), _result(True, 0.8), _result(False, 0.2)]
    assert reduce_case(epochs, "majority", frozenset({"score"})).scores["score"].value == 0.8
    mean = reduce_case(epochs, "mean", frozenset({"score"}))
    assert mean.scores["score"].value == pytest.approx(0.6) and mean.passed


def test_mean_fails_when_most_epochs_errored_and_a_flag_in_any_epoch_counts():
    epochs = [_result(False, 0.0, "boom"), _result(False, 0.0, "boom"), _result(True, 1.0, flags=("secret_leak",))]
    reduced = reduce_case(epochs, "mean", frozenset({"score"}))
    assert not reduced.passed and reduced.error == "boom"
    assert reduced.flags == ("secret_leak",)
    with pytest.raises(ValueError, match="reducer"):
        reduce_case(epochs, "median", frozenset())


def test_a_flaky_solver_is_reduced_per_case_and_the_pass_rate_recomputed():
    flips = itertools.cycle([True, True, False])  # each case passes in 2 of 3 epochs

    def build(config):
        return lambda inp: {"ok": next(flips)}

    scorer = Scorer("ok", lambda case, out: Score(1.0 if out["ok"] else 0.0, out["ok"]))
    suite = Suite("flaky", "", None, SolverSpec("flaky", build), (scorer,), generates=True)
    cases = [SimpleNamespace(id="a", input="x", expected={}, tags=(), split="dev")]
    runs = [run_suite(suite, RunConfig(), cases=cases) for _ in range(3)]
    assert [r.metrics["pass_rate"].value for r in runs] == [1.0, 1.0, 0.0]
    reduced = reduce_epochs(runs, "majority", RunConfig())
    assert reduced.metrics["pass_rate"].value == 1.0
    assert reduced.details["epochs"] == {"n": 3, "reducer": "majority", "pass_rate_per_epoch": [1.0, 1.0, 0.0]}
    assert reduce_epochs(runs[2:], "majority", RunConfig()) is runs[2]


def test_cli_epochs_leave_deterministic_suites_single_and_are_recorded(fake_env, capsys):
    import json

    tmp, args = fake_env
    code, _out, err = th.run_cli(args + ["--epochs", "3", "--reducer", "mean"], capsys)
    assert code == 0, err
    assert err.count("[intent] running") == 1  # not a generating suite: run once
    record = json.loads(next((tmp / "out").glob("*/run.json")).read_text())
    assert record["config"]["epochs"] == 3 and record["config"]["reducer"] == "mean"
    assert th.run_cli(args + ["--epochs", "0"], capsys)[0] == 2
