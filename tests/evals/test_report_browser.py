"""Render the HTML report in headless Chromium (Playwright, system executable; DESIGN.md §6)
and check that its sections and SVG charts render with no console error and no page error;
at 1400 and 800 px: screenshots, the summary fits one screen, nothing overflows sideways,
and the search and filters show and hide the right cases."""

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


def _sync_api():
    if not CHROMIUM.exists():
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install -y chromium); .ci/run installs it")
    return pytest.importorskip("playwright.sync_api", reason="playwright (python package) is not installed")


def test_report_renders_in_headless_chromium(report_file):
    sync_api = _sync_api()
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
            page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
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


def _pixel_diff(page, a: bytes, b: bytes) -> float:
    """Share of pixels that differ between two PNG screenshots (decoded by the browser's canvas)."""
    import base64

    return page.evaluate("""async ([a, b]) => {
        const load = src => new Promise(ok => { const i = new Image(); i.onload = () => ok(i); i.src = src; });
        const [x, y] = await Promise.all([load(a), load(b)]);
        if (x.width !== y.width || x.height !== y.height) return 1;
        const pixels = img => { const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0); return g.getImageData(0, 0, c.width, c.height).data; };
        const p = pixels(x), q = pixels(y);
        let differ = 0;
        for (let i = 0; i < p.length; i += 4) {
            if (p[i] !== q[i] || p[i + 1] !== q[i + 1] || p[i + 2] !== q[i + 2]) differ += 1;
        }
        return differ / (p.length / 4); }""",
        [f"data:image/png;base64,{base64.b64encode(a).decode()}", f"data:image/png;base64,{base64.b64encode(b).decode()}"])


@pytest.mark.parametrize("width", [1400, 800])
def test_report_at_1400_and_800_px_summary_fits_one_screen_and_filters_work(report_file, width, tmp_path):
    sync_api = _sync_api()
    height = 900
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report_file.as_uri())
            page.wait_for_load_state("load")
            first = page.screenshot(path=str(tmp_path / f"report-{width}.png"))
            # The summary (verdict, one row per suite, the way to the details) fits the first screen.
            box = page.locator("#overview").bounding_box()
            assert box["y"] + box["height"] <= height, box
            assert page.locator("#filters").bounding_box()["y"] < height
            # Nothing wider than the window, collapsed or open.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            # Chart labels are whole: every label of the confusion matrix fits inside its SVG.
            clipped = page.evaluate("""() => {
                const out = [];
                document.querySelectorAll('#suite-intent .figure-confusion svg').forEach(svg => {
                  const r = svg.getBoundingClientRect();
                  svg.querySelectorAll('text').forEach(t => { const b = t.getBoundingClientRect();
                    if (b.left < r.left - 1 || b.top < r.top - 1 || b.right > r.right + 1) out.push(t.textContent); });
                });
                return out; }""")
            assert clipped == []
            page.reload()
            page.wait_for_load_state("load")

            cases = page.locator("[data-case]")
            total = cases.count()
            assert total > 10

            def visible_ids() -> set[str]:
                return set(page.evaluate("""() => Array.from(document.querySelectorAll('[data-case]'))
                    .filter(el => !el.hidden).map(el => el.querySelector('code').textContent)"""))

            page.fill("#f-search", "g-8")
            assert visible_ids() == {"g-8"}
            assert page.locator("#regressions [data-case]:not([hidden])").first.is_visible()
            shown = page.locator("[data-case]:not([hidden])").count()  # in the regressions and in its suite
            assert page.locator("#f-count").inner_text().startswith(f"{shown} of {total}")
            searched = page.screenshot()
            page.fill("#f-search", "")
            page.select_option("#f-status", "regressed")
            assert visible_ids() and all(page.evaluate("""() => Array.from(document.querySelectorAll('[data-case]'))
                .filter(el => !el.hidden).map(el => el.dataset.status === 'regressed')"""))
            page.select_option("#f-status", "")
            page.select_option("#f-suite", "intent")
            assert page.locator("#suite-guardrails_input").is_hidden()
            assert page.locator("#suite-intent").is_visible()
            assert all(i.startswith("i-") for i in visible_ids())
            page.select_option("#f-suite", "")
            assert page.locator("[data-case]:not([hidden])").count() == total
            page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")  # no focus ring, top of page
            again = page.screenshot()
            diff_back = _pixel_diff(page, first, again)
            diff_searched = _pixel_diff(page, first, searched)
        finally:
            browser.close()
    assert errors == []
    # The screenshots are compared pixel by pixel: filtering changes what is on screen, and
    # clearing every filter brings back the first screen.
    assert searched != first
    assert diff_back < 0.001, diff_back
    assert diff_searched > 0.01, diff_searched
