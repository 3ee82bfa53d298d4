"""``--epochs N``: run a generating suite N times and reduce each case to one result.

A sampled model (temperature > 0) answers the same case differently from run to run; one
run's pass/fail is then a coin with unknown bias. Epochs run the case N times and a
reducer turns the N results into one:

- ``majority``: a case passes when it passed in more than half of the epochs (a tie
  fails: with N even, 2 of 4 is not evidence of a pass); each score takes its most common
  value (ties: the lower one) and passes by the same majority.
- ``mean``: each score's value is its mean over the epochs and passes when it passed in
  at least half of them; the case passes when every required score does and most epochs
  ran without error.

The reduced case keeps the first epoch's output (what the report shows) plus
``output["epochs"]``: every epoch's passed flag, score values and error, so the spread
stays visible. Suite metrics are recomputed from the reduced cases; a suite's own metric
function reads the first epoch's outputs. Deterministic suites are not repeated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import fmean

from evals.runner import CaseResult, RunConfig, Score, SuiteResult, summarise

REDUCERS = ("majority", "mean")


def reduce_case(epochs: Sequence[CaseResult], reducer: str, required: frozenset[str]) -> CaseResult:
    """One case's results over the epochs, reduced.

    Args:
        epochs: The case's result in each epoch (same case id, in epoch order).
        reducer: ``majority`` or ``mean``.
        required: Names of the scorers that decide ``passed``.

    Returns:
        The reduced result.
    """
    if reducer not in REDUCERS:
        raise ValueError(f"unknown reducer {reducer!r}; use one of {', '.join(REDUCERS)}")
    first = epochs[0]
    n = len(epochs)
    names = list(dict.fromkeys(name for e in epochs for name in e.scores))
    scores: dict[str, Score] = {}
    for name in names:
        given = [e.scores[name] for e in epochs if name in e.scores]
        passes = sum(s.passed for s in given)
        if reducer == "majority":
            counts = Counter(s.value for s in given)
            top = max(counts.values())
            value = min(v for v, c in counts.items() if c == top)
            passed = passes * 2 > n
        else:
            value = fmean(s.value for s in given)
            passed = passes * 2 >= n
        scores[name] = Score(value, passed, f"{passes} of {n} epochs passed")
    errors = sum(e.error is not None for e in epochs)
    if reducer == "majority":
        passed = sum(e.passed for e in epochs) * 2 > n
    else:
        passed = errors * 2 < n and all(s.passed for name, s in scores.items() if name in required)
    output = dict(first.output or {})
    output["epochs"] = [
        {"passed": e.passed, "scores": {k: round(s.value, 6) for k, s in e.scores.items()}, "error": e.error}
        for e in epochs
    ]
    return CaseResult(
        id=first.id,
        input=first.input,
        expected=first.expected,
        output=output,
        scores=scores,
        passed=passed,
        error=first.error if errors * 2 > n else None,
        latency_ms=fmean(e.latency_ms for e in epochs),
        tags=first.tags,
        split=first.split,
        flags=tuple(dict.fromkeys(f for e in epochs for f in e.flags)),  # a zero-tolerance flag in any epoch counts
    )


def reduce_epochs(runs: Sequence[SuiteResult], reducer: str, config: RunConfig) -> SuiteResult:
    """Several runs of one suite reduced to one :class:`SuiteResult` (see the module docstring)."""
    if not runs:
        raise ValueError("reduce_epochs needs at least one run")
    if len(runs) == 1:
        return runs[0]
    suite = runs[0].suite
    by_id: dict[str, list[CaseResult]] = {}
    for run in runs:
        for case in run.cases:
            by_id.setdefault(case.id, []).append(case)
    required = frozenset(s.name for s in suite.scorers if s.required)
    # Only cases every epoch ran (a budget stop can cut the last epoch short).
    cases = [reduce_case(results, reducer, required) for results in by_id.values() if len(results) == len(runs)]
    metrics, details = summarise(suite, cases, None, config)
    details["epochs"] = {"n": len(runs), "reducer": reducer,
                         "pass_rate_per_epoch": [r.metrics["pass_rate"].value for r in runs]}
    for key in ("model", "stopped"):
        for run in runs:
            if key in run.details:
                details[key] = run.details[key]
    timings = {k: round(sum(r.timings.get(k, 0.0) for r in runs), 4) for k in runs[0].timings}
    return SuiteResult(suite, cases, metrics, details, timings, runs[0].dataset_sha256,
                       sum(c.error is not None for c in cases), runs[0].setup_error)
