"""Batch-CLI and handler benchmarks: triage and review throughput, handler import time.

* Triage (input guardrail + intent, as ``python -m pipeline triage`` does per line):
  queries/s in one process and p50/p99 per query, over the golden intent queries.
  Target >= 2,000 queries/s.
* Review (output guardrail + quality validation, as ``python -m pipeline review``):
  responses/s over the golden quality cases (or built-in samples until they exist).
  Target >= 300 responses/s.
* Import time of each handler module, measured in a fresh interpreter with
  ``python -X importtime -c "import pipeline.handlers.X"``; also reports whether pandas,
  jinja2, scikit-learn or numpy got imported. Target < 400 ms (``analyze_feedback`` is
  exempt from the target by the issue, but measured too).

Run: ``python -m evals.benchmarks`` (all benchmarks) or ``python -m evals.benchmarks.triage``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evals.benchmarks import BenchResult, percentile

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "golden_sets"
HANDLERS = (
    "capture_query",
    "detect_intent",
    "generate_response",
    "validate_quality",
    "collect_feedback",
    "feedback_api",
    "sessions_api",
    "analyze_feedback",
)
HEAVY_MODULES = ("pandas", "jinja2", "sklearn", "numpy")
IMPORT_TARGET_MS = 400.0

_SAMPLE_REVIEWS = (
    {
        "query": "how do I list my s3 buckets",
        "response": "Run:\n\n```bash\naws s3 ls\n```\n\nThis lists every bucket your credentials can see.",
    },
    {
        "query": "my lambda times out after 3 seconds",
        "response": "The default timeout is 3 seconds. Raise it:\n\n1. Open the function.\n"
        "2. Choose **Configuration** > **General configuration**.\n3. Set **Timeout** to 30 seconds.\n\n"
        "```bash\naws lambda update-function-configuration --function-name my-fn --timeout 30\n```",
    },
    {
        "query": "why was I charged for NAT gateway",
        "response": "NAT gateways bill per hour and per GB processed. Check Cost Explorer, group by usage type, "
        "and look for `NatGateway-Hours` and `NatGateway-Bytes`.",
    },
    {"query": "rds connection refused", "response": "TODO: [INSERT ANSWER]"},
)


def _texts(path: Path, field: str | None = None) -> list[Any]:
    if not path.exists():
        return []
    values = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                value = json.loads(line)["input"]
                values.append(
                    value
                    if field is None
                    else value.get(field)
                    if isinstance(value, dict)
                    else None
                )
    return [v for v in values if v]


def _throughput(
    area: str,
    name: str,
    unit: str,
    process: Callable[[dict[str, Any]], Any],
    records: Sequence[dict[str, Any]],
    *,
    target: float,
    rounds: int,
) -> list[BenchResult]:
    for record in records[: min(50, len(records))]:
        process(record)  # warm caches (regexes, botocore models) as a long batch run would
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(rounds):
        for record in records:
            began = time.perf_counter()
            process(record)
            samples.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    rate = len(samples) / elapsed if elapsed else float("inf")
    detail = f"{len(records)} records x {rounds} rounds, one process"
    return [
        BenchResult(
            area,
            f"{name} throughput",
            round(rate, 1),
            unit,
            f">= {target:,.0f}",
            rate >= target,
            detail,
        ),
        BenchResult(
            area,
            f"{name} p50 per record",
            round(percentile(samples, 50) * 1000, 3),
            "ms",
            detail=detail,
        ),
        BenchResult(
            area,
            f"{name} p99 per record",
            round(percentile(samples, 99) * 1000, 3),
            "ms",
            detail=detail,
        ),
    ]


def bench_triage(rounds: int = 2) -> list[BenchResult]:
    """Triage throughput and per-query latency over the golden intent queries."""
    from pipeline.cli import make_triage

    texts = _texts(GOLDEN / "intent.jsonl") + _texts(GOLDEN / "out_of_scope.jsonl")
    if not texts:
        texts = ["my ec2 instance refuses ssh", "why was I billed twice", "s3 access denied on put"]
    records = [{"id": str(i), "text": t} for i, t in enumerate(texts) if isinstance(t, str)]
    return _throughput(
        "triage", "triage", "queries/s", make_triage(), records, target=2000, rounds=rounds
    )


def bench_review(rounds: int = 2) -> list[BenchResult]:
    """Review throughput over the golden quality cases (built-in samples when absent)."""
    from pipeline.cli import make_review

    records = []
    for path in sorted(GOLDEN.glob("quality*.jsonl")):
        for value in _texts(path):
            if isinstance(value, dict) and isinstance(value.get("response"), str):
                records.append(
                    {
                        "id": str(len(records)),
                        "query": str(value.get("query", "")),
                        "response": value["response"],
                    }
                )
    if not records:
        records = [{"id": str(i), **r} for i, r in enumerate(_SAMPLE_REVIEWS * 25)]
    return _throughput(
        "review", "review", "responses/s", make_review(), records, target=300, rounds=rounds
    )


def measure_import(module: str) -> tuple[float, list[str]]:
    """Cumulative import time (ms) of ``module`` in a fresh interpreter, and heavy modules loaded."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    cumulative_us = 0
    loaded: set[str] = set()
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line[len("import time:") :].split("|")]
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        name = parts[2]
        loaded.add(name.split(".")[0])
        if name == module:
            cumulative_us = int(parts[1])
    return cumulative_us / 1000.0, sorted(m for m in HEAVY_MODULES if m in loaded)


