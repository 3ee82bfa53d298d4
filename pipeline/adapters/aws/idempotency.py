"""DynamoIdempotencyStore: ``POST /query`` answers by idempotency key, in DynamoDB.

One item per key (partition key ``idempotency_key``): ``{fingerprint, status: "pending" |
"done", created_at, lease_until, expires_at, response_json?}``. Every write is conditional,
so exactly one of several concurrent claims wins (the :class:`~pipeline.ports.
IdempotencyStore` contract):

* :meth:`claim` puts the item only if no live item exists. A record whose TTL has passed
  (DynamoDB deletes expired items lazily, within days) or a *pending* record whose lease
  has run out (the Lambda that claimed it died or timed out) counts as absent: the lease is
  longer than the whole request can take, so its execution is over.
* :meth:`complete` and :meth:`release` change only a pending item.

The answer is stored as a JSON string (no float → Decimal round trip). It never holds the
session token: :class:`~pipeline.domain.query_api.QueryApi` signs it again on a replay.

Example:
    >>> store = DynamoIdempotencyStore(boto3.resource("dynamodb").Table(name))  # doctest: +SKIP
    >>> store.claim("new:key-0001", "sha256…", "2026-12-06T00:00:00+00:00")     # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

KEY = "idempotency_key"
TTL_ATTRIBUTE = "expires_at"
PENDING, DONE = "pending", "done"


def _conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoIdempotencyStore:
    def __init__(
        self,
        table: Any,
        *,
        ttl_seconds: int = 24 * 3600,
        lease_seconds: int = 60,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._now = now

    def claim(self, key: str, fingerprint: str, created_at: str) -> dict[str, Any] | None:
        for _ in range(3):  # the existing item may expire or be released between the calls
            now = int(self._now())
            try:
                self._table.put_item(
                    Item={
                        KEY: key,
                        "fingerprint": fingerprint,
                        "status": PENDING,
                        "created_at": created_at,
                        "lease_until": now + self._lease,
                        TTL_ATTRIBUTE: now + self._ttl,
                    },
                    ConditionExpression=(
                        "attribute_not_exists(#k) OR #ttl < :now"
                        " OR (#s = :pending AND lease_until < :now)"
                    ),
                    ExpressionAttributeNames={"#k": KEY, "#ttl": TTL_ATTRIBUTE, "#s": "status"},
                    ExpressionAttributeValues={":now": now, ":pending": PENDING},
                )
                return None
            except ClientError as error:
                if not _conditional_failure(error):
                    raise
            found = self.get(key)
            if found is not None:
                return found
        raise RuntimeError(f"idempotency key {key} could neither be claimed nor read")

    def complete(self, key: str, response: dict[str, Any]) -> None:
        now = int(self._now())
        try:
            self._table.update_item(
                Key={KEY: key},
                UpdateExpression="SET #s = :done, response_json = :r, #ttl = :ttl REMOVE lease_until",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status", "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":done": DONE,
                    ":pending": PENDING,
                    ":r": json.dumps(response, separators=(",", ":")),
                    ":ttl": now + self._ttl,
                },
            )
        except ClientError as error:
            if _conditional_failure(error):
                raise KeyError(f"idempotency key {key} is not pending") from None
            raise

    def release(self, key: str) -> None:
        try:
            self._table.delete_item(
                Key={KEY: key},
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":pending": PENDING},
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise

    def get(self, key: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={KEY: key}, ConsistentRead=True).get("Item")
        if item is None or int(item.get(TTL_ATTRIBUTE, 0)) < int(self._now()):
            return None
        record: dict[str, Any] = {
            "fingerprint": item.get("fingerprint"),
            "status": item.get("status"),
            "created_at": item.get("created_at"),
        }
        if item.get("response_json") is not None:
            record["response"] = json.loads(item["response_json"])
        return record
