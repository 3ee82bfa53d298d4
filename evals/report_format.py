"""How the HTML report writes numbers, tables, answers and case outputs for people.

- Numbers: rates as percentages (``91.3%``), milliseconds with thousands separators
  (``1,234 ms``, never ``1.3e+03``), counts as whole numbers (``3,730``), scores with three
  decimals; intervals in the same unit; deltas of rates in percentage points.
- Detail tables (per category, per tag, per check…): one readable column per field; an
  interval goes beside its value, bookkeeping fields (``kind``, ``ci_method``…) are dropped.
- Answers: the Markdown an assistant wrote, rendered (headings, lists, code, bold), never
  a clipped JSON string. A case output shows its answer first, then its fields, timings last.

Example:
    >>> fmt_value(1284.5, "ms"), fmt_value(0.9134, "rate"), fmt_value(3730, "count")
    ('1,284 ms', '91.3%', '3,730')
    >>> str(markdown("## Steps\\n\\n1. Run `aws ec2 describe-instances`"))
    '<h5>Steps</h5><ol><li>Run <code>aws ec2 describe-instances</code></li></ol>'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

#: Output keys holding the text an assistant wrote: shown first, rendered as Markdown.
ANSWER_KEYS = ("response", "answer", "reply", "text", "redacted")
#: Output keys holding measurements of the run, not of the answer: shown last.
TIMING_KEYS = ("timing", "timings", "latency_ms", "elapsed_ms", "duration_ms", "path")
#: Fields of a metric record that are bookkeeping, not something a reader compares.
_BOOKKEEPING = {"kind", "higher_is_better", "ci_method", "successes"}
_SCORE_COLUMNS = ("f1", "kappa", "score", "mean", "ece", "brier")
_COUNT_COLUMNS = ("n", "support", "count", "cases", "tp", "fp", "fn", "tn")


def _bad(x: Any) -> bool:
    return x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def fmt_ms(x: Any) -> str:
    """Milliseconds for people: ``0.42 ms``, ``18.5 ms``, ``1,284 ms``."""
    if _bad(x):
        return "n/a"
    x = float(x)
    if abs(x) >= 100:
        return f"{x:,.0f} ms"
    if abs(x) >= 1:
        return f"{x:,.1f} ms"
    return f"{x:.2f} ms"


def fmt_value(x: Any, kind: str = "score", *, digits: int = 3) -> str:
    """A metric value in its unit (``rate`` → %, ``ms``, ``count``, ``score``)."""
    if _bad(x):
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if kind == "rate":
        return f"{100 * float(x):.1f}%"
    if kind == "ms":
        return fmt_ms(x)
    if kind == "count" or (isinstance(x, int) and kind != "score"):
        return f"{int(round(float(x))):,}"
    x = float(x)
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.{digits}f}"


def fmt_ci(low: Any, high: Any, kind: str = "score") -> str:
    if _bad(low) or _bad(high):
        return ""
    return f"{fmt_value(low, kind)} – {fmt_value(high, kind)}"


def fmt_delta(d: Any, kind: str = "score") -> str:
    """A change in the metric's unit: percentage points for rates, ms for latencies."""
    if _bad(d):
        return "n/a"
    d = float(d)
    sign = "+" if d > 0 else "−" if d < 0 else "±"
    if kind == "rate":
        return f"{sign}{abs(100 * d):.1f} pp"
    if kind == "ms":
        return sign + fmt_ms(abs(d))
    if kind == "count":
        return f"{sign}{abs(d):,.0f}"
    return f"{sign}{abs(d):.3f}"


def fmt_p(p: Any) -> str:
    if _bad(p):
        return ""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def metric_kind(name: str, metric: Mapping[str, Any] | None = None) -> str:
    """The unit of a metric: from its record, else from its name."""
    kind = (metric or {}).get("kind")
    if kind in ("rate", "ms", "count", "score"):
        return kind
    if name.endswith("_ms") or name.startswith("latency"):
        return "ms"
    return "score"


def _column_kind(column: str, value: Any) -> str:
    if isinstance(value, Mapping):
        return metric_kind(column, value)
    if column in _COUNT_COLUMNS or column.startswith("n_"):
        return "count"
    if any(s in column for s in _SCORE_COLUMNS):
        return "score"
    if column.endswith("_ms"):
        return "ms"
    if isinstance(value, float) and 0.0 <= value <= 1.0:
        return "rate"
    return "score"


