"""The support-assistant stack: wires the constructs together and grants each function
exactly the resources and actions it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig
from stack.constructs.api import Api
from stack.constructs.audit import Audit
from stack.constructs.functions import Functions
from stack.constructs.observability import Observability
from stack.constructs.prompts_bucket import PromptStorage
from stack.constructs.schedule import AnalyzeSchedule
from stack.constructs.tables import Tables
from stack.constructs.workflow import Workflow

COMPREHEND_DETECT = (
    "comprehend:DetectSentiment",
    "comprehend:DetectEntities",
    "comprehend:DetectKeyPhrases",
)


@dataclass(frozen=True)
class TableGrant:
    """Actions one function may take on one table, or only on the named indexes of it."""

    table: str  # "conversations" | "prompts" | "feedback" | "idempotency" | "session_throttle"
    actions: tuple[str, ...]
    indexes: tuple[str, ...] = ()  # when given, the grant covers these indexes, not the table


QUERY, PUT = "dynamodb:Query", "dynamodb:PutItem"
GET, UPDATE, DELETE = "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
#: Exactly the calls each handler's adapters make (writes are conditional PutItems, reads
#: are Queries). tests/stack/test_grants_match_calls.py records the real calls on moto and
#: fails when a grant is missing or unused, so this table cannot drift from the code.
TABLE_GRANTS: dict[str, tuple[TableGrant, ...]] = {
    "capture_query": (TableGrant("conversations", (QUERY, PUT)),),
    "detect_intent": (TableGrant("conversations", (QUERY,)),),
    "generate_response": (
        TableGrant("conversations", (QUERY,)),
        TableGrant("prompts", (QUERY,), (c.PROMPTS_CREATED_INDEX,)),
    ),
    "validate_quality": (),
    "collect_feedback": (TableGrant("conversations", (PUT,)), TableGrant("feedback", (PUT,))),
    "analyze_feedback": (
        TableGrant("feedback", (QUERY,), (c.FEEDBACK_TIMESTAMP_INDEX,)),
        # The experiments, for their verdicts (one Query on the kind="experiment" partition).
        TableGrant("prompts", (QUERY,), (c.PROMPTS_CREATED_INDEX,)),
    ),
    # query_api: has the session turns (403 vs 404), the Idempotency-Key claim (conditional
    # put / read / complete / release) and the per-session counter (conditional update).
    "query_api": (
        TableGrant("conversations", (QUERY,)),
        TableGrant("idempotency", (PUT, GET, UPDATE, DELETE)),
        TableGrant("session_throttle", (UPDATE,)),
    ),
    "feedback_api": (TableGrant("conversations", (QUERY,)), TableGrant("feedback", (PUT,))),
    "sessions_api": (TableGrant("conversations", (QUERY,)),),
}
BEDROCK_USERS = ("generate_response",)
COMPREHEND_USERS = ("detect_intent",)
PROMPT_BUCKET_READERS = ("generate_response",)
SUMMARY_WRITERS = ("analyze_feedback",)


def bedrock_model_arns(config: StackConfig) -> list[str]:
    """What ``bedrock:InvokeModel`` must cover for ``config.model_id``.

    A foundation model: its ARN in this Region. A cross-Region inference profile
    (Bedrock's "Prerequisites for inference profiles"): the profile's ARN AND the foundation
    model's ARN in every destination Region of the profile, or the request is denied when it
    is routed there. A global profile routes to any commercial Region: the foundation model
    in every Region, plus the Region-less ARN Bedrock documents for global profiles.
    """
    partition = Aws.PARTITION
    if not config.inference_profile:
        return [f"arn:{partition}:bedrock:{Aws.REGION}::foundation-model/{config.model_id}"]
    arns = [f"arn:{partition}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/{config.model_id}"]
    for region in config.model_destination_regions:
        arns.append(f"arn:{partition}:bedrock:{region}::foundation-model/{config.foundation_model_id}")
    if "*" in config.model_destination_regions:
        arns.append(f"arn:{partition}:bedrock:::foundation-model/{config.foundation_model_id}")
    return arns


class SupportStack(Stack):
    """Everything the assistant needs in one account and region."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.tables = Tables(self, c.TABLES_ID, config=config)
        self.prompts = PromptStorage(self, c.PROMPTS_ID, config=config, prompts_table=self.tables.prompts)
        self.functions = Functions(
            self,
            c.FUNCTIONS_ID,
            config=config,
            conversations=self.tables.conversations,
            prompts=self.tables.prompts,
            feedback=self.tables.feedback,
            prompt_bucket=self.prompts.bucket,
        )
        # The key that signs session tokens: 64 random characters, generated by Secrets
        # Manager at deploy time (never in the template), read once per container by the
        # handlers that check X-Session-Token.
        self.session_key = secretsmanager.Secret(
            self,
            c.SESSION_KEY_SECRET_ID,
            description="HMAC key of the support assistant's session tokens (X-Session-Token)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
            removal_policy=RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
        )
        self._grant()
        self.workflow = Workflow(self, c.WORKFLOW_ID, config=config, functions=self.functions.by_handler)
        self._wire_query_api()
        self.api = Api(
            self,
            c.API_ID,
            config=config,
            query_fn=self.functions["query_api"],
            feedback_fn=self.functions["feedback_api"],
            sessions_fn=self.functions["sessions_api"],
        )
        self.schedule = AnalyzeSchedule(self, c.SCHEDULE_ID, config=config, function=self.functions["analyze_feedback"])
        self.observability = Observability(
            self,
            c.OBSERVABILITY_ID,
            config=config,
            api=self.api.api,
            state_machine=self.workflow.state_machine,
            state_machine_logs=self.workflow.log_group,
            functions=self.functions.all,
        )
        self.audit = Audit(
            self,
            c.AUDIT_ID,
            config=config,
            access_logs=self.prompts.access_logs,
            functions=self.functions.all,
            tables=self.tables.all,
            prompt_bucket=self.prompts.bucket,
        )
        CfnOutput(self, "ApiUrl", value=self.api.api.url, description="Base URL of the REST API stage")
        CfnOutput(self, "ApiKeyId", value=self.api.api_key.key_id,
                  description="aws apigateway get-api-key --include-value --api-key <id>")
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(self, "PromptBucketName", value=self.prompts.bucket.bucket_name)
        CfnOutput(self, "DashboardName", value=self.observability.dashboard.dashboard_name)

    def _wire_query_api(self) -> None:
        """POST /query's function: its tables, its limit and the one state machine it starts."""
        fn = self.functions["query_api"]
        machine = self.workflow.state_machine
        fn.add_environment("STATE_MACHINE_ARN", machine.state_machine_arn)
        fn.add_environment("IDEMPOTENCY_TABLE", self.tables.idempotency.table_name)
        fn.add_environment("SESSION_THROTTLE_TABLE", self.tables.session_throttle.table_name)
        fn.add_environment("SESSION_THROTTLE_LIMIT", str(self.config.session_requests_per_minute))
        fn.add_environment("SESSION_THROTTLE_WINDOW_SECONDS", "60")
        # A pending Idempotency-Key claim older than the Lambda's timeout is taken over.
        fn.add_environment("IDEMPOTENCY_LEASE_SECONDS", str(self.config.query_api_timeout_seconds + 5))
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["states:StartSyncExecution"], resources=[machine.state_machine_arn])
        )

    def _grant(self) -> None:
        tables: dict[str, ddb.Table] = {
            "conversations": self.tables.conversations,
            "prompts": self.tables.prompts,
            "feedback": self.tables.feedback,
            "idempotency": self.tables.idempotency,
            "session_throttle": self.tables.session_throttle,
        }
        for handler in c.API_HANDLERS:  # proxy integrations: the function sends the CORS header
            self.functions[handler].add_environment("CORS_ALLOW_ORIGIN", self.config.cors_origins[0])
        for handler in c.SESSION_KEY_READERS:
            fn = self.functions[handler]
            fn.add_environment("SESSION_KEY_SECRET_ARN", self.session_key.secret_arn)
            # GetSecretValue on this one secret only (no DescribeSecret, no other secret).
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["secretsmanager:GetSecretValue"], resources=[self.session_key.secret_arn]
                )
            )
        for handler, grants in TABLE_GRANTS.items():
            fn: lambda_.Function = self.functions[handler]
            for grant in grants:
                table = tables[grant.table]
                targets = [f"{table.table_arn}/index/{name}" for name in grant.indexes] or [table.table_arn]
                fn.add_to_role_policy(iam.PolicyStatement(actions=list(grant.actions), resources=targets))
        for handler in BEDROCK_USERS:
            self.functions[handler].add_to_role_policy(
                iam.PolicyStatement(actions=["bedrock:InvokeModel"], resources=bedrock_model_arns(self.config))
            )
        for handler in COMPREHEND_USERS:
            # Comprehend's synchronous Detect* APIs have no resource types: "*" is the only
            # resource IAM accepts for them (see the nag suppression).
            self.functions[handler].add_to_role_policy(
                iam.PolicyStatement(actions=list(COMPREHEND_DETECT), resources=["*"])
            )
        for handler in SUMMARY_WRITERS:
            fn = self.functions[handler]
            fn.add_environment("FEEDBACK_SUMMARY_BUCKET", self.prompts.bucket.bucket_name)
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:PutObject"],
                    resources=[self.prompts.bucket.arn_for_objects(f"{c.FEEDBACK_SUMMARY_PREFIX}*")],
                )
            )
        for handler in PROMPT_BUCKET_READERS:
            self.functions[handler].add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[self.prompts.bucket.arn_for_objects(f"{c.PROMPT_KEY_PREFIX}*")],
                )
            )
