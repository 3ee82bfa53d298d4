"""cdk-nag wiring (cdk-nag 2.38.x: ``Aspects`` + ``NagSuppressions``) and every suppression.

Each suppression targets the narrowest construct possible, names the exact finding with
``applies_to`` where cdk-nag supports it, and says why it is acceptable. The table
:data:`SUPPRESSIONS` is the single source: :func:`apply_nag` applies it and
``docs/deploy.md`` lists it. ``python -m stack.checks`` fails on any unsuppressed error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

from stack import constants as c
from stack.support_stack import SupportStack


@dataclass(frozen=True, slots=True)
class Suppression:
    target: str  # a key of _targets(): which constructs it applies to
    rule: str
    reason: str
    #: exact finding strings, or ``re:<regex>`` for findings that embed a logical id hash
    applies_to: tuple[str, ...] = ()

    def nag_applies_to(self) -> list[str | RegexAppliesTo] | None:
        if not self.applies_to:
            return None
        return [
            RegexAppliesTo(regex=f"/{a[3:]}/") if a.startswith("re:") else a for a in self.applies_to
        ]


XRAY = (
    "X-Ray active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which "
    "support no resource-level permissions; CDK adds them with Resource '*'."
)

SUPPRESSIONS: tuple[Suppression, ...] = (
    # --- our Lambda functions ---------------------------------------------------------
    Suppression(
        "functions_and_index_loader", "AwsSolutions-L1",
        "Python 3.12 is pinned on purpose: the Powertools layer is the python312 build and CI "
        "tests the handlers on the matching interpreter; runtime and layer are bumped together.",
    ),
    Suppression("function_roles", "AwsSolutions-IAM5", XRAY + " detect_intent also holds "
                "comprehend:DetectSentiment/DetectEntities/DetectKeyPhrases on '*': Comprehend's synchronous Detect APIs have no resource types.",
                applies_to=("Resource::*",)),
    Suppression(
        "function_roles", "AwsSolutions-IAM5",
        "generate_response reads prompt bodies: s3:GetObject only, only under "
        "the prompts/ prefix of the prompt bucket.",
        applies_to=(r"re:^Resource::<PromptsPromptBucket[0-9A-F]{8}\.Arn>/prompts/\*$",),
    ),
    Suppression(
        "function_roles", "AwsSolutions-IAM5",
        "analyze_feedback writes its JSON summaries: s3:PutObject only, only under the "
        "feedback-summaries/ prefix of the prompt bucket (one new key per run).",
        applies_to=(r"re:^Resource::<PromptsPromptBucket[0-9A-F]{8}\.Arn>/feedback-summaries/\*$",),
    ),
    Suppression(
        "function_roles", "AwsSolutions-IAM5",
        "Only with a global. inference profile (-c model_id=global.…): Bedrock routes such a "
        "request to any commercial Region, so the one foundation model must be allowed in every "
        "Region (Bedrock's prerequisites for inference profiles); the model itself is fixed.",
        applies_to=(r"re:^Resource::arn:<AWS::Partition>:bedrock:\*::foundation-model/[^*]+$",),
    ),
    # --- the state machine's role ------------------------------------------------------
    Suppression(
        "state_machine_role", "AwsSolutions-IAM5",
        "lambda:InvokeFunction on '<function ARN>:*' covers the versions and aliases of the "
        "same five workflow functions (CDK's LambdaInvoke grant); no other function.",
        applies_to=(
            "re:^Resource::<Functions(" + "|".join(c.function_id(h) for h in c.WORKFLOW_HANDLERS)
            + r")[0-9A-F]{8}\.Arn>:\*$",
        ),
    ),
    Suppression(
        "state_machine_role", "AwsSolutions-IAM5",
        XRAY + " Step Functions' log delivery (logs:CreateLogDelivery, logs:PutResourcePolicy, "
        "logs:DescribeLogGroups ...) likewise only accepts '*'.",
        applies_to=("Resource::*",),
    ),
    # --- CDK-managed singleton functions --------------------------------------------------
    Suppression(
        "cdk_providers", "AwsSolutions-IAM4",
        "The CDK-managed BucketDeployment provider uses "
        "AWSLambdaBasicExecutionRole for its own logs; CDK offers no hook to replace it.",
        applies_to=("Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
    ),
    Suppression(
        "cdk_providers", "AwsSolutions-L1",
        "The BucketDeployment provider's runtime is chosen by aws-cdk-lib and is upgraded with it.",
    ),
    Suppression(
        "cdk_providers", "AwsSolutions-IAM5",
        "BucketDeployment copies the prompt asset from the CDK assets bucket into the prompt "
        "bucket and prunes stale objects: CDK grants s3:GetObject*/List*/DeleteObject*/Abort* on "
        "exactly those two buckets.",
        applies_to=("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*",
                    "Action::s3:DeleteObject*", "Action::s3:Abort*",
                    "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
                    r"re:^Resource::<PromptsPromptBucket[0-9A-F]{8}\.Arn>/\*$"),
    ),
    # --- API Gateway ------------------------------------------------------------------------
    Suppression(
        "api_cloudwatch_role", "AwsSolutions-IAM4",
        "The account-level API Gateway logging role uses AmazonAPIGatewayPushToCloudWatchLogs, "
        "the policy AWS documents for exactly this role.",
        applies_to=("Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",),
    ),
    Suppression(
        "public_methods", "AwsSolutions-APIG4",
        "POST /query and POST /feedback have no API Gateway authorizer on purpose: the assistant "
        "has no user accounts. A session is owned by whoever holds its server-issued token: the "
        "first POST /query returns session_id and an HMAC-SHA256 session_token (key in Secrets "
        "Manager); continuing the session or rating its answers needs X-Session-Token, checked "
        "by the Lambda before anything is read or written (403, or 404 for an id never issued). "
        "The x-api-key is not authentication: it identifies a client application for its usage "
        "plan (quota, throttling per key); a session is further limited per minute. GET /health "
        "is a liveness probe.",
    ),
    Suppression(
        "api_methods", "AwsSolutions-COG4",
        "No Cognito user pool: there are no user accounts, and the API key is not authentication. "
        "POST /query and POST /feedback are authorized per session by the server-issued "
        "X-Session-Token (see APIG4); "
        "GET /sessions/{session_id} is authenticated by IAM (SigV4), for operators holding AWS "
        "credentials.",
    ),
    Suppression(
        "session_key", "AwsSolutions-SMG4",
        "The session-token key is not rotated automatically: tokens are stateless HMACs, so a "
        "rotation would invalidate every open session at once. Rotate it by hand (a new secret "
        "value; sessions end) after a suspected leak; rotation with two live keys would need a "
        "key id in the token (its 'v1.' prefix is reserved for that).",
    ),
    Suppression(
        "api_stage", "AwsSolutions-APIG3",
        "A WAFv2 web ACL (~USD 5/month + rules) is left to the deploying account's shared "
        "firewall policy; the stage has throttling, a usage plan and request validation.",
    ),
)


def _find(root: IConstruct, predicate: Callable[[IConstruct], bool]) -> list[IConstruct]:
    return [n for n in root.node.find_all() if predicate(n)]


def _targets(stack: SupportStack) -> dict[str, Sequence[IConstruct | None]]:
    """Constructs per suppression target; ``None`` where an optional child (a function's
    ``default_child`` or ``role``) is absent — :func:`apply_suppressions` skips those."""
    functions = stack.functions
    api = stack.api
    return {
        "functions_and_index_loader": [fn.node.default_child for fn in functions.all]
        + [stack.prompts.index_loader.node.default_child],
        "function_roles": [fn.role for fn in functions.all],
        "state_machine_role": [stack.workflow.state_machine.role],
        "cdk_providers": [
            child
            for child in stack.node.children
            if child.node.id.startswith("Custom::CDKBucketDeployment")
            or child.node.id.startswith("AWS679f53fac002430cb0da5b7982bd2287")
        ],
        "api_cloudwatch_role": _find(api.api, lambda n: n.node.id == "CloudWatchRole"),
        "public_methods": [api.query_method, api.feedback_method, api.health_method],
        "api_methods": [api.query_method, api.feedback_method, api.health_method, api.sessions_method],
        "api_stage": [api.api.deployment_stage],
        "session_key": [stack.session_key],
    }


def apply_suppressions(stack: SupportStack, suppressions: Iterable[Suppression] = SUPPRESSIONS) -> None:
    targets = _targets(stack)
    for s in suppressions:
        for construct in targets[s.target]:
            if construct is None:
                continue
            NagSuppressions.add_resource_suppressions(
                construct,
                [NagPackSuppression(id=s.rule, reason=s.reason, applies_to=s.nag_applies_to())],
                apply_to_children=True,
            )


def apply_nag(app: cdk.App, stack: SupportStack) -> None:
    """Add AwsSolutionsChecks to the app and the stack's suppressions."""
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    apply_suppressions(stack)
