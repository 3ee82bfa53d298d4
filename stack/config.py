"""Stack configuration from CDK context, with documented defaults.

Every value can be set with ``-c key=value`` on the CDK command line (or in ``cdk.json``'s
``context``). Values arrive as strings from the command line; :meth:`StackConfig.from_context`
converts and validates them so a typo fails at synth time, not at deploy time.

| key | default | meaning |
|---|---|---|
| ``stage`` | ``dev`` | deployment stage; part of the stack name; ``prod`` turns on deletion protection and retention |
| ``model_id`` | ``us.anthropic.claude-sonnet-4-6`` | the Bedrock model the generator invokes: a cross-Region inference profile id (``us.``/``eu.``/``jp.``/``global.`` …) or a foundation-model id (e.g. the seed's ``anthropic.claude-3-sonnet-20240229-v1:0``, only for accounts that still have it: it is past end of life). The one setting to change when a model's lifecycle changes (docs/deploy.md) |
| ``model_regions`` | by profile prefix | destination Regions of the inference profile, comma-separated (IAM grants the foundation model in each); check with ``aws bedrock get-inference-profile`` |
| ``latency_budget_seconds`` | ``25`` | time one ``POST /query`` may take, from API Gateway's receipt (its REST integration ends at 29 s): the deadline every step reads; the workflow Lambdas time out at budget + 2 s, the state machine at budget + 3 s (at most 26) |
| ``generation_p95_seconds`` | ``12`` | prior for the p95 generation latency until measured; a regeneration starts only when the time left holds one |
| ``quality_threshold`` | ``0.75`` | quality score under which an answer is regenerated |
| ``max_regenerations`` | ``2`` | regenerations after the first answer (the state machine bounds the loop too) |
| ``history_turns`` | ``6`` | conversation turns given to the model |
| ``conversation_ttl_days`` | ``30`` | conversation items expire (DynamoDB TTL) after this many days |
| ``log_retention_days`` | ``30`` | CloudWatch Logs retention for every log group |
| ``alarm_email`` | none | e-mail subscribed to the alarm topic (no subscription when empty) |
| ``throttle_burst`` | ``20`` | API stage and usage-plan burst limit |
| ``throttle_rate`` | ``10`` | API stage and usage-plan steady rate (requests/s) |
| ``quota_per_day`` | ``10000`` | usage-plan daily quota per API key |
| ``session_requests_per_minute`` | ``30`` | ``POST /query`` requests one session may make per minute (fixed window, DynamoDB counter); more is 429 ``throttled`` |
| ``api_key_required`` | ``true`` | ``POST /query`` and ``POST /feedback`` need an ``x-api-key`` |
| ``cors_origins`` | ``*`` | comma-separated allowed origins |
| ``analyze_schedule`` | ``rate(1 hour)`` | EventBridge schedule expression for ``analyze_feedback`` |
| ``powertools_layer_version`` | ``27`` | version of ``AWSLambdaPowertoolsPythonV3-python312-x86_64`` |
| ``api_cloudwatch_role`` | ``true`` | create the API Gateway CloudWatch Logs role of the account (``AWS::ApiGateway::Account``, one per account and Region; execution logging needs it), **retained** on delete; pass ``false`` when the account already has one |
| ``metrics_namespace`` | ``SupportAssistant`` | CloudWatch namespace of the business metrics |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from stack.constants import SERVICE_NAME

#: Claude Sonnet 4.6 through the US cross-Region inference profile. Chosen 2026-12-07 from
#: the stored public docs: Anthropic lists Sonnet 4.5 (the previous default) as deprecated
#: (retired on the Claude API on 2026-11-30; Bedrock sets its own dates, check
#: ``modelLifecycle`` before deploying, docs/deploy.md); Sonnet 4.6 is the newest Sonnet in
#: Anthropic's table of Bedrock ids served through Converse (us/eu/jp/global profiles) that
#: accepts the templates' ``temperature``. The seed's Claude 3 Sonnet is past its end of life.
DEFAULT_MODEL_ID = "us.anthropic.claude-sonnet-4-6"

#: Destination Regions of the system-defined cross-Region inference profiles, by id prefix,
#: from Bedrock's "Supported Regions and models for inference profiles" (they can differ
#: per model and source Region: ``aws bedrock get-inference-profile`` lists them; override
#: with ``-c model_regions=…``). ``global.`` routes to every commercial Region.
INFERENCE_PROFILE_REGIONS: dict[str, tuple[str, ...]] = {
    "us": ("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
    "eu": ("eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"),
    "apac": ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
             "ap-southeast-1", "ap-southeast-2", "ap-southeast-4"),
    "jp": ("ap-northeast-1", "ap-northeast-3"),
    "au": ("ap-southeast-2", "ap-southeast-4"),
    "global": ("*",),
}


#: API Gateway's default (and, without a quota increase, maximum) REST integration timeout.
API_INTEGRATION_TIMEOUT_SECONDS = 29


class ConfigError(ValueError):
    """A context value is missing or malformed."""


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"expected a boolean, got {value!r}")


@dataclass(frozen=True, slots=True)
class StackConfig:
    stage: str = "dev"
    model_id: str = DEFAULT_MODEL_ID
    model_regions: tuple[str, ...] = ()
    latency_budget_seconds: int = 25
    generation_p95_seconds: int = 12
    quality_threshold: float = 0.75  # the validator's DEFAULT_THRESHOLD (tests/unit/handlers/test_object_graph.py)
    max_regenerations: int = 2
    history_turns: int = 6
    conversation_ttl_days: int = 30
    log_retention_days: int = 30
    alarm_email: str | None = None
    throttle_burst: int = 20
    throttle_rate: int = 10
    quota_per_day: int = 10000
    session_requests_per_minute: int = 30
    api_key_required: bool = True
    cors_origins: tuple[str, ...] = ("*",)
    analyze_schedule: str = "rate(1 hour)"
    powertools_layer_version: int = 27
    metrics_namespace: str = "SupportAssistant"
    api_cloudwatch_role: bool = True
    service_name: str = field(default=SERVICE_NAME)

    @property
    def inference_profile(self) -> bool:
        """Whether ``model_id`` names a cross-Region inference profile (``us.anthropic…``)."""
        return self.model_id.split(".", 1)[0] in INFERENCE_PROFILE_REGIONS

    @property
    def foundation_model_id(self) -> str:
        """The model behind ``model_id`` (the profile prefix removed)."""
        return self.model_id.split(".", 1)[1] if self.inference_profile else self.model_id

    @property
    def model_destination_regions(self) -> tuple[str, ...]:
        """Regions a request may be served from ("*" for a global profile)."""
        if self.model_regions:
            return self.model_regions
        if self.inference_profile:
            return INFERENCE_PROFILE_REGIONS[self.model_id.split(".", 1)[0]]
        return ()

    @property
    def workflow_task_timeout_seconds(self) -> int:
        """Timeout of the workflow Lambdas: the budget plus the time to report back."""
        return self.latency_budget_seconds + 2

    @property
    def state_machine_timeout_seconds(self) -> int:
        """Ends the execution before API Gateway ends the request (never a 504 from the API)."""
        return self.latency_budget_seconds + 3

    @property
    def query_api_timeout_seconds(self) -> int:
        """The POST /query Lambda outlives the execution it waits for (StartSyncExecution)."""
        return self.state_machine_timeout_seconds + 2

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod" or self.stage.startswith("prod-")

    @classmethod
    def from_context(cls, get: Callable[[str], Any] | Mapping[str, Any]) -> StackConfig:
        """Build from ``node.try_get_context`` (or a plain mapping), converting strings."""
        lookup = get.get if isinstance(get, Mapping) else get
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = lookup(f.name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _convert(f.name, raw, f.type)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"context {f.name}={raw!r}: {exc}") from exc
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if not self.stage.replace("-", "").isalnum():
            raise ConfigError(f"stage {self.stage!r} must be alphanumeric (dashes allowed)")
        if not 0.0 <= self.quality_threshold <= 1.0:
            raise ConfigError("quality_threshold must be within 0..1")
        if not 5 <= self.latency_budget_seconds <= API_INTEGRATION_TIMEOUT_SECONDS - 3:
            raise ConfigError(
                f"latency_budget_seconds must be within 5..{API_INTEGRATION_TIMEOUT_SECONDS - 3}: "
                "the state machine ends 3 s after it, before API Gateway's 29 s"
            )
        if not 1 <= self.generation_p95_seconds <= self.latency_budget_seconds:
            raise ConfigError("generation_p95_seconds must be within 1..latency_budget_seconds")
        if not 0 <= self.max_regenerations <= 5:
            raise ConfigError("max_regenerations must be within 0..5")
        if self.session_requests_per_minute < 1:
            raise ConfigError("session_requests_per_minute must be positive")
        if self.throttle_burst < 1 or self.throttle_rate < 1:
            raise ConfigError("throttle_burst and throttle_rate must be positive")
        if not self.model_id.strip() or any(ch.isspace() for ch in self.model_id):
            raise ConfigError(f"model_id {self.model_id!r} must be a Bedrock model or inference profile id")
        if not (self.analyze_schedule.startswith("rate(") or self.analyze_schedule.startswith("cron(")):
            raise ConfigError("analyze_schedule must be a rate(...) or cron(...) expression")


def _convert(name: str, raw: Any, annotation: Any) -> Any:
    kind = str(annotation)
    if "bool" in kind:
        return _bool(raw)
    if "float" in kind:
        return float(raw)
    if "int" in kind:
        return int(raw)
    if "tuple" in kind:
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        return tuple(str(i).strip() for i in items if str(i).strip())
    return str(raw)
