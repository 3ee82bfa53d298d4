"""The HTML report: one self-contained file per run, charts as hand-made inline SVG.

``write_report`` renders ``reports/templates/report.html.j2`` from a run record, its
baseline comparisons and the gate results. No network resource is referenced (no
external script, style, font or image), so the file reads offline and in CI artifact
viewers. Regressions come first; per-case listings are capped so that a 100,000-case run
still renders in seconds (the counts are always exact).

Example:
    >>> svg = line_chart([("acc", [(0.0, 0.5), (1.0, 1.0)])], x_label="x", y_label="y")
    >>> svg.startswith("<svg")
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from evals.compare import SuiteComparison, expected_vs_got
from evals.gates import GateResult, multiplicity_note
from evals.record import REPO_ROOT
from evals.report_format import (
    answer_text,
    fmt_ci,
    fmt_delta,
    fmt_ms,
    fmt_p,
    fmt_value,
    markdown,
    metric_kind,
    readable_table,
    render_input,
    render_output,
)

TEMPLATES_DIR = REPO_ROOT / "reports" / "templates"
MAX_REGRESSIONS = 200
MAX_CASES_PER_LIST = 100
_PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df")


# ---------------------------------------------------------------------------
# SVG charts
# ---------------------------------------------------------------------------


def _num(x: float) -> str:
    return f"{x:.1f}"


def _tick(v: float) -> str:
    """An axis tick for people: ``1,000`` and ``0.05``, never ``1e+03``."""
    return f"{v:,.0f}" if v >= 1 else f"{v:.6f}".rstrip("0").rstrip(".")


def heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]], *, title: str = "") -> Markup:
    """A confusion-matrix heatmap; cell colour is the share of its row, the count is printed."""
    n = len(labels)
    if n == 0:
        return Markup("")
    cell = 34 if n <= 12 else max(14, 420 // n)
    longest = max(len(label) for label in labels)
    # Room for the longest label in full: ~6.2 px per character at 11 px; column labels are
    # rotated by 50 degrees, so they need sin(50°) of that above and cos(50°) to the right.
    left = 30 + math.ceil(6.2 * longest)
    top = 30 + math.ceil(6.2 * longest * 0.77)
    width, height = left + n * cell + math.ceil(6.2 * longest * 0.65) + 20, top + n * cell + 34
    parts = [f'<svg class="chart heatmap" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title or "Confusion matrix")}</title>']
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, count in enumerate(row):
            share = count / total
            if i == j:
                fill = f"rgba(26,127,55,{0.15 + 0.85 * share:.3f})" if count else "#f6f8fa"
            else:
                fill = f"rgba(209,36,47,{0.1 + 0.9 * share:.3f})" if count else "#f6f8fa"
            x, y = left + j * cell, top + i * cell
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{fill}">'
                         f'<title>{escape(labels[i])} → {escape(labels[j])}: {count}</title></rect>')
            if count and cell >= 20:
                parts.append(f'<text x="{x + cell / 2 - 0.5:.1f}" y="{y + cell / 2 + 4:.1f}" font-size="10" '
                             f'text-anchor="middle">{count}</text>')
    for i, label in enumerate(labels):
        short = escape(label)
        parts.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{short}</text>')
        cx = left + i * cell + cell / 2
        parts.append(f'<text x="{cx:.1f}" y="{top - 6}" font-size="11" transform="rotate(-50 {cx:.1f} {top - 6})">'
                     f'{short}</text>')
    parts.append(f'<text x="{left + n * cell / 2:.1f}" y="14" font-size="12" font-weight="bold" '
                 f'text-anchor="middle">predicted →</text>'
                 f'<text x="14" y="{top + n * cell / 2:.1f}" font-size="12" font-weight="bold" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + n * cell / 2:.1f})">labelled (golden) →</text>'
                 f'<text x="{left}" y="{height - 10}" font-size="11" fill="#57606a">green: correct · red: confused · '
                 f'darker: larger share of the row · number: cases</text></svg>')
    return Markup("".join(parts))


def line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], *, x_label: str, y_label: str,
               diagonal: bool = False, bars: Sequence[tuple[float, float, float]] = (),
               marker: tuple[float, float] | None = None, width: int = 420, height: int = 300,
               x_max: float = 1.0, y_min: float = 0.0, title: str = "") -> Markup:
    """A unit-square line chart (reliability diagram, coverage–accuracy curve).

    Args:
        series: ``(name, [(x, y)])`` lines; points with a None/NaN coordinate are skipped.
        x_label: Axis label.
        y_label: Axis label.
        diagonal: Draw the y = x reference line (perfect calibration).
        bars: ``(x_low, x_high, y)`` bars drawn under the lines (per-bin accuracy).
        marker: A highlighted point (the chosen operating point).
        width: Pixels.
        height: Pixels.
        x_max: Upper end of the x axis.
        y_min: Lower end of the y axis.
        title: Accessible title.
    """
    ml, mr, mt, mb = 48, 14, 14, 40
    pw, ph = width - ml - mr, height - mt - mb

    def sx(x: float) -> float:
        return ml + pw * (x / x_max)

    def sy(y: float) -> float:
        return mt + ph * (1 - (y - y_min) / (1 - y_min))

    parts = [f'<svg class="chart line" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title or y_label)}</title>',
             f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fff" stroke="#d0d7de"/>']
    y_digits = 1 if round((1 - y_min) * 10, 6) % 5 == 0 else 2
    for k in range(6):
        v = y_min + (1 - y_min) * k / 5
        y = sy(v)
        parts.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{_num(y)}" y2="{_num(y)}" stroke="#eaeef2"/>'
                     f'<text x="{ml - 6}" y="{_num(y + 4)}" font-size="10" text-anchor="end">{v:.{y_digits}f}</text>')
        xv = x_max * k / 5
        parts.append(f'<line x1="{_num(sx(xv))}" x2="{_num(sx(xv))}" y1="{mt + ph}" y2="{mt + ph + 4}" stroke="#8c959f"/>'
                     f'<text x="{_num(sx(xv))}" y="{mt + ph + 15}" font-size="10" text-anchor="middle">{xv:.1f}</text>')
    for lo, hi, y in bars:
        if y is None or (isinstance(y, float) and math.isnan(y)):
            continue
        parts.append(f'<rect x="{_num(sx(lo) + 1)}" y="{_num(sy(y))}" width="{_num(sx(hi) - sx(lo) - 2)}" '
                     f'height="{_num(sy(y_min) - sy(y))}" fill="#ddf4ff" stroke="#54aeff"/>')
    if diagonal:
        parts.append(f'<line x1="{_num(sx(0))}" y1="{_num(sy(max(0.0, y_min)))}" x2="{_num(sx(1))}" y2="{_num(sy(1))}" '
                     f'stroke="#8c959f" stroke-dasharray="4 3"/>')
    for idx, (name, points) in enumerate(series):
        good = [(x, y) for x, y in points if x is not None and y is not None
                and not (isinstance(y, float) and math.isnan(y)) and not (isinstance(x, float) and math.isnan(x))]
        if not good:
            continue
        colour = _PALETTE[idx % len(_PALETTE)]
        path = " ".join(f"{'M' if i == 0 else 'L'}{_num(sx(x))},{_num(sy(max(y_min, y)))}" for i, (x, y) in enumerate(good))
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in good:
            parts.append(f'<circle cx="{_num(sx(x))}" cy="{_num(sy(max(y_min, y)))}" r="2.5" fill="{colour}"/>')
        parts.append(f'<text x="{ml + 8}" y="{mt + 16 + 14 * idx}" font-size="11" fill="{colour}">{escape(name)}</text>')
    if marker is not None and marker[0] is not None and marker[1] is not None:
        parts.append(f'<circle cx="{_num(sx(marker[0]))}" cy="{_num(sy(max(y_min, marker[1])))}" r="6" fill="none" '
                     f'stroke="#d1242f" stroke-width="2"><title>operating point</title></circle>')
    parts.append(f'<text x="{ml + pw / 2:.1f}" y="{height - 6}" font-size="11" text-anchor="middle">{escape(x_label)}</text>'
                 f'<text x="12" y="{mt + ph / 2:.1f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {mt + ph / 2:.1f})">{escape(y_label)}</text></svg>')
    return Markup("".join(parts))


def histogram(bins: Sequence[dict[str, float]], *, x_label: str = "latency per case (ms, log scale)",
              width: int = 440, height: int = 200, marks: dict[str, float] | None = None) -> Markup:
    """Bars of ``[{"low", "high", "count"}]`` on a log x axis, with optional p50/p95/p99 marks."""
    if not bins:
        return Markup("")
    ml, mr, mt, mb = 46, 12, 18, 38
    pw, ph = width - ml - mr, height - mt - mb
    lo = math.log10(max(bins[0]["low"], 1e-6))
    hi = math.log10(max(bins[-1]["high"], bins[0]["low"] * 1.01, 1e-6))
    span = (hi - lo) or 1.0
    peak = max(b["count"] for b in bins) or 1

    def sx(v: float) -> float:
        return ml + pw * (math.log10(max(v, 1e-6)) - lo) / span

    parts = [f'<svg class="chart histogram" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}"><title>Latency distribution</title>',
             f'<line x1="{ml}" x2="{ml + pw}" y1="{mt + ph}" y2="{mt + ph}" stroke="#8c959f"/>',
             f'<line x1="{ml}" x2="{ml}" y1="{mt}" y2="{mt + ph}" stroke="#8c959f"/>',
             f'<text x="{ml - 4}" y="{mt + 4}" font-size="10" text-anchor="end">{int(peak)}</text>',
             f'<text x="{ml - 4}" y="{mt + ph}" font-size="10" text-anchor="end">0</text>',
             f'<text x="12" y="{mt + ph / 2:.1f}" font-size="11" text-anchor="middle" '
             f'transform="rotate(-90 12 {mt + ph / 2:.1f})">cases</text>']
    for k in range(math.floor(lo), math.ceil(hi) + 1):
        for mult in (1, 2, 5):
            v = mult * 10.0 ** k
            if lo - 1e-9 <= math.log10(v) <= hi + 1e-9:
                x = sx(v)
                parts.append(f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{mt + ph}" y2="{mt + ph + 4}" stroke="#8c959f"/>'
                             f'<text x="{_num(x)}" y="{mt + ph + 15}" font-size="10" text-anchor="middle">'
                             f'{_tick(v)}</text>')
    for b in bins:
        h = ph * b["count"] / peak
        x0, x1 = sx(b["low"]), sx(b["high"])
        parts.append(f'<rect x="{_num(x0)}" y="{_num(mt + ph - h)}" width="{_num(max(1.0, x1 - x0 - 1))}" '
                     f'height="{_num(h)}" fill="#54aeff"><title>{fmt_ms(b["low"])} – {fmt_ms(b["high"])}: '
                     f'{b["count"]:,} cases</title></rect>')
    for idx, (label, v) in enumerate((marks or {}).items()):
        if v is None:
            continue
        x = sx(v)
        right = x > ml + 0.75 * pw
        parts.append(f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{mt}" y2="{mt + ph}" stroke="#d1242f" '
                     f'stroke-dasharray="3 2"/><text x="{_num(x - 2 if right else x + 2)}" y="{mt + 9 + 11 * idx}" '
                     f'font-size="10" fill="#d1242f" text-anchor="{"end" if right else "start"}">'
                     f'{escape(label)} {fmt_ms(v)}</text>')
    parts.append(f'<text x="{ml + pw / 2:.1f}" y="{height - 6}" font-size="11" text-anchor="middle">'
                 f'{escape(x_label)}</text></svg>')
    return Markup("".join(parts))


# ---------------------------------------------------------------------------
# View model
# ---------------------------------------------------------------------------


def _pretty(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True, default=str)


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


#: A latency or cost this many times the baseline's is flagged red (amber from the lower ratio).
FLAG_RED_RATIO, FLAG_AMBER_RATIO = 2.0, 1.25


def ratio_flag(name: str, current: Any, baseline: Any) -> dict[str, str] | None:
    """A flag for a latency, cost or token metric that grew against the baseline."""
    watched = name.startswith("latency") or name.endswith("_ms") or "cost" in name or "token" in name
    if not watched or current is None or baseline is None or baseline <= 0:
        return None
    ratio = current / baseline
    if ratio >= FLAG_RED_RATIO:
        cls = "flag-bad"
    elif ratio >= FLAG_AMBER_RATIO:
        cls = "flag-warn"
    else:
        return None
    return {"cls": cls, "text": f"×{ratio:,.1f} the baseline"}


def _arrow(delta: Any, kind: str = "score") -> dict[str, str]:
    """Arrow, CSS class and text for a metric delta, in the metric's unit."""
    if delta is None:
        return {"arrow": "", "cls": "flat", "text": "no baseline"}
    d = delta.delta
    if d is None:
        return {"arrow": "", "cls": "flat", "text": "n/a"}
    arrow = "▲" if d > 1e-12 else "▼" if d < -1e-12 else "="
    if delta.significant_regression:
        cls, word = "worse", " significantly worse"
    elif delta.significant_improvement:
        cls, word = "better", " significantly better"
    else:
        cls, word = "flat", ""
    ci = ("" if delta.ci_low is None or delta.ci_high is None
          else f" [{fmt_delta(delta.ci_low, kind)}, {fmt_delta(delta.ci_high, kind)}]")
    p = f" {fmt_p(delta.p_value)}" if delta.p_value is not None else ""
    flag = ratio_flag(delta.name, delta.current, delta.baseline)
    if flag is not None:
        cls = "worse" if flag["cls"] == "flag-bad" else cls
        word += f" ({flag['text']})"
    return {"arrow": arrow, "cls": cls, "text": f"{fmt_delta(d, kind)}{ci}{p}{word}"}


