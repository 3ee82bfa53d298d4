"""Tests for evals.batch: Bedrock batch inference jobs (Stubber for Bedrock, moto for S3)."""

from __future__ import annotations

import json

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from evals.batch import (
    FAILED_FILE,
    BatchError,
    BatchSettings,
    BedrockBatch,
    CollectingModel,
    fill_by_batch,
    model_input,
    read_failed,
)
from pipeline.domain.models import Message, ModelParameters, ModelRequest, ModelResponse
from pipeline.ports import ModelError

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"
JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc123def456"
BUCKET = "evals-batch-bucket"


def _request(text: str) -> ModelRequest:
    return ModelRequest("Be brief.", (Message("user", text),),
                        ModelParameters(model_id=MODEL_ID, temperature=0.2, max_tokens=256, top_p=0.9))


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _bedrock():
    client = botocore.session.get_session().create_client(
        "bedrock", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    return client, Stubber(client)


def _settings(**kwargs) -> BatchSettings:
    return BatchSettings(bucket=BUCKET, role_arn=ROLE, model_id=MODEL_ID, poll_seconds=0, **{"min_records": 1, **kwargs})


def test_submit_writes_converse_jsonl_and_creates_the_job(s3):
    bedrock, stub = _bedrock()
    stub.add_response("create_model_invocation_job", {"jobArn": JOB_ARN}, {
        "jobName": "run1-r1", "roleArn": ROLE, "clientRequestToken": "run1-r1", "modelId": MODEL_ID,
        "modelInvocationType": "Converse",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/evals-batch/run1-r1/input/",
                                                  "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/evals-batch/run1-r1/output/"}},
        "timeoutDurationInHours": 24,
    })
    with stub:
        arn = BedrockBatch(bedrock, s3, _settings()).submit({"k1": _request("one"), "k2": _request("two")}, "run1-r1")
    assert arn == JOB_ARN
    body = s3.get_object(Bucket=BUCKET, Key="evals-batch/run1-r1/input/records.jsonl")["Body"].read().decode()
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["recordId"] for line in lines] == ["k1", "k2"]
    assert lines[0]["modelInput"] == {
        "messages": [{"role": "user", "content": [{"text": "one"}]}],
        "inferenceConfig": {"temperature": 0.2, "maxTokens": 256},
        "system": [{"text": "Be brief."}],
    }


def test_a_job_below_the_minimum_records_quota_is_refused_before_anything_is_written(s3):
    bedrock, stub = _bedrock()
    with stub, pytest.raises(BatchError, match="below the minimum of 100 records"):
        BedrockBatch(bedrock, s3, _settings(min_records=100)).submit({"k": _request("q")}, "run1-r1")
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def _job(status: str, **extra) -> dict:
    return {"jobArn": JOB_ARN, "jobName": "run1-r1", "modelId": MODEL_ID, "roleArn": ROLE, "status": status,
            "submitTime": "2026-12-06T00:00:00Z",
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/evals-batch/run1-r1/input/"}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/evals-batch/run1-r1/output/"}},
            **extra}


def test_wait_polls_until_the_job_ends(s3):
    bedrock, stub = _bedrock()
    for status in ("Submitted", "Validating", "InProgress", "PartiallyCompleted"):
        stub.add_response("get_model_invocation_job", _job(status), {"jobIdentifier": JOB_ARN})
    sleeps = []
    with stub:
        job = BedrockBatch(bedrock, s3, _settings(), sleep=sleeps.append).wait(JOB_ARN)
    assert job["status"] == "PartiallyCompleted" and len(sleeps) == 3
    stub.assert_no_pending_responses()


def test_a_failed_job_is_an_error_naming_its_message(s3):
    bedrock, stub = _bedrock()
    stub.add_response("get_model_invocation_job", _job("Failed", message="Role cannot read the bucket"))
    with stub, pytest.raises(BatchError, match="ended Failed: Role cannot read the bucket"):
        BedrockBatch(bedrock, s3, _settings()).wait(JOB_ARN)


def test_a_job_that_runs_too_long_is_stopped(s3):
    bedrock, stub = _bedrock()
    stub.add_response("get_model_invocation_job", _job("InProgress"))
    stub.add_response("get_model_invocation_job", _job("InProgress"))
    stub.add_response("stop_model_invocation_job", {}, {"jobIdentifier": JOB_ARN})
    ticks = iter([0.0, 10.0, 99999.0])
    batch = BedrockBatch(bedrock, s3, _settings(max_wait_seconds=3600), sleep=lambda s: None, clock=lambda: next(ticks))
    with stub, pytest.raises(BatchError, match="stopped it"):
        batch.wait(JOB_ARN)
    stub.assert_no_pending_responses()


