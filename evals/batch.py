"""``--backend batch``: answer a run's model requests with Amazon Bedrock batch inference.

Runs too large for on-demand calls (10,000+ cases on a live model) go to Bedrock's own
batch engine, not a home-made one: the requests are written as JSONL to S3
(``{"recordId", "modelInput"}`` per line, ``modelInput`` in the Converse request format),
``CreateModelInvocationJob`` starts the job (``modelInvocationType="Converse"``),
``GetModelInvocationJob`` is polled until it ends, and the output JSONL
(``{"recordId", "modelInput", "modelOutput" | "error"}`` per line) is read back.

Every answer becomes a cassette (:mod:`pipeline.adapters.local.replay`), so the run itself
is an ordinary replay and lands in the same run record. Conversations need a model answer
before the next turn's prompt exists, so :func:`fill_by_batch` works in rounds: run the
generating suites against the cassettes, collect every request that has none, submit them
as one job, write the answers, and repeat until a round asks for nothing new (one round per
turn of the longest conversation). Records that fail inside a job (``error`` lines, a
``PartiallyCompleted`` job) are kept in ``failed.json``: the replay answers them with a
model error, so those turns take the workflow's fallback and are counted, not hidden.

Quotas (per account and Region; defaults vary by model, read them in Service Quotas under
"Amazon Bedrock" before a large run): minimum records per batch inference job, records per
input file, records per job, input file size, job size, and concurrent in-progress jobs.
:class:`BatchSettings.min_records` refuses a job below the minimum before submitting it.
See docs/batch-inference.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.adapters.aws.bedrock import inference_config

TERMINAL = {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"}
FAILED = {"Failed", "Stopped", "Expired"}
INPUT_FILE = "records.jsonl"
FAILED_FILE = "failed.json"


class BatchError(Exception):
    """A batch job could not be submitted, failed, or did not finish in time."""


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """Where and how batch jobs run.

    Attributes:
        bucket: S3 bucket for the input and output JSONL (same Region as the job).
        role_arn: The service role Bedrock assumes to read and write that bucket.
        model_id: The model (or inference profile) that answers.
        prefix: Key prefix under the bucket.
        poll_seconds: Time between ``GetModelInvocationJob`` calls.
        max_wait_seconds: Give up (and stop the job) after this long.
        min_records: The account's "minimum records per batch inference job" quota; a
            smaller job is refused before submission (run it on demand instead).
        timeout_hours: ``timeoutDurationInHours`` of the job (24 to 168).
    """

    bucket: str
    role_arn: str
    model_id: str
    prefix: str = "evals-batch"
    poll_seconds: float = 60.0
    max_wait_seconds: float = 24 * 3600.0
    min_records: int = 100
    timeout_hours: int = 24


def model_input(request: Any) -> dict[str, Any]:
    """A request as a Converse-format ``modelInput`` (the Converse request without ``modelId``)."""
    params = request.parameters
    body: dict[str, Any] = {
        "messages": [{"role": m.role, "content": [{"text": m.text}]} for m in request.messages],
        "inferenceConfig": inference_config(params),
    }
    if request.system:
        body["system"] = [{"text": request.system}]
    return body


class BedrockBatch:
    """Submits, polls and reads one batch inference job at a time.

    Args:
        bedrock: A boto3 ``bedrock`` (control plane) client.
        s3: A boto3 ``s3`` client.
        settings: Bucket, role, model and polling.
        sleep: Waits between polls (tests pass a no-op).
        clock: Monotonic seconds (tests pass a fake).
    """

    def __init__(self, bedrock: Any, s3: Any, settings: BatchSettings, *,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.bedrock, self.s3, self.settings = bedrock, s3, settings
        self._sleep, self._clock = sleep, clock

    def submit(self, requests: Mapping[str, Any], job_name: str) -> str:
        """Write the JSONL and create the job; returns its ARN. Keys become record ids."""
        if len(requests) < self.settings.min_records:
            raise BatchError(
                f"{len(requests)} requests is below the minimum of {self.settings.min_records} records per batch "
                "inference job; run this round on demand (--backend ondemand) or raise the quota"
            )
        prefix = f"{self.settings.prefix.strip('/')}/{job_name}"
        lines = [json.dumps({"recordId": key, "modelInput": model_input(r)}, ensure_ascii=False)
                 for key, r in requests.items()]
        self.s3.put_object(Bucket=self.settings.bucket, Key=f"{prefix}/input/{INPUT_FILE}",
                           Body=("\n".join(lines) + "\n").encode("utf-8"))
        reply = self.bedrock.create_model_invocation_job(
            jobName=job_name,
            roleArn=self.settings.role_arn,
            clientRequestToken=job_name,
            modelId=self.settings.model_id,
            modelInvocationType="Converse",
            inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{self.settings.bucket}/{prefix}/input/",
                                                   "s3InputFormat": "JSONL"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{self.settings.bucket}/{prefix}/output/"}},
            timeoutDurationInHours=self.settings.timeout_hours,
        )
        return str(reply["jobArn"])

    def wait(self, job_arn: str) -> dict[str, Any]:
        """Poll until the job ends; returns the last ``GetModelInvocationJob`` reply.

        Raises:
            BatchError: The job failed, was stopped or expired, or ran past ``max_wait_seconds``
                (it is then stopped, so it costs nothing more).
        """
        started = self._clock()
        while True:
            job = self.bedrock.get_model_invocation_job(jobIdentifier=job_arn)
            status = job.get("status")
            if status in FAILED:
                raise BatchError(f"batch job {job_arn} ended {status}: {job.get('message', 'no message')}")
            if status in TERMINAL:
                return job
            if self._clock() - started > self.settings.max_wait_seconds:
                self.bedrock.stop_model_invocation_job(jobIdentifier=job_arn)
                raise BatchError(f"batch job {job_arn} still {status} after {self.settings.max_wait_seconds:.0f} s; "
                                 "stopped it")
            self._sleep(self.settings.poll_seconds)

    def results(self, job: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The answers and the per-record errors of a finished job, by record id."""
        from pipeline.domain.models import ModelResponse

        uri = job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        job_id = str(job["jobArn"]).rsplit("/", 1)[-1]
        answers: dict[str, Any] = {}
        errors: dict[str, str] = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        keys = [o["Key"] for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}{job_id}/")
                for o in page.get("Contents", ()) if o["Key"].endswith(".jsonl.out")]
        if not keys:
            raise BatchError(f"batch job {job['jobArn']} wrote no output under s3://{bucket}/{prefix}{job_id}/")
        for key in keys:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
            for line in body.splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                record_id = record.get("recordId", "")
                if "error" in record or "modelOutput" not in record:
                    error = record.get("error") or {}
                    errors[record_id] = f"{error.get('errorCode', '?')}: {error.get('errorMessage', 'no output')}"
                    continue
                output = record["modelOutput"]
                text = "".join(b.get("text", "") for b in output.get("output", {}).get("message", {}).get("content", []))
                usage = output.get("usage", {})
                if not text.strip():
                    errors[record_id] = f"empty answer (stopReason={output.get('stopReason')})"
                    continue
                answers[record_id] = ModelResponse(
                    text=text, model_id=self.settings.model_id,
                    input_tokens=int(usage.get("inputTokens", 0)), output_tokens=int(usage.get("outputTokens", 0)),
                    stop_reason="max_tokens" if output.get("stopReason") == "max_tokens" else "end_turn",
                    latency_ms=float(output.get("metrics", {}).get("latencyMs", 0.0)),
                )
        return answers, errors


