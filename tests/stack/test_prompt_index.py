"""The Custom::PromptIndex loader (stack/prompt_index) against moto's DynamoDB."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from stack.prompt_index import index as loader

TABLE = "Prompts"
KEYS = ["template_id", "version"]


def _item(template: str, version: str) -> dict:
    return {"template_id": {"S": template}, "version": {"S": version}, "kind": {"S": "prompt"},
            "s3_key": {"S": f"prompts/{template}/{version}.json"}}


@pytest.fixture
def client(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "template_id", "KeyType": "HASH"},
                       {"AttributeName": "version", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "template_id", "AttributeType": "S"},
                                  {"AttributeName": "version", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ddb


def _keys(client) -> set[tuple[str, str]]:
    items = client.scan(TableName=TABLE)["Items"]
    return {(i["template_id"]["S"], i["version"]["S"]) for i in items}


def _props(items):
    return {"TableName": TABLE, "KeyNames": KEYS, "Items": items}


def test_create_update_delete_keep_the_index_in_line(client):
    first = [_item("general", f"v{n}") for n in range(60)]  # more than one 25-item batch
    loader.apply(client, "Create", _props(first), None)
    assert _keys(client) == {("general", f"v{n}") for n in range(60)}

    second = first[10:] + [_item("billing", "v1")]
    loader.apply(client, "Update", _props(second), _props(first))
    assert _keys(client) == {("general", f"v{n}") for n in range(10, 60)} | {("billing", "v1")}

    loader.apply(client, "Delete", _props(second), None)
    assert _keys(client) == set()


class _Responses:
    def __init__(self):
        self.bodies: list[dict] = []

    def urlopen(self, request, timeout):
        self.bodies.append(json.loads(request.data))
        return _Closing()


class _Closing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _event(request_type: str, props: dict) -> dict:
    return {"RequestType": request_type, "ResourceProperties": props, "ResponseURL": "https://s3/x",
            "StackId": "stack", "RequestId": "req", "LogicalResourceId": "Index"}


def test_handler_reports_to_cloudformation(client, monkeypatch):
    responses = _Responses()
    monkeypatch.setattr(loader.urllib.request, "urlopen", responses.urlopen)
    loader.handler(_event("Create", _props([_item("general", "v1")])), None, client=client)
    loader.handler(_event("Create", {**_props([_item("x", "v1")]), "TableName": "Missing"}), None,
                   client=client)
    loader.handler(_event("Delete", {**_props([_item("x", "v1")]), "TableName": "Missing"}), None,
                   client=client)
    assert [b["Status"] for b in responses.bodies] == ["SUCCESS", "FAILED", "SUCCESS"]
    assert "ResourceNotFoundException" in responses.bodies[1]["Reason"]
    assert responses.bodies[0]["PhysicalResourceId"] == f"prompt-index/{TABLE}"
