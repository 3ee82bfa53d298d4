"""Benchmarks of the eval harness itself (``nox -s bench``).

* all suites of golden sets v1, wall time, excluding environment set-up (target < 60 s);
* harness overhead per case: run time minus solver time (target < 2 ms);
* a synthetic 100,000-case intent suite: run, diff against a baseline and render the
  report, with the peak RSS of the process (target < 2 GB);
* report rendering for 10,000 cases (target < 5 s).

Targets are reported, never asserted (shared machines are noisy).
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from evals.benchmarks import BenchResult
from evals.compare import compare_suite
from evals.datasets import GoldenCase
from evals.record import build_record
from evals.report import write_report
from evals.runner import RunConfig, SolverSpec, Suite, run_suite
from evals.scorers import flag_match, intent_match
from evals.suites import SUITES, get_suite, intent_metrics
from pipeline.domain.models import INTENTS


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def synthetic_intent_suite(n: int, *, seed: int, accuracy: float = 0.9) -> Suite:
    """An intent-shaped suite of ``n`` cases with a fake, fast, seeded solver."""

    def load() -> list[GoldenCase]:
        return [GoldenCase(f"syn-{i:06d}", f"synthetic query {i}",
                           {"intent": INTENTS[i % len(INTENTS)], "needs_clarification": False, "escalate": False},
                           (), "test", "synthetic") for i in range(n)]

    def build(config: RunConfig):
        rng = random.Random(seed)

        def solve(text: str) -> dict:
            i = int(text.rsplit(" ", 1)[1])
            conf = rng.random()
            right = conf < accuracy + 0.05 * (conf - 0.5)
            intent = INTENTS[i % len(INTENTS)] if right else INTENTS[(i + 1) % len(INTENTS)]
            return {"intent": intent, "confidence": round(conf, 4), "needs_clarification": conf < 0.2,
                    "escalate": False}

        return solve

    return Suite("intent", "synthetic intent", None, SolverSpec("synthetic", build),
                 (intent_match(), flag_match("needs_clarification", required=False)), intent_metrics, load=load)


def bench_all_suites() -> list[BenchResult]:
    """Every registered suite on golden sets v1 (set-up excluded), and the harness overhead."""
    config = RunConfig()
    total_run = 0.0
    setup = 0.0
    overhead_weighted = 0.0
    n_cases = 0
    details = []
    for name in SUITES:
        try:
            suite = get_suite(name)
            cases = suite.load_cases()
        except Exception as exc:  # noqa: BLE001 - a missing golden set is reported, not fatal
            details.append(f"{name}: not run ({exc})")
            continue
        result = run_suite(suite, config, cases=cases)
        t = result.timings
        total_run += t["load_s"] + t["run_s"] + t["metrics_s"]
        setup += t["setup_s"]
        overhead_weighted += t["overhead_ms_per_case"] * len(cases)
        n_cases += len(cases)
        details.append(f"{name}: {len(cases)} cases {t['run_s'] + t['metrics_s']:.2f} s"
                       + (" SETUP FAILED" if result.setup_error else ""))
    overhead = overhead_weighted / n_cases if n_cases else float("nan")
    return [
        BenchResult("harness", "all suites, golden sets v1 (excl. set-up)", round(total_run, 2), "s", "< 60",
                    total_run < 60, f"{n_cases} cases; set-up {setup:.1f} s; " + "; ".join(details)),
        BenchResult("harness", "harness overhead per case", round(overhead, 4), "ms", "< 2", overhead < 2,
                    "run time minus solver time, averaged over all cases"),
    ]


def bench_large(n: int = 100_000) -> list[BenchResult]:
    """Run, diff and render a synthetic n-case suite; report the peak RSS."""
    config = RunConfig()
    now = datetime.now(UTC)
    start = time.perf_counter()
    base = run_suite(synthetic_intent_suite(n, seed=1), config)
    base_rec = build_record([base], config, run_id="bench-base", started_at=now, wall_s=0.0)
    del base
    t_base = time.perf_counter()
    cur = run_suite(synthetic_intent_suite(n, seed=2), config)
    cur_rec = build_record([cur], config, run_id="bench-cur", started_at=now, wall_s=0.0)
    run_s = time.perf_counter() - t_base
    del cur
    t0 = time.perf_counter()
    comp = compare_suite("intent", cur_rec["suites"]["intent"], base_rec["suites"]["intent"])
    diff_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        write_report(cur_rec, {"intent": comp}, [], Path(tmp) / "index.html")
        render_s = time.perf_counter() - t1
    total = time.perf_counter() - start
    peak = _peak_rss_mb()
    return [
        BenchResult("harness", f"synthetic {n:,}-case intent suite: run + diff + render", round(total, 2), "s", "",
                    None, f"run {run_s:.1f} s, diff {diff_s:.1f} s ({comp.counts['regressed']} regressed, "
                          f"{comp.counts['changed']} changed), render {render_s:.1f} s"),
        BenchResult("harness", f"peak RSS, synthetic {n:,}-case suite", round(peak, 1), "MB", "< 2048", peak < 2048,
                    "resource.getrusage(RUSAGE_SELF).ru_maxrss of the benchmark process"),
    ]


def bench_render(n: int = 10_000) -> list[BenchResult]:
    """Report rendering time for an n-case run compared with a baseline."""
    config = RunConfig()
    now = datetime.now(UTC)
    base = build_record([run_suite(synthetic_intent_suite(n, seed=3), config)], config, run_id="b",
                        started_at=now, wall_s=0.0)
    cur = build_record([run_suite(synthetic_intent_suite(n, seed=4), config)], config, run_id="c",
                       started_at=now, wall_s=0.0)
    comp = compare_suite("intent", cur["suites"]["intent"], base["suites"]["intent"])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_report(cur, {"intent": comp}, [], Path(tmp) / "index.html")
        elapsed = time.perf_counter() - start
        size = (Path(tmp) / "index.html").stat().st_size / 1e6
    return [BenchResult("harness", f"report rendering, {n:,} cases", round(elapsed, 3), "s", "< 5", elapsed < 5,
                        f"{size:.1f} MB of HTML; listings capped, counts exact")]


def run() -> list[BenchResult]:
    """All harness benchmarks (the 100,000-case one last: it sets the peak RSS)."""
    return bench_all_suites() + bench_render() + bench_large()


if __name__ == "__main__":
    for r in run():
        print(f"{r.name:<58} {r.value:>10} {r.unit:<4} target {r.target:<8} {r.meets_target}  {r.detail}")
