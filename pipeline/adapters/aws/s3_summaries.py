"""S3SummaryWriter: the SummaryWriter port over an injected boto3 S3 client.

Example:
    >>> writer = S3SummaryWriter(boto3.client("s3"), "my-bucket")  # doctest: +SKIP
    >>> writer.write_json("feedback-summaries/latest.json", {"csat": 0.8})  # doctest: +SKIP
    's3://my-bucket/feedback-summaries/latest.json'
"""

from __future__ import annotations

import json
from typing import Any


class S3SummaryWriter:
    """Writes JSON documents to one bucket (server-side encrypted by the bucket's default)."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self._bucket = bucket

    def write_json(self, key: str, data: dict[str, Any]) -> str:
        body = json.dumps(data, sort_keys=True, default=str).encode("utf-8")
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return f"s3://{self._bucket}/{key}"
