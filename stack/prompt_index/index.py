"""CloudFormation custom resource ``Custom::PromptIndex``: writes the Prompts-table index.

One resource holds every template version's index item (``Items``, DynamoDB JSON), so the
deploy needs one function, one role and one policy statement however many versions the
repository has (one ``AwsCustomResource`` per version grew the shared role's policy toward
IAM's 10,240-byte limit). Create/Update writes every item (``BatchWriteItem``, 25 a call)
and deletes the items an update dropped (by key, from ``OldResourceProperties``); Delete
removes them all. A failed delete is reported as success so teardown never wedges (the
table is deleted right after in dev, retained with its items in prod).

Runs on the Lambda Python runtime: boto3 and the standard library only.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

BATCH = 25  # BatchWriteItem's maximum number of requests per call
MAX_ROUNDS = 8  # retries of UnprocessedItems before giving up


def _key(item: dict[str, Any], key_names: list[str]) -> tuple[str, ...]:
    return tuple(json.dumps(item[name], sort_keys=True) for name in key_names)


def write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """``BatchWriteItem`` in chunks of 25, retrying what DynamoDB left unprocessed."""
    for start in range(0, len(requests), BATCH):
        pending = {table: requests[start:start + BATCH]}
        for _ in range(MAX_ROUNDS):
            if not pending.get(table):
                break
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        else:
            raise RuntimeError(f"{len(pending[table])} index items were left unprocessed")


def apply(client: Any, request_type: str, props: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Bring the table's index items in line with ``props`` (what the handler does)."""
    table = props["TableName"]
    key_names = list(props["KeyNames"])
    items = list(props.get("Items") or [])
    if request_type == "Delete":
        write(client, table, [{"DeleteRequest": {"Key": {k: i[k] for k in key_names}}} for i in items])
        return
    wanted = {_key(i, key_names) for i in items}
    dropped = [
        i for i in (old or {}).get("Items") or []
        if (old or {}).get("TableName") == table and _key(i, key_names) not in wanted
    ]
    write(client, table, [{"PutRequest": {"Item": i}} for i in items])
    write(client, table, [{"DeleteRequest": {"Key": {k: i[k] for k in key_names}}} for i in dropped])


def _respond(event: dict[str, Any], status: str, reason: str = "") -> None:
    body = json.dumps({
        "Status": status,
        "Reason": reason[:500] or status,
        "PhysicalResourceId": f"prompt-index/{event['ResourceProperties']['TableName']}",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
    }).encode("utf-8")
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - CloudFormation's pre-signed S3 URL
        pass


def handler(event: dict[str, Any], context: Any, client: Any = None) -> None:
    status, reason = "SUCCESS", ""
    try:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        apply(client, event["RequestType"], event["ResourceProperties"],
              event.get("OldResourceProperties"))
    except Exception as error:  # noqa: BLE001 - reported to CloudFormation, never raised
        print(json.dumps({"error": type(error).__name__, "message": str(error)[:500]}))
        if event["RequestType"] != "Delete":
            status, reason = "FAILED", f"{type(error).__name__}: {error}"
    _respond(event, status, reason)
