"""Tests for evals.models: cassettes, preflight (replay, Bedrock) and metering."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import botocore.session
import pytest
from botocore.stub import Stubber

from evals import cli
from evals import models as models_mod
from evals.models import (
    DEFAULT_CASSETTES,
    ModelConfigError,
    ModelSession,
    missing_cassettes,
    preflight,
    price_usd,
    read_manifest,
)
from evals.suites import conversations_suite
from pipeline.adapters.local.prompt_files import FilePromptStore
from pipeline.domain.generation import render_request, select_template
from pipeline.domain.models import IntentResult

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def _request(query: str = "SSH to my EC2 instance times out"):
    template = select_template("ec2_troubleshooting", FilePromptStore().list_templates())
    return render_request(template, query, intent=IntentResult("ec2_troubleshooting", 0.9))


def _case(case_id: str, text: str):
    return SimpleNamespace(id=case_id, input={"turns": [{"query": text}]})


def _stubbed_runtime():
    client = botocore.session.get_session().create_client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    return client, Stubber(client)


def _converse_reply(text: str = "pong", input_tokens: int = 5, output_tokens: int = 1) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens},
        "metrics": {"latencyMs": 12},
    }


# ---------------------------------------------------------------------------
# Recording and replaying
# ---------------------------------------------------------------------------


def test_recording_writes_one_cassette_per_request_and_a_manifest_replay_can_use(tmp_path):
    recorder = ModelSession(backend="offline", record=True, cassettes=tmp_path)
    model = recorder.model()
    case = _case("c1", "SSH to my EC2 instance times out")
    model.begin_case("conversations", case.input)
    first = model.generate(_request())
    model.generate(_request())  # the same request again: one cassette, one key
    recorder.finish()

    cassettes = [p for p in tmp_path.glob("*.json") if p.name != "manifest.json"]
    assert len(cassettes) == 1
    stored = json.loads(cassettes[0].read_text())
    assert stored["request"]["model_id"] == "offline-knowledge-v1"  # the model that answered
    entry = next(iter(read_manifest(tmp_path)["suites"]["conversations"].values()))
    assert entry == {"model_id": "offline-knowledge-v1", "keys": [stored["key"]]}

    assert missing_cassettes(tmp_path, "conversations", [case], "offline-knowledge-v1") == []
    assert missing_cassettes(tmp_path, "conversations", [case], MODEL_ID) == ["c1"]
    assert missing_cassettes(tmp_path, "conversations", [_case("c2", "other")], "offline-knowledge-v1") == ["c2"]

    replay = ModelSession(backend="replay", cassettes=tmp_path)
    assert replay.effective_model_id() == "offline-knowledge-v1"
    assert replay.model().generate(_request()).text == first.text
    usage = replay.usage()
    assert (usage.replay_hits, usage.replay_misses, usage.calls) == (1, 0, 1)


def test_a_deleted_cassette_makes_its_case_missing(tmp_path):
    recorder = ModelSession(backend="offline", record=True, cassettes=tmp_path)
    case = _case("c1", "q")
    recorder.model().begin_case("conversations", case.input)
    recorder.model().generate(_request())
    recorder.finish()
    next(p for p in tmp_path.glob("*.json") if p.name != "manifest.json").unlink()
    assert missing_cassettes(tmp_path, "conversations", [case], "offline-knowledge-v1") == ["c1"]


def test_replay_preflight_names_the_missing_cases(tmp_path):
    cases = [_case(f"case-{i}", f"question {i}") for i in range(7)]
    with pytest.raises(ModelConfigError) as raised:
        preflight(ModelSession(backend="replay", cassettes=tmp_path, model_id=MODEL_ID), {"conversations": cases})
    message = str(raised.value)
    assert "conversations: 7 of 7 cases have no cassettes" in message
    assert "case-0" in message and "and 2 more" in message and "--record" in message
    preflight(ModelSession(backend="replay", cassettes=tmp_path), {})  # nothing generates: nothing to check


def test_replay_without_recordings_or_with_several_models_needs_a_model_id(tmp_path):
    with pytest.raises(ModelConfigError, match="no recordings"):
        ModelSession(backend="replay", cassettes=tmp_path).effective_model_id()
    manifest = {"version": 1, "suites": {"s": {"a": {"model_id": "m1", "keys": []}, "b": {"model_id": "m2", "keys": []}}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelConfigError, match="several models"):
        ModelSession(backend="replay", cassettes=tmp_path).effective_model_id()
    assert ModelSession(backend="replay", cassettes=tmp_path, model_id="m2").effective_model_id() == "m2"


def test_cli_replay_with_missing_cassettes_exits_2_before_any_suite_runs(tmp_path, capsys):
    code = cli.main(["--suite", "conversations", "--model", "replay", "--cassettes", str(tmp_path / "none"),
                     "--model-id", MODEL_ID, "--report-dir", str(tmp_path / "out"), "--no-html"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert "cassettes of " + MODEL_ID + " missing" in err and "conversations: 69 of 69 cases" in err
    assert "running" not in err and "regression" not in err
    assert not (tmp_path / "out").exists()


def test_cli_bedrock_without_credentials_exits_2_naming_them(tmp_path, capsys, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    code = cli.main(["--suite", "conversations", "--model", "bedrock", "--model-id", MODEL_ID,
                     "--region", "us-east-1", "--report-dir", str(tmp_path / "out"), "--no-html"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert "no AWS credentials found" in err and "running" not in err


@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [({"region": "us-east-1"}, "--model-id"), ({"model_id": MODEL_ID}, "Region")],
)
def test_bedrock_preflight_names_a_missing_model_id_or_region(kwargs, missing):
    session = ModelSession(backend="bedrock", **kwargs)
    with pytest.raises(ModelConfigError, match=missing):
        preflight(session, {"conversations": [_case("c", "q")]}, credentials=lambda: object())


def test_bedrock_preflight_finds_no_model_access_with_one_cheap_call():
    client, stubber = _stubbed_runtime()
    stubber.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        service_message="You don't have access to the model with the specified model ID.",
        http_status_code=403,
        expected_params={
            "modelId": MODEL_ID,
            "messages": [{"role": "user", "content": [{"text": "ping"}]}],
            "system": [{"text": "Reply with one word."}],
            "inferenceConfig": {"temperature": 0.0, "maxTokens": 5},
        },
    )
    session = ModelSession(backend="bedrock", model_id=MODEL_ID, region="us-east-1", client_factory=lambda r: client)
    with stubber, pytest.raises(ModelConfigError, match="cannot be invoked in us-east-1.*model access"):
        preflight(session, {"conversations": [_case("c", "q")]}, credentials=lambda: object())
    stubber.assert_no_pending_responses()


def test_bedrock_preflight_passes_when_the_model_answers():
    client, stubber = _stubbed_runtime()
    stubber.add_response("converse", _converse_reply())
    session = ModelSession(backend="bedrock", model_id=MODEL_ID, region="us-east-1", client_factory=lambda r: client)
    with stubber:
        preflight(session, {"conversations": [_case("c", "q")]}, credentials=lambda: object())
    stubber.assert_no_pending_responses()


def test_bedrock_calls_are_metered_and_recorded_under_the_real_model_id(tmp_path):
    client, stubber = _stubbed_runtime()
    stubber.add_response("converse", _converse_reply("## Summary\n\nCheck port 22.", 1000, 200))
    session = ModelSession(backend="bedrock", record=True, cassettes=tmp_path, model_id=MODEL_ID,
                           region="us-east-1", client_factory=lambda r: client)
    with stubber:
        response = session.model().generate(_request())
    assert response.model_id == MODEL_ID
    usage = session.usage()
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (1, 1000, 200)
    assert usage.cost_usd == pytest.approx(price_usd(MODEL_ID, 1000, 200)) and usage.cost_usd > 0
    stored = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert stored["request"]["model_id"] == MODEL_ID


def test_prices_are_zero_offline_and_err_high_for_unknown_models():
    assert price_usd("offline-knowledge-v1", 10_000, 10_000) == 0.0
    assert price_usd("anthropic.claude-3-haiku-20240307-v1:0", 1000, 1000) == pytest.approx(0.0015)
    assert price_usd("some.new-model-v9", 1000, 0) == max(p[1] for p in models_mod.PRICES_PER_1K)


# ---------------------------------------------------------------------------
# The committed cassettes: CI replays one suite from them
# ---------------------------------------------------------------------------


def _recorded_cases():
    suite = conversations_suite()
    manifest = read_manifest(DEFAULT_CASSETTES)["suites"].get("conversations", {})
    cases = [c for c in suite.load_cases() if models_mod.case_input_sha256(c.input) in manifest]
    return suite, cases


def test_committed_cassettes_cover_some_conversations():
    _suite, cases = _recorded_cases()
    assert len(cases) >= 3
    assert missing_cassettes(DEFAULT_CASSETTES, "conversations", cases, "offline-knowledge-v1") == []


@pytest.mark.xdist_group("local_server")
def test_conversations_replayed_from_the_committed_cassettes_match_the_live_offline_model(tmp_path):
    from evals.runner import RunConfig, run_suite

    suite, cases = _recorded_cases()
    shutil.copytree(DEFAULT_CASSETTES, tmp_path / "cassettes")
    replay = ModelSession(backend="replay", cassettes=tmp_path / "cassettes")
    preflight(replay, {"conversations": cases})
    from evals.suites import close_workflows

    try:
        replayed = run_suite(suite, RunConfig(model="replay", models=replay), cases=cases)
        live = run_suite(suite, RunConfig(model="offline"), cases=cases)
    finally:
        close_workflows()  # the next test of this worker starts its own moto world

    usage = replay.usage()
    assert usage.replay_misses == 0 and usage.replay_hits >= len(cases)
    for got, want in zip(replayed.cases, live.cases, strict=True):
        assert got.error is None and want.error is None, (got.error, want.error)
        assert [t["response"] for t in got.output["turns"]] == [t["response"] for t in want.output["turns"]]
        assert got.passed == want.passed
    assert sorted(p.name for p in (tmp_path / "cassettes").iterdir()) == sorted(p.name for p in DEFAULT_CASSETTES.iterdir())


# ---------------------------------------------------------------------------
# Budget cap and per-model baselines
# ---------------------------------------------------------------------------


def _bedrock_session(client, **kwargs):
    return ModelSession(backend="bedrock", model_id=MODEL_ID, region="us-east-1", client_factory=lambda r: client,
                        **kwargs)


def test_budget_cap_refuses_the_call_that_could_cross_it():
    client, stubber = _stubbed_runtime()
    stubber.add_response("converse", _converse_reply("first", 1000, 100))
    stubber.add_response("converse", _converse_reply("never sent", 1000, 100))
    request = _request()
    session = _bedrock_session(client)
    worst = session.model().worst_case_usd(request)
    actual = price_usd(MODEL_ID, 1000, 100)
    capped = _bedrock_session(client, budget_usd=worst + actual / 2)  # one call, not a second worst case
    from pipeline.ports import ModelError

    with stubber:
        assert capped.model().generate(request).text == "first"
        assert not capped.exhausted
        with pytest.raises(ModelError, match="budget cap"):
            capped.model().generate(request)
    assert capped.exhausted and capped.usage().calls == 1
    assert capped.usage().cost_usd <= capped.budget_usd
    assert len(stubber._queue) == 1  # the second reply was never requested


def test_a_suite_stops_cleanly_when_the_budget_is_reached():
    from evals.runner import RunConfig, SolverSpec, Suite, run_suite

    client, stubber = _stubbed_runtime()
    for _ in range(3):
        stubber.add_response("converse", _converse_reply("answer", 1000, 100))
    request = _request()
    probe = _bedrock_session(client)
    actual = price_usd(MODEL_ID, 1000, 100)
    # Room for two calls: the second's worst case fits after the first's real cost, the third's does not.
    session = _bedrock_session(client, budget_usd=probe.model().worst_case_usd(request) + 1.5 * actual)

    def build(config):
        model = config.model_session().model()

        def solve(inp):
            model.begin_case("fake", inp)
            try:
                return {"text": model.generate(request).text}
            except Exception:  # noqa: BLE001 - the workflow would answer with a fallback
                return {"text": "fallback"}

        return solve

    suite = Suite("fake", "", None, SolverSpec("fake", build), (), generates=True)
    cases = [SimpleNamespace(id=f"c{i}", input=f"q{i}", expected={}, tags=(), split="dev") for i in range(5)]
    with stubber:
        result = run_suite(suite, RunConfig(model="bedrock", models=session, should_stop=lambda: session.exhausted),
                           cases=cases)
    assert [r.id for r in result.cases] == ["c0", "c1"]  # c2 hit the cap: dropped, the rest not run
    assert all(r.output == {"text": "answer"} for r in result.cases)
    assert result.details["stopped"] == "stopped after 2 of 5 cases"


def test_comparing_with_a_baseline_of_another_model_warns():
    offline_base = {"model": {"id": "offline-model (stand-in for Bedrock)", "backend": "offline"}}
    bedrock_run = {"model": {"id": MODEL_ID, "backend": "bedrock"}}
    replayed_offline = {"model": {"id": "offline-knowledge-v1", "backend": "replay"}}
    warnings = models_mod.baseline_model_warnings(bedrock_run, {"conversations": offline_base}, ["conversations"])
    assert len(warnings) == 1 and "offline-knowledge-v1" in warnings[0] and MODEL_ID in warnings[0]
    assert models_mod.baseline_model_warnings(replayed_offline, {"conversations": offline_base}, ["conversations"]) == []
    assert models_mod.baseline_model_warnings(bedrock_run, {"intent": offline_base}, []) == []  # not generating
    assert models_mod.baseline_model_warnings(bedrock_run, {"conversations": None}, ["conversations"]) == []


# ---------------------------------------------------------------------------
# Bounded concurrency
# ---------------------------------------------------------------------------


def _parallel_suite(solve_fn, parallel_safe=True):
    from evals.runner import Score as RunnerScore
    from evals.runner import Scorer, SolverSpec, Suite

    scorer = Scorer("ok", lambda case, out: RunnerScore(1.0, True))
    return Suite("par", "", None, SolverSpec("par", lambda config: solve_fn), (scorer,), generates=True,
                 parallel_safe=parallel_safe)


def test_a_parallel_safe_suite_runs_at_most_concurrency_cases_at_once_and_keeps_case_order():
    import threading

    from evals.runner import RunConfig, run_suite

    lock, state = threading.Lock(), {"now": 0, "peak": 0}
    release = threading.Event()

    def solve(inp):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            if state["now"] == 3:
                release.set()  # three cases in flight at once: the pool really is concurrent
        release.wait(timeout=5)
        with lock:
            state["now"] -= 1
        return {"echo": inp}

    cases = [SimpleNamespace(id=f"c{i}", input=i, expected={}, tags=(), split="dev") for i in range(12)]
    result = run_suite(_parallel_suite(solve), RunConfig(concurrency=3), cases=cases)
    assert [r.output["echo"] for r in result.cases] == list(range(12))
    assert state["peak"] == 3 and release.is_set()


def test_suites_not_marked_parallel_safe_run_one_case_at_a_time():
    import threading

    from evals.runner import RunConfig, run_suite

    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def solve(inp):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        with lock:
            state["now"] -= 1
        return {"echo": inp}

    cases = [SimpleNamespace(id=f"c{i}", input=i, expected={}, tags=(), split="dev") for i in range(8)]
    run_suite(_parallel_suite(solve, parallel_safe=False), RunConfig(concurrency=8), cases=cases)
    assert state["peak"] == 1


def test_metering_attributes_requests_to_the_case_of_their_worker_thread(tmp_path):
    import threading

    session = ModelSession(backend="offline", record=True, cassettes=tmp_path)
    model = session.model()
    barrier = threading.Barrier(2)

    def run(query):
        model.begin_case("par", {"q": query})
        barrier.wait(timeout=5)  # both cases begun before either calls the model
        model.generate(_request(query))

    threads = [threading.Thread(target=run, args=(q,)) for q in ("SSH times out", "S3 403 AccessDenied")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session.finish()
    entries = read_manifest(tmp_path)["suites"]["par"]
    for query in ("SSH times out", "S3 403 AccessDenied"):
        keys = entries[models_mod.case_input_sha256({"q": query})]["keys"]
        assert len(keys) == 1
        stored = json.loads((tmp_path / f"{keys[0]}.json").read_text())
        assert query in stored["request"]["messages"][-1]["text"]


def test_the_bedrock_client_pool_holds_every_worker():
    from pipeline.adapters.aws.bedrock import make_bedrock_client

    client = make_bedrock_client("us-east-1", max_pool_connections=16)
    assert client.meta.config.max_pool_connections == 16
    assert client.meta.config.retries["mode"] == "adaptive"  # client-side rate limiting on throttling


def test_cli_replay_of_stale_cassettes_exits_2_instead_of_reporting_regressions(tmp_path, capsys, monkeypatch):
    """The manifest says the case was recorded, but today's prompt differs: every request misses."""
    from evals import suites as suites_mod
    from evals.datasets import GoldenCase
    from evals.runner import Score as RunnerScore
    from evals.runner import Scorer, SolverSpec, Suite

    case = GoldenCase("g-1", {"q": "SSH to my EC2 instance times out"}, {}, (), "dev", "t")
    recorder = ModelSession(backend="offline", record=True, cassettes=tmp_path / "cassettes")
    recorder.model().begin_case("gen", case.input)
    recorder.model().generate(_request("the prompt as it was when recorded"))
    recorder.finish()

    def build(config):
        model = config.model_session().model()

        def solve(inp):
            model.begin_case("gen", inp)
            try:
                return {"text": model.generate(_request("the prompt as it is today")).text}
            except Exception:  # noqa: BLE001 - the workflow would fall back
                return {"text": "fallback"}

        return solve

    scorer = Scorer("ok", lambda c, out: RunnerScore(1.0, out["text"] != "fallback"))
    suite = Suite("gen", "", None, SolverSpec("gen", build), (scorer,), load=lambda: [case], generates=True)
    monkeypatch.setattr(suites_mod, "SUITES", {"gen": lambda: suite})
    monkeypatch.setattr(cli, "SUITES", suites_mod.SUITES)
    monkeypatch.setattr(cli, "get_suite", lambda name: suites_mod.SUITES[name]())
    gates = tmp_path / "gates.toml"
    gates.write_text('[[no_regression]]\nsuite = "*"\nmetric = "pass_rate"\n')
    code = cli.main(["--model", "replay", "--cassettes", str(tmp_path / "cassettes"), "--gates", str(gates),
                     "--report-dir", str(tmp_path / "out"), "--baseline-dir", str(tmp_path / "b"), "--no-html"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert "1 model request(s) had no cassette" in err and "Re-record with --record" in err
    assert not (tmp_path / "out").exists()
