"""Experiments are deployed with the templates; analyze_feedback may read them and write its summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from pipeline.adapters.aws import dynamodb as adapter
from pipeline.domain.experiments import EXPERIMENT_FILE, ExperimentError, parse_experiment
from stack import constants as c
from stack.constructs import prompts_bucket
from stack.prompt_index.index import apply

EXPERIMENT = {
    "experiment_id": "networking-v2-steps",
    "template_id": "networking",
    "hypothesis": "numbered steps with CLI examples rate higher",
    "control": "v1",
    "weights": {"v1": 70, "v2": 30},
    "started_at": "2026-12-01T00:00:00Z",
}


def prompts_with_experiment(tmp_path: Path, **change: object) -> Path:
    root = tmp_path / "prompts"
    shutil.copytree(c.PROMPTS_DIR, root)
    experiment = parse_experiment({**EXPERIMENT, **change}, origin="test")
    (root / "networking" / EXPERIMENT_FILE).write_text(experiment.to_toml(), encoding="utf-8")
    return root


def test_the_stack_and_the_adapter_agree_on_the_experiment_item_keys() -> None:
    assert prompts_bucket.EXPERIMENT_KIND == adapter.EXPERIMENT_KIND
    assert prompts_bucket.EXPERIMENT_SORT_KEY == adapter.EXPERIMENT_SORT_KEY
    assert prompts_bucket.PROMPT_KIND == adapter.PROMPT_KIND


def test_an_experiment_file_is_deployed_into_the_prompt_index_and_read_back(tmp_path: Path) -> None:
    from tests.stack.test_prompts_bucket import _synth_prompt_storage

    template = _synth_prompt_storage(prompts_with_experiment(tmp_path))
    (index,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::PromptIndex"]
    items = index["Properties"]["Items"]
    experiments = [i for i in items if i["kind"]["S"] == "experiment"]
    assert len(experiments) == 1 and len(items) == len(prompts_bucket.discover_templates()) + 1
    # What the loader writes is what the Lambdas' adapter reads.
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="Prompts",
            KeySchema=[{"AttributeName": "template_id", "KeyType": "HASH"},
                       {"AttributeName": "version", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                                  for n in ("template_id", "version", "kind", "created_at")],
            GlobalSecondaryIndexes=[{"IndexName": "CreatedAtIndex",
                                     "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"},
                                                   {"AttributeName": "created_at", "KeyType": "RANGE"}],
                                     "Projection": {"ProjectionType": "ALL"}}],
            BillingMode="PAY_PER_REQUEST",
        )
        apply(client, "Create", {"TableName": "Prompts", "KeyNames": ["template_id", "version"],
                                 "Items": items}, None)
        table = boto3.resource("dynamodb", region_name="us-east-1").Table("Prompts")
        store = adapter.DynamoS3PromptStore(table, boto3.client("s3", region_name="us-east-1"), "unused")
        [experiment] = store.list_experiments()
    assert experiment == parse_experiment(EXPERIMENT, origin="test")
    assert json.loads(experiments[0]["body"]["S"])["weights"] == {"v1": 70.0, "v2": 30.0}


def test_an_experiment_weighting_a_missing_version_stops_the_synth(tmp_path: Path) -> None:
    root = prompts_with_experiment(tmp_path, weights={"v1": 50, "v4": 50})
    with pytest.raises(ExperimentError, match=r"experiment.toml: networking has no version v4.*Fix"):
        prompts_bucket.experiment_items(root)


def _function(template_json: dict, handler: str) -> tuple[str, dict]:
    for logical, resource in template_json["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"].get("Handler") == c.handler_path(handler):
            return logical, resource["Properties"]
    raise AssertionError(handler)


def _statements_of(template_json: dict, role_ref: dict) -> list[dict]:
    found = []
    for resource in template_json["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and role_ref in resource["Properties"].get("Roles", []):
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def test_analyze_feedback_writes_summaries_under_its_prefix_only(template_json) -> None:
    _, props = _function(template_json, "analyze_feedback")
    env = props["Environment"]["Variables"]
    bucket_ref = env["FEEDBACK_SUMMARY_BUCKET"]
    assert bucket_ref["Ref"].startswith(f"{c.PROMPTS_ID}{c.PROMPT_BUCKET_ID}")
    statements = _statements_of(template_json, props["Role"] and {"Ref": props["Role"]["Fn::GetAtt"][0]})
    puts = [s for s in statements if "s3:PutObject" in json.dumps(s["Action"])]
    assert len(puts) == 1 and puts[0]["Action"] == "s3:PutObject"
    assert json.dumps(puts[0]["Resource"]).endswith('"/feedback-summaries/*"]]}')
    queries = [s for s in statements if s["Action"] == "dynamodb:Query"]
    assert any("CreatedAtIndex" in json.dumps(s["Resource"]) for s in queries)
    # No other handler got the summary bucket.
    _, generate = _function(template_json, "generate_response")
    assert "FEEDBACK_SUMMARY_BUCKET" not in generate["Environment"]["Variables"]