def test_results_read_answers_and_partial_failures(s3):
    lines = [
        {"recordId": "k1", "modelInput": {}, "modelOutput": {
            "output": {"message": {"role": "assistant", "content": [{"text": "Open port 22."}]}},
            "stopReason": "end_turn", "usage": {"inputTokens": 40, "outputTokens": 5}}},
        {"recordId": "k2", "modelInput": {}, "error": {"errorCode": 400, "errorMessage": "Malformed input request"}},
        {"recordId": "k3", "modelInput": {}, "modelOutput": {
            "output": {"message": {"role": "assistant", "content": []}}, "stopReason": "max_tokens"}},
    ]
    s3.put_object(Bucket=BUCKET, Key="evals-batch/run1-r1/output/abc123def456/records.jsonl.out",
                  Body="\n".join(json.dumps(line) for line in lines).encode())
    s3.put_object(Bucket=BUCKET, Key="evals-batch/run1-r1/output/abc123def456/manifest.json.out", Body=b"{}")
    bedrock, _stub = _bedrock()
    answers, errors = BedrockBatch(bedrock, s3, _settings()).results(_job("PartiallyCompleted"))
    assert answers["k1"] == ModelResponse("Open port 22.", MODEL_ID, 40, 5, "end_turn", 0.0)
    assert errors == {"k2": "400: Malformed input request", "k3": "empty answer (stopReason=max_tokens)"}


class _FakeBatch:
    """In-memory batch engine: answers each record with a function of its last user message."""

    def __init__(self, fail: str = "") -> None:
        self.settings = _settings()
        self.fail = fail
        self.jobs: list[dict] = []

    def submit(self, requests, job_name):
        self.jobs.append({"name": job_name, "requests": dict(requests)})
        return f"arn:job/{job_name}"

    def wait(self, arn):
        return {"jobArn": arn, "status": "PartiallyCompleted" if self.fail else "Completed"}

    def results(self, job):
        requests = self.jobs[-1]["requests"]
        answers, errors = {}, {}
        for key, request in requests.items():
            text = request.messages[-1].text
            if self.fail and self.fail in text:
                errors[key] = "500: model error"
            else:
                answers[key] = ModelResponse(f"answer to {text}", MODEL_ID, 10, 3)
        return answers, errors


def _conversation_round(log):
    """A fake generating suite: two two-turn conversations; turn 2's prompt quotes turn 1's answer."""

    def run_round(model):
        for first in ("ssh times out", "bucket 403"):
            try:
                answer = model.generate(_request(first)).text
            except ModelError:
                log.append(("fallback", first))
                continue
            try:
                model.generate(_request(f"follow-up after: {answer}"))
            except ModelError:
                log.append(("fallback", answer))

    return run_round


def test_fill_by_batch_takes_one_round_per_turn_and_then_replays_everything(tmp_path):
    batch = _FakeBatch()
    summary = fill_by_batch(_conversation_round([]), batch, tmp_path, run_id="run1")
    assert [len(job["requests"]) for job in batch.jobs] == [2, 2]  # turn 1s, then turn 2s
    assert summary["rounds"] == 3 and summary["answered"] == 4 and summary["failed"] == 0
    assert (summary["input_tokens"], summary["output_tokens"]) == (40, 12)
    replay = CollectingModel(tmp_path, MODEL_ID, read_failed(tmp_path))
    log = []
    _conversation_round(log)(replay)
    assert log == [] and replay.pending == {}


def test_records_that_fail_in_the_job_are_kept_and_answered_with_a_model_error(tmp_path):
    batch = _FakeBatch(fail="bucket 403")
    summary = fill_by_batch(_conversation_round([]), batch, tmp_path, run_id="run1")
    assert summary["failed"] == 1 and summary["jobs"][0]["status"] == "PartiallyCompleted"
    assert len(json.loads((tmp_path / FAILED_FILE).read_text())) == 1
    replay = CollectingModel(tmp_path, MODEL_ID, read_failed(tmp_path))
    log = []
    _conversation_round(log)(replay)
    assert log == [("fallback", "bucket 403")]  # the failed record: a fallback, counted, not re-collected
    assert replay.pending == {}


def test_model_input_matches_the_converse_request_without_the_model_id():
    from pipeline.adapters.aws.bedrock import BedrockModel

    request = _request("hello")
    converse = BedrockModel(object(), model_id=MODEL_ID).converse_arguments(
        ModelRequest(request.system, request.messages,
                     ModelParameters(model_family="", model_id=MODEL_ID, temperature=0.2, max_tokens=256, top_p=0.9)))
    assert model_input(request) == {k: v for k, v in converse.items() if k != "modelId"}


def test_cli_batch_backend_needs_bedrock_a_bucket_and_a_role(tmp_path, capsys):
    from evals import cli

    code = cli.main(["--suite", "conversations", "--backend", "batch", "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and "--backend batch needs --model bedrock, --batch-bucket" in err
