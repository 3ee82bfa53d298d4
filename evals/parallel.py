"""Suites in parallel (``python -m evals --jobs N``): independent suites in worker processes.

Suites share nothing but the composition root's object graph, which each process builds for
itself (``offline_services()``, read-only after construction), so a suite gives the same
case results whichever process runs it. Threads would not help: every suite is CPU-bound
Python and holds the GIL. So:

- suites that call the model (``Suite.generates``) run in the main process, in order: they
  share the run's :class:`evals.models.ModelSession` (usage, cassettes recorded, the budget
  cap), which must not be split between processes;
- the other suites go to a pool of worker processes (``spawn``: no fork of a process that
  may hold locks in other threads), longest first by the baseline's timing so the last one
  to finish is short, while the main process runs the generating suites;
- results come back in the order the suites were asked for, so the run record is the one a
  sequential run writes (only timings differ): ``tests/evals/test_parallel.py`` checks it.

A worker returns a :class:`SuiteOutcome` (plain data: the case results, metrics, details,
timings and the suite's component arguments read in the process that ran it); the main
process rebuilds the :class:`evals.runner.SuiteResult` around its own ``Suite`` object.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from evals.datasets import GoldenCase
from evals.epochs import reduce_epochs
from evals.runner import CaseResult, RunConfig, Suite, SuiteResult, run_suite

#: ``--jobs`` default: one process per core, at most 4 (CI's machine has 2 cores; beyond 4 the
#: suites are too few and too uneven for more processes to shorten the run).
DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))
#: Without an explicit ``--jobs``, suites expected to take less than this (the baselines'
#: timings) run in this process: a worker costs ~2-3 s of start-up (imports, object graph).
AUTO_MIN_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class SuiteOutcome:
    """What a worker process sends back: a :class:`SuiteResult` without its ``Suite`` object."""

    name: str
    cases: list[CaseResult]
    metrics: dict[str, Any]
    details: dict[str, Any]
    timings: dict[str, float]
    dataset_sha256: str | None
    n_errors: int
    setup_error: str | None
    components: Any

    def result(self, suite: Suite) -> SuiteResult:
        """The suite result, with the components recorded by the process that ran the suite."""
        return SuiteResult(suite, self.cases, self.metrics, self.details, self.timings, self.dataset_sha256,
                           self.n_errors, self.setup_error, components=self.components)


def run_in_worker(name: str, cases: list[GoldenCase], model: str, seed: int, concurrency: int) -> SuiteOutcome:
    """Run one non-generating suite in a worker process (module-level: the pool pickles it)."""
    from evals.record import suite_components
    from evals.suites import BUILTIN_SUITES

    suite = BUILTIN_SUITES[name]()
    result = run_suite(suite, RunConfig(model=model, seed=seed, concurrency=concurrency), cases=cases)
    return SuiteOutcome(name, result.cases, result.metrics, result.details, result.timings, result.dataset_sha256,
                        result.n_errors, result.setup_error, suite_components(suite))


def workers_for(suites: Sequence[Suite], loaded: Mapping[str, list[GoldenCase]], jobs: int,
                baselines: Mapping[str, Any], *, auto: bool = False) -> list[Suite]:
    """The suites worth running in worker processes (none: everything runs here, in order).

    A worker rebuilds its suite from the harness's own registry, so only suites registered
    there (not a suite a test or a caller built or swapped in) and that do not call the model
    qualify; and only when at least two suites would then run at once.
    """
    from evals.suites import BUILTIN_SUITES, SUITES

    if jobs <= 1:
        return []
    remote = [s for s in suites if not s.generates and SUITES.get(s.name) is BUILTIN_SUITES.get(s.name)]
    if len(remote) + (len(remote) < len(suites)) < 2:
        return []
    if auto and sum(expected_seconds(s.name, len(loaded[s.name]), baselines) for s in remote) < AUTO_MIN_SECONDS:
        return []
    return remote


def expected_seconds(name: str, n_cases: int, baselines: Mapping[str, Any]) -> float:
    """How long a suite is likely to take: the baseline's timing scaled to the cases selected."""
    base = baselines.get(name) or {}
    suite = (base.get("suites") or {}).get(name) or {}
    total = (suite.get("timings") or {}).get("total_s")
    n_base = len(suite.get("cases") or ()) or None
    if isinstance(total, int | float) and n_base:
        return float(total) * n_cases / n_base
    return n_cases * 0.002  # no baseline: about what a guardrail or intent case takes


def run_suites(
    suites: Sequence[Suite],
    loaded: Mapping[str, list[GoldenCase]],
    config: RunConfig,
    *,
    jobs: int,
    epochs: int = 1,
    reducer: str = "majority",
    progress: Any = None,
    baselines: Mapping[str, Any] | None = None,
    stopped: Callable[[], bool] = lambda: False,
    auto: bool = False,
) -> list[SuiteResult]:
    """Run the suites, ``jobs`` processes at a time; results in the order of ``suites``.

    Args:
        suites: The suites, in the order their results are returned (and recorded).
        loaded: The (selected) cases of each suite.
        config: Run-wide settings; ``config.models`` serves the generating suites.
        jobs: Processes working on suites at once, the main one included. 1 runs every
            suite in this process, one after another.
        epochs: Runs of each generating suite, reduced with ``reducer``.
        progress: A :class:`evals.cli.Progress` (start/end lines, the bar for suites run here).
        baselines: Baseline records by suite, to start the longest suites first.
        stopped: True when the run must stop (budget cap): no further suite starts.
        auto: ``jobs`` is the default, not asked for: small runs stay in this process.

    Returns:
        One result per suite that ran (all of them unless ``stopped``).
    """
    remote = workers_for(suites, loaded, jobs, baselines or {}, auto=auto)
    local = [s for s in suites if s not in remote]
    done: dict[str, SuiteResult] = {}
    lock = threading.Lock()

    def start(suite: Suite) -> None:
        if progress is not None:
            with lock:
                progress.start(suite.name, len(loaded[suite.name]))

    def finish(result: SuiteResult) -> None:
        with lock:
            done[result.suite.name] = result
            if progress is not None:
                progress.end(result)

    pool = None
    futures: list[Future[SuiteOutcome]] = []
    if remote:
        # ``jobs`` workers even when the main process runs a generating suite beside them: that
        # suite waits on the local workflow engine part of the time, and an idle core at the
        # end of the run costs more than a shared one at the start (measured: README).
        workers = min(len(remote), jobs)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        by_name = {s.name: s for s in remote}
        order = sorted(remote, key=lambda s: -expected_seconds(s.name, len(loaded[s.name]), baselines or {}))
        for suite in order:
            start(suite)
            future = pool.submit(run_in_worker, suite.name, loaded[suite.name], config.model, config.seed,
                                 config.concurrency)
            future.add_done_callback(lambda f, s=by_name[suite.name]: _collect(f, s, finish))
            futures.append(future)
    try:
        for suite in local:
            if stopped():
                break
            start(suite)
            runs = []
            for _epoch in range(epochs if suite.generates else 1):
                runs.append(run_suite(suite, config, progress=progress, cases=loaded[suite.name]))
                if stopped():
                    break
            finish(reduce_epochs(runs, reducer, config))
        for future in futures:
            if stopped():
                future.cancel()
            else:
                future.result()  # a worker that crashed raises here, as a suite crashing in-process would
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return [done[s.name] for s in suites if s.name in done]


def _collect(future: Future[SuiteOutcome], suite: Suite, finish: Callable[[SuiteResult], None]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    finish(future.result().result(suite))
