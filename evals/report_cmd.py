"""``python -m evals report RUN.json [--against BASE.json] [--out DIR]``: rebuild a run's
report from run records alone.

Reads two run records (no golden set, no pipeline, no model): the run, and what it is
compared with: ``--against`` any other run record (any day, any machine), or by default
the committed baselines (``evals/baselines/<suite>.json``, themselves run records). It
compares them case by case and metric by metric, applies the gates (``evals/gates.toml``)
and writes ``index.html`` and ``junit.xml`` to ``--out`` (default: beside RUN.json, or a
``vs-<base run id>/`` folder there with ``--against``), then prints the terminal summary.
The run's own ``run.json`` is never rewritten.

Exit codes: 0 every gate passed, 1 a gate failed, 2 a record or the gates file is
malformed or of another schema version (the message names the file and the field).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from evals import baseline as baseline_mod
from evals.compare import SuiteComparison, compare_suite
from evals.exits import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK, parse_args
from evals.gates import GATES_FILE, GateConfigError, evaluate, evaluate_targets, load_gates
from evals.junit import write_junit
from evals.models import baseline_model_warnings
from evals.record import RecordError, load_record
from evals.selection import restrict_baseline
from evals.summary import print_summary, rel


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals report",
        description="Rebuild index.html, junit.xml and the summary of a run from run records alone, "
                    "compared with another run (--against) or the committed baselines.")
    parser.add_argument("run", type=Path, metavar="RUN.json", help="the run record (reports/out/<run-id>/run.json)")
    parser.add_argument("--against", type=Path, metavar="BASE.json",
                        help="compare with this run record (default: the committed baselines)")
    parser.add_argument("--baseline-dir", type=Path, default=baseline_mod.BASELINE_DIR,
                        help="baselines directory when --against is not given (default evals/baselines)")
    parser.add_argument("--out", type=Path, help="where index.html and junit.xml go (default: beside RUN.json; "
                                                 "with --against, RUN.json's folder/vs-<base run id>)")
    parser.add_argument("--gates", type=Path, default=GATES_FILE, help="gates file (default evals/gates.toml)")
    parser.add_argument("--no-html", action="store_true", help="skip index.html")
    return parser


def comparisons_for(record: dict[str, Any], against: dict[str, Any] | None, baseline_dir: Path,
                    alpha: float) -> tuple[dict[str, SuiteComparison], dict[str, dict[str, Any] | None]]:
    """Each suite of ``record`` against ``against`` (or its committed baseline)."""
    partial = bool(record.get("selection"))
    comparisons: dict[str, SuiteComparison] = {}
    bases: dict[str, dict[str, Any] | None] = {}
    for name, suite in record["suites"].items():
        if against is not None:
            base = against if name in against["suites"] else None
        else:
            base = baseline_mod.load_baseline(name, baseline_dir)
        bases[name] = base
        base_suite = baseline_mod.baseline_suite(base, name)
        if partial:
            base_suite = restrict_baseline(base_suite, {c["id"] for c in suite["cases"]})
        comparisons[name] = compare_suite(name, suite, base_suite, alpha=alpha,
                                          baseline_run_id=base.get("run_id") if base else None)
    return comparisons, bases


def main(argv: Sequence[str] | None = None, *, out: TextIO, err: TextIO) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    try:
        record = load_record(args.run)
        against = load_record(args.against) if args.against else None
        gates = load_gates(args.gates)
        comparisons, bases = comparisons_for(record, against, args.baseline_dir, gates.alpha)
        known_flags = {name: baseline_mod.flagged_cases(bases[name], name) for name in record["suites"]}
        gate_results = evaluate(gates, record, comparisons, known_flags)
    except (RecordError, GateConfigError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    targets = evaluate_targets(gates, record)
    view = {k: v for k, v in record.items() if k != "verdict"}
    if against is not None:
        warnings = baseline_model_warnings(record, bases, list(record["suites"]))
        view["warnings"] = [*record.get("warnings", []), *warnings]
    view["verdict"] = {
        "passed": not any(g.failed for g in gate_results),
        "gates": [g.to_dict() for g in gate_results], "targets": [t.to_dict() for t in targets],
        "alpha": gates.alpha,
        "comparison": {k: {"counts": v.counts, "baseline_run_id": v.baseline_run_id,
                           "metrics": {m: d.to_dict() for m, d in v.metrics.items()}}
                       for k, v in comparisons.items()}}
    out_dir = args.out or (args.run.parent / f"vs-{against['run_id']}" if against is not None else args.run.parent)
    write_junit(out_dir / "junit.xml", view, gate_results, comparisons)
    report_path = out_dir / "junit.xml"
    if not args.no_html:
        from evals.report import write_report

        report_path = write_report(view, comparisons, gate_results, out_dir / "index.html")
    what = (f"run {record['run_id']} ({rel(args.run)}) against "
            + (f"run {against['run_id']} ({rel(args.against)})" if against is not None
               else f"the baselines in {rel(args.baseline_dir)}"))
    print(f"rebuilt from records: {what}", file=out)
    print_summary(out, view, comparisons, gate_results, report_path,
                  float((record.get("timings") or {}).get("wall_s") or 0.0), targets, alpha=gates.alpha)
    return EXIT_GATE_FAILED if view["verdict"]["passed"] is False else EXIT_OK
