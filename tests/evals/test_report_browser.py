"""Render the HTML report in headless Chromium (Playwright, system executable; DESIGN.md §6)
and check that its sections and SVG charts render with no console error and no page error."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evals import suites
from evals.compare import compare_suite
from evals.datasets import GoldenCase
from evals.gates import evaluate, parse_gates
from evals.record import build_record
from evals.report import write_report
from evals.runner import RunConfig, SolverSpec, Suite, run_suite
from evals.scorers import flag_match, guardrail_match, intent_match
from pipeline.domain.models import INPUT_CATEGORIES, INTENTS

CHROMIUM = Path("/usr/lib/chromium/chromium")
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


def _intent_suite(seed: int) -> Suite:
    def load():
        return [GoldenCase(f"i-{i}", f"q {i}", {"intent": INTENTS[i % 10], "needs_clarification": i % 11 == 0,
                                                "escalate": False}, (), "test", "t") for i in range(200)]

    def build(config):
        rng = random.Random(seed)

        def solve(text):
            i = int(text.split()[1])
            conf = rng.random()
            intent = INTENTS[i % 10] if conf > 0.25 else INTENTS[(i + 1) % 10]
            return {"intent": intent, "confidence": conf, "needs_clarification": conf < 0.3, "escalate": False}

        return solve

    return Suite("intent", "synthetic intent", None, SolverSpec("fake", build),
                 (intent_match(), flag_match("needs_clarification")), suites.intent_metrics, load=load)


def _guard_suite(broken: bool) -> Suite:
    def load():
        return [GoldenCase(f"g-{i}", f"text {i}", {"action": "block" if i % 4 == 0 else "allow",
                                                   "categories": ["prompt_attack"] if i % 4 == 0 else []},
                           (), "test", "t") for i in range(40)]

    def build(config):
        def solve(text):
            i = int(text.split()[1])
            hit = i % 4 == 0 and not (broken and i == 8)
            return {"action": "block" if hit else "allow", "categories": ["prompt_attack"] if hit else []}

        return solve

    return Suite("guardrails_input", "synthetic guardrail", None, SolverSpec("fake", build), (guardrail_match(),),
                 suites.guardrail_metrics(INPUT_CATEGORIES), load=load, flags=suites.guardrail_flags)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    config = RunConfig()
    now = datetime.now(UTC)
    base = build_record([run_suite(_intent_suite(1), config), run_suite(_guard_suite(False), config)], config,
                        run_id="base", started_at=now, wall_s=0.1)
    cur = build_record([run_suite(_intent_suite(2), config), run_suite(_guard_suite(True), config)], config,
                       run_id="cur", started_at=now, wall_s=0.1)
    comps = {n: compare_suite(n, cur["suites"][n], base["suites"][n], baseline_run_id="base") for n in cur["suites"]}
    gate_results = evaluate(parse_gates({"no_regression": [{"suite": "*", "metric": "pass_rate"}]}, "g.toml"),
                            cur, comps)
    path = tmp_path_factory.mktemp("report") / "index.html"
    write_report(cur, comps, gate_results, path)
    return path


def test_report_renders_in_headless_chromium(report_file):
    if not CHROMIUM.exists():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install -y chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python package) is not installed")
    console_errors: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report_file.as_uri())
            page.wait_for_load_state("load")
            assert page.title().startswith("Eval report cur")
            for section in ("#verdict", "#regressions", "#gates", "#headline", "#suite-intent",
                            "#suite-guardrails_input", "#metadata"):
                assert page.locator(section).is_visible(), section
            assert "FAIL" in page.locator("#verdict h1").inner_text()
            assert "g-8" in page.locator("#regressions").inner_text()
            for chart in (".figure-confusion svg", ".figure-reliability svg", ".figure-coverage svg",
                          ".figure-latency svg"):
                svg = page.locator(f"#suite-intent {chart}")
                assert svg.count() == 1, chart
                box = svg.bounding_box()
                assert box and box["width"] > 100 and box["height"] > 100, chart
            assert page.locator("#suite-intent .figure-confusion rect").count() >= 100
            assert page.locator("#suite-intent .figure-reliability path").count() >= 1
            # the regression section comes before the per-suite sections on the page
            reg_y = page.locator("#regressions").bounding_box()["y"]
            suite_y = page.locator("#suite-intent").bounding_box()["y"]
            assert reg_y < suite_y
        finally:
            browser.close()
    assert console_errors == []
    assert page_errors == []
    assert all(u.startswith("file://") for u in requests), requests