def _metric_rows(suite: dict[str, Any], comp: SuiteComparison | None) -> list[dict[str, Any]]:
    rows = []
    for name, m in suite["metrics"].items():
        kind = metric_kind(name, m)
        delta = comp.metrics.get(name) if comp and comp.has_baseline else None
        ci = m.get("ci") or [None, None]
        rows.append({
            "name": name, "value": fmt_value(m.get("value"), kind), "ci": fmt_ci(ci[0], ci[1], kind),
            "n": fmt_value(m.get("n"), "count"), "baseline": fmt_value(delta.baseline, kind) if delta else "—",
            "delta": _arrow(delta, kind) if comp and comp.has_baseline else {"arrow": "", "cls": "flat", "text": "—"},
            "latency": name.startswith("latency"),
        })
    return rows


def _failed_scores(c: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {s.get('detail') or fmt_value(s.get('value'))}" for k, s in (c.get("scores") or {}).items()
                     if not s.get("passed"))


def _case_view(suite: str, c: dict[str, Any], status: str = "failing") -> dict[str, Any]:
    return {"suite": suite, "id": c["id"], "status": status, "input": render_input(c.get("input")),
            "expected": _expected(c.get("expected")), "output": render_output(c.get("output")),
            "error": c.get("error"), "detail": _round_floats(_failed_scores(c)), "tags": list(c.get("tags") or ()),
            "split": c.get("split") or "", "flags": ", ".join(c.get("flags") or ()),
            "latency": fmt_ms(c.get("latency_ms"))}


