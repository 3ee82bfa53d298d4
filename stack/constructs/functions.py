"""The Lambda functions: one per handler module, all from one code asset.

The asset is the repository root with everything but ``pipeline/`` excluded (no bundling:
boto3 ships with the runtime, Powertools comes from its public layer and the native wheels
from :mod:`stack.constructs.native_layer`, built by local bundling without Docker), so
``pipeline.handlers.<name>.handler`` is importable exactly as it is in the checkout.

Each function has its own role with no managed policy: it may write only to its own log
group, plus the grants :class:`stack.support_stack.SupportStack` adds per function.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig
from stack.constructs.native_layer import native_layer

RUNTIME = lambda_.Runtime.PYTHON_3_12
POWERTOOLS_LAYER = "arn:{partition}:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:{version}"

#: Patterns excluded from the code asset (glob, relative to the repo root). Everything
#: outside pipeline/ first, then what inside pipeline/ does not belong in a Lambda.
ASSET_EXCLUDE: list[str] = [
    "*",
    ".*",  # "*" does not match dot-files and dot-folders (.venv, .cache, .git …)
    "!pipeline",
    "!pipeline/**",
    "**/__pycache__",
    "**/__pycache__/**",
    "**/*.pyc",
    "pipeline/**/tests",
    "pipeline/**/tests/**",
    "pipeline/**/training",
    "pipeline/**/training/**",
    "pipeline/**/*.ipynb",
    "pipeline/local",
    "pipeline/local/**",
]


_RETENTION_DAYS: tuple[tuple[int, str], ...] = (
    (1, "ONE_DAY"), (3, "THREE_DAYS"), (5, "FIVE_DAYS"), (7, "ONE_WEEK"), (14, "TWO_WEEKS"),
    (30, "ONE_MONTH"), (60, "TWO_MONTHS"), (90, "THREE_MONTHS"), (120, "FOUR_MONTHS"),
    (150, "FIVE_MONTHS"), (180, "SIX_MONTHS"), (365, "ONE_YEAR"), (400, "THIRTEEN_MONTHS"),
    (545, "EIGHTEEN_MONTHS"), (731, "TWO_YEARS"), (1827, "FIVE_YEARS"), (3653, "TEN_YEARS"),
)


def retention_for(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch retention that keeps logs at least ``days`` days."""
    for value, name in _RETENTION_DAYS:
        if value >= days:
            return getattr(logs.RetentionDays, name)
    return logs.RetentionDays.TEN_YEARS


class Functions(Construct):
    """Creates every handler's function; ``self.by_handler[name]`` gives it back."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        conversations: ddb.ITable,
        prompts: ddb.ITable,
        feedback: ddb.ITable,
        prompt_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            POWERTOOLS_LAYER.format(
                partition=stack.partition, region=stack.region, version=config.powertools_layer_version
            ),
        )
        self.code = lambda_.Code.from_asset(str(c.REPO_ROOT), exclude=ASSET_EXCLUDE)
        # google-re2 for the guardrails' one-pass anchor set, built for Lambda without Docker.
        self.native_layer = native_layer(self, "NativeWheels", RUNTIME)
        self.environment = {
            "CONVERSATIONS_TABLE": conversations.table_name,
            "FEEDBACK_TABLE": feedback.table_name,
            "PROMPTS_TABLE": prompts.table_name,
            "PROMPT_BUCKET": prompt_bucket.bucket_name,
            "MODEL_BACKEND": "bedrock",
            "NLP_BACKEND": "comprehend",
            "STORE_BACKEND": "dynamodb",
            "MODEL_ID": config.model_id,
            "LATENCY_BUDGET_MS": str(config.latency_budget_seconds * 1000),
            "GENERATION_P95_MS": str(config.generation_p95_seconds * 1000),
            "QUALITY_THRESHOLD": str(config.quality_threshold),
            "MAX_REGENERATIONS": str(config.max_regenerations),
            "HISTORY_TURNS": str(config.history_turns),
            "CONVERSATION_TTL_DAYS": str(config.conversation_ttl_days),
            "POWERTOOLS_SERVICE_NAME": config.service_name,
            "POWERTOOLS_METRICS_NAMESPACE": config.metrics_namespace,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "STAGE": config.stage,
        }
        self.by_handler: dict[str, lambda_.Function] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        for handler in c.ALL_HANDLERS:
            memory, timeout = c.SIZING.get(handler, c.DEFAULT_SIZING)
            if handler in c.WORKFLOW_HANDLERS:  # derived from the latency budget
                timeout = config.workflow_task_timeout_seconds
            elif handler == "query_api":  # waits for the whole execution
                timeout = config.query_api_timeout_seconds
            fid = c.function_id(handler)
            log_group = logs.LogGroup(
                self,
                f"{fid}Logs",
                retention=retention_for(config.log_retention_days),
                removal_policy=RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
            )
            role = iam.Role(
                self,
                f"{fid}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"Runs the {handler} handler; only its own log group by default.",
            )
            log_group.grant_write(role)
            fn = lambda_.Function(
                self,
                fid,
                runtime=RUNTIME,
                architecture=lambda_.Architecture.X86_64,
                code=self.code,
                handler=c.handler_path(handler),
                memory_size=memory,
                timeout=Duration.seconds(timeout),
                layers=[self.layer, self.native_layer],
                environment=dict(self.environment),
                tracing=lambda_.Tracing.ACTIVE,
                log_group=log_group,
                role=role,
                description=f"support assistant: pipeline.handlers.{handler}",
            )
            self.by_handler[handler] = fn
            self.log_groups[handler] = log_group

    def __getitem__(self, handler: str) -> lambda_.Function:
        return self.by_handler[handler]

    @property
    def all(self) -> list[lambda_.Function]:
        return [self.by_handler[h] for h in c.ALL_HANDLERS]
