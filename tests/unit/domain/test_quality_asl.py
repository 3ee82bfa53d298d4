"""Amazon States Language definitions in answers: fields by state type, query language, integrations."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.botocore_catalog import BotocoreApiCatalog
from pipeline.domain.quality import parse_response
from pipeline.domain.quality.asl import check_asl
from pipeline.domain.quality.scoring import Findings


@pytest.fixture(scope="module")
def catalog() -> BotocoreApiCatalog:
    return BotocoreApiCatalog()


def _errors(definition: dict, catalog: BotocoreApiCatalog) -> list[str]:
    found = Findings()
    check_asl(parse_response(f"```json\n{json.dumps(definition, indent=2)}\n```"), found, catalog)
    return found.errors


def _machine(state: dict, **top: str) -> dict:
    return {**top, "StartAt": "S", "States": {"S": {**state, "End": True}}}


def test_a_valid_distributed_map_and_tasks_pass(catalog):
    state = {"Type": "Map", "MaxConcurrency": 500, "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
             "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, "StartAt": "T",
                               "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}}}
    assert _errors(_machine(state), catalog) == []
    for resource in ("arn:aws:states:::sqs:sendMessage.waitForTaskToken", "arn:aws:states:::states:startExecution.sync:2",
                     "arn:aws:states:::aws-sdk:s3:listObjectsV2", "arn:aws:states:::apigateway:invoke",
                     "arn:aws:lambda:eu-west-1:123456789012:function:f"):
        assert _errors(_machine({"Type": "Task", "Resource": resource}), catalog) == [], resource


def test_map_mode_on_the_state_itself_is_misplaced(catalog):
    state = {"Type": "Map", "Mode": "DISTRIBUTED", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}
    assert "`Mode`" in _errors(_machine(state), catalog)[0]


def test_jsonpath_fields_in_a_jsonata_state(catalog):
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Arguments": {}}
    assert "JSONata" in _errors(_machine({**task, "ResultPath": "$.r"}, QueryLanguage="JSONata"), catalog)[0]
    assert _errors(_machine({**task, "Output": "{% $states.result %}"}, QueryLanguage="JSONata"), catalog) == []
    assert "JSONPath" in _errors(_machine({"Type": "Pass", "Output": {}}), catalog)[0]


def test_an_integration_action_that_is_not_an_api_action(catalog):
    errors = _errors(_machine({"Type": "Task", "Resource": "arn:aws:states:::lambda:invokeFunction.waitForTaskToken"}), catalog)
    assert errors and "invokeFunction" in errors[0]
