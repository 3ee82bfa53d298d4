"""Names shared between the CDK stack, its tests and the local workflow runner.

Anything a test or ``pipeline/local`` looks up in the synthesized template is named here,
so renaming a construct is a one-line change that every consumer follows.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.domain import budget as _budget
from pipeline.domain import feedback as _feedback
from pipeline.domain import workflow as _workflow

REPO_ROOT = Path(__file__).resolve().parent.parent
PIPELINE_DIR = REPO_ROOT / "pipeline"
PROMPTS_DIR = PIPELINE_DIR / "prompts"
DEFAULT_OUTDIR = REPO_ROOT / "cdk.out"

APP_NAME = "SupportAssistant"
#: The CDK CLI version docs/deploy.md runs with ``npx aws-cdk@<version>``; tests run its
#: ``synth`` when npm has it cached. The CLI must read the cloud-assembly schema of the
#: installed aws-cdk-lib: bump the two together.
CDK_CLI_VERSION = "2.1149.0"


def stack_name(stage: str) -> str:
    """The CloudFormation stack name (and cloud-assembly artifact id) for a stage."""
    return f"{APP_NAME}-{stage}"


# --- construct ids (scopes) -------------------------------------------------------
TABLES_ID = "Tables"
PROMPTS_ID = "Prompts"
FUNCTIONS_ID = "Functions"
WORKFLOW_ID = "Workflow"
API_ID = "Api"
SCHEDULE_ID = "Schedule"
OBSERVABILITY_ID = "Observability"
AUDIT_ID = "Audit"

CONVERSATIONS_TABLE_ID = "ConversationsTable"
PROMPTS_TABLE_ID = "PromptsTable"
FEEDBACK_TABLE_ID = "FeedbackTable"
IDEMPOTENCY_TABLE_ID = "IdempotencyTable"
SESSION_THROTTLE_TABLE_ID = "SessionThrottleTable"
SESSION_KEY_SECRET_ID = "SessionKeySecret"
PROMPT_BUCKET_ID = "PromptBucket"
ACCESS_LOGS_BUCKET_ID = "AccessLogsBucket"
STATE_MACHINE_ID = "StateMachine"
#: Step Functions vended-logs prefix (AWS best practice for state machine log groups).
STATE_MACHINE_LOG_PREFIX = "/aws/vendedlogs/states/"

# --- tables: keys and indexes (the handlers' adapters use the same names) --------
CONVERSATIONS_PK = "session_id"
CONVERSATIONS_SK = "turn_index"
CONVERSATIONS_USER_INDEX = "UserIdIndex"
CONVERSATIONS_TTL_ATTRIBUTE = "expires_at"
PROMPTS_PK = "template_id"
PROMPTS_SK = "version"
PROMPTS_CREATED_INDEX = "CreatedAtIndex"
FEEDBACK_PK = "feedback_id"
FEEDBACK_SESSION_INDEX = "SessionIdIndex"
FEEDBACK_TIMESTAMP_INDEX = "TimestampIndex"
PROMPT_KEY_PREFIX = "prompts/"
#: Where analyze_feedback writes its JSON summaries in the prompt bucket (the domain's prefix).
FEEDBACK_SUMMARY_PREFIX = _feedback.SUMMARY_PREFIX
#: POST /query's own state (pipeline/adapters/aws/idempotency.py, session_throttle.py).
IDEMPOTENCY_PK = "idempotency_key"
SESSION_THROTTLE_PK = "window_key"
API_STATE_TTL_ATTRIBUTE = "expires_at"

# --- Lambda functions: construct id -> handler module under pipeline/handlers ------
WORKFLOW_HANDLERS: tuple[str, ...] = (
    "capture_query",
    "detect_intent",
    "generate_response",
    "validate_quality",
    "collect_feedback",
)
API_HANDLERS: tuple[str, ...] = ("query_api", "feedback_api", "sessions_api")
#: The handlers that check X-Session-Token (the session-token key in Secrets Manager).
SESSION_KEY_READERS: tuple[str, ...] = ("query_api", "feedback_api")
SCHEDULED_HANDLERS: tuple[str, ...] = ("analyze_feedback",)
ALL_HANDLERS: tuple[str, ...] = WORKFLOW_HANDLERS + API_HANDLERS + SCHEDULED_HANDLERS


def function_id(handler: str) -> str:
    """Construct id of the Lambda for a handler module, e.g. ``CaptureQueryFunction``."""
    return "".join(part.capitalize() for part in handler.split("_")) + "Function"


def handler_path(handler: str) -> str:
    """The Lambda ``Handler`` property: importable because the asset root is the repo root."""
    return f"pipeline.handlers.{handler}.handler"


#: (memory MB, timeout s) per handler; everything else gets DEFAULT_SIZING. The workflow
#: handlers' timeouts are replaced by StackConfig.workflow_task_timeout_seconds (budget + 2).
DEFAULT_SIZING = (512, 60)
SIZING: dict[str, tuple[int, int]] = {
    "generate_response": (1024, 60),
    "analyze_feedback": (1024, 300),
}

# --- the state machine's states (docs/workflow-contract.md) ----------------------
S_CAPTURE = "CaptureUserQuery"
S_CHECK_GUARDRAIL = "CheckGuardrailStatus"
S_BLOCKED = "BlockedResponse"
S_DETECT_INTENT = "DetectIntent"
S_CHECK_INTENT = "CheckIntentClarity"
S_CLARIFY = "Clarify"
S_ESCALATE = "Escalate"
S_GENERATE = "GenerateResponse"
S_VALIDATE = "ValidateQuality"
S_CHECK_QUALITY = "CheckQuality"
S_COLLECT = "CollectFeedback"
S_FALLBACK = "Fallback"
S_FALLBACK_RESPONSE = "FallbackResponse"

TASK_STATES: tuple[str, ...] = (
    S_CAPTURE,
    S_DETECT_INTENT,
    S_CLARIFY,
    S_ESCALATE,
    S_GENERATE,
    S_VALIDATE,
    S_COLLECT,
)
#: Task state -> handler module it invokes.
TASK_HANDLER: dict[str, str] = {
    S_CAPTURE: "capture_query",
    S_DETECT_INTENT: "detect_intent",
    S_CLARIFY: "generate_response",
    S_ESCALATE: "generate_response",
    S_GENERATE: "generate_response",
    S_VALIDATE: "validate_quality",
    S_COLLECT: "collect_feedback",
}

#: Errors every task retries (Lambda service errors and throttling), with backoff.
TRANSIENT_ERRORS: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
)
#: Errors a handler raises for a transient *model* failure (Bedrock throttling/timeouts):
#: retried once, later and shorter than service errors (API Gateway waits at most 29 s).
#: The handlers should raise an exception *named* TransientModelError for
#: ``ModelError(transient=True)``: Step Functions matches on the error type's name.
MODEL_TRANSIENT_ERRORS: tuple[str, ...] = ("TransientModelError",)
MODEL_RETRY_MAX_ATTEMPTS = 1
RETRY_MAX_ATTEMPTS = 2
RETRY_INTERVAL_SECONDS = 1
RETRY_BACKOFF_RATE = 2.0

FALLBACK_MESSAGE = (
    "Sorry, I could not answer that right now. Please try again in a moment, "
    "or open a case in the AWS Support Center if it is urgent."
)

# --- API ---------------------------------------------------------------------------
API_QUERY_PATH = "query"
API_FEEDBACK_PATH = "feedback"
API_SESSIONS_PATH = "sessions"
API_HEALTH_PATH = "health"
QUERY_MAX_CHARS = 4000
SESSION_ID_PATTERN = "^[A-Za-z0-9-]{8,64}$"

# --- metrics the handlers publish (Powertools EMF, dimension service=<service>) ----
# Taken from the domain modules that emit them, so the dashboard and alarms cannot
# watch a name nobody publishes (a silent alarm treats the missing data as "OK").
METRIC_GUARDRAIL_BLOCK = _workflow.METRIC_GUARDRAIL_BLOCKS  # dimension: category
METRIC_INTENT = _workflow.METRIC_INTENT  # dimension: intent
METRIC_QUALITY_SCORE = _workflow.METRIC_QUALITY_SCORE
METRIC_REGENERATIONS = _workflow.METRIC_REGENERATIONS
ANALYZE_WINDOW_HOURS_KEY = _feedback.WINDOW_HOURS_KEY  # the scheduled event's window key
ANALYZE_WINDOW_HOURS = 1  # the hourly rule analyses the last hour (one count per record)
METRIC_MODEL_UNAVAILABLE = _workflow.METRIC_MODEL_UNAVAILABLE
METRIC_BUDGET_DECISIONS = _budget.METRIC_BUDGET_DECISIONS  # dimension: decision
METRIC_CSAT = _feedback.METRIC_CSAT  # percent of satisfied explicit feedback (0-100)
CSAT_ALARM_PERCENT = 70.0  # alarm when fewer than 70% of rated answers satisfy
METRIC_TASK_FAILURES = "WorkflowTaskFailures"  # from a metric filter on the workflow log
SERVICE_NAME = "support-assistant"
