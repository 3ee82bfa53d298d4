"""``python -m evals feedback-report``: the feedback analysis as a self-contained HTML page.

The numbers are the analyze_feedback Lambda's (:class:`pipeline.domain.feedback.FeedbackReport`
run over the same records: segments, experiment verdicts, themes); pandas (the design's
named dependency for offline analysis, never imported by a Lambda) builds the tables and
the daily series the charts are drawn from (inline SVG, no script, no external file).

Input: feedback records as JSONL (one ``Feedback.to_dict()`` per line, e.g. an export of
the Feedback table) with ``--input``, or the deployed table itself with ``--table``
(read through its ``TimestampIndex``, one Query per day; never a scan). Experiments come
from ``pipeline/prompts/*/experiment.toml`` (``--prompts-dir``) or, with ``--prompts-table``
and ``--prompt-bucket``, from the deployed registry.

Example:
    python -m evals feedback-report --input feedback.jsonl --hours 24 --hours 168 \\
        --output reports/out/feedback/index.html
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from evals.exits import EXIT_BAD_INPUT, EXIT_OK, parse_args
from evals.record import REPO_ROOT
from pipeline.adapters.local.clock import FixedClock
from pipeline.adapters.local.memory_stores import InMemoryFeedbackStore
from pipeline.adapters.local.metrics import InMemoryMetrics
from pipeline.domain.feedback import FeedbackReport
from pipeline.domain.feedback_analytics import interactions
from pipeline.domain.models import Feedback

DEFAULT_OUTPUT = REPO_ROOT / "reports" / "out" / "feedback" / "index.html"
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


class FeedbackInputError(ValueError):
    """The input cannot be read; the message names the file and line."""


def read_jsonl(path: Path) -> list[Feedback]:
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FeedbackInputError(f"{path}: cannot read ({exc.strerror})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(Feedback.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
            raise FeedbackInputError(f"{path}:{number}: not a feedback record ({exc})") from None
    return records


def frame(records: Iterable[Feedback]) -> Any:
    """One pandas row per interaction (the Lambda's join), with ``day`` as a datetime."""
    import pandas as pd

    rows = [r.to_dict() for r in interactions(records)]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["day"] = pd.to_datetime(df["timestamp"].str[:10])
    df["variant_key"] = [
        f"{e}/{v}" if isinstance(e, str) and isinstance(v, str) else None
        for e, v in zip(df["experiment_id"], df["variant"], strict=True)
    ]
    df["satisfied_num"] = df["satisfied"].map({True: 1.0, False: 0.0})
    return df


def daily_series(df: Any, key: str, value: str) -> dict[str, list[tuple[str, float]]]:
    """``{group: [(day, mean of value)]}`` over the judged rows, by day (pandas groupby)."""
    if df.empty or key not in df:
        return {}
    judged = df.dropna(subset=[key, value])
    table = judged.groupby([key, "day"])[value].mean().unstack(0).sort_index()
    return {
        str(group): [(day.strftime("%Y-%m-%d"), float(v)) for day, v in table[group].dropna().items()]
        for group in table.columns
    }


def daily_volume(df: Any, key: str) -> dict[str, list[tuple[str, float]]]:
    if df.empty:
        return {}
    table = df.dropna(subset=[key]).groupby([key, "day"]).size().unstack(0).fillna(0).sort_index()
    return {str(g): [(d.strftime("%Y-%m-%d"), float(v)) for d, v in table[g].items()] for g in table.columns}


def line_chart(title: str, series: dict[str, list[tuple[str, float]]], *, y_label: str,
               y_range: tuple[float, float] | None = None, width: int = 640, height: int = 240) -> str:
    """An inline SVG line chart of daily series (one colour per series, a legend)."""
    days = sorted({d for points in series.values() for d, _ in points})
    if not days:
        return f'<figure><figcaption>{html.escape(title)}</figcaption><p class="muted">no data</p></figure>'
    values = [v for points in series.values() for _, v in points]
    low, high = y_range or (min(values), max(values))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    left, right, top, bottom = 48, 16, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(day: str) -> float:
        return left + (plot_w * days.index(day) / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - low) / (high - low))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}">']
    for tick in range(5):
        value = low + (high - low) * tick / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'stroke="#e5e5e5"/><text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{value:.2f}</text>')
    step = max(1, len(days) // 6)
    for day in days[::step]:
        parts.append(f'<text x="{x(day):.1f}" y="{height - 14}" text-anchor="middle" font-size="11">{day[5:]}</text>')
    for index, (name, points) in enumerate(sorted(series.items())):
        colour = PALETTE[index % len(PALETTE)]
        path = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts.extend(f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}"><title>'
                     f'{html.escape(name)} {d}: {v:.3f}</title></circle>' for d, v in points)
    parts.append(f'<text x="12" y="{top + plot_h / 2:.0f}" font-size="11" transform="rotate(-90 12 '
                 f'{top + plot_h / 2:.0f})" text-anchor="middle">{html.escape(y_label)}</text></svg>')
    legend = "".join(f'<span class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{html.escape(n)}</span>'
                     for i, n in enumerate(sorted(series)))
    return f'<figure><figcaption>{html.escape(title)}</figcaption>{"".join(parts)}<div>{legend}</div></figure>'


