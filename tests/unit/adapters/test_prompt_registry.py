"""The prompt registry on moto (S3 + the Prompts table) and on files, through the CLI."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from pipeline.adapters.aws.dynamodb import DynamoS3PromptStore
from pipeline.adapters.local.prompt_files import FilePromptRegistry, FilePromptStore
from pipeline.domain.experiments import EXPERIMENT_FILE
from pipeline.domain.workflow import RecordExistsError
from pipeline.prompt_registry import main, promote, publish, rollback

PROMPTS = Path(__file__).resolve().parents[3] / "pipeline" / "prompts"
REGION = "us-east-1"


class NoScan:
    """A Table proxy that fails on Scan: the registry must read through keys and indexes."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.fail_next_put = False

    def scan(self, **kwargs: Any) -> Any:
        raise AssertionError("the prompt registry must never scan the table")

    def put_item(self, **kwargs: Any) -> Any:
        if self.fail_next_put:
            self.fail_next_put = False
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}},
                              "PutItem")
        return self._table.put_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        table = dynamodb.create_table(
            TableName="Prompts",
            KeySchema=[{"AttributeName": "template_id", "KeyType": "HASH"},
                       {"AttributeName": "version", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                                  for n in ("template_id", "version", "kind", "created_at")],
            GlobalSecondaryIndexes=[{
                "IndexName": "CreatedAtIndex",
                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"},
                              {"AttributeName": "created_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="prompt-bucket")
        s3.put_bucket_versioning(Bucket="prompt-bucket", VersioningConfiguration={"Status": "Enabled"})
        proxy = NoScan(table)
        store = DynamoS3PromptStore(proxy, s3, "prompt-bucket")
        for path in sorted(PROMPTS.glob("*/*.json")):  # what the stack deploys
            store.publish(path.read_bytes(), created_at="2026-01-01T00:00:00+00:00")
        yield store, proxy, s3


def template_body(template_id: str = "networking", source: str = "v2", version: str = "v3", **change: Any) -> bytes:
    data = json.loads((PROMPTS / template_id / f"{source}.json").read_text(encoding="utf-8"))
    data.update(version=version, **change)
    return json.dumps(data).encode()


def objects(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="prompt-bucket").get("Contents", []))


def test_publish_pins_the_serving_version_then_adds_the_new_one_dark(aws) -> None:
    store, _, s3 = aws
    done = publish(store, template_body(), origin="v3.json", hypothesis="shorter steps")
    assert done.experiment is not None
    assert done.experiment.control == "v2" and dict(done.experiment.weights) == {"v2": 100.0, "v3": 0.0}
    assert store.get("networking", "v3").version == "v3"
    assert "prompts/networking/v3.json" in objects(s3)
    fresh = DynamoS3PromptStore(aws[1], s3, "prompt-bucket")
    [experiment] = fresh.list_experiments()
    assert experiment.revision == 2 and experiment.hypothesis == "shorter steps"
    # The experiment item never looks like a version.
    assert fresh.get("networking").version == "v3"
    assert [t.version for t in fresh.list_templates() if t.template_id == "networking"] == ["v1", "v2", "v3"]


def test_promote_ramps_then_decides_and_rollback_returns_to_the_control(aws) -> None:
    store, _, _ = aws
    publish(store, template_body(), origin="v3.json", weight=10)
    assert store.list_experiments()[0].share("v3") == pytest.approx(0.10)
    ramped = promote(store, "networking", "v3", weight=50)
    assert ramped.share("v3") == pytest.approx(0.5) and ramped.control == "v2"
    back = rollback(store, "networking")
    assert back.share("v2") == 1.0 and back.revision == ramped.revision + 1
    decided = promote(store, "networking", "v3")
    assert decided.control == "v3" and decided.share("v3") == 1.0


def test_a_bad_template_is_refused_before_anything_is_written(aws) -> None:
    store, _, s3 = aws
    before = objects(s3)
    from pipeline.prompt_registry import RegistryError

    with pytest.raises(RegistryError, match=r"v3.json \(networking/v3\): parameters.max_tokens = 99999 is out of range. Fix"):
        publish(store, template_body(parameters={"max_tokens": 99999}), origin="v3.json")
    assert objects(s3) == before and store.list_experiments() == []


def test_a_failed_index_write_leaves_no_body_and_no_pin(aws) -> None:
    store, proxy, s3 = aws
    before = objects(s3)
    versions_before = len(s3.list_object_versions(Bucket="prompt-bucket").get("Versions", []))
    proxy.fail_next_put = False

    original = proxy.put_item

    def fail_version_put(**kwargs: Any) -> Any:
        if kwargs["Item"].get("kind") == "prompt":
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "PutItem")
        return original(**kwargs)

    proxy.put_item = fail_version_put  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        publish(store, template_body(), origin="v3.json")
    assert objects(s3) == before
    assert len(s3.list_object_versions(Bucket="prompt-bucket").get("Versions", [])) == versions_before
    assert store.list_experiments() == []  # the pin it added is gone
    assert store.get("networking").version == "v2"  # the previous version still serves


def test_republishing_a_version_is_refused_and_the_body_kept(aws) -> None:
    store, _, s3 = aws
    original = s3.get_object(Bucket="prompt-bucket", Key="prompts/networking/v2.json")["Body"].read()
    with pytest.raises(RecordExistsError):
        store.publish(template_body(version="v2", description="changed"))
    assert s3.get_object(Bucket="prompt-bucket", Key="prompts/networking/v2.json")["Body"].read() == original


def test_concurrent_experiment_changes_do_not_overwrite_each_other(aws) -> None:
    store, _, _ = aws
    publish(store, template_body(), origin="v3.json")
    [experiment] = store.list_experiments()
    store.put_experiment(experiment.with_weights({"v2": 50, "v3": 50}), expected_revision=experiment.revision)
    with pytest.raises(RecordExistsError, match="changed since it was read"):
        store.put_experiment(experiment.with_weights({"v2": 0, "v3": 100}), expected_revision=experiment.revision)
    assert store.list_experiments()[0].share("v3") == 0.5


def test_an_experiment_cannot_weight_an_unpublished_version(aws) -> None:
    store, _, _ = aws
    publish(store, template_body(), origin="v3.json")
    [experiment] = store.list_experiments()
    from pipeline.domain.experiments import ExperimentError, parse_experiment

    bad = parse_experiment({**experiment.to_dict(), "weights": {"v2": 50, "v7": 50}}, origin="t")
    with pytest.raises(ExperimentError, match="no version v7"):
        store.put_experiment(bad, expected_revision=experiment.revision)


def test_cli_on_the_aws_store(aws, tmp_path: Path) -> None:
    store, proxy, s3 = aws
    path = tmp_path / "v3.json"
    path.write_bytes(template_body())
    # The CLI builds its own boto3 clients (moto intercepts them).
    out, err = io.StringIO(), io.StringIO()
    common = ["--store", "aws", "--table", "Prompts", "--bucket", "prompt-bucket", "--region", REGION]
    assert main([*common, "publish", str(path), "--weight", "20"], out=out, err=err) == 0, err.getvalue()
    assert "published networking/v3; serving 20% of its sessions" in out.getvalue()
    assert main([*common, "list", "--json"], out=(listing := io.StringIO()), err=err) == 0
    assert json.loads(listing.getvalue())["networking"]["serving"] == {"v2": 0.8, "v3": 0.2}
    assert main([*common, "rollback", "networking"], out=out, err=err) == 0
    assert store.list_experiments()[0].share("v2") == 1.0
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main([*common, "publish", str(bad)], out=out, err=(error := io.StringIO())) == 1
    assert error.getvalue().startswith(f"prompts publish: {bad}: not valid JSON") and "Fix:" in error.getvalue()
    assert main(["--store", "aws", "list"], out=out, err=(missing := io.StringIO())) == 2
    assert "--store aws needs" in missing.getvalue()


def test_cli_on_files_in_place_then_the_stores_agree(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS, root)
    (root / "networking" / "v3.json").write_bytes(template_body())
    out, err = io.StringIO(), io.StringIO()
    args = ["--prompts-dir", str(root)]
    assert main([*args, "publish", str(root / "networking" / "v3.json"), "--weight", "25"], out=out, err=err) == 0, \
        err.getvalue()
    [experiment] = FilePromptStore(root).list_experiments()
    assert (experiment.control, experiment.share("v3")) == ("v2", 0.25)
    assert (root / "networking" / EXPERIMENT_FILE).exists()
    assert main([*args, "promote", "networking", "v3"], out=out, err=err) == 0
    assert FilePromptRegistry(root).list_experiments()[0].control == "v3"
    assert main([*args, "promote", "networking", "v9"], out=out, err=(error := io.StringIO())) == 1
    assert "has no version v9" in error.getvalue() and "Fix:" in error.getvalue()
