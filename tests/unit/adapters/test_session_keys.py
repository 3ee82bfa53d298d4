"""The session-key adapters: Secrets Manager (injected client) and the local key file."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from pipeline.adapters.aws.secrets import SecretsManagerSessionKey


def test_secrets_manager_key_is_read_once_per_cold_start() -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="session-key", SecretString="x" * 64)["ARN"]
        calls = []
        client.meta.events.register("before-call.secrets-manager.GetSecretValue",
                                    lambda **kw: calls.append(1))
        keys = SecretsManagerSessionKey(client, arn)
        assert keys.session_key() == b"x" * 64 and keys.session_key() == b"x" * 64
        assert len(calls) == 1
        short = client.create_secret(Name="short", SecretString="tiny")["ARN"]
        with pytest.raises(ValueError):
            SecretsManagerSessionKey(client, short).session_key()