def _fmt(value: Any, kind: str = "num") -> str:
    if value is None:
        return "—"
    if kind == "pct":
        return f"{value * 100:.1f} %"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def _segment_table(title: str, segments: dict[str, dict[str, Any]]) -> str:
    header = ("segment", "volume", "judged", "CSAT", "95 % CI", "mean rating", "thumbs up", "quality",
              "escalation", "clarification", "regeneration")
    rows = []
    for key, s in segments.items():
        ci = s["csat_ci"]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in (
            html.escape(key), s["volume"], s["judged"], _fmt(s["csat"], "pct"),
            f"{ci[0] * 100:.1f}–{ci[1] * 100:.1f} %" if ci else "—", _fmt(s["mean_rating"]),
            _fmt(s["thumbs_ratio"], "pct"), _fmt(s["mean_quality"]), _fmt(s["escalation_rate"], "pct"),
            _fmt(s["clarification_rate"], "pct"), _fmt(s["regeneration_rate"], "pct"))) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in header)
    return f"<h3>{html.escape(title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _experiment_section(verdict: dict[str, Any]) -> str:
    badge = {"promote": "good", "roll back": "bad"}.get(verdict["recommendation"], "wait")
    arms = "".join(
        f"<tr><td>{html.escape(v)}{' (control)' if v == verdict['control'] else ''}</td>"
        f"<td>{verdict['weights'].get(v, 0):g}</td><td>{a['volume']}</td><td>{a['judged']}</td>"
        f"<td>{_fmt(a['csat'], 'pct')}</td><td>{_fmt(a['mean_rating'])}</td></tr>"
        for v, a in verdict["arms"].items()
    )
    comparisons = "".join(
        f"<tr><td>{html.escape(v)} − {html.escape(verdict['control'])}</td><td>{html.escape(m)}</td>"
        f"<td>{_fmt(d['difference'])}</td><td>{_fmt(d['ci'][0])} to {_fmt(d['ci'][1])}</td>"
        f"<td>{_fmt(d['p_value'])}</td><td>{'yes' if d['significant'] else 'no'}</td>"
        f"<td>{_fmt(d['minimum_detectable_difference'])}</td></tr>"
        for v, by_metric in verdict["comparisons"].items() for m, d in by_metric.items()
    )
    return (
        f"<section class='experiment'><h3>{html.escape(verdict['experiment_id'])} "
        f"<span class='badge {badge}'>{html.escape(verdict['recommendation'])}"
        f"{' ' + html.escape(verdict['variant']) if verdict['variant'] else ''}</span></h3>"
        f"<p>{html.escape(verdict['reason'])}. Template <code>{html.escape(verdict['template_id'])}</code>; "
        f"primary metric <b>{html.escape(verdict['primary_metric'])}</b>; at least "
        f"{verdict['min_samples_per_variant']} judged interactions per variant before a verdict; intervals at "
        f"{verdict['confidence']:.1%} (Bonferroni over the variants).</p>"
        + (f"<p class='muted'>Hypothesis: {html.escape(verdict['hypothesis'])}</p>" if verdict["hypothesis"] else "")
        + "<table><thead><tr><th>variant</th><th>weight</th><th>volume</th><th>judged</th><th>CSAT</th>"
          f"<th>mean rating</th></tr></thead><tbody>{arms}</tbody></table>"
        + "<table><thead><tr><th>difference</th><th>metric</th><th>estimate</th><th>CI</th><th>p</th>"
          f"<th>significant</th><th>detectable at 80 % power</th></tr></thead><tbody>{comparisons}</tbody></table>"
        + "</section>"
    )


CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border-bottom:1px solid #ddd;
padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}.muted{color:#666}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;margin-left:8px}.good{background:#d7f3dc}
.bad{background:#f8d4d4}.wait{background:#eee}figure{display:inline-block;margin:8px 16px 8px 0}
.key{margin-right:12px;font-size:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
blockquote{margin:4px 0 4px 16px;color:#444}"""


def render(summary: dict[str, Any], df: Any, *, title: str = "Feedback report") -> str:
    """The page: headline, experiments, charts over time, segment tables, themes."""
    head = (f"<h1>{html.escape(title)}</h1><p class='muted'>window {html.escape(summary['window']['start'][:16])} → "
            f"{html.escape(summary['window']['end'][:16])} UTC · {summary['interactions']} interactions, "
            f"{summary['explicit']} judged · CSAT {_fmt(summary['csat'], 'pct')} · mean rating "
            f"{_fmt(summary['mean_rating'])}</p>")
    experiments = "".join(_experiment_section(v) for v in summary["experiments"]) or \
        "<p class='muted'>No experiment is running.</p>"
    charts = "".join((
        line_chart("CSAT by experiment variant, per day", daily_series(df, "variant_key", "satisfied_num"),
                   y_label="CSAT", y_range=(0.0, 1.0)),
        line_chart("Mean rating by experiment variant, per day", daily_series(df, "variant_key", "rating"),
                   y_label="rating", y_range=(1.0, 5.0)),
        line_chart("CSAT by intent, per day", daily_series(df, "intent", "satisfied_num"),
                   y_label="CSAT", y_range=(0.0, 1.0)),
        line_chart("Interactions by response type, per day", daily_volume(df, "response_type"),
                   y_label="interactions"),
    ))
    tables = "".join(
        f"<h2>Last {w['hours']:g} hours ({w['interactions']} interactions)</h2>"
        + "".join(_segment_table(f"by {d.replace('_', ' ')}", s) for d, s in w["segments"].items())
        for w in summary["windows"]
    )
    themes = "".join(
        f"<li><b>{html.escape(t['phrase'])}</b> — {t['count']} comments, mean rating {_fmt(t['mean_rating'])}"
        + "".join(f"<blockquote>{html.escape(e)}</blockquote>" for e in t["examples"]) + "</li>"
        for t in summary["themes"]
    ) or "<li class='muted'>No shared phrases in low-rated comments.</li>"
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{head}<h2>Experiments</h2>{experiments}<h2>Over time</h2>{charts}"
            f"{tables}<h2>Themes of low-rated comments</h2><ul>{themes}</ul></body></html>")


def analyse(records: Sequence[Feedback], experiments: Any, *, hours: Sequence[float], now: datetime,
            experiment_hours: float) -> dict[str, Any]:
    """The Lambda's analysis over ``records`` (same class, in-memory store and metrics)."""
    store = InMemoryFeedbackStore()
    for record in records:
        store.put(record)
    report = FeedbackReport(store, InMemoryMetrics(), FixedClock(now), experiments=experiments,
                            experiment_window_hours=experiment_hours)
    return report.run(hours[0], windows=hours[1:])


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    parser = argparse.ArgumentParser(prog="python -m evals feedback-report", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="feedback records, JSONL")
    source.add_argument("--table", help="the deployed Feedback table (read through its TimestampIndex)")
    parser.add_argument("--region")
    parser.add_argument("--prompts-dir", type=Path, help="experiments from these files (default pipeline/prompts)")
    parser.add_argument("--prompts-table", help="experiments from the deployed Prompts table")
    parser.add_argument("--prompt-bucket")
    parser.add_argument("--hours", type=float, action="append", help="analysis windows (default 24 and 168)")
    parser.add_argument("--experiment-hours", type=float, default=24.0 * 14)
    parser.add_argument("--now", help="end of the windows, ISO-8601 (default: now)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--json", type=Path, help="also write the summary JSON here")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    hours = sorted(set(args.hours or [24.0, 168.0]))
    if any(h <= 0 for h in hours):
        err.write("feedback-report: --hours must be positive\n")
        return EXIT_BAD_INPUT
    try:
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    except ValueError:
        err.write(f"feedback-report: --now {args.now!r} is not an ISO-8601 time\n")
        return EXIT_BAD_INPUT
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        experiments = _experiments(args)
        longest = max([*hours, args.experiment_hours])
        if args.input is not None:
            records = read_jsonl(args.input)
        else:
            import boto3

            from pipeline.adapters.aws.dynamodb import DynamoFeedbackStore

            table = boto3.resource("dynamodb", **({"region_name": args.region} if args.region else {})).Table(args.table)
            records = list(DynamoFeedbackStore(table).since((now - timedelta(hours=longest)).isoformat()))
        summary = analyse(records, experiments, hours=hours, now=now, experiment_hours=args.experiment_hours)
    except (FeedbackInputError, ValueError) as exc:
        err.write(f"feedback-report: {exc}\n")
        return EXIT_BAD_INPUT
    since = (now - timedelta(hours=max(hours[-1], args.experiment_hours))).isoformat()
    df = frame(r for r in records if r.timestamp >= since)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(summary, df), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str), encoding="utf-8")
    for verdict in summary["experiments"]:
        out.write(f"{verdict['experiment_id']}: {verdict['recommendation']}"
                  f"{' ' + verdict['variant'] if verdict['variant'] else ''} ({verdict['reason']})\n")
    out.write(f"feedback report: {args.output}\n")
    return EXIT_OK


def _experiments(args: argparse.Namespace) -> Any:
    if args.prompts_table:
        import boto3

        from pipeline.adapters.aws.dynamodb import DynamoS3PromptStore

        options = {"region_name": args.region} if args.region else {}
        return DynamoS3PromptStore(boto3.resource("dynamodb", **options).Table(args.prompts_table),
                                   boto3.client("s3", **options), args.prompt_bucket or "")
    from pipeline.adapters.local.prompt_files import FilePromptStore

    return FilePromptStore(args.prompts_dir) if args.prompts_dir else FilePromptStore()
