"""`cdk destroy` of a dev stage removes everything it created; a prod stage keeps its data.

Dev: every resource is deleted with the stack (DeletionPolicy absent or Delete), versioned
buckets are emptied first by CDK's auto-delete custom resource, and the KMS key is
scheduled for deletion. The one exception is the account-level API Gateway CloudWatch role
(AWS::ApiGateway::Account and its role), retained on purpose: it is shared by every REST API
of the account and Region. Prod: tables, buckets, the key and the log groups are retained.
"""

from __future__ import annotations

#: Retained in every stage, on purpose (see the module docstring).
ACCOUNT_LEVEL = {"AWS::ApiGateway::Account"}


def _retained(template_json) -> dict[str, str]:
    return {logical: r["Type"] for logical, r in template_json["Resources"].items()
            if r.get("DeletionPolicy") in {"Retain", "RetainExceptOnCreate", "Snapshot"}}


def _api_account_role(template_json) -> str:
    (account,) = [r for r in template_json["Resources"].values()
                  if r["Type"] == "AWS::ApiGateway::Account"]
    return account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]


def test_dev_stage_deletes_everything_but_the_account_setting(template_json, resources):
    retained = _retained(template_json)
    allowed = {logical for logical, r in template_json["Resources"].items()
               if r["Type"] in ACCOUNT_LEVEL} | {_api_account_role(template_json)}
    assert set(retained) == allowed, {k: v for k, v in retained.items() if k not in allowed}

    buckets = resources(template_json, "AWS::S3::Bucket")
    emptied = {r["Properties"]["BucketName"]["Ref"]
               for r in resources(template_json, "Custom::S3AutoDeleteObjects").values()}
    assert set(buckets) == emptied, "every dev bucket is emptied before it is deleted"

    (key,) = resources(template_json, "AWS::KMS::Key").values()
    assert key["DeletionPolicy"] == "Delete" and key["Properties"]["PendingWindowInDays"] == 7


def test_prod_stage_retains_data_keys_and_logs(prod_template, resources):
    for kind in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup"):
        found = resources(prod_template, kind)
        assert found, kind
        for logical, resource in found.items():
            assert resource.get("DeletionPolicy") == "Retain", f"{kind} {logical}"
    assert not resources(prod_template, "Custom::S3AutoDeleteObjects"), "prod objects are never auto-deleted"


def test_api_gateway_account_role_is_retained_or_left_alone(template_json, prod_template, resources):
    (account,) = resources(template_json, "AWS::ApiGateway::Account").values()
    assert account["DeletionPolicy"] == "Retain"
    role = template_json["Resources"][_api_account_role(template_json)]
    assert role["DeletionPolicy"] == "Retain"
    # api_cloudwatch_role=false: the account's own setting is left untouched.
    assert not resources(prod_template, "AWS::ApiGateway::Account")
