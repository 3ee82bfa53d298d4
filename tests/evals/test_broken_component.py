"""Acceptance test of the harness on a temporary copy of the REAL components (issue 4,
"Done when"): a deliberately broken guardrail rule or intent rule makes ``python -m evals``
exit 1 with the regression at the top of the report.

Each test copies ``pipeline/``, ``evals/``, ``golden_sets/`` and ``reports/templates/``
into ``tmp_path``, writes a baseline there from the unbroken code, breaks one rule by
editing the copy's source text, runs the suite again against that baseline and checks
the exit code, the report, the JUnit file and that no golden secret reaches the record
or the report in clear text. The working tree is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evals.suites import SENSITIVE_CATEGORIES

REPO = Path(__file__).resolve().parents[2]
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "baselines", "out")


def _copy_repo(dst: Path) -> Path:
    for rel in ("pipeline", "evals", "golden_sets", "reports/templates"):
        shutil.copytree(REPO / rel, dst / rel, ignore=_IGNORE)
    (dst / "evals" / "baselines").mkdir()
    return dst


def _run_evals(root: Path, suite: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONPATH=str(root), CI="1", PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "evals", "--suite", suite, "--baseline-dir", str(root / "baselines"),
           "--report-dir", str(root / "out"), *extra]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


def _break(path: Path, pattern: str, replacement: str) -> None:
    """Edit a copied source file; fail loudly if the edit point moved."""
    source = path.read_text(encoding="utf-8")
    broken, n = re.subn(pattern, replacement, source, count=1, flags=re.MULTILINE)
    assert n == 1, f"edit point {pattern!r} not found in {path}: update this test to the new source"
    path.write_text(broken, encoding="utf-8")


def _failed_gates(root: Path) -> set[str]:
    record = json.loads((root / "out" / "latest" / "run.json").read_text(encoding="utf-8"))
    return {g["name"] for g in record["verdict"]["gates"] if not g["passed"]}


class _FirstRegression(HTMLParser):
    """Collects the section ids in document order (sections and collapsible sections) and the
    text of the first regression: the summary line of the first case card in the regressions
    section (the first thing a reader sees there)."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.in_regressions = False
        self.depth = 0  # >0 while inside the first card's summary
        self.done = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("section", "details") and a.get("id"):
            self.sections.append(a["id"])
            self.in_regressions = a["id"] == "regressions"
        if self.depth:
            self.depth += tag == "summary"
        elif tag == "summary" and self.in_regressions and not self.done:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth and tag == "summary":
            self.depth -= 1
            if not self.depth:
                self.done = True

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


def _first_regression(html: str) -> tuple[list[str], str]:
    parser = _FirstRegression()
    parser.feed(html)
    return parser.sections, " ".join(parser.text)


def _check_run(root: Path, suite: str) -> tuple[str, str]:
    """Common assertions on a broken run; returns (first regression text, report html)."""
    out = root / "out" / "latest"
    html = (out / "index.html").read_text(encoding="utf-8")
    sections, first = _first_regression(html)
    # the one-screen summary first, then the regressions before any other section
    assert [x for x in sections if x != "overview"][:1] == ["regressions"], \
        f"regressions are not the first section: {sections}"
    assert first, "the report lists no regression"
    assert "FAIL" in html.split("</h1>", 1)[0]
    junit = ET.parse(out / "junit.xml").getroot()
    assert int(junit.get("failures", "0")) > 0
    gate_failures = [tc for tc in junit.iter("testcase")
                     if tc.get("classname", "").startswith("evals.gates") and tc.find("failure") is not None]
    assert any(tc.get("name") == f"no_regression:{suite}.pass_rate" for tc in gate_failures), \
        [tc.get("name") for tc in gate_failures]
    return first, html


