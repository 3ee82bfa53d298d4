"""The generation suite: its cases, full stored answers, redaction, metrics."""

from __future__ import annotations

import pytest

from evals import suites
from evals.datasets import GoldenCase
from evals.generation_suite import (
    Arm,
    OverlayPromptStore,
    _safe_input,
    generation_suite,
    load_generation_cases,
)
from evals.runner import RunConfig, run_suite


@pytest.fixture(scope="module")
def cases():
    return load_generation_cases()


def test_cases_are_answerable_seen_cases_never_blind(cases):
    assert len(cases) > 300
    assert {c.split for c in cases} <= {"dev", "test"}
    assert all(c.expected["intent"] != "out_of_scope" for c in cases)
    conv = [c for c in cases if "source:conversations" in c.tags]
    assert conv and any(c.input["history"] for c in conv)


def test_the_suite_is_registered_but_opt_in():
    assert "generation" in suites.SUITES and "generation" in suites.OPT_IN_SUITES
    assert suites.get_suite("generation").name == "generation"


def test_full_answers_are_stored_and_scored(cases):
    chosen = [c for c in cases if c.id.startswith("intent")][:6] + [c for c in cases if "#t2" in c.id][:2]
    result = run_suite(generation_suite(), RunConfig(), cases=chosen)
    assert result.setup_error is None and result.n_errors == 0
    for case in result.cases:
        out = case.output
        assert out["response"] and len(out["response"]) == out["chars"] > 300  # not clipped
        assert set(case.scores) == {"answer_structure", "answer_grounding", "answer_quality", "output_guardrail"}
        assert out["input_tokens"] > 0 and out["cost_usd"] > 0 and out["knowledge"]
    for name in ("mean_answer_structure", "mean_answer_grounding", "quality_pass_rate", "guardrail_violation_rate",
                 "mean_words", "cost_usd_total"):
        assert name in result.metrics


def test_a_pinned_arm_uses_its_version(cases):
    ec2 = [c for c in cases if c.expected["intent"] == "ec2_troubleshooting"][:2]
    result = run_suite(generation_suite(Arm("A", versions={"compute_troubleshooting": "v1"})), RunConfig(), cases=ec2)
    assert {c.output["template"] for c in result.cases} == {"compute_troubleshooting@v1"}


def test_stored_queries_are_redacted():
    secret = "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    case = GoldenCase("x", {"query": f"my key is {secret} and ec2 fails", "history": [f"earlier {secret}"]},
                      {"intent": "ec2_troubleshooting"}, (), "dev", "test")
    stored = repr(_safe_input(case, None))
    assert "AKIAIOSFODNN7EXAMPLE" not in stored and "wJalrXUtnFEMI" not in stored


def test_overlay_store_prefers_later_directories(tmp_path):
    import json

    from pipeline.adapters.local.prompt_files import PROMPTS_DIR

    data = json.loads((PROMPTS_DIR / "networking" / "v2.json").read_text())
    (tmp_path / "networking").mkdir()
    data.update(version="v7", hypothesis="h")
    (tmp_path / "networking" / "v7.json").write_text(json.dumps(data))
    store = OverlayPromptStore([PROMPTS_DIR, tmp_path])
    assert store.get("networking").version == "v7"
    assert store.get("networking", "v1").version == "v1"
    assert store.get("networking", "v7").hypothesis == "h"




def test_generation_is_a_generating_suite_recorded_and_replayed_like_the_conversations(tmp_path, capsys):
    """--model replay is checked before the suite runs; a recording replays to the same answers."""
    from evals import cli
    from evals.record import load_record

    assert suites.get_suite("generation").generates
    picked = ["--suite", "generation", "--case", "intent-v1-0002", "--case", "intent-v1-0003", "--no-html"]
    cassettes = tmp_path / "cassettes"
    assert cli.main(["--suite", "generation", "--case", "intent-v1-0005", "--no-html", "--record",
                     "--cassettes", str(cassettes), "--report-dir", str(tmp_path / "other")]) == 0  # another case
    capsys.readouterr()
    code = cli.main([*picked, "--model", "replay", "--cassettes", str(cassettes),
                     "--report-dir", str(tmp_path / "none-out")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and "generation: 2 of 2 cases have no cassettes" in err
    assert "running" not in err and not (tmp_path / "none-out").exists()
    assert cli.main([*picked, "--record", "--cassettes", str(cassettes), "--report-dir", str(tmp_path / "rec")]) == 0
    assert cli.main([*picked, "--model", "replay", "--cassettes", str(cassettes),
                     "--report-dir", str(tmp_path / "rep")]) == 0
    capsys.readouterr()
    recorded, replayed = (load_record(tmp_path / d / "latest" / "run.json") for d in ("rec", "rep"))
    assert replayed["model"]["usage"]["replay_hits"] == 2 and replayed["model"]["usage"]["replay_misses"] == 0

    def answers(record):
        return [(c["id"], c["output"]["response"], c["scores"]) for c in record["suites"]["generation"]["cases"]]

    assert answers(replayed) == answers(recorded)
