"""The one-screen terminal summary of a run, built from its run record and comparisons.

``python -m evals`` prints it after a run and ``python -m evals report RUN.json`` rebuilds it
from records alone. Lines are assembled from whole items: a number is never cut mid-digit
(an item that does not fit is dropped and counted: ``… +3 more``).

Example:
    >>> fit(["accuracy=0.863", "macro_f1=0.865", "ece=0.021"], 34)
    'accuracy=0.863, macro_f1=0.865, …'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from evals.compare import SuiteComparison, clip, expected_vs_got
from evals.gates import GateResult, multiplicity_note

MAX_SUMMARY_GATES, MAX_SUMMARY_REGRESSIONS = 12, 10
HEADLINE_WIDTH = 72


def fit(items: Sequence[str], width: int, sep: str = ", ") -> str:
    """Join whole items up to ``width`` characters; an ellipsis says more were left out."""
    out = ""
    for i, item in enumerate(items):
        candidate = item if not out else f"{out}{sep}{item}"
        more = i + 1 < len(items)
        if len(candidate) + (len(sep) + 1 if more else 0) > width:
            return f"{out}{sep}…" if out else "…"
        out = candidate
    return out


def model_label(model: dict[str, Any] | None) -> str:
    from evals.report import model_label as label

    return label(model)


def rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def generalisation_lines(record: dict[str, Any]) -> list[str]:
    """One line per suite with blind cases: seen vs blind on the headline metrics and the gap."""
    lines = []
    for name, suite in record["suites"].items():
        split = (suite.get("details") or {}).get("by_split")
        if not split:
            continue
        parts = []
        for metric in split.get("headline", ["pass_rate"])[:4]:
            dev, blind, gap = (split[k].get(metric, {}).get("value") for k in ("dev", "blind", "gap"))
            if dev is None or blind is None:
                continue
            parts.append(f"{metric} {dev:.3f}→{blind:.3f}" + (f" (gap {gap:+.3f})" if gap is not None else ""))
        counts = split.get("counts", {})
        lines.append(f"  {name:<17} dev {counts.get('dev', 0):>5} / blind {counts.get('blind', 0):>5}  "
                     + fit(parts, 110, "; "))
    return lines


def gate_line(g: GateResult) -> str:
    if g.cases and g.kind in ("zero_tolerance", "must_not_regress", "max_regressions"):
        shown = ", ".join(g.cases[:5])
        return f"{len(g.cases)} case(s): {shown}" + (f" and {len(g.cases) - 5} more" if len(g.cases) > 5 else "")
    detail = g.detail
    return clip(detail, 140)


def selection_line(selection: dict[str, Any] | None) -> str | None:
    """What a developer-loop run ran, or None for a whole run."""
    if not selection:
        return None
    how = []
    for key, label in (("cases", "--case"), ("tags", "--tag"), ("splits", "--split")):
        if selection.get(key):
            how.append(f"{label} {','.join(selection[key][:5])}" + ("…" if len(selection[key]) > 5 else ""))
    if selection.get("limit") is not None:
        how.append(f"--limit {selection['limit']}")
    if selection.get("rerun_failed"):
        how.append(f"--rerun-failed (from {selection['rerun_failed']})")
    selected, available = selection.get("selected") or {}, selection.get("available") or {}
    counts = ", ".join(f"{n} {selected.get(n, 0):,}/{available.get(n, 0):,}" for n in selected)
    return (f"PARTIAL RUN ({' '.join(how)}): {counts} cases. Gates that need a whole suite (floors, "
            "metric comparisons, targets) are skipped, not passed; this run cannot become a baseline.")


def print_summary(out: TextIO, record: dict[str, Any], comparisons: dict[str, SuiteComparison],
                  gates: Sequence[GateResult], report_path: Path | None, wall: float,
                  targets: Sequence[GateResult] = (), *, alpha: float = 0.05) -> None:
    """Print the summary: suites, usage, generalisation, agreement, targets, gates, regressions."""
    print("", file=out)
    print(f"run {record['run_id']}  ({wall:.1f} s, model: {model_label(record.get('model'))})", file=out)
    partial = selection_line(record.get("selection"))
    if partial:
        print(partial, file=out)
    print(f"{'suite':<18} {'cases':>6} {'pass':>7} {'regr':>5} {'fixed':>5} {'chg':>5}  headline", file=out)
    for name, suite in record["suites"].items():
        comp = comparisons.get(name)
        pr = suite["metrics"].get("pass_rate", {}).get("value")
        headline = fit([f"{k}={v['value']:.3f}" for k, v in suite["metrics"].items()
                        if k not in ("pass_rate", "error_rate") and not k.startswith("latency")
                        and v.get("value") is not None], HEADLINE_WIDTH)
        c = comp.counts if comp else {}
        base = "" if comp and comp.has_baseline else " (no baseline)"
        print(f"{name:<18} {len(suite['cases']):>6} {pr if pr is None else f'{pr:.3f}':>7} "
              f"{c.get('regressed', 0) + c.get('missing', 0):>5} {c.get('fixed', 0):>5} {c.get('changed', 0):>5}  "
              f"{headline}{base}", file=out)
    usage = (record.get("model") or {}).get("usage") or {}
    if usage.get("calls"):
        print(f"model {record['model'].get('id')}: {usage['calls']:,} calls, {usage['input_tokens']:,} tokens in, "
              f"{usage['output_tokens']:,} out, ${usage['cost_usd']:.4f}", file=out)
    general = generalisation_lines(record)
    if general:
        print("\ngeneralisation (seen splits → blind split; gap = how much worse blind is):", file=out)
        for line in general:
            print(line, file=out)
    agreement = record.get("agreement") or {}
    if agreement.get("sets"):
        print("\nlabel agreement (blind relabelling, Cohen's kappa): " + fit([
            f"{k}.{f}={v['kappa']:.2f}" for k, fields in agreement["sets"].items() for f, v in fields.items()
            if v.get("kappa") is not None], 160), file=out)
    decided_targets = [t for t in targets if not t.skipped]
    if targets and not decided_targets:
        print(f"\ntargets: {len(targets)} skipped (partial run)", file=out)
    elif decided_targets:
        missed = [t for t in decided_targets if not t.passed]
        print(f"\ntargets: {len(decided_targets) - len(missed)} of {len(decided_targets)} met (reported, not gated)",
              file=out)
        for t in missed[:MAX_SUMMARY_GATES]:
            print(f"  · missed {t.name}: {gate_line(t)}", file=out)
    for warning in record.get("warnings") or ():
        print(f"\nwarning: {warning}", file=out)
    note = multiplicity_note(gates, alpha)
    if note:
        print(f"\nnote: {note}", file=out)
    decided = [g for g in gates if not g.skipped]
    skipped = len(gates) - len(decided)
    failed = [g for g in decided if not g.passed]
    tail = f" ({skipped} skipped: partial run)" if skipped else ""
    print("", file=out)
    if failed:
        print(f"FAILED: {len(failed)} of {len(decided)} gates{tail}", file=out)
        for g in failed[:MAX_SUMMARY_GATES]:
            print(f"  ✗ {g.name}: {gate_line(g)}", file=out)
        if len(failed) > MAX_SUMMARY_GATES:
            print(f"  … and {len(failed) - MAX_SUMMARY_GATES} more (see the report)", file=out)
    else:
        print(f"PASSED: all {len(decided)} gates{tail}", file=out)
    regressions = [(name, ch) for name, comp in comparisons.items() for ch in comp.regressions()]
    if regressions:
        print(f"\nregressions ({len(regressions)}; first {min(len(regressions), MAX_SUMMARY_REGRESSIONS)}):", file=out)
        for name, ch in regressions[:MAX_SUMMARY_REGRESSIONS]:
            what = ("missing from this run" if ch.status == "missing"
                    else expected_vs_got(ch.expected, ch.output, limit=90) or clip(ch.detail, 90) or ch.error or "")
            print(f"  {name:<17} {ch.id:<28} {what}", file=out)
    if report_path is not None:
        label = {".html": "report", ".json": "record", ".xml": "junit"}.get(report_path.suffix, "output")
        print(f"\n{label}: {rel(report_path)}", file=out)