def _expected(value: Any) -> Markup:
    return render_input(value)


def _round_floats(text: str) -> str:
    """Long floats in diff and scorer texts to four decimals (``0.763774618976614`` → ``0.7638``)."""
    import re

    return re.sub(r"-?\d+\.\d{5,}", lambda m: f"{float(m.group()):.4f}", text or "")


def _change_view(suite: str, ch: Any, case: dict[str, Any] | None = None) -> dict[str, Any]:
    summary = expected_vs_got(ch.expected, ch.output) if ch.status != "missing" else "case missing from this run"
    if ch.detail and (not summary or "…" in summary):
        summary = ch.detail  # e.g. a conversation's turn list: the scorer says it better
    before, after = answer_text(ch.baseline_output), answer_text(ch.output)
    word = word_diff(before, after) if before is not None and after is not None and before != after else None
    return {"suite": suite, "id": ch.id, "status": ch.status, "input": render_input(ch.input),
            "expected": _expected(ch.expected), "baseline_output": render_output(ch.baseline_output),
            "output": render_output(ch.output), "diff": _round_floats(ch.diff), "error": ch.error,
            "detail": _round_floats(ch.detail), "word_diff": word, "tags": list((case or {}).get("tags") or ()), "split": (case or {}).get("split") or "",
            "summary": summary or (f"error: {ch.error}" if ch.error else "")}


