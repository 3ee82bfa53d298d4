"""Stack configuration from CDK context, with documented defaults.

Every value can be set with ``-c key=value`` on the CDK command line (or in ``cdk.json``'s
``context``). Values arrive as strings from the command line; :meth:`StackConfig.from_context`
converts and validates them so a typo fails at synth time, not at deploy time.

| key | default | meaning |
|---|---|---|
| ``stage`` | ``dev`` | deployment stage; part of the stack name; ``prod`` turns on deletion protection and retention |
| ``model_id`` | ``anthropic.claude-3-sonnet-20240229-v1:0`` | Bedrock model id; the only model ARN the generator may invoke |
| ``quality_threshold`` | ``0.7`` | quality score under which an answer is regenerated |
| ``max_regenerations`` | ``2`` | regenerations after the first answer (the state machine bounds the loop too) |
| ``history_turns`` | ``6`` | conversation turns given to the model |
| ``conversation_ttl_days`` | ``30`` | conversation items expire (DynamoDB TTL) after this many days |
| ``log_retention_days`` | ``30`` | CloudWatch Logs retention for every log group |
| ``alarm_email`` | none | e-mail subscribed to the alarm topic (no subscription when empty) |
| ``throttle_burst`` | ``20`` | API stage and usage-plan burst limit |
| ``throttle_rate`` | ``10`` | API stage and usage-plan steady rate (requests/s) |
| ``quota_per_day`` | ``10000`` | usage-plan daily quota per API key |
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
    model_id: str = "anthropic.claude-3-sonnet-20240229-v1:0"
    quality_threshold: float = 0.7
    max_regenerations: int = 2
    history_turns: int = 6
    conversation_ttl_days: int = 30
    log_retention_days: int = 30
    alarm_email: str | None = None
    throttle_burst: int = 20
    throttle_rate: int = 10
    quota_per_day: int = 10000
    api_key_required: bool = True
    cors_origins: tuple[str, ...] = ("*",)
    analyze_schedule: str = "rate(1 hour)"
    powertools_layer_version: int = 27
    metrics_namespace: str = "SupportAssistant"
    api_cloudwatch_role: bool = True
    service_name: str = field(default=SERVICE_NAME)

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
        if not 0 <= self.max_regenerations <= 5:
            raise ConfigError("max_regenerations must be within 0..5")
        if self.throttle_burst < 1 or self.throttle_rate < 1:
            raise ConfigError("throttle_burst and throttle_rate must be positive")
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
