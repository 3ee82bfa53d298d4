"""The runner: Dataset → Solver → Scorer → Metric, as small protocols (DESIGN.md §5).

A :class:`Suite` names its dataset, a :class:`SolverSpec` (built once, lazily, so
component set-up is timed apart from the cases), its scorers and a metrics function.
:func:`run_suite` runs every case; a crashing case is recorded as data (``error``) and
the run continues; thresholds (``gates.py``) decide the verdict.

Example:
    >>> from evals.scorers import exact_match
    >>> suite = Suite(
    ...     name="echo", description="echoes", dataset=None,
    ...     solver=SolverSpec("echo", lambda config: (lambda x: {"value": x})),
    ...     scorers=(exact_match("value"),),
    ...     load=lambda: [GoldenCase("c1", "a", {"value": "a"}, (), "test", "doc")],
    ... )
    >>> result = run_suite(suite, RunConfig())
    >>> result.cases[0].passed, result.metrics["pass_rate"].value
    (True, 1.0)
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evals.datasets import GoldenCase, GoldenSetError, file_sha256, load_cases
from evals.metrics import MetricValue, latency_histogram, latency_summary, rate
from evals.stats import diff_ci_independent

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Score:
    """What one scorer says about one case."""

    value: float
    passed: bool
    detail: str = ""


class ScoreFn(Protocol):
    def __call__(self, case: GoldenCase, output: dict[str, Any]) -> Score: ...


@dataclass(frozen=True, slots=True)
class Scorer:
    """A named scoring function built by a factory; ``args`` go into the run record.

    Attributes:
        name: Stable id, e.g. ``guardrail_match``.
        fn: ``fn(case, output) -> Score``.
        args: The factory's arguments, recorded so a run can be reproduced.
        required: When False, the score is reported but does not decide ``passed``.
    """

    name: str
    fn: ScoreFn
    args: dict[str, Any] = field(default_factory=dict, hash=False)
    required: bool = True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "args": self.args, "required": self.required}


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Settings shared by every suite of a run."""

    model: str = "offline"  # offline | replay | bedrock
    record: bool = False
    seed: int = 20261115
    #: The run's :class:`evals.models.ModelSession` (built from ``model``/``record`` when None).
    models: Any = field(default=None, compare=False, hash=False)
    #: Checked before and after every case; True stops the suite cleanly (e.g. a budget
    #: cap was reached): the case that tripped it is dropped, the rest are not run.
    should_stop: Callable[[], bool] | None = field(default=None, compare=False, hash=False)
    #: Cases of a ``parallel_safe`` suite run at most this many at a time (a bounded pool).
    concurrency: int = 1

    def model_session(self) -> Any:
        """The session that builds and meters the model of the generating suites."""
        if self.models is None:
            from evals.models import ModelSession

            object.__setattr__(self, "models", ModelSession(backend=self.model, record=self.record))
        return self.models