def model_label(model: dict[str, Any] | None) -> str:
    """How the report and the summary name the model: the offline one is a stand-in for Bedrock."""
    model = model or {}
    backend = model.get("backend")
    mid = str(model.get("id") or "unknown")
    if backend == "offline":
        return f"offline stand-in for Bedrock ({mid})" if "offline-model" not in mid else \
            "offline stand-in for Bedrock (deterministic OfflineModel)"
    if backend == "replay":
        return f"recorded Bedrock outputs replayed from cassettes ({mid})"
    return mid


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def verdict_reasons(comparisons: dict[str, SuiteComparison], gates: Sequence[GateResult]) -> list[str]:
    """Plain sentences saying why the run failed (or, when it passed, what that means)."""
    failed = [g for g in gates if g.failed]
    reasons: list[str] = []
    per_suite = {n: c.counts.get("regressed", 0) + c.counts.get("missing", 0) for n, c in comparisons.items()}
    n_reg = sum(per_suite.values())
    n_skipped = sum(1 for g in gates if g.skipped)
    if not failed and n_skipped:
        reasons.append(f"Partial run: the {len(gates) - n_skipped} per-case gates passed on the cases that ran "
                       f"(no new zero-tolerance case, no tagged case regressed); {n_skipped} gates that need a "
                       "whole suite (floors, metric comparisons) were skipped, not passed.")
    elif not failed:
        reasons.append(f"All {len(gates)} gates passed: every floor is met, no metric is significantly worse than "
                       f"the baseline and no zero-tolerance case (leaked secret, passed blocked category) occurred.")
        if n_reg:
            reasons.append(f"{_plural(n_reg, 'case')} regressed, but not enough to be a significant regression.")
        return reasons
    by_kind: dict[str, list[GateResult]] = {}
    for g in failed:
        by_kind.setdefault(g.kind, []).append(g)
    for g in by_kind.get("suite_ran", []):
        reasons.append(f"Suite {g.suite} could not run: {g.detail}.")
    zt = by_kind.get("zero_tolerance", [])
    if zt:
        parts = []
        for g in zt:
            what = "leaked a secret" if g.name.endswith("secret_leak") else "let a blocked category pass"
            parts.append(f"{g.suite}: {_plural(len(g.cases), 'case')} {what}")
        reasons.append("Zero tolerance: " + "; ".join(parts) + ".")
    reg = by_kind.get("no_regression", [])
    if reg:
        where = ", ".join(f"{n} {k}" for n, k in per_suite.items() if k)
        metrics = ", ".join(f"{g.suite}.{g.metric}" for g in reg)
        reasons.append(f"Significantly worse than the baseline: {metrics}"
                       + (f" ({_plural(n_reg, 'case')} regressed: {where})." if n_reg else "."))
    for g in by_kind.get("must_not_regress", []):
        reasons.append(f"Must not regress ({g.name.split('[', 1)[-1].rstrip(']')}): {g.suite} has "
                       f"{_plural(len(g.cases), 'tagged case')} that passed in the baseline and fail now.")
    for g in by_kind.get("max_regressions", []):
        reasons.append(f"Too many regressions in {g.suite}: {g.detail}.")
    floors = by_kind.get("floor", [])
    if floors:
        reasons.append("Below the required level: " + ", ".join(
            f"{g.suite}.{g.metric} = {fmt_value(g.value)} ({g.name.split(' ', 1)[1] if ' ' in g.name else 'bound'})"
            for g in floors) + ".")
    return reasons


