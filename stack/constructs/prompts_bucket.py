"""The prompt-template bucket, its access-log bucket, and the Prompts table index.

``pipeline/prompts/{template_id}/{version}.json`` is deployed to
``s3://<bucket>/prompts/{template_id}/{version}.json`` with ``BucketDeployment``; ONE
``Custom::PromptIndex`` resource (``stack/prompt_index``) writes every version's index item
(``template_id``, ``version``, ``kind``, ``created_at``, ``s3_key``, ``sha256``) into the
Prompts table, so table and bucket always hold the repository's templates and the IAM policy
stays one statement however many versions there are. Removing a template file deletes its
index item on the next deploy (the object version stays in the versioned bucket).

Each ``{template_id}/experiment.toml`` (an online experiment: variants with traffic weights,
``pipeline.domain.experiments``) becomes one more item of the same resource (``kind`` =
``experiment``, SK ``experiment``), validated at synth time against the template's versions,
so a deploy ships versions and their traffic split together. The repository's file is the
source of truth at deploy time; ``python -m pipeline prompts --store aws`` changes it live
in between (mirror such a change into the file before the next deploy).

Reading the template files happens at synth time from the local checkout; no AWS call.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig
from stack.constructs.functions import retention_for

#: created_at for templates whose file does not carry one (keeps synth deterministic).
DEFAULT_CREATED_AT = "2026-01-01T00:00:00Z"
#: ``kind`` of a template item (the CreatedAtIndex partition); pipeline.adapters.aws.dynamodb
#: uses the same value.
PROMPT_KIND = "prompt"
#: ``kind`` and sort key of an experiment item (pipeline.adapters.aws.dynamodb uses the same).
EXPERIMENT_KIND = "experiment"
EXPERIMENT_SORT_KEY = "experiment"
#: The loader of the index items (one custom resource for every template version).
INDEX_LOADER_DIR = Path(__file__).resolve().parents[1] / "prompt_index"
PROMPT_INDEX_RESOURCE_TYPE = "Custom::PromptIndex"


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


def experiment_items(prompts_dir: Path = c.PROMPTS_DIR) -> list[dict[str, dict[str, str]]]:
    """The Prompts table items of every ``experiment.toml`` (DynamoDB JSON), validated.

    Raises:
        ExperimentError: an experiment file is invalid or weights a version that is not there
            (synth stops with the file, the problem and the fix).
    """
    from pipeline.adapters.local.prompt_files import FilePromptStore

    items = []
    for experiment in FilePromptStore(prompts_dir).list_experiments():
        items.append({
            c.PROMPTS_PK: {"S": experiment.template_id},
            c.PROMPTS_SK: {"S": EXPERIMENT_SORT_KEY},
            "kind": {"S": EXPERIMENT_KIND},
            "created_at": {"S": experiment.started_at or DEFAULT_CREATED_AT},
            "body": {"S": experiment.to_json()},
            "revision": {"N": str(experiment.revision)},
        })
    return items


def secure_bucket_props(config: StackConfig) -> dict:
    """The properties every bucket of the stack shares."""
    return {
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "removal_policy": RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
        # A versioned bucket that still holds objects cannot be deleted: in dev, CDK's
        # auto-delete custom resource empties it (every version) so `cdk destroy` finishes.
        "auto_delete_objects": not config.is_prod,
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
        self.experiments = experiment_items(prompts_dir)
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
        self.index = self._index_loader(config, prompts_table)

    def _index_loader(self, config: StackConfig, prompts_table: ddb.ITable) -> CustomResource:
        """One custom resource writes every version's index item (see stack/prompt_index)."""
        log_group = logs.LogGroup(
            self,
            "IndexLoaderLogs",
            retention=retention_for(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            "IndexLoaderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Writes the prompt templates' index items into the Prompts table.",
        )
        log_group.grant_write(role)
        role.add_to_policy(
            iam.PolicyStatement(actions=["dynamodb:BatchWriteItem"], resources=[prompts_table.table_arn])
        )
        self.index_loader = lambda_.Function(
            self,
            "IndexLoader",
            runtime=lambda_.Runtime.PYTHON_3_12,  # the handlers' runtime, bumped together
            code=lambda_.Code.from_asset(str(INDEX_LOADER_DIR), exclude=["__pycache__", "*.pyc"]),
            handler="index.handler",
            timeout=Duration.minutes(2),
            memory_size=256,
            role=role,
            log_group=log_group,
            description="Custom::PromptIndex: the Prompts table index of the deployed templates",
        )
        index = CustomResource(
            self,
            "Index",
            service_token=self.index_loader.function_arn,
            resource_type=PROMPT_INDEX_RESOURCE_TYPE,
            properties={
                "TableName": prompts_table.table_name,
                "KeyNames": [c.PROMPTS_PK, c.PROMPTS_SK],
                "Items": [template.index_item() for template in self.templates] + self.experiments,
            },
        )
        # The index items must not point at bodies that are not there yet.
        assert self.deployment is not None
        index.node.add_dependency(self.deployment)
        return index
