"""Benchmark: the input guardrail against detect-secrets on the golden input texts.

Measures, in one process on one core:

* ``scan_input`` throughput (texts/s) and p50/p99 latency (µs) over the golden inputs,
  repeated to about 20,000 texts;
* detect-secrets' throughput with its default plugins, calling
  ``SecretsCollection().scan_file(path)`` on the same texts written to temporary files
  (file writing is not timed);
* the throughput ratio and the recall of both on the golden cases whose expected
  categories include a secret category (all splits; detect-secrets is credited with any
  finding in the file, the guardrail only with a block naming every expected secret
  category).

Targets (issue 7, replacing issue 2's ≥ 20,000 texts/s and ≥ 40×): the input guardrail's
throughput ≥ 100× detect-secrets' in the same run, at higher secret recall. Both run in
this one process, so the ratio holds on a busy machine where absolute numbers do not
(the table's header records the machine and its load).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from evals.benchmarks import BenchResult, percentile
from evals.datasets import GOLDEN_DIR, load_cases
from pipeline.domain.guardrails import SCANNER
from pipeline.domain.models import SECRET_CATEGORIES
from pipeline.handlers.composition import offline_services

#: The input guardrail of the composition root (the Lambdas', the CLI's and the eval's).
scan_input = offline_services().input_guard

AREA = "guardrails"
TARGET_TEXTS = 20_000
RATIO_TARGET = 100.0  # issue 7: >= 100x detect-secrets' throughput, same run
DETECT_SECRETS_SAMPLE = 400  # detect-secrets runs at a few hundred texts/s: a sample keeps this < 60 s


def _golden_texts() -> tuple[list[str], list[tuple[str, set[str]]]]:
    cases = load_cases(GOLDEN_DIR / "guardrails_input.jsonl")
    texts = [c.input for c in cases]
    secret_cases = [
        (c.input, set(c.expected["categories"]) & set(SECRET_CATEGORIES))
        for c in cases
        if set(c.expected["categories"]) & set(SECRET_CATEGORIES)
    ]
    return texts, secret_cases


def _guardrail_catches(text: str, expected: set[str]) -> bool:
    verdict = scan_input(text)
    return verdict.blocked and expected <= set(verdict.categories)


def run() -> list[BenchResult]:
    """Run the benchmark and return its measurements."""
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:  # pragma: no cover - the bench group installs it
        SecretsCollection = None  # noqa: N806

    texts, secret_cases = _golden_texts()
    workload = (texts * (TARGET_TEXTS // len(texts) + 1))[:TARGET_TEXTS]

    for text in texts[:200]:  # warm-up: regex caches, normalisation tables
        scan_input(text)
    samples = []
    perf = time.perf_counter
    start_all, cpu_start = perf(), time.process_time()
    for text in workload:
        start = perf()
        scan_input(text)
        samples.append(perf() - start)
    elapsed = perf() - start_all
    # Below 100%, other processes took the core part of the time (the ratio still holds).
    cpu_share = (time.process_time() - cpu_start) / elapsed
    throughput = len(workload) / elapsed
    ours_recall = sum(_guardrail_catches(t, e) for t, e in secret_cases) / len(secret_cases)

    results = [
        BenchResult(AREA, "input guardrail throughput", round(throughput), "texts/s", "", None,
                    f"{len(workload)} golden inputs, one process, "
                    + ("RE2 set + supersets" if SCANNER.engine.use_re2 else "pure-Python path")
                    + f"; CPU share {cpu_share:.0%}; the target is the ratio to detect-secrets below"),
        BenchResult(AREA, "input guardrail p50", round(percentile(samples, 50) * 1e6, 1), "µs"),
        BenchResult(AREA, "input guardrail p99", round(percentile(samples, 99) * 1e6, 1), "µs"),
        BenchResult(AREA, "input guardrail secret recall", round(ours_recall, 4), "ratio", "> detect-secrets",
                    None, f"{len(secret_cases)} golden cases with a secret category"),
    ]
    if SecretsCollection is None:
        results.append(BenchResult(AREA, "detect-secrets", float("nan"), "", detail="not installed"))
        return results

    with tempfile.TemporaryDirectory() as tmp, default_settings():
        sample = (texts * (DETECT_SECRETS_SAMPLE // len(texts) + 1))[:DETECT_SECRETS_SAMPLE]
        paths = []
        for index, text in enumerate(sample):
            path = Path(tmp) / f"sample_{index}.txt"
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        start = perf()
        for path in paths:
            SecretsCollection().scan_file(path)
        ds_throughput = len(paths) / (perf() - start)

        caught = 0
        for index, (text, _expected) in enumerate(secret_cases):
            path = Path(tmp) / f"secret_{index}.txt"
            path.write_text(text, encoding="utf-8")
            collection = SecretsCollection()
            collection.scan_file(str(path))
            caught += any(True for _ in collection)
        ds_recall = caught / len(secret_cases)

    ratio = throughput / ds_throughput
    results += [
        BenchResult(AREA, "detect-secrets throughput", round(ds_throughput), "texts/s",
                    detail=f"SecretsCollection().scan_file, default plugins, {len(paths)} files"),
        # Issue 7 raised the target from 40x to 100x detect-secrets, at higher recall.
        BenchResult(AREA, "throughput ratio vs detect-secrets", round(ratio, 1), "x", f">= {RATIO_TARGET:g}",
                    ratio >= RATIO_TARGET, "issue 7: >= 100x detect-secrets in the same bench run"),
        BenchResult(AREA, "detect-secrets secret recall", round(ds_recall, 4), "ratio",
                    detail="any finding in the file counts"),
        BenchResult(AREA, "recall advantage over detect-secrets", round(ours_recall - ds_recall, 4), "ratio",
                    "> 0", ours_recall > ds_recall),
    ]
    return results


if __name__ == "__main__":  # pragma: no cover
    for result in run():
        print(f"{result.name:40s} {result.value:>12} {result.unit:8s} {result.target:18s} {result.meets_target} {result.detail}")