def _latency_rows(record: dict[str, Any], comparisons: dict[str, SuiteComparison]) -> list[dict[str, Any]]:
    """Per suite: p50/p95/p99/mean in ms, each beside the baseline's, flagged when it grew."""
    rows = []
    for name, suite in record["suites"].items():
        m = suite["metrics"]
        if "latency_p50_ms" not in m:
            continue
        comp = comparisons.get(name)
        hist = (suite.get("details") or {}).get("latency_histogram")
        cells = {}
        for k in ("p50", "p95", "p99", "mean"):
            key = f"latency_{k}_ms"
            value = (m.get(key) or {}).get("value")
            delta = comp.metrics.get(key) if comp and comp.has_baseline else None
            base = delta.baseline if delta else None
            cells[k] = {"text": fmt_ms(value), "baseline": fmt_ms(base) if base is not None else "",
                        "flag": ratio_flag(key, value, base)}
        rows.append({"suite": name, "cells": cells, "n": fmt_value((m.get("latency_p50_ms") or {}).get("n"), "count"),
                     "chart": histogram(hist, width=360, height=150, marks={
                         k: (m.get(f"latency_{k}_ms") or {}).get("value") for k in ("p50", "p95", "p99")})
                     if hist else Markup("")})
    return rows


def _charts(suite: dict[str, Any]) -> dict[str, Markup]:
    d = suite.get("details") or {}
    charts: dict[str, Markup] = {}
    conf = d.get("confusion")
    if conf and conf.get("labels"):
        charts["confusion"] = heatmap(conf["labels"], conf["matrix"], title=conf.get("title", ""))
    rel = d.get("reliability")
    if rel:
        pts = [((b["low"] + b["high"]) / 2 if b["confidence"] is None else b["confidence"], b["accuracy"])
               for b in rel if b["count"]]
        charts["reliability"] = line_chart(
            [("accuracy per confidence bin", pts)], x_label="confidence", y_label="accuracy", diagonal=True,
            bars=[(b["low"], b["high"], b["accuracy"]) for b in rel if b["count"]], title="Reliability diagram")
    cov = d.get("coverage_accuracy")
    if cov:
        op = d.get("operating_point") or {}
        accs = [p["accuracy"] for p in cov if p["accuracy"] is not None]
        y_min = max(0.0, math.floor((min(accs) if accs else 0.0) * 10) / 10 - 0.1)
        charts["coverage"] = line_chart(
            [("accuracy of answered queries", [(p["coverage"], p["accuracy"]) for p in cov])],
            x_label="coverage (share answered without clarification)", y_label="accuracy",
            marker=(op.get("coverage"), op.get("accuracy")) if op.get("threshold") is not None else None,
            y_min=y_min, title="Coverage–accuracy curve")
    if d.get("latency_histogram"):
        m = suite["metrics"]
        charts["latency"] = histogram(d["latency_histogram"], marks={
            k: (m.get(f"latency_{k}_ms") or {}).get("value") for k in ("p50", "p95", "p99")})
    return charts


