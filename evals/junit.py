"""JUnit XML for CI annotations: one test case per golden case and one per gate.

A case that fails is a ``<failure>`` only when it is news: it regressed against the
baseline, is new, or its suite has no baseline. A case that fails in the baseline too is a
known failure the baseline accepts: it is written as ``<skipped>`` with the reason, so a
green run does not paint CI widgets red (the gates decide the verdict, not known failures).

Example:
    >>> xml = to_junit({"run_id": "r", "suites": {}}, [])
    >>> xml.startswith('<?xml version="1.0" encoding="utf-8"?>')
    True
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.compare import SuiteComparison
from evals.gates import GateResult

_MAX_DETAIL = 2000


def _failure_text(case: dict[str, Any]) -> str:
    parts = [f"{k}: {s.get('detail') or s.get('value')}" for k, s in (case.get("scores") or {}).items()
             if not s.get("passed")]
    return "; ".join(parts)[:_MAX_DETAIL] or "failed"


def _known_failures(comparison: SuiteComparison | None, cases: Sequence[dict[str, Any]]) -> set[str]:
    """Ids of failing cases the baseline already accepts (failing there too)."""
    if comparison is None or not comparison.has_baseline:
        return set()
    news = {c.id for c in comparison.changes if c.status in ("regressed", "new")}
    return {c["id"] for c in cases if not c["passed"] and not c.get("error") and c["id"] not in news}


def to_junit(record: dict[str, Any], gates: Sequence[GateResult],
             comparisons: dict[str, SuiteComparison] | None = None) -> str:
    """Render the run record and gate results as a JUnit XML document.

    Args:
        record: The run record.
        gates: The gate results.
        comparisons: Each suite against its baseline; without it every failing case is a
            ``<failure>``.
    """
    root = ET.Element("testsuites", name=f"evals {record.get('run_id', '')}")
    total = failures = errors = skipped = 0
    for name, suite in record["suites"].items():
        cases = suite["cases"]
        known = _known_failures((comparisons or {}).get(name), cases)
        s_fail = sum(1 for c in cases if not c["passed"] and not c.get("error") and c["id"] not in known)
        s_err = sum(1 for c in cases if c.get("error"))
        el = ET.SubElement(root, "testsuite", name=f"evals.{name}", tests=str(len(cases)), failures=str(s_fail),
                           errors=str(s_err), skipped=str(len(known)),
                           time=f"{(suite.get('timings') or {}).get('run_s', 0.0):.3f}")
        for c in cases:
            tc = ET.SubElement(el, "testcase", classname=f"evals.{name}", name=c["id"],
                               time=f"{(c.get('latency_ms') or 0.0) / 1000.0:.6f}")
            if c.get("error"):
                ET.SubElement(tc, "error", message=str(c["error"])[:500], type="CaseError").text = str(c["error"])
            elif c["id"] in known:
                text = "known failure, accepted by the baseline: " + _failure_text(c)
                ET.SubElement(tc, "skipped", message=text[:500]).text = text
            elif not c["passed"]:
                text = _failure_text(c)
                ET.SubElement(tc, "failure", message=text[:500], type="CaseFailed").text = text
        total += len(cases)
        failures += s_fail
        errors += s_err
        skipped += len(known)
    g_fail = sum(1 for g in gates if g.failed)
    g_skip = sum(1 for g in gates if g.skipped)
    gel = ET.SubElement(root, "testsuite", name="evals.gates", tests=str(len(gates)), failures=str(g_fail),
                        errors="0", skipped=str(g_skip), time="0")
    for g in gates:
        tc = ET.SubElement(gel, "testcase", classname=f"evals.gates.{g.kind}", name=g.name, time="0")
        if g.skipped:  # a partial run: not decided, neither passed nor failed
            ET.SubElement(tc, "skipped", message=g.detail[:500]).text = g.detail
        elif not g.passed:
            ET.SubElement(tc, "failure", message=g.detail[:500], type="GateFailed").text = g.detail
    root.set("tests", str(total + len(gates)))
    root.set("failures", str(failures + g_fail))
    root.set("errors", str(errors))
    root.set("skipped", str(skipped + g_skip))
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, record: dict[str, Any], gates: Sequence[GateResult],
                comparisons: dict[str, SuiteComparison] | None = None) -> None:
    """Write the JUnit file (parent directories are created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_junit(record, gates, comparisons), encoding="utf-8")
