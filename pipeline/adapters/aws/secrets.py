"""SecretsManagerSessionKey: the session-token key from AWS Secrets Manager.

The client is injected (``boto3.client("secretsmanager")``); the secret is read once per
cold start. ``SecretString`` is used as UTF-8 bytes (generate it with
``GenerateSecretString`` of 64 characters); ``SecretBinary`` as is.

Example:
    >>> SecretsManagerSessionKey(client, "arn:aws:secretsmanager:…").session_key()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any


class SecretsManagerSessionKey:
    def __init__(self, client: Any, secret_id: str) -> None:
        self._client = client
        self._secret_id = secret_id
        self._key: bytes | None = None

    def session_key(self) -> bytes:
        if self._key is None:
            found = self._client.get_secret_value(SecretId=self._secret_id)
            if found.get("SecretBinary") is not None:
                key = bytes(found["SecretBinary"])
            else:
                key = str(found.get("SecretString") or "").encode("utf-8")
            if len(key) < 32:
                raise ValueError("the session-key secret must hold at least 32 bytes")
            self._key = key
        return self._key