def _with_ci(name: str, metric: dict[str, Any]) -> str:
    kind = metric_kind(name, metric)
    low, high = (metric.get("ci") or [None, None])[:2]
    ci = fmt_ci(low, high, kind)
    return fmt_value(metric.get("value"), kind) + (f" ({ci})" if ci else "")


def _generalisation_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, suite in record["suites"].items():
        split = (suite.get("details") or {}).get("by_split")
        if not split:
            continue
        counts = split.get("counts", {})
        for metric in split.get("headline", []):
            dev, blind, gap = (split[k].get(metric) for k in ("dev", "blind", "gap"))
            if not dev or not blind:
                continue
            gap_value = (gap or {}).get("value")
            kind = metric_kind(metric, dev)
            rows.append({"suite": name, "metric": metric, "dev": _with_ci(metric, dev),
                         "blind": _with_ci(metric, blind),
                         "gap": "n/a" if gap_value is None else fmt_delta(gap_value, kind),
                         "gap_bad": gap_value is not None and gap_value > 0.05,
                         "n": f"{counts.get('dev', 0):,} / {counts.get('blind', 0):,}"})
    return rows


def _agreement_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    sets = (record.get("agreement") or {}).get("sets") or {}
    return [{"set": name, "field": field, "kappa": fmt_value(v.get("kappa")),
             "raw": fmt_value(v.get("agreement"), "rate"), "n": fmt_value(v.get("n"), "count"),
             "adjudicated": v.get("adjudicated", 0),
             "low": v.get("kappa") is not None and v["kappa"] < 0.8}
            for name, fields in sets.items() for field, v in fields.items()]


def _ops_text(mutation: str, ops: Any) -> str:
    """A robustness mutation in words (``typos at characters 5 and 12``), not index pairs."""
    positions = [op[0] if isinstance(op, list | tuple) and op else op for op in (ops or ())]
    if not positions:
        return "no change"
    where = ", ".join(str(p) for p in positions[:-1]) + (" and " if len(positions) > 1 else "") + str(positions[-1])
    return f"{mutation.replace('_', ' ')} at character{'s' if len(positions) > 1 else ''} {where}"


def _overview(record: dict[str, Any], comparisons: dict[str, SuiteComparison],
              gates: Sequence[GateResult]) -> list[dict[str, Any]]:
    """One row per suite: the one-screen summary."""
    rows = []
    for name, suite in record["suites"].items():
        comp = comparisons.get(name)
        m = suite["metrics"]
        pr = m.get("pass_rate") or {}
        delta = comp.metrics.get("pass_rate") if comp and comp.has_baseline else None
        p99 = (m.get("latency_p99_ms") or {}).get("value")
        p99_delta = comp.metrics.get("latency_p99_ms") if comp and comp.has_baseline else None
        counts = comp.counts if comp else {}
        split = ((suite.get("details") or {}).get("by_split") or {}).get("counts") or {}
        rows.append({
            "name": name, "cases": fmt_value(len(suite["cases"]), "count"), "pass_rate": fmt_value(pr.get("value"), "rate"),
            "delta": _arrow(delta, "rate") if delta else {"arrow": "", "cls": "flat", "text": "no baseline" if not (
                comp and comp.has_baseline) else "—"},
            "regressed": counts.get("regressed", 0) + counts.get("missing", 0), "fixed": counts.get("fixed", 0),
            "failed_gates": sum(1 for g in gates if g.suite == name and g.failed),
            "skipped_gates": sum(1 for g in gates if g.suite == name and g.skipped),
            "p99": fmt_ms(p99), "p99_flag": ratio_flag("latency_p99_ms", p99, p99_delta.baseline if p99_delta else None),
            "blind": fmt_value(split.get("blind"), "count") if split else "",
            "setup_error": suite.get("setup_error"),
        })
    return rows


