"""``python -m evals ab``: input checks, the degraded-prompt regression, identical arms, report."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from evals import ab, cli
from evals.ab import VARIANTS_DIR
from evals.report import render_ab_report, word_diff
from pipeline.adapters.local.prompt_files import PROMPTS_DIR

STRUCTURE_DIRECTIVES = ("sections", "steps", "cli_examples", "references", "max_steps", "max_words")


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["ab", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _degraded(tmp_path: Path) -> Path:
    """compute_troubleshooting v2 with its structure directives removed and max_words:40, as v9."""
    data = json.loads((PROMPTS_DIR / "compute_troubleshooting" / "v2.json").read_text())
    data["version"] = "v9"
    data["format_instructions"] = [d for d in data["format_instructions"]
                                   if d.partition(":")[0] not in STRUCTURE_DIRECTIVES] + ["max_words:40"]
    folder = tmp_path / "variants" / "compute_troubleshooting"
    folder.mkdir(parents=True)
    (folder / "v9.json").write_text(json.dumps(data))
    return tmp_path / "variants"


@pytest.mark.parametrize("argv, message", [
    ((), "choose one of"),
    (("--template", "compute_troubleshooting", "--a", "v1"), "needs --a VERSION and --b VERSION"),
    (("--template", "nope", "--a", "v1", "--b", "v2"), "unknown template"),
    (("--template", "compute_troubleshooting", "--a", "v1", "--b", "v8"), "has no version 'v8'"),
    (("--a-dir", "pipeline/prompts"), "go together"),
    (("--all", "--limit", "0"), "--limit"),
    (("--a-model-id", "m1", "--b-model-id", "m2"), "need --model bedrock or --model replay"),
    (("--model", "replay", "--a-model-id", "m1"), "go together"),
    (("--model", "replay", "--a-model-id", "m1", "--b-model-id", "m1"), "the same model"),
    (("--all", "--model", "replay", "--a-model-id", "m1", "--b-model-id", "m2"), "choose one of"),
])
def test_bad_input_exits_2_with_a_message(argv, message):
    code, _out, err = _run(*argv)
    assert code == 2
    assert message in err


def test_degraded_prompt_is_reported_b_worse_with_exit_1(tmp_path):
    variants = _degraded(tmp_path)
    code, out, _ = _run("--template", "compute_troubleshooting", "--a", "v2", "--b", "v9",
                        "--variants-dir", str(variants), "--limit", "40", "--report-dir", str(tmp_path / "out"))
    assert code == 1
    assert "verdict: B worse" in out and "REGRESSION" in out
    summary = json.loads(next((tmp_path / "out").glob("*-ab/ab.json")).read_text())
    analysis = summary["analysis"]
    primary = next(m for m in analysis["metrics"] if m["name"] == "answer_score")
    assert primary["ci"][1] < 0
    words = next(m for m in analysis["metrics"] if m["name"] == "words")
    assert words["b"] <= 40 < words["a"]
    # Both arms' run records are kept, with full answers.
    for arm in ("A", "B"):
        record = json.loads(next((tmp_path / "out").glob(f"*-ab/{arm}/run.json")).read_text())
        assert len(record["suites"]["generation"]["cases"]) == analysis["n"] == 40
    html = next((tmp_path / "out").glob("*-ab/index.html")).read_text()
    assert "B worse" in html and "<del>" in html


def test_identical_prompt_directories_give_no_detectable_difference(tmp_path):
    code, out, _ = _run("--a-dir", str(PROMPTS_DIR), "--b-dir", str(PROMPTS_DIR), "--limit", "25",
                        "--report-dir", str(tmp_path))
    assert code == 0
    assert "verdict: no detectable difference" in out
    assert re.search(r"smallest effect this sample \(25 pairs\).*answer_score ±\d", out)
    assert (tmp_path / "ab-latest" / "A" / "run.json").is_file()


def test_all_plans_each_candidate_against_the_shipped_version():
    args = ab.build_parser().parse_args(["--all"])
    labels = [c.label for c in ab.plan(args)]
    for folder in sorted(VARIANTS_DIR.iterdir()):
        shipped = max(p.stem for p in (PROMPTS_DIR / folder.name).glob("*.json"))
        for variant in folder.glob("*.json"):
            assert f"{folder.name}: {shipped} vs {variant.stem}" in labels
    assert "networking: v1 vs v2" in labels  # no candidate: previous shipped vs latest


def test_committed_variants_state_a_hypothesis():
    from pipeline.domain.generation import parse_template

    variants = sorted(VARIANTS_DIR.glob("*/*.json"))
    assert len({p.parent.name for p in variants}) >= 2
    for path in variants:
        template = parse_template(json.loads(path.read_text()), origin=str(path))
        assert len(template.hypothesis) > 40


def test_word_diff_marks_only_changed_words_and_escapes_html():
    left, right = word_diff("keep <b> old tail", "keep <b> new tail")
    assert str(left) == "keep &lt;b&gt; <del>old</del> tail"
    assert str(right) == "keep &lt;b&gt; <ins>new</ins> tail"


def test_ab_report_renders_verdict_statistics_and_side_by_side():
    case = {"id": "c1", "query": "q", "a_score": 0.9, "b_score": 0.5, "delta": -0.4, "a_passed": True,
            "b_passed": False, "a_template": "t@v1", "b_template": "t@v2", "a_words": 3, "b_words": 2,
            "a_response": "one two three", "b_response": "one three", "intent": "networking"}
    summary = {"label": "t: v1 vs v2", "hypothesis": "shorter is better", "model": {"id": "m"}, "seed": 1,
               "git": {"commit": "abc"}, "a": {}, "b": {}, "records": {"A": "A/run.json", "B": "B/run.json"},
               "analysis": {"n": 1, "decision": "B worse", "reasons": ["because"], "mde": {"answer_score": 0.1,
                            "pass_rate": 0.2}, "counts": {"fixed": 0, "regressed": 1, "both_pass": 0, "both_fail": 0},
                            "metrics": [{"name": "answer_score", "a": 0.9, "b": 0.5, "delta": -0.4, "ci": [-0.4, -0.4],
                                         "method": "paired bootstrap", "p_value": 0.0, "decides": True,
                                         "higher_is_better": True, "note": ""}],
                            "per_group": {}, "per_case": [case], "config": {"alpha": 0.05}}}
    html = render_ab_report(summary)
    assert "Prompt A/B: B worse" in html and "shorter is better" in html
    assert "<del>two" in html and "decides" in html


def test_nox_has_a_documented_ab_session():
    source = (Path(__file__).resolve().parents[2] / "noxfile.py").read_text()
    match = re.search(r'def ab\(session: nox.Session\) -> None:\n    """(.+?)"""', source, re.DOTALL)
    assert match and "evals ab" in match.group(1)
    assert '"evals", "ab"' in source


def test_two_model_ids_without_cassettes_is_a_configuration_error_before_any_arm_runs(tmp_path):
    code, out, err = _run("--model", "replay", "--a-model-id", "us.example.model-a-v1:0", "--b-model-id",
                          "us.example.model-b-v1:0", "--limit", "3", "--cassettes", str(tmp_path / "none"),
                          "--report-dir", str(tmp_path / "out"))
    assert code == 2
    assert "cassettes of us.example.model-a-v1:0 missing" in err
    assert not list((tmp_path / "out").glob("*-ab/A/run.json"))  # nothing ran


class _FakeConverse:
    """A bedrock-runtime stand-in: every answer the same text (one per model)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[str] = []

    def converse(self, **request):
        self.calls.append(request["modelId"])
        return {"output": {"message": {"role": "assistant", "content": [{"text": self.text}]}},
                "stopReason": "end_turn", "usage": {"inputTokens": 100, "outputTokens": 50, "totalTokens": 150},
                "metrics": {"latencyMs": 20}}