def _secrets(root: Path) -> set[str]:
    """Secret-looking tokens of every sensitive golden guardrail case."""
    found: set[str] = set()
    # Texts of cases with nothing secret (stored in clear): a token that also occurs in one,
    # even inside a longer token, is public (cipher names, ids, the public half of an
    # OpenSSH key that its private key file embeds).
    public_texts: list[str] = []
    for name in ("guardrails_input.jsonl", "guardrails_output.jsonl"):
        for line in (root / "golden_sets" / name).read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            case = json.loads(line)
            sensitive = bool(set(case["expected"].get("categories") or ()) & SENSITIVE_CATEGORIES)
            if not sensitive:
                public_texts.append(case["input"])
                continue
            for token in re.findall(r"[A-Za-z0-9+/=_\-]{16,}", case["input"]):
                if any(c.isdigit() for c in token) and any(c.isalpha() for c in token):
                    found.add(token)
    public = "\n".join(public_texts)
    return {token for token in found if token not in public}


def test_broken_access_key_rule_exits_1_with_the_regression_first(tmp_path):
    root = _copy_repo(tmp_path)
    base = _run_evals(root, "guardrails_input", "--update-baseline")
    assert base.returncode in (0, 1), base.stderr
    assert (root / "baselines" / "guardrails_input.json").is_file(), base.stdout + base.stderr
    failed_before = _failed_gates(root)

    # The access-key id rule never matches any more: (?!) fails at every position.
    _break(root / "pipeline" / "domain" / "guardrails" / "catalogue" / "secrets.toml",
           r"^(  ')(?=\(\?-i:\[Aa\]\)\(\?<!)", r"\1(?!)")
    run = _run_evals(root, "guardrails_input")
    assert run.returncode == 1, run.stdout + run.stderr
    new_failures = _failed_gates(root) - failed_before
    assert "no_regression:guardrails_input.pass_rate" in new_failures, new_failures
    assert "zero_tolerance:guardrails_input.secret_leak" in _failed_gates(root)

    first, html = _check_run(root, "guardrails_input")
    assert "gin-aws_access_key-" in first, first[:500]
    # the one-screen summary names the failing gate, the regression and the report
    assert "no_regression:guardrails_input.pass_rate" in run.stdout
    assert "gin-aws_access_key-" in run.stdout
    assert "index.html" in run.stdout

    # A secret the broken guardrail let through is never written anywhere.
    secrets = _secrets(root)
    assert any(s.startswith("AKIA") for s in secrets)
    artefacts = [root / "out" / "latest" / f for f in ("run.json", "index.html", "junit.xml")]
    artefacts.append(root / "baselines" / "guardrails_input.json")
    for path in artefacts:
        text = path.read_text(encoding="utf-8")
        leaked = sorted(s for s in secrets if s in text)
        assert not leaked, f"{path.name} contains golden secrets in clear text: {leaked[:5]}"
    assert not [s for s in secrets if s in run.stdout + run.stderr]


def test_broken_billing_intent_rule_exits_1_with_the_regression_first(tmp_path):
    root = _copy_repo(tmp_path)
    base = _run_evals(root, "intent", "--update-baseline")
    assert base.returncode in (0, 1), base.stderr
    assert (root / "baselines" / "intent.json").is_file(), base.stdout + base.stderr
    failed_before = _failed_gates(root)

    # The billing dispute rule now routes every disputed charge to account management (the
    # keyword rules would yield to a confident classifier: breaking them hides in its answers).
    _break(root / "pipeline" / "domain" / "intent" / "core.py", r'return "billing_cost", "billing_dispute"',
           'return "account_management", "billing_dispute"')
    run = _run_evals(root, "intent")
    assert run.returncode == 1, run.stdout + run.stderr
    new_failures = _failed_gates(root) - failed_before
    assert "no_regression:intent.pass_rate" in new_failures, new_failures

    first, _ = _check_run(root, "intent")
    assert "billing_cost" in first and "account_management" in first, first[:800]
    assert "no_regression:intent.pass_rate" in run.stdout
    assert "index.html" in run.stdout


@pytest.fixture(autouse=True)
def _no_tree_changes():
    """The tests work on copies: the real baselines must be untouched."""
    before = {p.name: p.stat().st_mtime_ns for p in (REPO / "evals" / "baselines").glob("*.json")}
    yield
    after = {p.name: p.stat().st_mtime_ns for p in (REPO / "evals" / "baselines").glob("*.json")}
    assert before == after
