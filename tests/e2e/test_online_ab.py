"""Online A/B end to end: publish a variant into the local stack with the CLI, send a seeded
population of users through the REST API (the ASGI app in-process, the synthesized workflow
on moto, the real handlers), let them rate what they were served with a known true effect,
run the analyze_feedback Lambda, and check that the analysis recovers the effect.

The population: every session asks one compute question (template
``compute_troubleshooting``); the experiment splits sessions 50/50 between the control v2
and the variant v3; a user's rating is ``round(N(3.4 + 0.3·[served v3], 0.8))`` clipped to
1-5, given with probability 0.9, with a comment on low ratings. Session ids come from a
seeded generator so the split, and so the whole run, is reproducible; the seed was fixed
before the first run. Sample size from the power calculation: ~225 ratings per arm give a
standard error of ~0.075 on the difference, so a 0.28 true difference (0.3 on the latent
scale, after rounding) is detected with ~96 % power.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pytest
from starlette.testclient import TestClient

from pipeline.adapters.local.clock import SystemClock
from pipeline.adapters.local.session_key import KeyFileSessionKey
from pipeline.domain.query_api import QueryApi
from pipeline.domain.sessions import SessionAuthority
from pipeline.local import server as server_module
from pipeline.local.api_runtime import LocalApi
from pipeline.local.workflow import LocalWorkflow
from pipeline.prompt_registry import main as prompts_main

pytestmark = [pytest.mark.xdist_group("local_server"), pytest.mark.slow]

SEED = 20261206
SESSIONS = 500
BASE, EFFECT, NOISE, RATE_SHARE = 3.4, 0.3, 0.8, 0.9
PROMPTS = Path(__file__).resolve().parents[2] / "pipeline" / "prompts"
QUESTIONS = (
    "my ec2 instance refuses ssh, the connection times out",
    "my lambda function times out after 3 seconds",
    "ec2 instance status check failed, what do I do",
)
LOW_COMMENTS = (
    "the cli command did not work for me",
    "steps were too vague, cli command missing",
    "answer was too long to follow",
)


class SeededApi(LocalApi):
    """The local API with session ids from a seeded generator (the split is reproducible)."""

    def __enter__(self) -> SeededApi:
        super().__enter__()
        counter = iter(range(10**9))
        self.authority = SessionAuthority(
            KeyFileSessionKey(self.key_file), has_turns=self.workflow.session_has_turns,
            new_id=lambda: f"ab-{SEED}-{next(counter):06d}",
        )
        self.query_api = QueryApi(self._run, self.authority, self.idempotency, SystemClock())
        return self


def rounded_mean(mu: float, sd: float) -> float:
    """E[clip(round(N(mu, sd)), 1, 5)]: the true mean on the rating scale."""
    nd = NormalDist(mu, sd)
    cuts = [float("-inf"), 1.5, 2.5, 3.5, 4.5, float("inf")]
    return sum(k * (nd.cdf(cuts[k]) - nd.cdf(cuts[k - 1])) for k in range(1, 6))


@pytest.fixture
def client(stack_template: Any, tmp_path: Path) -> Iterator[tuple[TestClient, SeededApi]]:
    holder: dict[str, SeededApi] = {}

    def factory() -> SeededApi:
        holder["api"] = SeededApi(workflow=LocalWorkflow(stack_template), key_file=tmp_path / "session.key")
        return holder["api"]

    with TestClient(server_module.create_app(factory)) as test_client:
        yield test_client, holder["api"]


def prompt_resources(api: SeededApi) -> tuple[str, str]:
    spec = next(s for s in api.workflow.functions.values() if s.short_name == "generate_response")
    return spec.environment["PROMPTS_TABLE"], spec.environment["PROMPT_BUCKET"]


def test_online_experiment_recovers_a_known_effect_through_the_local_api(client, tmp_path: Path) -> None:
    http, api = client
    table, bucket = prompt_resources(api)
    variant = json.loads((PROMPTS / "compute_troubleshooting" / "v2.json").read_text(encoding="utf-8"))
    variant.update(version="v3", description="v2 with a shorter runbook (the variant under test)")
    variant["format_instructions"] = [d if not d.startswith("max_words:") else "max_words:300"
                                      for d in variant["format_instructions"]]
    path = tmp_path / "v3.json"
    path.write_text(json.dumps(variant), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    registry = ["--store", "aws", "--table", table, "--bucket", bucket]
    assert prompts_main([*registry, "publish", str(path), "--weight", "50", "--experiment-id", "compute-short",
                         "--primary-metric", "mean_rating", "--min-samples", "150",
                         "--hypothesis", "a shorter runbook rates higher"], out=out, err=err) == 0, err.getvalue()

    rng = random.Random(SEED)
    served: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for i in range(SESSIONS):
        reply = http.post("/query", json={"query": QUESTIONS[i % len(QUESTIONS)]})
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert answer["response_type"] == "answer" and answer["template"]["id"] == "compute_troubleshooting"
        version = answer["template"]["version"]
        served[answer["session_id"]] = version
        tokens[answer["session_id"]] = answer["session_token"]
        if rng.random() >= RATE_SHARE:
            continue
        mean = BASE + (EFFECT if version == "v3" else 0.0)
        rating = min(5, max(1, round(rng.gauss(mean, NOISE))))
        body: dict[str, Any] = {"session_id": answer["session_id"], "interaction_id": answer["interaction_id"],
                                "rating": rating}
        if rating <= 2:
            body["comment"] = rng.choice(LOW_COMMENTS)
        stored = http.post("/feedback", json=body, headers={"X-Session-Token": answer["session_token"]})
        assert stored.status_code == 201, stored.text
    assert 0.4 < sum(v == "v3" for v in served.values()) / SESSIONS < 0.6

    # Sticky: later turns of a session are served the same variant.
    for session in list(served)[:6]:
        again = http.post("/query", json={"query": "it still fails, what else can I check on the instance",
                                          "session_id": session},
                          headers={"X-Session-Token": tokens[session]}).json()
        if again["template"] and again["template"]["id"] == "compute_troubleshooting":
            assert again["template"]["version"] == served[session]
        turns = [t for t in api.workflow.scan("ConversationsTable") if t["session_id"] == session]
        assert len(turns) == 2 and turns[0]["variant"] == served[session]
        assert turns[0]["experiment_id"] == "compute-short"
    explicit = [f for f in api.workflow.scan("FeedbackTable") if f.get("source") == "explicit"]
    assert explicit and all(f["signals"]["experiment_id"] == "compute-short" for f in explicit)
    assert all(f["signals"]["variant"] == served[f["session_id"]] for f in explicit)

    summary = api.workflow.invoke_function("analyze_feedback", {"window_hours": 24, "windows_hours": [168]})
    [verdict] = summary["experiments"]
    difference = verdict["comparisons"]["v3"]["mean_rating"]
    truth = rounded_mean(BASE + EFFECT, NOISE) - rounded_mean(BASE, NOISE)
    low, high = difference["ci"]
    print(json.dumps({"truth": round(truth, 4), "arms": verdict["arms"], "v3": verdict["comparisons"]["v3"],
                      "recommendation": verdict["recommendation"], "reason": verdict["reason"],
                      "themes": summary["themes"][:2]}, indent=1))  # shown with -s (README numbers)
    assert low < truth < high, (difference, truth)
    assert verdict["recommendation"] == "promote" and verdict["variant"] == "v3", verdict["reason"]
    assert verdict["arms"]["v2"]["rated"] >= 150 and verdict["arms"]["v3"]["rated"] >= 150
    variants = summary["windows"][0]["segments"]["variant"]
    assert set(variants) == {"compute-short/v2", "compute-short/v3"}
    assert summary["themes"] and summary["themes"][0]["examples"]
    # The summary is in S3 where the stack says (FEEDBACK_SUMMARY_BUCKET/feedback-summaries/).
    location = summary["summary_location"]
    assert location.startswith(f"s3://{bucket}/feedback-summaries/")
    key = location.removeprefix(f"s3://{bucket}/")
    stored_summary = json.loads(api.workflow.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored_summary["experiments"][0]["recommendation"] == "promote"

    # Acting on it: promote with the CLI; every new session now gets v3.
    assert prompts_main([*registry, "promote", "compute_troubleshooting", "v3"], out=out, err=err) == 0
    api.workflow._reset_services()  # a new container (the router re-reads within its refresh anyway)
    after = [http.post("/query", json={"query": QUESTIONS[0]}).json()["template"]["version"] for _ in range(5)]
    assert after == ["v3"] * 5
