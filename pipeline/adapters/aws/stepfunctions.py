"""SyncWorkflowRunner: run the Express state machine with ``StartSyncExecution``.

The :data:`~pipeline.domain.query_api.WorkflowRunner` of the deployed ``POST /query``: it
returns ``{"status": "SUCCEEDED" | "FAILED" | "TIMED_OUT", "output": dict | None}``. A
Step Functions API error (throttling, a service fault) becomes 503 ``service_unavailable``:
the workflow did not run, the client may retry (with the same Idempotency-Key).

The client must not retry by itself (a second start would be a second execution: the
interaction id keeps it from storing a second turn, but it costs a second model call) and
its read timeout must cover the whole execution: :func:`make_stepfunctions_client`.

Example:
    >>> run = SyncWorkflowRunner(make_stepfunctions_client("us-east-1"), arn)  # doctest: +SKIP
    >>> run({"query": "hi", …}, "6b3c…-1f2e3d4c")                               # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.domain.api_contract import ContractError


def make_stepfunctions_client(region: str, *, read_timeout: float = 60.0) -> Any:
    import boto3
    from botocore.config import Config

    # StartSyncExecution is served by the "sync-states" endpoint; boto3 picks it from the
    # operation's endpoint prefix.
    return boto3.client(
        "stepfunctions",
        region_name=region,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=read_timeout),
    )


class SyncWorkflowRunner:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def __call__(self, workflow_input: Mapping[str, Any], execution_name: str) -> dict[str, Any]:
        try:
            reply = self._client.start_sync_execution(
                stateMachineArn=self._arn,
                name=execution_name,
                input=json.dumps(dict(workflow_input), separators=(",", ":")),
            )
        except (ClientError, BotoCoreError):
            raise ContractError(
                503, "service_unavailable", "The workflow could not be started. Please retry."
            ) from None
        status = str(reply.get("status", "FAILED"))
        output = reply.get("output")
        return {"status": status, "output": json.loads(output) if status == "SUCCEEDED" and output else None}
