"""``python -m evals.benchmarks [--only NAME ...] [--json FILE]``: run the benchmarks.

Prints one table (area, measurement, value, target, verdict) headed by the machine and
settings it ran on, and writes the same numbers as JSON for later comparison.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

from evals.benchmarks import BenchResult

MODULES = ("guardrails", "adversarial", "intent", "prefilter", "triage", "workflow", "harness")
DEFAULT_JSON = Path("reports/out/bench.json")


def load_average() -> str:
    """The 1/5/15-minute load averages: other work on the machine slows every measurement."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = load_average()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "process": "one process, one thread",
        "load average (1/5/15 min) at start": load,
    }


def render_table(results: list[BenchResult]) -> str:
    header = ("area", "measurement", "value", "unit", "target", "ok")
    rows = [header] + [
        (r.area, r.name, f"{r.value:,.2f}", r.unit, r.target or "-",
         {True: "yes", False: "NO", None: "-"}[r.meets_target])
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.benchmarks", description=__doc__)
    parser.add_argument("--only", action="append", choices=MODULES, help="run only these benchmark modules")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write results (default {DEFAULT_JSON})")
    args = parser.parse_args(argv)

    info = machine_info()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    results: list[BenchResult] = []
    failures: list[str] = []
    for name in args.only or MODULES:
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"evals.benchmarks.{name}")
            results.extend(module.run())
        except Exception as exc:  # a broken benchmark is reported, the others still run
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
        print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    info["load average (1/5/15 min) at end"] = load_average()
    print(f"load average (1/5/15 min) at end: {info['load average (1/5/15 min) at end']}")
    print(render_table(results))
    for failure in failures:
        print(f"benchmark failed: {failure}", file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": info, "results": [asdict(r) for r in results],
                                     "failures": failures}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