def bench_handler_imports(handlers: Sequence[str] = HANDLERS) -> list[BenchResult]:
    """Import time of every handler module; the target excludes analyze_feedback."""
    results = []
    for handler in handlers:
        ms, heavy = measure_import(f"pipeline.handlers.{handler}")
        exempt = handler == "analyze_feedback"
        meets = None if exempt else (ms < IMPORT_TARGET_MS and not heavy)
        detail = ("heavy: " + ", ".join(heavy)) if heavy else "no pandas/jinja2/sklearn/numpy"
        results.append(
            BenchResult(
                "handlers",
                f"import {handler}",
                round(ms, 1),
                "ms",
                "" if exempt else f"< {IMPORT_TARGET_MS:.0f}",
                meets,
                detail,
            )
        )
    return results


_COLD_START = """
import time
start = time.perf_counter()
from pipeline.handlers import composition
services = composition.services(composition.Settings())
services.capture, services.intent, services.validator
services.generator.templates()
print((time.perf_counter() - start) * 1000.0)
"""


def bench_cold_start() -> list[BenchResult]:
    """Import plus first build of the offline services (what a cold start pays on its first call).

    Handler modules defer the domain services to their first invocation, so their import
    time alone understates a cold start; this number shows the rest.
    """
    result = subprocess.run(
        [sys.executable, "-c", _COLD_START], capture_output=True, text=True, cwd=ROOT, check=True
    )
    ms = float(result.stdout.strip().splitlines()[-1])
    return [
        BenchResult(
            "handlers",
            "cold start: import + build services",
            round(ms, 1),
            "ms",
            detail="memory stores, offline model and NLP; boto3 not included",
        )
    ]


_FIRST_INVOCATION = """
import json, time
start = time.perf_counter()
from pipeline.handlers import capture_query
imported = time.perf_counter()
event = json.load(open("tests/events/workflow_input.json"))
capture_query.handler(event, None)
print((imported - start) * 1000.0, (time.perf_counter() - start) * 1000.0)
"""


def bench_first_invocation() -> list[BenchResult]:
    """Import of a handler module plus its first invocation, in a fresh interpreter.

    The handlers build the Powertools tracer (aws-xray-sdk) and the domain services on their
    first call, not at import: this number shows what a cold start pays in total.
    """
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_INVOCATION], capture_output=True, text=True, cwd=ROOT, check=True
    )
    import_ms, total_ms = (float(v) for v in result.stdout.strip().splitlines()[-1].split())
    return [
        BenchResult(
            "handlers",
            "cold start: import + first call (capture_query)",
            round(total_ms, 1),
            "ms",
            detail=f"import {import_ms:.0f} ms; the first call builds the tracer (aws-xray-sdk), "
            "logger and services; memory stores, offline defaults, outside Lambda",
        )
    ]


def run() -> list[BenchResult]:
    """Every benchmark of this module."""
    return [*bench_triage(), *bench_review(), *bench_handler_imports(), *bench_cold_start(),
            *bench_first_invocation()]


if __name__ == "__main__":
    for r in run():
        mark = {True: "ok", False: "MISS", None: ""}[r.meets_target]
        print(f"{r.area:9} {r.name:36} {r.value:>10} {r.unit:12} {r.target:>9} {mark:4} {r.detail}")