Solver = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SolverSpec:
    """How to build a solver. ``build`` runs once per suite, before the timed loop.

    Attributes:
        name: Id of the component(s) under test, e.g. ``pipeline.domain.guardrails.scan_input``.
        build: ``build(config) -> solver``; the solver maps a case input to a JSON-able dict.
        params: Parameters recorded in the run record (model id, thresholds …).
        private_keys: Output keys used by the suite's hooks but never stored (e.g. a
            redacted text kept only to build the safe input).
        components: Returns the real constructor arguments of the components the solver
            uses, read from the object graph after ``build`` (recorded in the run record).
    """

    name: str
    build: Callable[[RunConfig], Solver]
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    private_keys: tuple[str, ...] = ()
    components: Callable[[], dict[str, Any]] | None = field(default=None, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case, as stored in the run record."""

    id: str
    input: Any  # safe form: redacted or hashed for sensitive cases
    expected: Any
    output: dict[str, Any] | None
    scores: dict[str, Score]
    passed: bool
    error: str | None
    latency_ms: float
    tags: tuple[str, ...] = ()
    split: str = ""
    flags: tuple[str, ...] = ()  # zero-tolerance flags, e.g. "secret_leak"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": self.input,
            "expected": self.expected,
            "output": self.output,
            "scores": {k: {"value": round(s.value, 6), "passed": s.passed, **({"detail": s.detail} if s.detail else {})}
                       for k, s in self.scores.items()},
            "passed": self.passed,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 4),
            "tags": list(self.tags),
            "split": self.split,
            "flags": list(self.flags),
        }


@dataclass(frozen=True, slots=True)
class SuiteMetrics:
    """Gateable numbers (``metrics``) and report material (``details``: tables, curves)."""

    metrics: dict[str, MetricValue]
    details: dict[str, Any] = field(default_factory=dict)


MetricsFn = Callable[[Sequence[CaseResult]], SuiteMetrics]


def _no_metrics(results: Sequence[CaseResult]) -> SuiteMetrics:
    return SuiteMetrics({})


@dataclass(frozen=True, slots=True)
class Suite:
    """A suite definition: dataset + solver + scorers + metrics.

    Attributes:
        name: Suite id (``--suite`` value, baseline file name).
        description: One line for the report.
        dataset: The golden-set file, or None when ``load`` generates cases.
        solver: How to build the solver.
        scorers: Scorers applied to every case.
        metrics: ``metrics(results) -> SuiteMetrics``; ``pass_rate`` and latency are added.
        splits: Splits evaluated (None: all).
        validate: ``validate(case) -> problem or None``: the suite's schema of ``input``/``expected``.
        load: Overrides loading from ``dataset`` (generated suites such as robustness).
        safe_input: ``safe_input(case, output) -> stored input`` (redaction of secrets).
        sensitive: ``sensitive(case) -> bool``: the case holds a secret or PII.
        flags: ``flags(case, output) -> zero-tolerance flags``.
        finalize: ``finalize(results, solver, config) -> dict`` of extra details after the run.
        components: Names of the real components exercised, for the report.
        headline: Metrics compared between the seen splits and the blind split: each gets
            ``dev.<m>``, ``blind.<m>`` and ``gap.<m>`` (how much worse blind is) when both
            kinds of case ran. ``pass_rate`` always does.
        generates: The solver calls the model (``--model`` applies; replay cassettes and
            Bedrock access are checked before the run).
        parallel_safe: The solver may run several cases at once (``--concurrency``).
    """

    name: str
    description: str
    dataset: Path | None
    solver: SolverSpec
    scorers: tuple[Scorer, ...]
    metrics: MetricsFn = _no_metrics
    splits: tuple[str, ...] | None = None
    validate: Callable[[GoldenCase], str | None] | None = None
    load: Callable[[], list[GoldenCase]] | None = None
    safe_input: Callable[[GoldenCase, dict[str, Any] | None], Any] | None = None
    sensitive: Callable[[GoldenCase], bool] | None = None
    flags: Callable[[GoldenCase, dict[str, Any] | None], tuple[str, ...]] | None = None
    finalize: Callable[[Sequence[CaseResult], Solver, RunConfig], dict[str, Any]] | None = None
    components: tuple[str, ...] = ()
    headline: tuple[str, ...] = ()
    generates: bool = False
    parallel_safe: bool = False

    def definition_sha256(self) -> str:
        """Hash of what defines the suite (solver, params, scorers, splits)."""
        blob = json.dumps({
            "name": self.name,
            "solver": self.solver.name,
            "params": self.solver.params,
            "scorers": [s.describe() for s in self.scorers],
            "splits": self.splits,
        }, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def load_cases(self) -> list[GoldenCase]:
        """Load and validate the cases; raises :class:`GoldenSetError` naming file and line."""
        if self.load is not None:
            return self.load()
        if self.dataset is None:
            raise GoldenSetError(self.name, None, "suite has neither a dataset nor a loader",
                                 "Give the Suite a dataset path or a load function.")
        cases = load_cases(self.dataset, splits=self.splits)
        if self.validate is not None:
            for case in cases:
                problem = self.validate(case)
                if problem:
                    raise GoldenSetError(self.dataset, case.line, f"case {case.id!r}: {problem}",
                                         f"Fix the case to match the {self.name} suite's schema.")
        return cases


@dataclass(frozen=True, slots=True)
class SuiteResult:
    """Everything one suite run produced; ``record.py`` turns it into JSON."""

    suite: Suite
    cases: list[CaseResult]
    metrics: dict[str, MetricValue]
    details: dict[str, Any]
    timings: dict[str, float]
    dataset_sha256: str | None
    n_errors: int
    setup_error: str | None = None
    #: The components' constructor arguments, when read in the process that ran the suite
    #: (``--jobs``: a worker process); None: read from this process's object graph.
    components: Any = None


def _hash_text(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def withheld(value: Any) -> dict[str, Any]:
    """The stored form of a sensitive value that could not be redacted safely."""
    return {"withheld": True, "sha256_16": _hash_text(value)}


#: The split never used for fitting anything (golden_sets/GUIDE.md §1).
BLIND_SPLIT = "blind"


def gap_metric(seen: MetricValue, blind: MetricValue) -> MetricValue:
    """How much worse the blind split is than the seen ones (positive = worse on blind).

    The interval combines the two intervals' half-widths (approximate, independent samples).
    """
    sign = -1.0 if seen.higher_is_better is False else 1.0
    value = sign * (seen.value - blind.value)
    if any(math.isnan(x) for x in (seen.ci_low, seen.ci_high, blind.ci_low, blind.ci_high)):
        lo = hi = float("nan")
    else:
        lo, hi = diff_ci_independent(blind.value, (blind.ci_low, blind.ci_high),
                                     seen.value, (seen.ci_low, seen.ci_high))
        lo, hi = (sign * lo, sign * hi) if sign > 0 else (sign * hi, sign * lo)
    return MetricValue(value, lo, hi, blind.n, "score", False, "approx")


def split_comparison(suite: Suite, results: Sequence[CaseResult]) -> tuple[dict[str, Any], dict[str, MetricValue]]:
    """Metrics on the seen splits (train/dev/test) and on the blind split, side by side.

    Returns:
        ``({"dev": {...}, "blind": {...}, "gap": {...}}, gateable metrics)``; both empty
        when the suite ran only one kind of case.
    """
    blind = [r for r in results if r.split == BLIND_SPLIT]
    seen = [r for r in results if r.split != BLIND_SPLIT]
    if not blind or not seen:
        return {}, {}
    views: dict[str, dict[str, MetricValue]] = {}
    for label, subset in (("dev", seen), ("blind", blind)):
        m = dict(suite.metrics(subset).metrics)
        m["pass_rate"] = rate(sum(1 for r in subset if r.passed), len(subset))
        views[label] = m
    gaps = {name: gap_metric(views["dev"][name], views["blind"][name])
            for name in ("pass_rate", *suite.headline)
            if name in views["dev"] and name in views["blind"]
            and not math.isnan(views["dev"][name].value) and not math.isnan(views["blind"][name].value)}
    gateable: dict[str, MetricValue] = {}
    for label in ("dev", "blind"):
        for name in ("pass_rate", *suite.headline):
            if name in views[label]:
                gateable[f"{label}.{name}"] = views[label][name]
    gateable.update({f"gap.{k}": v for k, v in gaps.items()})
    details = {
        "dev": {k: v.to_dict() for k, v in views["dev"].items()},
        "blind": {k: v.to_dict() for k, v in views["blind"].items()},
        "gap": {k: v.to_dict() for k, v in gaps.items()},
        "counts": {"dev": len(seen), "blind": len(blind)},
        "headline": ["pass_rate", *suite.headline],
    }
    return details, gateable


def summarise(suite: Suite, results: Sequence[CaseResult], solver: Solver | None,
              config: RunConfig) -> tuple[dict[str, MetricValue], dict[str, Any]]:
    """A suite's metrics and details from its case results (pass rate, errors, latency, splits)."""
    computed = suite.metrics(results) if results else SuiteMetrics({})
    metrics = dict(computed.metrics)
    n_pass = sum(1 for r in results if r.passed)
    metrics["pass_rate"] = rate(n_pass, len(results))
    n_errors = sum(1 for r in results if r.error is not None)
    metrics["error_rate"] = rate(n_errors, len(results), higher_is_better=False)
    metrics.update(latency_summary([r.latency_ms for r in results]))
    details = dict(computed.details)
    by_split, split_metrics = split_comparison(suite, results)
    if by_split:
        details["by_split"] = by_split
        metrics.update(split_metrics)
    details["latency_histogram"] = latency_histogram([r.latency_ms for r in results])
    if suite.finalize is not None and solver is not None:
        try:
            details.update(suite.finalize(results, solver, config))
        except Exception as exc:  # noqa: BLE001
            details["finalize_error"] = f"{type(exc).__name__}: {exc}"
    return metrics, details


def run_suite(suite: Suite, config: RunConfig, *, progress: ProgressFn | None = None,
              cases: list[GoldenCase] | None = None) -> SuiteResult:
    """Run one suite.

    Args:
        suite: The suite definition.
        config: Run-wide settings.
        progress: Called as ``progress(suite, done, total)`` every few cases.
        cases: Already-loaded cases (the CLI loads everything first so bad input fails early).

    Returns:
        The per-case results, metrics and timings. A solver that cannot be built yields a
        result with ``setup_error`` and every case failed (errors are data).
    """
    t0 = time.perf_counter()
    if cases is None:
        cases = suite.load_cases()
    t_load = time.perf_counter()
    setup_error = None
    solver: Solver | None
    try:
        solver = suite.solver.build(config)
    except Exception as exc:  # noqa: BLE001 - a missing component is data, not a crash
        solver = None
        setup_error = f"{type(exc).__name__}: {exc}"
    t_setup = time.perf_counter()

    results: list[CaseResult] = []
    append = results.append
    scorers = suite.scorers
    private = suite.solver.private_keys
    safe_input = suite.safe_input
    sensitive = suite.sensitive
    flags_fn = suite.flags
    total = len(cases)
    step = max(1, total // 50)
    solver_time = 0.0
    perf = time.perf_counter
    stop = config.should_stop
    stopped = False

    def solve(case: GoldenCase) -> tuple[dict[str, Any] | None, str | None, float, bool] | None:
        """Run one case; None when a stop came first, ``tripped`` when it came during the case."""
        if stop is not None and stop():
            return None
        output: dict[str, Any] | None = None
        error = None
        start = perf()
        if solver is None:
            error = f"setup failed: {setup_error}"
        else:
            try:
                output = solver(case.input)
            except Exception as exc:  # noqa: BLE001 - errors are data
                is_sensitive = sensitive is not None and sensitive(case)
                error = type(exc).__name__ if is_sensitive else f"{type(exc).__name__}: {str(exc)[:300]}"
        return output, error, perf() - start, stop is not None and stop()

    workers = config.concurrency if suite.parallel_safe and solver is not None else 1
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    # Outcomes arrive in case order either way; a pool bounds how many cases run at once.
    outcomes = pool.map(solve, cases) if pool is not None else map(solve, cases)
    try:
        for i, (case, outcome) in enumerate(zip(cases, outcomes, strict=False)):
            if outcome is None or outcome[3]:
                stopped = True  # a case that ran into the stop is dropped: its result is not the model's
                break
            output, error, elapsed, _tripped = outcome
            solver_time += elapsed
            scores: dict[str, Score] = {}
            passed = error is None
            if output is not None:
                for scorer in scorers:
                    try:
                        s = scorer.fn(case, output)
                    except Exception as exc:  # noqa: BLE001
                        s = Score(0.0, False, f"scorer error {type(exc).__name__}: {exc}")
                    scores[scorer.name] = s
                    if scorer.required and not s.passed:
                        passed = False
            stored_input = safe_input(case, output) if safe_input is not None else case.input
            flags = flags_fn(case, output) if flags_fn is not None else ()
            if output is not None and private:
                output = {k: v for k, v in output.items() if k not in private}
            append(CaseResult(case.id, stored_input, case.expected, output, scores, passed, error,
                              elapsed * 1000.0, case.tags, case.split, flags))
            if progress is not None and (i % step == 0 or i + 1 == total):
                progress(suite.name, i + 1, total)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    t_run = time.perf_counter()

    metrics, details = summarise(suite, results, solver, config)
    n_errors = sum(1 for r in results if r.error is not None)
    if stopped:
        details["stopped"] = f"stopped after {len(results)} of {total} cases"
    t_metrics = time.perf_counter()

    run_s = t_run - t_setup
    timings = {
        "load_s": round(t_load - t0, 4),
        "setup_s": round(t_setup - t_load, 4),
        "run_s": round(run_s, 4),
        "solver_s": round(solver_time, 4),
        "overhead_ms_per_case": round((run_s - solver_time) * 1000.0 / total, 4) if total else 0.0,
        "metrics_s": round(t_metrics - t_run, 4),
        "total_s": round(t_metrics - t0, 4),
    }
    dataset_sha = file_sha256(suite.dataset) if suite.dataset is not None and Path(suite.dataset).is_file() else None
    return SuiteResult(suite, results, metrics, details, timings, dataset_sha, n_errors, setup_error)