def _cell(column: str, value: Any, ci: Any = None) -> dict[str, Any]:
    """One table cell: text, an optional interval, and whether it is a number (right-aligned)."""
    if isinstance(value, Mapping) and "value" in value:
        kind = metric_kind(column, value)
        low, high = (value.get("ci") or [None, None])[:2]
        return {"text": fmt_value(value.get("value"), kind), "ci": fmt_ci(low, high, kind), "num": True,
                "n": value.get("n")}
    if isinstance(value, bool):
        return {"text": "yes" if value else "no", "ci": "", "num": False}
    if isinstance(value, int | float):
        kind = _column_kind(column, value)
        low, high = (ci or [None, None])[:2] if isinstance(ci, list | tuple) else (None, None)
        return {"text": fmt_value(value, kind), "ci": fmt_ci(low, high, kind), "num": True}
    if value is None:
        return {"text": "—", "ci": "", "num": False}
    if isinstance(value, list | tuple) and all(not isinstance(v, dict | list) for v in value):
        return {"text": ", ".join(str(v) for v in value), "ci": "", "num": False}
    if isinstance(value, str):
        return {"text": value, "ci": "", "num": False}
    return {"text": json.dumps(value, ensure_ascii=False, default=str), "ci": "", "num": False}


def readable_table(table: Mapping[str, Any]) -> dict[str, Any]:
    """A details table (``{row label: {field: value}}``) as columns people read.

    A row that is itself a metric record (``{"value", "ci", "n", …}``) becomes the columns
    value / 95% CI / n. ``<field>_ci`` intervals go beside ``<field>``.
    """
    rows = [(label, row if isinstance(row, Mapping) else {"value": row}) for label, row in table.items()]
    metric_rows = all("value" in r and "ci" in r for _, r in rows) and rows
    columns: list[str] = []
    if metric_rows:
        columns = ["value", "95% CI", "n"]
        out_rows = []
        for label, r in rows:
            cell = _cell("value", r)
            out_rows.append({"label": label, "cells": [{**cell, "ci": ""}, {"text": cell["ci"], "ci": "", "num": True},
                                                        {"text": fmt_value(r.get("n"), "count"), "ci": "",
                                                         "num": True}]})
        return {"columns": columns, "rows": out_rows}
    for _, r in rows:
        for key in r:
            if key not in columns and not key.endswith("_ci") and key not in _BOOKKEEPING:
                columns.append(key)
    out_rows = [{"label": label, "cells": [_cell(c, r.get(c), r.get(f"{c}_ci")) for c in columns]}
                for label, r in rows]
    return {"columns": [c.replace("_", " ") for c in columns], "rows": out_rows}


# ---------------------------------------------------------------------------
# Markdown (what assistants write) → HTML, safely: everything is escaped first
# ---------------------------------------------------------------------------

_INLINE = (
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    # A link is shown with its address as text: the report stays a file that points nowhere.
    (re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)"), r'\1 (<span class="url">\2</span>)'),
)


def _inline(text: str) -> str:
    html = str(escape(text))
    for pattern, repl in _INLINE:
        html = pattern.sub(repl, html)
    return html


def markdown(text: str) -> Markup:
    """Render the Markdown subset answers use: headings, ordered and bulleted lists, fenced
    code, inline code, bold, links and paragraphs. Input is escaped before any tag is added."""
    out: list[str] = []
    lines = (text or "").replace("\r\n", "\n").split("\n")
    i = 0
    para: list[str] = []
    open_list: str | None = None

    def flush_para() -> None:
        if para:
            out.append("<p>" + "<br>".join(_inline(p) for p in para) + "</p>")
            para.clear()

    def close_list() -> None:
        nonlocal open_list
        if open_list:
            out.append(f"</{open_list}>")
            open_list = None

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush_para()
            close_list()
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            out.append("<pre><code>" + str(escape("\n".join(body))) + "</code></pre>")
            i += 1
            continue
        heading = re.match(r"(#{1,6})\s+(.*)", stripped)
        ordered = re.match(r"\d+[.)]\s+(.*)", stripped)
        bullet = re.match(r"[-*•]\s+(.*)", stripped)
        if heading:
            flush_para()
            close_list()
            out.append(f"<h5>{_inline(heading.group(2))}</h5>")
        elif ordered or bullet:
            flush_para()
            kind = "ol" if ordered else "ul"
            if open_list != kind:
                close_list()
                out.append(f"<{kind}>")
                open_list = kind
            out.append(f"<li>{_inline((ordered or bullet).group(1))}</li>")  # type: ignore[union-attr]
        elif not stripped:
            flush_para()
            close_list()
        else:
            close_list()
            para.append(stripped)
        i += 1
    flush_para()
    close_list()
    return Markup("".join(out))


def answer_text(output: Any) -> str | None:
    """The text an assistant wrote in a case output, if it has one."""
    if isinstance(output, str):
        return output
    if isinstance(output, Mapping):
        for key in ANSWER_KEYS:
            if isinstance(output.get(key), str) and output[key].strip():
                return output[key]
        turns = output.get("turns")
        if isinstance(turns, list):
            texts = [t.get("response") for t in turns if isinstance(t, Mapping) and isinstance(t.get("response"), str)]
            if texts:
                return "\n\n".join(f"**Turn {n}.** {t}" for n, t in enumerate(texts, start=1))
    return None