def test_two_model_ids_run_one_model_per_arm_and_keep_both_records(tmp_path, monkeypatch):
    from evals.ab_analysis import load_ab_config

    # preflight looks for credentials and makes a five-token call per model (the fakes answer it)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from evals.generation_suite import generation_suite
    from evals.runner import RunConfig

    good = ("## Fix the SSH timeout\n\n1. Check the security group allows TCP 22 from your IP.\n"
            "2. Check the route table has a route to the internet gateway.\n3. Check the network ACL.\n\n"
            "```bash\naws ec2 describe-security-groups --group-ids sg-0123456789abcdef0\n```\n")
    terse = "Check your settings."
    # ids of the family the shipped templates are written for (anthropic.claude): any other
    # family is refused by the Bedrock adapter (see the next test)
    a_id, b_id = "us.anthropic.claude-model-a-v1:0", "us.anthropic.claude-model-b-v1:0"
    clients = {a_id: _FakeConverse(good), b_id: _FakeConverse(terse)}
    comparison = ab.Comparison(f"model {a_id} vs {b_id}", ab.Arm("A"), ab.Arm("B"), a_model_id=a_id, b_model_id=b_id)
    config = RunConfig(model="bedrock")
    config_a, config_b = ab.arm_configs(comparison, config, region="us-east-1",
                                        client_factory=lambda region: _Router(clients))
    cases = generation_suite().load_cases()
    analysis, summary = ab.run_comparison(comparison, cases, config, load_ab_config(ab.AB_CONFIG), tmp_path,
                                          limit=12, configs=(config_a, config_b))
    # one preflight call per model, then every case's answer (before: only the preflight calls
    # were made and every case failed on the model family, unnoticed)
    assert len(clients[a_id].calls) > 1 and set(clients[a_id].calls) == {a_id}
    assert len(clients[b_id].calls) > 1 and set(clients[b_id].calls) == {b_id}
    assert summary["model"]["id"] == a_id and summary["model_b"]["id"] == b_id
    assert analysis.n == 12  # the same 12 cases, paired
    for arm, text in (("A", good), ("B", terse)):
        record = json.loads((tmp_path / arm / "run.json").read_text())
        assert [c["error"] for c in record["suites"]["generation"]["cases"]] == [None] * 12
        assert {c["output"]["response"] for c in record["suites"]["generation"]["cases"]
                if c["output"]["response_type"] == "answer"} == {text}
    assert analysis.decision == "B worse"


