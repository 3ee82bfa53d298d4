"""The prompt-template bucket, its access-log bucket, and the Prompts table index.

``pipeline/prompts/{template_id}/{version}.json`` is deployed to
``s3://<bucket>/prompts/{template_id}/{version}.json`` with ``BucketDeployment``; one
``AwsCustomResource`` per template writes its index item (``template_id``, ``version``,
``kind``, ``created_at``, ``s3_key``, ``sha256``) into the Prompts table, so table and bucket always
hold the repository's templates. Removing a template file deletes its index item on the
next deploy (the object version stays in the versioned bucket).

Reading the template files happens at synth time from the local checkout; no AWS call.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import custom_resources as cr
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig

#: created_at for templates whose file does not carry one (keeps synth deterministic).
DEFAULT_CREATED_AT = "2026-01-01T00:00:00Z"
#: ``kind`` of a template item (the CreatedAtIndex partition); pipeline.adapters.aws.dynamodb
#: uses the same value.
PROMPT_KIND = "prompt"


@dataclass(frozen=True, slots=True)
class TemplateFile:
    template_id: str
    version: str
    created_at: str
    sha256: str
    path: Path

    @property
    def s3_key(self) -> str:
        return f"{c.PROMPT_KEY_PREFIX}{self.template_id}/{self.version}.json"

    def index_item(self) -> dict[str, dict[str, str]]:
        """The Prompts table item in DynamoDB JSON (what PutItem takes)."""
        return {
            c.PROMPTS_PK: {"S": self.template_id},
            c.PROMPTS_SK: {"S": self.version},
            "kind": {"S": PROMPT_KIND},
            "created_at": {"S": self.created_at},
            "s3_key": {"S": self.s3_key},
            "sha256": {"S": self.sha256},
        }


def discover_templates(prompts_dir: Path = c.PROMPTS_DIR) -> list[TemplateFile]:
    """Every ``{template_id}/{version}.json`` under ``prompts_dir``, sorted."""
    found = []
    for path in sorted(prompts_dir.glob("*/*.json")):
        body = path.read_bytes()
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        found.append(
            TemplateFile(
                template_id=path.parent.name,
                version=path.stem,
                created_at=str(data.get("created_at") or DEFAULT_CREATED_AT),
                sha256=hashlib.sha256(body).hexdigest(),
                path=path,
            )
        )
    return found


def secure_bucket_props(config: StackConfig) -> dict:
    """The properties every bucket of the stack shares."""
    return {
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "removal_policy": RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
        "auto_delete_objects": False,
    }


class PromptStorage(Construct):
    """Prompt bucket + access-log bucket + deployment of the repository's templates."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        prompts_table: ddb.ITable,
        prompts_dir: Path = c.PROMPTS_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        props = secure_bucket_props(config)

        #: Destination of S3 server access logs for every bucket of the stack.
        self.access_logs = s3.Bucket(
            self,
            c.ACCESS_LOGS_BUCKET_ID,
            **props,
            versioned=False,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
        )

        self.bucket = s3.Bucket(
            self,
            c.PROMPT_BUCKET_ID,
            **props,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="prompt-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="noncurrent-to-glacier",
                    noncurrent_version_transitions=[
                        s3.NoncurrentVersionTransition(
                            storage_class=s3.StorageClass.GLACIER,
                            transition_after=Duration.days(90),
                        )
                    ],
                )
            ],
        )

        self.templates = discover_templates(prompts_dir)
        self.deployment: s3deploy.BucketDeployment | None = None
        if not self.templates:
            return
        self.deployment = s3deploy.BucketDeployment(
            self,
            "DeployPrompts",
            sources=[s3deploy.Source.asset(str(prompts_dir), exclude=["**/__pycache__", "*.py"])],
            destination_bucket=self.bucket,
            destination_key_prefix=c.PROMPT_KEY_PREFIX,
            prune=True,
            retain_on_delete=True,
            memory_limit=256,
        )
        policy = cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[prompts_table.table_arn])
        for template in self.templates:
            item = template.index_item()
            key = {c.PROMPTS_PK: item[c.PROMPTS_PK], c.PROMPTS_SK: item[c.PROMPTS_SK]}
            put = cr.AwsSdkCall(
                service="DynamoDB",
                action="putItem",
                parameters={"TableName": prompts_table.table_name, "Item": item},
                physical_resource_id=cr.PhysicalResourceId.of(
                    f"prompt-index/{template.template_id}/{template.version}"
                ),
            )
            index = cr.AwsCustomResource(
                self,
                f"Index-{template.template_id}-{template.version}",
                on_create=put,
                on_update=put,
                on_delete=cr.AwsSdkCall(
                    service="DynamoDB",
                    action="deleteItem",
                    parameters={"TableName": prompts_table.table_name, "Key": key},
                ),
                policy=policy,
                install_latest_aws_sdk=False,
            )
            # The index item must not point at a body that is not there yet.
            index.node.add_dependency(self.deployment)