def _extra(details: dict[str, Any]) -> list[dict[str, Any]]:
    """Other suite details, each as text or a small table (never raw JSON)."""
    out = []
    misrouted = details.get("misrouted_to")
    if isinstance(misrouted, dict) and misrouted:
        out.append({"title": "Misrouted to (out-of-scope queries answered as an AWS intent)",
                    "table": readable_table({k: {"cases": v} for k, v in
                                             sorted(misrouted.items(), key=lambda kv: -kv[1])})})
    model = details.get("model")
    if isinstance(model, dict) and model:
        out.append({"title": "Model", "table": readable_table({k: {"value": v if not isinstance(v, dict | list)
                                                                   else json.dumps(v)} for k, v in model.items()})})
    for key in ("note", "finalize_error"):
        if details.get(key):
            out.append({"title": key.replace("_", " ").capitalize(), "text": str(details[key])})
    return out


def build_view(record: dict[str, Any], comparisons: dict[str, SuiteComparison],
               gates: Sequence[GateResult]) -> dict[str, Any]:
    """Everything the template needs, with listings capped."""
    regressions = []
    suites = []
    headline = []
    tag_counts: dict[str, int] = {}
    splits: set[str] = set()
    statuses: set[str] = set()
    for name, suite in record["suites"].items():
        comp = comparisons.get(name)
        by_id = {c["id"]: c for c in suite["cases"]}
        news = {ch.id: ch.status for ch in (comp.changes if comp else ()) if ch.status in ("regressed", "new")}
        if comp is not None:
            for ch in comp.regressions():
                if len(regressions) < MAX_REGRESSIONS:
                    regressions.append(_change_view(name, ch, by_id.get(ch.id)))
        rows = _metric_rows(suite, comp)
        watched = {g.metric for g in gates if g.suite == name and g.metric} | {"pass_rate"}
        headline.extend({"suite": name, **r} for r in rows
                        if not r["latency"] and r["name"] != "error_rate" and r["name"] in watched)
        failing = [c for c in suite["cases"] if not c["passed"]]
        changes: dict[str, list[dict[str, Any]]] = {s: [] for s in ("fixed", "changed", "new")}
        if comp is not None and comp.has_baseline:
            for ch in comp.changes:
                if ch.status in changes and len(changes[ch.status]) < MAX_CASES_PER_LIST:
                    changes[ch.status].append(_change_view(name, ch, by_id.get(ch.id)))
        details = suite.get("details") or {}
        failing_views = [_case_view(name, c, news.get(c["id"], "failing")) for c in failing[:MAX_CASES_PER_LIST]]
        for view in failing_views + [v for vs in changes.values() for v in vs] + \
                [r for r in regressions if r["suite"] == name]:
            statuses.add(view["status"])
            if view["split"]:
                splits.add(view["split"])
            for tag in view["tags"]:
                tag_counts[tag] = tag_counts.get(tag, 0) + 1
        suites.append({
            "name": name, "suite": suite, "rows": rows, "charts": _charts(suite),
            "failing": failing_views, "n_failing": len(failing),
            "changes": changes, "counts": comp.counts if comp else {}, "has_baseline": bool(comp and comp.has_baseline),
            "dataset_changed": bool(comp and comp.dataset_changed),
            "tables": {k: readable_table(details[k]) for k in ("per_category", "per_label", "per_check", "per_tag",
                                                               "per_mutation", "per_step") if details.get(k)},
            "top_confusions": details.get("top_confusions") or [],
            "operating_point": details.get("operating_point"),
            "minimal_failures": [{**f, "ops_text": _ops_text(f.get("mutation", ""), f.get("ops"))}
                                 for f in details.get("minimal_failures") or []],
            "extra": _extra(details),
        })
    n_regressions = sum(c.counts.get("regressed", 0) + c.counts.get("missing", 0) for c in comparisons.values())
    failed_gates = [g for g in gates if g.failed]
    alpha = (record.get("verdict") or {}).get("alpha") or 0.05
    return {
        "record": record, "suites": suites, "headline": headline, "regressions": regressions,
        "n_regressions": n_regressions, "gates": gates, "failed_gates": failed_gates,
        "passed_gates": [g for g in gates if g.passed], "skipped_gates": [g for g in gates if g.skipped],
        "reasons": verdict_reasons(comparisons, gates), "overview": _overview(record, comparisons, gates),
        "multiplicity": multiplicity_note(gates, alpha),
        "filters": {"suites": list(record["suites"]), "statuses": [s for s in ("regressed", "missing", "new",
                                                                               "failing", "fixed", "changed")
                                                                   if s in statuses],
                    "tags": sorted(tag_counts, key=lambda t: (-tag_counts[t], t))[:150], "splits": sorted(splits)},
        "model_label": model_label(record.get("model")), "latency": _latency_rows(record, comparisons),
        "open_regressions": 3, "passed": not failed_gates, "fmt": fmt_value, "pretty": _pretty,
        "fmt_ms": fmt_ms, "markdown": markdown,
        "generalisation": _generalisation_rows(record), "agreement": _agreement_rows(record),
        "targets": [GateResult.from_dict(t) if isinstance(t, dict) else t
                    for t in (record.get("verdict") or {}).get("targets", [])],
        "selection": record.get("selection"),
        "meta": {k: record.get(k) for k in ("run_id", "created_at", "git", "environment", "config", "model",
                                             "prompt_versions", "timings")},
    }


