"""BotocoreApiCatalog against botocore's bundled models (offline)."""

from __future__ import annotations

import pytest

from pipeline.adapters.botocore_catalog import BotocoreApiCatalog
from pipeline.ports import AwsApiCatalog


@pytest.fixture(scope="module")
def catalog() -> BotocoreApiCatalog:
    return BotocoreApiCatalog()


def test_implements_the_port(catalog):
    assert isinstance(catalog, AwsApiCatalog)


@pytest.mark.parametrize("name", ["s3", "s3api", "ec2", "lambda", "configservice", "config", "deploy", "codedeploy", "configure"])
def test_services_and_cli_aliases(catalog, name):
    assert catalog.has_service(name)


@pytest.mark.parametrize("name", ["ec3", "s4", "lamda", ""])
def test_unknown_services(catalog, name):
    assert not catalog.has_service(name)


def test_operation_by_cli_and_boto3_name(catalog):
    by_cli = catalog.operation("ec2", "describe-instances")
    by_boto3 = catalog.operation("ec2", "describe_instances")
    assert by_cli is not None and by_boto3 is not None
    assert by_cli.name == by_boto3.name == "DescribeInstances"
    assert "InstanceIds" in by_cli.parameters and by_cli.required == frozenset()


def test_wrong_and_mixed_spellings_are_rejected(catalog):
    assert catalog.operation("ec2", "describe-instance") is None
    assert catalog.operation("ec2", "describe_Instances") is None
    assert catalog.operation("s3", "get_objects") is None


def test_required_members(catalog):
    get_object = catalog.operation("s3api", "get-object")
    assert get_object.required == {"Bucket", "Key"}
    assert catalog.operation("rds", "describe-db-instances").name == "DescribeDBInstances"


def test_s3_cli_namespace_holds_only_high_level_commands(catalog):
    assert catalog.operation("s3", "get-object") is None  # that is `aws s3api get-object`
    assert catalog.operation("s3", "get_object").name == "GetObject"  # boto3's s3 client
    cp = catalog.operation("s3", "cp")
    assert cp.high_level and "recursive" in cp.parameters and not cp.open_parameters


@pytest.mark.parametrize(
    ("service", "command"),
    [("logs", "tail"), ("ecr", "get-login-password"), ("eks", "update-kubeconfig"), ("cloudformation", "deploy"),
     ("cloudformation", "package"), ("deploy", "push"), ("configure", "set"), ("ec2", "wait"), ("s3", "presign")],
)
def test_high_level_commands(catalog, service, command):
    info = catalog.operation(service, command)
    assert info is not None and info.high_level


def test_cli_customisation_options(catalog):
    create = catalog.operation("lambda", "create-function")
    assert "zip-file" in create.cli_options
    assert "Code" in create.required and "Code" not in create.cli_required


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "ap-southeast-2", "cn-north-1", "us-gov-west-1"])
def test_real_regions(catalog, region):
    assert catalog.is_region(region)


@pytest.mark.parametrize("region", ["us-west-3", "eu-east-1", "us-east-1a", "mars-north-1"])
def test_made_up_regions(catalog, region):
    assert not catalog.is_region(region)


def test_service_names_are_customer_facing(catalog):
    names = catalog.service_names()
    assert {"EC2", "S3", "Lambda", "Route 53"} <= set(names)


def test_operation_names_for_suggestions(catalog):
    assert "describe-instances" in catalog.operation_names("ec2")
    assert catalog.operation_names("nope") == ()


def test_nothing_loaded_until_first_use():
    fresh = BotocoreApiCatalog()
    assert fresh._session is None and fresh._models == {}
    fresh.operation("sts", "get-caller-identity")
    assert list(fresh._models) == ["sts"]
    fresh.operation("sts", "get_caller_identity")
    assert list(fresh._models) == ["sts"]  # cached, not reloaded


def test_waiter_and_paginator_names_come_from_botocore_models():
    from pipeline.adapters.botocore_catalog import BotocoreApiCatalog

    catalog = BotocoreApiCatalog()
    assert "instancerunning" in catalog.waiter_names("ec2")
    assert "bucketexists" in catalog.waiter_names("s3api")  # the CLI name resolves too
    assert "listobjectsv2" in catalog.paginator_names("s3")
    assert catalog.waiter_names("no-such-service") is None
