"""``python -m evals feedback-report``: the Lambda's analysis rendered offline with pandas."""

from __future__ import annotations

import io
import json
import random
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evals.cli import main as evals_main
from evals.feedback_report import daily_series, frame
from pipeline.domain.experiments import EXPERIMENT_FILE, assign, parse_experiment
from pipeline.domain.feedback_analytics import daily
from pipeline.domain.models import Feedback, ImplicitSignals

PROMPTS = Path(__file__).resolve().parents[2] / "pipeline" / "prompts"
START = datetime(2026, 11, 20, tzinfo=UTC)
EXPERIMENT = parse_experiment(
    {"experiment_id": "compute-runbook", "template_id": "compute_troubleshooting", "control": "v1",
     "weights": {"v1": 50, "v2": 50}, "primary_metric": "csat", "min_samples_per_variant": 150,
     "hypothesis": "numbered steps with CLI examples score higher"},
    origin="test",
)


def population(n: int = 1400, seed: int = 2) -> list[Feedback]:
    """Two weeks of sessions; v2's satisfaction is 0.78 against v1's 0.62."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        session = f"sess-{i:06d}"
        variant = assign(EXPERIMENT, session).variant
        when = START + timedelta(minutes=14 * i)
        signals = ImplicitSignals(quality_score=0.9 if variant == "v2" else 0.7, intent=rng.choice(
            ["ec2_troubleshooting", "lambda_troubleshooting"]), template_id="compute_troubleshooting",
            template_version=variant, variant=variant, experiment_id="compute-runbook", response_type="answer")
        records.append(Feedback(f"implicit-r{i}", session, f"r{i}", when.isoformat(), "implicit", signals=signals))
        if rng.random() < 0.7:
            happy = rng.random() < (0.78 if variant == "v2" else 0.62)
            comment = None if happy else rng.choice(["the cli command was wrong", "no steps at all", None])
            records.append(Feedback(f"f{i}", session, f"r{i}", (when + timedelta(minutes=2)).isoformat(), "explicit",
                                    thumbs="up" if happy else "down", comment=comment, signals=signals))
    return records


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path, list[Feedback]]:
    records = population()
    path = tmp_path / "feedback.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records), encoding="utf-8")
    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS, prompts)
    (prompts / "compute_troubleshooting" / EXPERIMENT_FILE).write_text(EXPERIMENT.to_toml(), encoding="utf-8")
    return path, prompts, records


def test_feedback_report_renders_the_verdict_charts_segments_and_themes(inputs, tmp_path: Path) -> None:
    path, prompts, _ = inputs
    output, summary_path = tmp_path / "report.html", tmp_path / "summary.json"
    out, err = io.StringIO(), io.StringIO()
    code = evals_main(["feedback-report", "--input", str(path), "--prompts-dir", str(prompts),
                       "--now", (START + timedelta(days=14)).isoformat(), "--hours", "24", "--hours", "168",
                       "--output", str(output), "--json", str(summary_path)], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert out.getvalue().startswith("compute-runbook: promote v2 (v2 beats v1 on csat by +0.1")
    page = output.read_text(encoding="utf-8")
    assert "<script" not in page and not re.search(r"""(src|href)=["']?https?:""", page)  # self-contained
    # Four charts; this population gives thumbs only, so the mean-rating chart says "no data".
    assert page.count("<figure>") == 4 and page.count("<svg") == 3 and "polyline" in page
    assert re.search(r"Mean rating by experiment variant, per day</figcaption><p class=\"muted\">no data", page)
    assert "compute-runbook" in page and "promote" in page and "Bonferroni" in page
    assert "Last 24 hours" in page and "Last 168 hours" in page and "by response type" in page
    assert "cli command" in page and "the cli command was wrong" in page  # a theme with its example
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["experiments"][0]["recommendation"] == "promote"


def test_pandas_series_equal_the_lambdas_daily_numbers(inputs) -> None:
    _, _, records = inputs
    from pipeline.domain.feedback_analytics import interactions

    lam = daily(interactions(records), "variant")
    pan = daily_series(frame(records), "variant_key", "satisfied_num")
    assert set(lam) == set(pan) == {"compute-runbook/v1", "compute-runbook/v2"}
    for key, points in pan.items():
        for day, value in points:
            assert value == pytest.approx(lam[key][day]["csat"], abs=1e-4)


def test_a_bad_input_line_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    path.write_text('{"feedback_id": "a"}\nnot json\n', encoding="utf-8")
    err = io.StringIO()
    output = tmp_path / "report.html"
    assert evals_main(["feedback-report", "--input", str(path), "--output", str(output)],
                      stdout=io.StringIO(), stderr=err) == 2
    assert f"{path}:1: not a feedback record" in err.getvalue() and not output.exists()