def _compact(value: Any) -> Markup:
    """A structured value in words: ``key: value · key: value``; a list of them one per line."""
    if isinstance(value, Mapping):
        return Markup(" · ").join(Markup("{}: {}").format(
            k.replace("_", " ").removesuffix(" ms"),
            _compact(v) if isinstance(v, Mapping | list) else
            fmt_ms(v) if k.endswith("_ms") and isinstance(v, int | float) else _scalar(v)) for k, v in value.items())
    if isinstance(value, list) and value and all(isinstance(v, list | tuple) and len(v) == 2
                                                 and not isinstance(v[1], Mapping | list) for v in value):
        return Markup("{}").format(_scalar(value))  # e.g. alternatives: [[label, score]]
    if isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        return Markup("<ol class=\"compact\">") + Markup("").join(
            Markup("<li>{}</li>").format(v.get("query") if isinstance(v, Mapping) and set(v) == {"query"}
                                         else _compact(v)) for v in value) + Markup("</ol>")
    return Markup("{}").format(_scalar(value))


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, list | tuple) and all(isinstance(v, list | tuple) and len(v) == 2 for v in value):
        return ", ".join(f"{a} ({_scalar(b)})" for a, b in value) or "—"  # e.g. alternatives: [[label, score]]
    return "—" if value is None else str(value)


def render_output(output: Any, *, depth: int = 0) -> Markup:
    """A case output for people: the answer (rendered) first, then its fields, timings last."""
    if output is None:
        return Markup('<p class="muted">(no output)</p>')
    if isinstance(output, str):
        return Markup('<div class="answer">') + markdown(output) + Markup("</div>")
    if not isinstance(output, Mapping):
        return Markup("<pre>") + escape(json.dumps(output, indent=1, ensure_ascii=False, default=str)) + \
            Markup("</pre>")
    parts: list[Markup] = []
    shown = set()
    for key in ANSWER_KEYS:
        if isinstance(output.get(key), str) and output[key].strip():
            parts.append(Markup('<div class="answer">') + markdown(output[key]) + Markup("</div>"))
            shown.add(key)
            break
    turns = output.get("turns")
    if isinstance(turns, list) and depth == 0:
        shown.add("turns")
        for n, turn in enumerate(turns, start=1):
            parts.append(Markup(f'<div class="turn"><h6>Turn {n}</h6>') + render_output(turn, depth=1)
                         + Markup("</div>"))
    fields, nested, timing = [], [], []
    for key, value in output.items():
        if key in shown:
            continue
        if key in TIMING_KEYS:
            timing.append((key, value))
        elif isinstance(value, Mapping) and all(not isinstance(v, Mapping | list) for v in value.values()):
            fields.append((key, value))  # a flat record, e.g. per-check scores: one line
        elif isinstance(value, Mapping) or (isinstance(value, list) and any(isinstance(v, dict) for v in value)):
            nested.append((key, value))
        else:
            fields.append((key, value))
    if fields:
        parts.append(Markup('<dl class="kv">') + Markup("").join(
            Markup("<dt>{}</dt><dd>{}</dd>").format(k.replace("_", " "), _compact(v)) for k, v in fields)
            + Markup("</dl>"))
    for key, value in nested:
        parts.append(Markup("<details><summary>{}</summary><pre>{}</pre></details>").format(
            key.replace("_", " "), json.dumps(value, indent=1, ensure_ascii=False, default=str)))
    if timing:
        parts.append(Markup('<p class="timing muted">') + Markup(" · ").join(
            Markup("{}: {}").format(k.replace("_", " "), fmt_ms(v) if isinstance(v, int | float) else
                                    (" → ".join(map(str, v)) if isinstance(v, list) else _compact(v)))
            for k, v in timing) + Markup("</p>"))
    return Markup("").join(parts)


def render_input(value: Any) -> Markup:
    """A case input: text as written (pre-wrapped), structured input as fields."""
    if isinstance(value, str):
        return Markup('<pre class="input">') + escape(value) + Markup("</pre>")
    if isinstance(value, Mapping):
        return Markup('<dl class="kv">') + Markup("").join(
            Markup("<dt>{}</dt><dd>{}</dd>").format(k.replace("_", " "), v if isinstance(v, str) else _compact(v))
            for k, v in value.items()) + Markup("</dl>")
    return Markup("<pre>") + escape(json.dumps(value, indent=1, ensure_ascii=False, default=str)) + Markup("</pre>")
