"""The report people read, checked in its HTML (no browser): human numbers, readable tables,
rendered answers (answer first, timings last), flags on latency regressions, zero-count
badges not red, filters and search present, everything inline."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from evals import report
from evals.compare import compare_suite
from evals.gates import GateResult
from evals.metrics import MetricValue, rate
from evals.report_format import (
    fmt_delta,
    fmt_ms,
    fmt_value,
    markdown,
    readable_table,
    render_output,
)

from .test_report_browser import report_file  # noqa: F401 - the module fixture (two suites, regressions)


class _Text(HTMLParser):
    """Visible text and tag attributes of a page (script and style bodies left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _parse(html: str) -> _Text:
    parser = _Text()
    parser.feed(html)
    return parser


def _ms(value: float, n: int = 100) -> dict:
    return MetricValue(value, float("nan"), float("nan"), n, "ms", False, "none").to_dict()


def _suite(name: str, p99: float, *, details: dict | None = None) -> dict:
    cases = [{"id": f"{name}-{i}", "input": f"q {i}", "expected": {"intent": "a"},
              "output": {"response": "## Fix\n\n1. Run `aws s3 ls`", "intent": "a", "timing": {"total_ms": 1234.5}},
              "scores": {}, "passed": i != 3, "error": None, "latency_ms": 2.0, "tags": ["t1"], "split": "dev",
              "flags": []} for i in range(10)]
    metrics = {"pass_rate": rate(9, 10).to_dict(), "latency_p50_ms": _ms(1.0), "latency_p95_ms": _ms(2.0),
               "latency_p99_ms": _ms(p99), "latency_mean_ms": _ms(1300.0)}
    return {"name": name, "description": name, "components": [], "suite_sha256": "x",
            "dataset": {"path": None, "sha256": None, "n_cases": 10, "splits": None},
            "solver": {"name": "s", "params": {}}, "scorers": [], "metrics": metrics, "details": details or {},
            "timings": {}, "n_errors": 0, "setup_error": None, "cases": cases}


def _record(p99: float, details: dict | None = None) -> dict:
    return {"schema_version": 1, "run_id": "r", "created_at": "now", "git": {"commit": None, "dirty": None},
            "environment": {}, "config": {"model": "offline", "record": False, "seed": 1}, "model": {"id": "m", "params": {}},
            "prompt_versions": {}, "timings": {"wall_s": 1.0, "suites": {}},
            "suites": {"out_of_scope": _suite("out_of_scope", p99, details=details)}}


def test_numbers_are_for_people():
    assert fmt_ms(1284.49) == "1,284 ms" and fmt_ms(18.46) == "18.5 ms" and fmt_ms(0.4213) == "0.42 ms"
    assert fmt_value(0.91349, "rate") == "91.3%" and fmt_value(3730, "count") == "3,730"
    assert fmt_value(0.86512) == "0.865" and fmt_value(None) == "n/a"
    assert fmt_delta(-0.0123, "rate") == "−1.2 pp" and fmt_delta(812.0, "ms") == "+812 ms"
    assert report._tick(1000.0) == "1,000" and report._tick(0.05) == "0.05"


def test_detail_tables_are_columns_not_raw_fields():
    table = readable_table({
        "bank_account_lookalike": {"value": 0.9, "ci": [0.798505, 0.953357], "n": 60, "kind": "rate",
                                   "higher_is_better": True, "ci_method": "wilson", "successes": 54}})
    assert table["columns"] == ["value", "95% CI", "n"]
    assert [c["text"] for c in table["rows"][0]["cells"]] == ["90.0%", "79.9% – 95.3%", "60"]
    per_category = readable_table({"aws_access_key": {"precision": 0.9921, "precision_ci": [0.9567, 0.9986],
                                                      "recall": 0.9618, "f1": 0.9767, "support": 131}})
    assert per_category["columns"] == ["precision", "recall", "f1", "support"]
    cells = per_category["rows"][0]["cells"]
    assert cells[0]["text"] == "99.2%" and cells[0]["ci"] == "95.7% – 99.9%"
    assert cells[2]["text"] == "0.977" and cells[3]["text"] == "131"


def test_answers_render_as_markdown_escaped_and_come_before_timings():
    html = str(render_output({"timing": {"total_ms": 1234.5}, "intent": "ec2",
                              "response": "## Steps\n\n1. Run `aws ec2 describe-instances`\n2. **Check** <script>x</script>"}))
    assert html.index('class="answer"') < html.index("<dt>intent</dt>") < html.index('class="timing')
    assert "<h5>Steps</h5><ol><li>Run <code>aws ec2 describe-instances</code></li>" in html
    assert "<strong>Check</strong> &lt;script&gt;" in html and "<script>" not in html
    assert "1,234 ms" in html
    assert str(markdown("```\n$ ls <a>\n```")) == "<pre><code>$ ls &lt;a&gt;</code></pre>"


def test_report_html_reads_like_a_tool(report_file):  # noqa: F811 - the imported fixture
    html = report_file.read_text()
    page = _parse(html)
    text = " ".join(page.text)
    assert not re.search(r"\d\.?\d*e[+-]\d", text), "scientific notation in the report"
    assert not re.search(r"\d\.\d{5,}", text), "a raw float (5+ decimals) in the report"
    assert not re.search(r"\[0\.\d+, ", text) and "wilson" not in text.lower().replace("wilson for rates", "")
    ids = {attrs.get("id") for _, attrs in page.tags}
    assert {"overview", "filters", "f-search", "f-suite", "f-status", "f-tag", "f-split", "regressions"} <= ids
    for tag, attrs in page.tags:  # self-contained: no external script, style, image or font
        assert not (tag == "script" and attrs.get("src")), attrs
        assert not (tag == "link" and attrs.get("rel") == "stylesheet"), attrs
        assert not str(attrs.get("src") or "").startswith("http"), attrs
    cards = [attrs for tag, attrs in page.tags if "data-case" in attrs]
    assert cards and all(a.get("data-suite") and a.get("data-status") for a in cards)
    assert {a["data-status"] for a in cards} >= {"regressed", "failing"}
    assert not re.search(r'class="tag bad">0 ', html), "a zero-count badge drawn red"
    assert re.search(r'class="tag zero">0 missing', html)
    assert html.index('id="overview"') < html.index('id="filters"') < html.index('id="regressions"')


def test_latency_regressions_are_flagged_and_misrouted_is_a_table():
    details = {"misrouted_to": {"general_support": 5, "billing_cost": 2}}
    base, cur = _record(1.0, details), _record(8.0, details)
    comps = {"out_of_scope": compare_suite("out_of_scope", cur["suites"]["out_of_scope"],
                                           base["suites"]["out_of_scope"])}
    html = report.render_report(cur, comps, [GateResult("suite_ran:out_of_scope", "suite_ran", "out_of_scope", True, "ok")])
    overview = html[html.index('id="overview"'):html.index('id="filters"')]
    assert '<span class="flag-bad">×8.0 the baseline</span>' in overview  # p99 8x the baseline is red
    latency = html[html.index('id="latency"'):]
    assert 'class="flag-bad">8.0 ms' in latency and "1,300 ms" in latency
    section = html[html.index('id="suite-out_of_scope"'):html.index('id="latency"')]
    assert "Misrouted to" in section and "<td>general_support</td>" in section
    assert '"general_support"' not in section  # not raw JSON
    # and a p99 below twice the baseline is not red
    html = report.render_report(_record(1.5), {"out_of_scope": compare_suite(
        "out_of_scope", _record(1.5)["suites"]["out_of_scope"], base["suites"]["out_of_scope"])}, [])
    assert "flag-bad" not in html[html.index('id="overview"'):html.index('id="filters"')]


@pytest.mark.parametrize("label", ["competitor_disparagement", "lambda_troubleshooting"])
def test_chart_labels_are_whole(label):
    svg = str(report.heatmap([label, "none"], [[3, 1], [0, 5]]))
    assert f">{label}</text>" in svg
    width = float(re.search(r'width="(\d+)"', svg).group(1))
    left = float(re.search(r'<text x="([\d.]+)"[^>]*text-anchor="end">' + label, svg).group(1))
    assert left >= 6.0 * len(label) and width > left  # room for the whole label at 11 px