def render_report(record: dict[str, Any], comparisons: dict[str, SuiteComparison],
                  gates: Sequence[GateResult]) -> str:
    """Render the report to a string."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)
    return env.get_template("report.html.j2").render(**build_view(record, comparisons, gates))


def write_report(record: dict[str, Any], comparisons: dict[str, SuiteComparison], gates: Sequence[GateResult],
                 path: Path) -> Path:
    """Render and write ``index.html``; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(record, comparisons, gates), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# Prompt A/B (python -m evals ab)
# ---------------------------------------------------------------------------

#: Side-by-side answers shown for the cases whose answer_score differs most.
MAX_AB_CASES = 6


def word_diff(a: str, b: str) -> tuple[Markup, Markup]:
    """Word-level diff of two answers: ``(A with deletions marked, B with insertions marked)``.

    Whitespace is kept as written, so the Markdown of each answer stays readable in a ``<pre>``.

    Example:
        >>> a, b = word_diff("run the check", "run the fix")
        >>> str(b)
        'run the <ins>fix</ins>'
    """
    import difflib
    import re

    ta, tb = re.findall(r"\S+|\s+", a), re.findall(r"\S+|\s+", b)
    left: list[str] = []
    right: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        old, new = escape("".join(ta[i1:i2])), escape("".join(tb[j1:j2]))
        if op == "equal":
            left.append(old)
            right.append(new)
            continue
        if i2 > i1:
            left.append(Markup("<del>") + old + Markup("</del>"))
        if j2 > j1:
            right.append(Markup("<ins>") + new + Markup("</ins>"))
    return Markup("").join(left), Markup("").join(right)


def ab_view(summary: dict[str, Any]) -> dict[str, Any]:
    """What the A/B section shows: verdict, statistics, per-intent table, differing cases."""
    analysis = summary["analysis"]
    cases = []
    for c in analysis["per_case"][:MAX_AB_CASES]:
        if c["delta"] == 0 and c["a_response"] == c["b_response"]:
            continue
        left, right = word_diff(c.get("a_response") or "", c.get("b_response") or "")
        cases.append({**c, "a_html": left, "b_html": right})
    css = {"B worse": "fail", "B better": "pass", "no detectable difference": "flat"}[analysis["decision"]]
    return {"s": summary, "analysis": analysis, "cases": cases, "css": css,
            "n_identical": sum(1 for c in analysis["per_case"] if c["a_response"] == c["b_response"])}


def render_ab_report(summaries: dict[str, Any] | Sequence[dict[str, Any]]) -> str:
    """Render A/B comparisons (each an ``ab.json``) as one self-contained HTML page."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)
    env.filters["fmt"] = _fmt
    env.filters["pval"] = lambda p: "< 0.001" if p is not None and p < 0.001 else f"= {_fmt(p)}"
    env.filters["arm"] = lambda arm: (", ".join(f"{k}@{v}" for k, v in (arm.get("versions") or {}).items())
                                      or ", ".join(arm.get("prompt_dirs") or ()) or "shipped prompts")
    items = [summaries] if isinstance(summaries, dict) else list(summaries)
    views = [ab_view(s) for s in items]
    n_worse = sum(1 for v in views if v["analysis"]["decision"] == "B worse")
    return env.get_template("ab.html.j2").render(views=views, n_worse=n_worse)


def write_ab_report(summaries: dict[str, Any] | Sequence[dict[str, Any]], path: Path) -> Path:
    """Render and write the A/B page; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_ab_report(summaries), encoding="utf-8")
    return path
