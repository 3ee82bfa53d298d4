"""``nox -s load``'s runner: its store verification finds dropped and doubled writes, and its
client waits out the server's backpressure (429/503 + Retry-After) instead of failing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from pipeline.local import load
from pipeline.local import server as server_module
from pipeline.local.api_runtime import LocalApi
from pipeline.local.workflow import LocalWorkflow

pytestmark = pytest.mark.xdist_group("local_server")


def test_the_verification_passes_a_clean_run_and_fails_on_a_dropped_or_doubled_write(
    stack_template: Any, tmp_path: Path
) -> None:
    holder: dict[str, LocalApi] = {}

    def factory() -> LocalApi:
        holder["api"] = LocalApi(workflow=LocalWorkflow(stack_template), key_file=tmp_path / "session.key")
        return holder["api"]

    server, thread, url = server_module.start_in_thread(server_module.create_app(factory))
    try:
        results, _seconds = load.run_load(url, requests=12, clients=3, max_seconds=300,
                                          queries=load.golden_queries(20), stream=io.StringIO())
        api = holder["api"]
        checks = load.verify(api, results)
        assert checks["acknowledged_turns"] == 12 and checks["acknowledged_feedback"] == 3
        assert load.failures(results, checks) == 0, (results.errors, checks)

        ddb = api.workflow.client("dynamodb")
        turns_table = api.workflow.table_name("ConversationsTable")
        turns = ddb.scan(TableName=turns_table)["Items"]
        dropped, doubled = turns[0], turns[1]
        ddb.delete_item(TableName=turns_table, Key={k: dropped[k] for k in ("session_id", "turn_index")})
        ddb.put_item(TableName=turns_table, Item={**doubled, "turn_index": {"N": "9999"}})
        feedback_table = api.workflow.table_name("FeedbackTable")
        ddb.delete_item(TableName=feedback_table, Key={"feedback_id": {"S": results.feedback[0]}})

        checks = load.verify(api, results)
        assert (checks["lost_turns"], checks["doubled_turns"], checks["lost_feedback"]) == (1, 1, 1)
        assert checks["unfinished_turns"] == 1  # the dropped turn has no stored reply either
        assert load.failures(results, checks) == 4
    finally:
        server.should_exit = True
        thread.join(60)


class Reply:
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        self.status_code = status
        self.headers = {"retry-after": retry_after} if retry_after is not None else {}


class ScriptedHttp:
    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.calls = 0

    def post(self, path: str, json: dict[str, Any], headers: dict[str, str]) -> Reply:
        self.calls += 1
        return self.replies.pop(0)


def test_the_client_waits_out_backpressure_and_reports_what_it_could_not_retry(monkeypatch) -> None:
    import threading

    monkeypatch.setattr(load.time, "sleep", lambda seconds: None)
    results, lock = load.Results(), threading.Lock()
    http = ScriptedHttp(Reply(503, "1"), Reply(429, "2"), Reply(200))
    assert load._post(http, "/query", {}, {}, results, lock).status_code == 200
    assert http.calls == 3 and results.retried == {"query 503": 1, "query 429": 1}
    # Without Retry-After a 503 is an answer (an error for the run), not backpressure.
    http = ScriptedHttp(Reply(503))
    assert load._post(http, "/query", {}, {}, results, lock).status_code == 503
    # Bounded: after MAX_RETRIES answers with Retry-After, the last one is returned.
    http = ScriptedHttp(*[Reply(503, "1")] * load.MAX_RETRIES)
    assert load._post(http, "/feedback", {}, {}, results, lock).status_code == 503
    assert http.calls == load.MAX_RETRIES


class GatedModel:
    """The offline model, held at a gate until the test opens it."""

    def __init__(self) -> None:
        import threading

        from pipeline.adapters.local.offline_model import OfflineModel

        self.inner, self.entered, self.gate = OfflineModel(), threading.Event(), threading.Event()

    def generate(self, request: Any) -> Any:
        self.entered.set()
        assert self.gate.wait(120)
        return self.inner.generate(request)


def test_beyond_its_execution_slots_the_server_answers_503_with_retry_after_at_once(
    stack_template: Any, tmp_path: Path
) -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    model = GatedModel()

    def factory() -> LocalApi:
        return LocalApi(workflow=LocalWorkflow(stack_template, model=model), key_file=tmp_path / "session.key",
                        max_in_flight=1, max_waiting=0)

    server, thread, url = server_module.start_in_thread(server_module.create_app(factory))
    try:
        with httpx.Client(base_url=url, timeout=120) as client, ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.post, "/query", json={"query": "my ec2 instance will not start"},
                                headers={"Idempotency-Key": "slots-first-0001"})
            assert model.entered.wait(120)  # the only slot is taken
            start = time.monotonic()
            refused = client.post("/query", json={"query": "why is my s3 bucket access denied"},
                                  headers={"Idempotency-Key": "slots-second-001"})
            assert time.monotonic() - start < 30  # answered without waiting for the slot
            assert refused.status_code == 503 and refused.headers["retry-after"].isdigit()
            assert refused.json()["error"]["code"] == "service_unavailable"
            model.gate.set()
            assert first.result().status_code == 200
            # Nothing ran for the refused request: its Idempotency-Key is free, the retry runs.
            retried = client.post("/query", json={"query": "why is my s3 bucket access denied"},
                                  headers={"Idempotency-Key": "slots-second-001"})
            assert retried.status_code == 200 and retried.json()["response_type"]
    finally:
        model.gate.set()
        server.should_exit = True
        thread.join(60)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_on_a_terminal_and_writes_a_line_per_tenth_elsewhere() -> None:
    log = io.StringIO()
    for done in range(1, 101):
        load._progress(done, 100, 0.0, log)
    lines = log.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == [f"{n}/100" for n in range(10, 101, 10)]
    terminal = _Terminal()
    load._progress(3, 100, 0.0, terminal)
    assert terminal.getvalue().startswith("\r[") and "\n" not in terminal.getvalue()
