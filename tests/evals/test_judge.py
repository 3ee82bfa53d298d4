"""The optional Bedrock judge, with botocore's Stubber (no network, no credentials)."""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from evals import ab, cli
from evals.datasets import GoldenCase
from evals.judge import RUBRIC, BedrockJudge, agreement_on_quality, pairwise, parse_choice

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


@pytest.fixture
def client():
    return boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"total_max_attempts": 1}))


def _reply(text: str) -> dict:
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12}, "metrics": {"latencyMs": 5}}


def _expected(first: str, second: str) -> dict:
    return {"modelId": MODEL, "system": [{"text": RUBRIC}],
            "messages": [{"role": "user", "content": [{"text": ANY}]}],
            "inferenceConfig": {"maxTokens": 16, "temperature": 0.0}}


def test_pairwise_asks_both_orders_and_counts_a_win_only_when_they_agree(client):
    judge = BedrockJudge(client, MODEL)
    with Stubber(client) as stub:
        stub.add_response("converse", _reply("WINNER: 2"), _expected("a", "b"))  # A first: B wins
        stub.add_response("converse", _reply("WINNER: 1"), _expected("b", "a"))  # B first: B wins
        assert judge.prefer("q", "a", "b") == "B"
        stub.add_response("converse", _reply("WINNER: 1"), _expected("a", "b"))  # position 1 both times
        stub.add_response("converse", _reply("WINNER: 1"), _expected("b", "a"))
        assert judge.prefer("q", "a", "b") == "tie"  # a position bias cancels out
        stub.assert_no_pending_responses()


def test_the_request_carries_both_answers_in_the_asked_order(client):
    judge = BedrockJudge(client, MODEL)
    sent = []
    client.meta.events.register("provide-client-params.bedrock-runtime.Converse",
                                lambda params, **_: sent.append(params["messages"][0]["content"][0]["text"]))
    with Stubber(client) as stub:
        stub.add_response("converse", _reply("WINNER: TIE"))
        stub.add_response("converse", _reply("nonsense"))
        assert judge.prefer("why?", "ALPHA", "BETA") == "tie"
    assert sent[0].index("ALPHA") < sent[0].index("BETA")
    assert sent[1].index("BETA") < sent[1].index("ALPHA")


def test_pairwise_summary_uses_the_sign_test_on_differing_pairs(client):
    judge = BedrockJudge(client, MODEL)
    cases = [{"id": f"c{i}", "query": "q", "a_response": "a", "b_response": "b"} for i in range(6)]
    cases.append({"id": "same", "query": "q", "a_response": "x", "b_response": "x"})
    with Stubber(client) as stub:
        for _ in range(6):
            stub.add_response("converse", _reply("WINNER: 2"))
            stub.add_response("converse", _reply("WINNER: 1"))
        result = pairwise(judge, cases, limit=10)
    assert (result["n"], result["wins_b"], result["wins_a"], result["ties"]) == (6, 6, 0, 0)
    assert result["preference_b"] == 1.0 and result["p_value"] == pytest.approx(0.03125)
    assert result["ci"][0] > 0  # the interval agrees with the significant sign test


def test_agreement_on_quality_is_kappa_against_labels_and_refuses_blind(client):
    judge = BedrockJudge(client, MODEL)
    cases = [GoldenCase(f"q{i}", {"query": "q", "response": "r"}, {"passed": i % 2 == 0, "defects": []}, (), "dev", "t")
             for i in range(4)]
    with Stubber(client) as stub:
        for i in range(4):
            stub.add_response("converse", _reply("PASS" if i % 2 == 0 else "FAIL"))
        result = agreement_on_quality(judge, cases)
    assert result["n"] == 4 and result["kappa"] == pytest.approx(1.0) and result["agreement"] == 1.0
    blind = [GoldenCase("b", {"query": "q", "response": "r"}, {"passed": True}, (), "blind", "t")]
    with pytest.raises(ValueError, match="blind"):
        agreement_on_quality(judge, blind)


def test_parse_choice():
    assert parse_choice("Reasoning… WINNER: 1") == "1"
    assert parse_choice("winner: tie") == "tie"
    assert parse_choice("") == "tie"


def test_judge_without_credentials_is_a_configuration_error_before_any_run(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    ran = []
    monkeypatch.setattr(ab, "run_comparison", lambda *a, **k: ran.append(1))
    err = io.StringIO()
    code = cli.main(["ab", "--judge", "--template", "networking", "--a", "v1", "--b", "v2"],
                    stdout=io.StringIO(), stderr=err)
    assert code == 2 and "credentials" in err.getvalue() and not ran


def test_ab_with_a_stubbed_judge_reports_it_next_to_the_verdict(monkeypatch, client, tmp_path):
    judge = BedrockJudge(client, MODEL)
    stub = Stubber(client)
    for _ in range(3):  # quality agreement: 3 labelled dev cases
        stub.add_response("converse", _reply("PASS"))
    for _ in range(4):  # 4 pairs, both orders, B preferred
        stub.add_response("converse", _reply("WINNER: 2"))
        stub.add_response("converse", _reply("WINNER: 1"))
    stub.activate()
    monkeypatch.setattr(ab, "make_judge", lambda model_id, region: judge)
    out = io.StringIO()
    code = cli.main(["ab", "--judge", "--judge-limit", "4", "--judge-quality-cases", "3", "--template", "networking",
                     "--a", "v1", "--b", "v2", "--limit", "6", "--report-dir", str(tmp_path)],
                    stdout=out, stderr=io.StringIO())
    stub.assert_no_pending_responses()
    assert code in (0, 1)
    assert "judge us.anthropic" in out.getvalue() and "B wins 4" in out.getvalue()
    assert "Cohen" in (next(tmp_path.glob("*-ab/index.html"))).read_text()
