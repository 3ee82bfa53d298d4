"""Benchmarks for ``nox -s bench``.

Each module in this package exposes ``run() -> list[BenchResult]``; ``python -m
evals.benchmarks`` runs them all and prints one table with the machine and settings.
Targets are printed beside the measurements; they are never asserted in unit tests
(shared machines are noisy), only reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BenchResult:
    """One measured number. ``meets_target`` is None when there is no target."""

    area: str  # e.g. "guardrails", "triage", "workflow", "harness"
    name: str  # e.g. "input guardrail throughput"
    value: float
    unit: str  # e.g. "texts/s", "ms", "MB", "x"
    target: str = ""  # human-readable, e.g. ">= 20000"
    meets_target: bool | None = None
    detail: str = ""


def time_per_call(func: Callable[[], object], *, repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``func``, one sample per call."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return samples


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; samples need not be sorted."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]
