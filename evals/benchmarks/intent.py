"""Benchmark: intent detection with OfflineNlp, one process, one core.

Measures ``IntentDetector.detect`` (which calls ``OfflineNlp.analyze``) over every input
of ``golden_sets/intent.jsonl``: throughput, p50/p99 per query, and the share of the
time spent in OfflineNlp. The triage target (guardrail + intent + NLP >= 2,000
queries/s) leaves about 300 us per query for intent + NLP; that is the target shown here.
"""

from __future__ import annotations

import gc
import time
from functools import partial

from evals.benchmarks import BenchResult, percentile, time_per_call
from evals.datasets import GOLDEN_DIR, load_cases

AREA = "intent"
PER_QUERY_TARGET_US = 300.0
ROUNDS = 3


def run() -> list[BenchResult]:
    """Measure the detector and return one BenchResult per number."""
    from pipeline.handlers.composition import Services, Settings

    # The detector the Lambdas, the CLI and the eval build (the composition root), in a fresh
    # object graph so that its load time is measured.
    start = time.perf_counter()
    services = Services(Settings())
    detector = services.detector
    nlp = services.nlp
    load_ms = (time.perf_counter() - start) * 1000
    texts = [str(c.input) for c in load_cases(GOLDEN_DIR / "intent.jsonl")]
    for text in texts[:50]:  # warm caches (regex compilation, service index)
        detector.detect(text)

    samples: list[float] = []
    nlp_samples: list[float] = []
    gc.collect()
    gc.disable()  # a collection landing in one sample says nothing about the detector
    try:
        for _ in range(ROUNDS):
            for text in texts:
                samples.extend(time_per_call(partial(detector.detect, text), repeat=1))
                nlp_samples.extend(time_per_call(partial(nlp.analyze, text), repeat=1))
    finally:
        gc.enable()
    total = sum(samples)
    throughput = len(samples) / total if total else float("inf")
    p50_us = percentile(samples, 50) * 1e6
    p99_us = percentile(samples, 99) * 1e6
    mean_us = total / len(samples) * 1e6
    nlp_share = sum(nlp_samples) / total if total else 0.0
    detail = f"{len(texts)} golden inputs x {ROUNDS} rounds, OfflineNlp included"
    return [
        BenchResult(
            AREA,
            "detect + OfflineNlp throughput",
            round(throughput, 1),
            "queries/s",
            target=f">= {1e6 / PER_QUERY_TARGET_US:.0f}",
            meets_target=mean_us <= PER_QUERY_TARGET_US,
            detail=detail,
        ),
        BenchResult(AREA, "detect p50", round(p50_us, 1), "us", detail=detail),
        BenchResult(AREA, "detect p99", round(p99_us, 1), "us", detail=detail),
        BenchResult(
            AREA, "OfflineNlp share of detect", round(nlp_share * 100, 1), "%", detail=detail
        ),
        BenchResult(
            AREA,
            "model + OfflineNlp load (first call in process)",
            round(load_ms, 1),
            "ms",
            detail="json model parse + botocore service list, cached afterwards",
        ),
    ]


if __name__ == "__main__":
    for result in run():
        print(
            f"{result.area:8} {result.name:48} {result.value:>10} {result.unit:10} {result.target} {result.detail}"
        )