def test_an_arm_whose_every_case_fails_is_a_configuration_error_not_a_verdict(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from evals.ab_analysis import load_ab_config
    from evals.generation_suite import generation_suite
    from evals.runner import RunConfig

    clients = {"model-a": _FakeConverse("a"), "model-b": _FakeConverse("b")}  # not anthropic.claude
    comparison = ab.Comparison("model model-a vs model-b", ab.Arm("A"), ab.Arm("B"),
                               a_model_id="model-a", b_model_id="model-b")
    config = RunConfig(model="bedrock")
    configs = ab.arm_configs(comparison, config, region="us-east-1", client_factory=lambda region: _Router(clients))
    with pytest.raises(ab.ABInputError, match=r"arm A: all 5 cases failed.*not of the family 'anthropic.claude'"):
        ab.run_comparison(comparison, generation_suite().load_cases(), config, load_ab_config(ab.AB_CONFIG),
                          tmp_path, limit=5, configs=configs)


class _Router:
    """Sends each Converse call to the fake of the model it names."""

    def __init__(self, clients):
        self.clients = clients

    def converse(self, **request):
        return self.clients[request["modelId"]].converse(**request)


CANARIES = Path(__file__).resolve().parents[2] / "evals" / "ab_canaries"


def test_the_committed_canary_is_the_shipped_prompt_degraded_as_issue_10_describes():
    shipped = json.loads((PROMPTS_DIR / "compute_troubleshooting" / "v2.json").read_text())
    canary = json.loads((CANARIES / "compute_troubleshooting" / "v9.json").read_text())
    assert canary["system_prompt"] == shipped["system_prompt"]
    assert canary["user_template"] == shipped["user_template"]
    assert canary["format_instructions"] == [d for d in shipped["format_instructions"]
                                             if d.partition(":")[0] not in STRUCTURE_DIRECTIVES] + ["max_words:40"]


def test_expect_worse_passes_a_caught_canary_and_fails_a_missed_one(tmp_path):
    code, out, err = _run("--template", "compute_troubleshooting", "--a", "v2", "--b", "v9",
                          "--variants-dir", str(CANARIES), "--limit", "30", "--expect-worse",
                          "--no-html", "--report-dir", str(tmp_path / "caught"))
    assert code == 0, out
    # progress of each arm (plain lines: not a terminal)
    assert "[arm A] running 30 cases" in err and "[arm B] 30 cases in" in err
    assert "verdict: B worse" in out and "canary caught: B worse in all 1 comparison(s)" in out
    # the same prompt on both arms is no regression: a canary that is not caught fails
    code, out, _ = _run("--template", "compute_troubleshooting", "--a", "v2", "--b", "v2", "--limit", "30",
                        "--expect-worse", "--no-html", "--report-dir", str(tmp_path / "missed"))
    assert code == 1, out
    assert "CANARY MISSED: B not found worse in 1 of 1 comparison(s)" in out


def test_replay_without_cassettes_is_a_configuration_error_before_either_arm_runs(tmp_path):
    # Before: both arms' cases failed alike and the verdict read "no detectable difference", exit 0.
    code, out, err = _run("--template", "compute_troubleshooting", "--a", "v1", "--b", "v2", "--model", "replay",
                          "--cassettes", str(tmp_path / "none"), "--limit", "5", "--report-dir", str(tmp_path / "out"))
    assert code == 2 and "--model replay: the cassettes in" in err and "hold no recordings" in err
    assert "verdict" not in out and not list((tmp_path / "out").glob("*-ab/A/run.json"))


def test_replaying_a_prompt_comparison_with_one_arm_recorded_is_a_configuration_error(tmp_path):
    from evals import models
    from evals.runner import RunConfig

    comparison = ab._version_comparison((ab.PROMPTS_DIR,), "compute_troubleshooting", "v1", "v2")
    chosen = ab.cases_for(comparison, ab.generation_suite().load_cases(), RunConfig())
    ids = [c.id for c in sorted(chosen, key=lambda c: c.id)[:3]]
    models.record_cases("generation", ids, cassettes=tmp_path / "cassettes")  # the shipped prompts (v2) only
    code, out, err = _run("--template", "compute_troubleshooting", "--a", "v1", "--b", "v2", "--model", "replay",
                          "--cassettes", str(tmp_path / "cassettes"), "--limit", "3", "--no-html",
                          "--report-dir", str(tmp_path / "out"))
    assert code == 2, out
    assert "had no cassette (a recording holds one prompt version per case)" in err and "verdict" not in out


def test_model_id_belongs_to_a_prompt_comparison_on_a_real_or_replayed_model():
    code, _out, err = _run("--all", "--model-id", "m1")
    assert code == 2 and "--model-id names the one model" in err
    code, _out, err = _run("--template", "compute_troubleshooting", "--a", "v1", "--b", "v2", "--model", "bedrock")
    assert code == 2 and "--model bedrock needs --model-id" in err
