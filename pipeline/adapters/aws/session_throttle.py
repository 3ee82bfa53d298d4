"""DynamoSessionThrottle: at most N ``POST /query`` requests per session per fixed window.

One counter item per (session, window): ``window_key = "<session_id>#<window start>"``,
incremented by an ``UpdateItem`` whose condition refuses the increment once the count has
reached the limit, so concurrent requests can never overshoot it. Items expire by TTL
(``expires_at``) a window after they end. Per-API-key throttling is API Gateway's usage plan;
this adds the per-session limit a usage plan cannot express.

Example:
    >>> throttle = DynamoSessionThrottle(table, limit=30, window_seconds=60)  # doctest: +SKIP
    >>> throttle.allow("6f1c…")                                                # doctest: +SKIP
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

KEY = "window_key"
TTL_ATTRIBUTE = "expires_at"


class DynamoSessionThrottle:
    def __init__(
        self,
        table: Any,
        *,
        limit: int,
        window_seconds: int = 60,
        now: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window_seconds must be positive")
        self._table = table
        self.limit = limit
        self.window_seconds = window_seconds
        self._now = now

    def allow(self, session_id: str) -> bool:
        """Count one request; False (nothing counted) once the window's limit is reached."""
        now = int(self._now())
        start = now - now % self.window_seconds
        try:
            self._table.update_item(
                Key={KEY: f"{session_id}#{start}"},
                UpdateExpression="ADD request_count :one SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(request_count) OR request_count < :limit",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":one": 1,
                    ":limit": self.limit,
                    ":ttl": start + 2 * self.window_seconds,
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