class CollectingModel:
    """Answers from cassettes; notes each request that has none (and fails it, so the run goes on).

    Requests known to have failed in a batch job fail the same way without being collected again.
    """

    def __init__(self, cassettes: Path, model_id: str, failed: Mapping[str, str]) -> None:
        from pipeline.adapters.local.replay import ReplayModel

        self._replay = ReplayModel(cassettes)
        self._model_id = model_id
        self._failed = dict(failed)
        self.pending: dict[str, Any] = {}

    def generate(self, request: Any) -> Any:
        from dataclasses import replace

        from pipeline.adapters.local.replay import request_key
        from pipeline.ports import ModelError

        pinned = replace(request, parameters=replace(request.parameters, model_id=self._model_id))
        key = request_key(pinned)
        if key in self._failed:
            raise ModelError(f"batch record {key} failed: {self._failed[key]}", transient=False)
        try:
            return self._replay.generate(pinned)
        except ModelError:
            self.pending[key] = pinned
            raise


def read_failed(cassettes: Path) -> dict[str, str]:
    path = Path(cassettes) / FAILED_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def fill_by_batch(run_round: Callable[[Any], None], batch: BedrockBatch, cassettes: Path, *,
                  run_id: str, max_rounds: int = 6, log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Fill ``cassettes`` with batch answers until the generating suites need nothing new.

    Args:
        run_round: Runs the generating suites once with the given model (a :class:`CollectingModel`).
        batch: The batch client.
        cassettes: The cassette folder (written through :class:`ReplayModel`'s writer).
        run_id: Names the jobs (``{run_id}-r{n}``).
        max_rounds: Upper bound on rounds (turns of the longest conversation + 1).
        log: Progress lines.

    Returns:
        A summary: jobs, records, answers, failed records, tokens.
    """
    from pipeline.adapters.local.replay import ReplayModel

    writer = ReplayModel(cassettes, inner=None)
    failed = read_failed(cassettes)
    summary: dict[str, Any] = {"jobs": [], "records": 0, "answered": 0, "failed": 0,
                               "input_tokens": 0, "output_tokens": 0}
    for round_no in range(1, max_rounds + 1):
        collector = CollectingModel(cassettes, batch.settings.model_id, failed)
        run_round(collector)
        if not collector.pending:
            summary["rounds"] = round_no
            return summary
        job_name = f"{run_id}-r{round_no}"
        log(f"batch round {round_no}: {len(collector.pending)} requests -> job {job_name}")
        arn = batch.submit(collector.pending, job_name)
        job = batch.wait(arn)
        answers, errors = batch.results(job)
        for key, response in answers.items():
            if key in collector.pending:
                writer._write(key, collector.pending[key], response)  # noqa: SLF001 - the one cassette writer
        lost = set(collector.pending) - set(answers) - set(errors)
        errors.update({key: "no line in the job's output" for key in lost})
        failed.update(errors)
        Path(cassettes).mkdir(parents=True, exist_ok=True)
        (Path(cassettes) / FAILED_FILE).write_text(json.dumps(failed, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        summary["jobs"].append({"name": job_name, "arn": arn, "status": job.get("status"),
                                "records": len(collector.pending), "answered": len(answers), "failed": len(errors)})
        summary["records"] += len(collector.pending)
        summary["answered"] += len(answers)
        summary["failed"] += len(errors)
        summary["input_tokens"] += sum(r.input_tokens for r in answers.values())
        summary["output_tokens"] += sum(r.output_tokens for r in answers.values())
    raise BatchError(f"still new requests after {max_rounds} batch rounds; raise max_rounds")


def batch_requests_from(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Parse a JSONL body (used by tests and for inspecting a job's input)."""
    return [json.loads(line) for line in lines if line.strip()]
