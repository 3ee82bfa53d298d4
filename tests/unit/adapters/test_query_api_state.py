"""POST /query's AWS adapters: the DynamoDB idempotency store and session throttle (moto),
and the StartSyncExecution runner (botocore Stubber: moto does not implement the call)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from pipeline.adapters.aws import idempotency, session_throttle
from pipeline.adapters.aws.idempotency import DynamoIdempotencyStore
from pipeline.adapters.aws.session_throttle import DynamoSessionThrottle
from pipeline.adapters.aws.stepfunctions import SyncWorkflowRunner
from pipeline.domain.api_contract import ContractError


class FakeTime:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.value = now

    def __call__(self) -> float:
        return self.value


def _table(name: str, key: str) -> Any:
    resource = boto3.resource("dynamodb", region_name="us-east-1")
    resource.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return resource.Table(name)


class AtomicTable:
    """DynamoDB applies each conditional write to an item atomically; moto does not (two
    threads can both pass a condition). This stand-in serialises the calls, as DynamoDB
    serialises writes to one item, so the concurrency tests check the adapters' conditions,
    not moto's locking."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._table, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


@pytest.fixture
def tables() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        yield _table("idem", idempotency.KEY), _table("throttle", session_throttle.KEY)


# ---------------------------------------------------------------------------
# DynamoIdempotencyStore
# ---------------------------------------------------------------------------


def test_claim_complete_get_and_replay(tables: tuple[Any, Any]) -> None:
    clock = FakeTime()
    store = DynamoIdempotencyStore(tables[0], ttl_seconds=3600, lease_seconds=60, now=clock)
    assert store.claim("new:key-0001", "fp", "t0") is None
    pending = store.claim("new:key-0001", "fp", "t0")
    assert pending == {"fingerprint": "fp", "status": "pending", "created_at": "t0"}
    answer = {"session_id": "s-1", "confidence": 0.87, "template": None, "response": "héllo"}
    store.complete("new:key-0001", answer)
    assert store.claim("new:key-0001", "fp", "t1") == {
        "fingerprint": "fp", "status": "done", "created_at": "t0", "response": answer}
    with pytest.raises(KeyError):  # only a pending claim can be completed
        store.complete("new:key-0001", answer)
    item = tables[0].get_item(Key={idempotency.KEY: "new:key-0001"})["Item"]
    assert int(item["expires_at"]) == int(clock.value) + 3600 and "lease_until" not in item


def test_release_forgets_only_a_pending_claim(tables: tuple[Any, Any]) -> None:
    store = DynamoIdempotencyStore(tables[0], now=FakeTime())
    store.claim("k-pending", "fp", "t0")
    store.release("k-pending")
    assert store.get("k-pending") is None and store.claim("k-pending", "fp", "t0") is None
    store.complete("k-pending", {"a": 1})
    store.release("k-pending")  # a finished answer stays
    assert store.get("k-pending")["status"] == "done"


def test_a_dead_claim_is_taken_over_after_its_lease_and_expired_records_are_absent(
    tables: tuple[Any, Any]
) -> None:
    clock = FakeTime()
    store = DynamoIdempotencyStore(tables[0], ttl_seconds=600, lease_seconds=30, now=clock)
    store.claim("k-lease", "fp", "t0")
    clock.value += 29
    assert store.claim("k-lease", "fp", "t1")["status"] == "pending"  # still leased
    clock.value += 2
    assert store.claim("k-lease", "fp", "t2") is None  # the first holder is gone
    store.complete("k-lease", {"a": 1})
    clock.value += 601  # past the TTL, before DynamoDB deleted the item
    assert store.get("k-lease") is None
    assert store.claim("k-lease", "fp2", "t3") is None


def test_exactly_one_of_many_concurrent_claims_wins(tables: tuple[Any, Any]) -> None:
    store = DynamoIdempotencyStore(AtomicTable(tables[0]))
    barrier = threading.Barrier(8)
    results: list[Any] = []

    def claim() -> None:
        barrier.wait()
        results.append(store.claim("k-race", "fp", "t"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 1 and len(results) == 8


# ---------------------------------------------------------------------------
# DynamoSessionThrottle
# ---------------------------------------------------------------------------


def test_fixed_window_limit_per_session(tables: tuple[Any, Any]) -> None:
    clock = FakeTime(1_800_000_000.0)  # a multiple of 60: the start of a window
    throttle = DynamoSessionThrottle(tables[1], limit=3, window_seconds=60, now=clock)
    assert [throttle.allow("s-1") for _ in range(5)] == [True, True, True, False, False]
    assert throttle.allow("s-2") is True  # another session has its own counter
    item = tables[1].get_item(Key={session_throttle.KEY: "s-1#1800000000"})["Item"]
    assert int(item["request_count"]) == 3  # refused requests are not counted
    assert int(item["expires_at"]) == 1_800_000_120
    clock.value += 60  # the next window
    assert throttle.allow("s-1") is True


def test_concurrent_requests_never_overshoot_the_limit(tables: tuple[Any, Any]) -> None:
    throttle = DynamoSessionThrottle(AtomicTable(tables[1]), limit=5, window_seconds=3600, now=FakeTime())
    barrier = threading.Barrier(12)
    allowed: list[bool] = []

    def hit() -> None:
        barrier.wait()
        allowed.append(throttle.allow("s-race"))

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 5 and len(allowed) == 12


# ---------------------------------------------------------------------------
# SyncWorkflowRunner
# ---------------------------------------------------------------------------

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Support"


def _stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("stepfunctions", region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def test_start_sync_execution_request_and_succeeded_output() -> None:
    client, stub = _stubbed()
    workflow_input = {"query": "hi", "session_id": "s-00000001", "interaction_id": "i-1"}
    stub.add_response(
        "start_sync_execution",
        {"executionArn": f"{ARN}:x", "startDate": 0, "stopDate": 0, "status": "SUCCEEDED",
         "output": json.dumps({"response": "hello", "confidence": 0.5})},
        {"stateMachineArn": ARN, "name": "i-1-abcdef12", "input": json.dumps(workflow_input, separators=(",", ":"))},
    )
    with stub:
        result = SyncWorkflowRunner(client, ARN)(workflow_input, "i-1-abcdef12")
    assert result == {"status": "SUCCEEDED", "output": {"response": "hello", "confidence": 0.5}}
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT"])
def test_an_unfinished_execution_has_no_output(status: str) -> None:
    client, stub = _stubbed()
    stub.add_response("start_sync_execution",
                      {"executionArn": f"{ARN}:x", "startDate": 0, "stopDate": 0, "status": status})
    with stub:
        assert SyncWorkflowRunner(client, ARN)({}, "n-1") == {"status": status, "output": None}


def test_a_step_functions_api_error_is_503_without_internals() -> None:
    client, stub = _stubbed()
    stub.add_client_error("start_sync_execution", "ThrottlingException", "Rate exceeded for arn:secret")
    with stub, pytest.raises(ContractError) as raised:
        SyncWorkflowRunner(client, ARN)({}, "n-1")
    assert (raised.value.status, raised.value.code) == (503, "service_unavailable")
    assert "arn" not in raised.value.message
