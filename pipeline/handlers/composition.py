"""Composition root: builds the services the handlers call, from environment settings.

Everything is built lazily, once per cold start (per :class:`Settings` value): a handler
module imports only this file, the domain records and Powertools' logger, so importing a
handler stays cheap; boto3 is imported only when an AWS backend is chosen, and the heavy
domain services (intent model, templates, botocore catalogue) only when first used.

Environment (all optional; defaults in brackets):

* ``STORE_BACKEND`` = ``dynamodb`` | ``memory`` [``dynamodb`` when ``CONVERSATIONS_TABLE``
  is set, else ``memory``]; ``CONVERSATIONS_TABLE``, ``FEEDBACK_TABLE``,
  ``PROMPTS_TABLE``, ``PROMPT_BUCKET`` (prompts come from DynamoDB + S3 when both are set
  with the dynamodb backend, else from ``pipeline/prompts/``).
* ``MODEL_BACKEND`` = ``bedrock`` | ``offline`` [offline]; ``MODEL_ID`` [the template's].
* ``NLP_BACKEND`` = ``comprehend`` | ``offline`` [offline].
* ``QUALITY_THRESHOLD`` [the validator's], ``MAX_REGENERATIONS`` [2], ``HISTORY_TURNS``
  [``models.HISTORY_TURNS``: completed turns given to the intent detector and the model;
  one value for the steps and the generator], ``CONVERSATION_TTL_DAYS`` [30],
  ``FEEDBACK_WINDOW_HOURS`` [24].
* ``EXPERIMENT_WINDOW_HOURS`` [336: the feedback analyze_feedback reads for the experiment
  verdicts], ``EXPERIMENT_REFRESH_SECONDS`` [60: how long a container reuses the experiments
  it read], ``FEEDBACK_SUMMARY_BUCKET`` (where analyze_feedback writes its JSON summary,
  under ``feedback-summaries/``; none: not written).
* ``LATENCY_BUDGET_MS`` [25000; 0 = no budget] and ``GENERATION_P95_MS`` [12000, the prior
  of the measured p95 generation latency]: see :mod:`pipeline.domain.budget`.
* ``SESSION_KEY_SECRET_ARN`` (the session-token key in Secrets Manager, read once per
  container) or ``SESSION_KEY_FILE`` (a local key file; the local server and ``ask`` set
  it). With neither, ``feedback_api`` does not check session ownership (a warning is logged
  once per cold start) and ``query_api`` refuses to run.
* ``POST /query`` (``query_api``): ``STATE_MACHINE_ARN`` (the Express workflow, started with
  ``StartSyncExecution``), ``IDEMPOTENCY_TABLE`` and ``SESSION_THROTTLE_TABLE`` (in-memory
  stand-ins with the memory backend), ``SESSION_THROTTLE_LIMIT`` [30] requests per session
  per ``SESSION_THROTTLE_WINDOW_SECONDS`` [60], ``IDEMPOTENCY_LEASE_SECONDS`` [60: longer
  than a request can take; a pending claim older than that is taken over].
* ``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``, ``POWERTOOLS_LOG_LEVEL``
  as Powertools reads them. The region is the one the Lambda runtime sets.

Example:
    >>> services().capture.capture(WorkflowInput.from_dict(event))  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pipeline.domain.models import HISTORY_TURNS

PROMPTS_DIR = Path(__file__).resolve().parents[1] / "prompts"
MODEL_BACKENDS = ("offline", "bedrock")
NLP_BACKENDS = ("offline", "comprehend")
STORE_BACKENDS = ("memory", "dynamodb")


class SettingsError(ValueError):
    """An environment variable has an invalid value; the message names it."""


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def env_number(
    env: Mapping[str, str], name: str, default: Any, kind: type, low: float, high: float
) -> Any:
    """A number from ``env`` within [low, high], ``default`` when unset; else SettingsError."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r} must be between {low} and {high}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the composition root reads from the environment (validated)."""

    store_backend: str = "memory"
    conversations_table: str | None = None
    feedback_table: str | None = None
    prompts_table: str | None = None
    prompt_bucket: str | None = None
    model_backend: str = "offline"
    nlp_backend: str = "offline"
    model_id: str | None = None
    quality_threshold: float | None = None
    max_regenerations: int = 2
    history_turns: int = HISTORY_TURNS
    conversation_ttl_days: int = 30
    feedback_window_hours: float = 24.0
    experiment_window_hours: float = 24.0 * 14
    experiment_refresh_seconds: float = 60.0
    feedback_summary_bucket: str | None = None
    latency_budget_ms: int = 25_000
    generation_p95_ms: int = 12_000
    metrics_namespace: str = "SupportAssistant"
    service_name: str = "support-assistant"
    session_key_secret_arn: str | None = None
    session_key_file: str | None = None
    state_machine_arn: str | None = None
    idempotency_table: str | None = None
    idempotency_lease_seconds: int = 60
    session_throttle_table: str | None = None
    session_throttle_limit: int = 30
    session_throttle_window_seconds: int = 60

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the settings; raises :class:`SettingsError` naming the variable."""
        env = os.environ if env is None else env
        tables = {
            "conversations_table": env.get("CONVERSATIONS_TABLE") or None,
            "feedback_table": env.get("FEEDBACK_TABLE") or None,
            "prompts_table": env.get("PROMPTS_TABLE") or None,
            "prompt_bucket": env.get("PROMPT_BUCKET") or None,
        }
        store = _choice(
            env,
            "STORE_BACKEND",
            STORE_BACKENDS,
            "dynamodb" if tables["conversations_table"] else "memory",
        )
        if store == "dynamodb":
            missing = [n for n in ("CONVERSATIONS_TABLE", "FEEDBACK_TABLE") if not env.get(n)]
            if missing:
                raise SettingsError(f"STORE_BACKEND=dynamodb needs {', '.join(missing)}")
        return cls(
            store_backend=store,
            **tables,
            model_backend=_choice(env, "MODEL_BACKEND", MODEL_BACKENDS, "offline"),
            nlp_backend=_choice(env, "NLP_BACKEND", NLP_BACKENDS, "offline"),
            model_id=env.get("MODEL_ID") or None,
            quality_threshold=env_number(env, "QUALITY_THRESHOLD", None, float, 0.0, 1.0),
            max_regenerations=env_number(env, "MAX_REGENERATIONS", 2, int, 0, 10),
            history_turns=env_number(env, "HISTORY_TURNS", HISTORY_TURNS, int, 0, 100),
            conversation_ttl_days=env_number(env, "CONVERSATION_TTL_DAYS", 30, int, 1, 3650),
            feedback_window_hours=env_number(
                env, "FEEDBACK_WINDOW_HOURS", 24.0, float, 0.01, 24.0 * 90
            ),
            experiment_window_hours=env_number(
                env, "EXPERIMENT_WINDOW_HOURS", 24.0 * 14, float, 0.01, 24.0 * 90
            ),
            experiment_refresh_seconds=env_number(
                env, "EXPERIMENT_REFRESH_SECONDS", 60.0, float, 0.0, 3600.0
            ),
            feedback_summary_bucket=env.get("FEEDBACK_SUMMARY_BUCKET") or None,
            latency_budget_ms=env_number(env, "LATENCY_BUDGET_MS", 25_000, int, 0, 900_000),
            generation_p95_ms=env_number(env, "GENERATION_P95_MS", 12_000, int, 1, 900_000),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or "SupportAssistant",
            service_name=env.get("POWERTOOLS_SERVICE_NAME") or "support-assistant",
            session_key_secret_arn=env.get("SESSION_KEY_SECRET_ARN") or None,
            session_key_file=env.get("SESSION_KEY_FILE") or None,
            state_machine_arn=env.get("STATE_MACHINE_ARN") or None,
            idempotency_table=env.get("IDEMPOTENCY_TABLE") or None,
            idempotency_lease_seconds=env_number(env, "IDEMPOTENCY_LEASE_SECONDS", 60, int, 1, 3600),
            session_throttle_table=env.get("SESSION_THROTTLE_TABLE") or None,
            session_throttle_limit=env_number(env, "SESSION_THROTTLE_LIMIT", 30, int, 1, 100_000),
            session_throttle_window_seconds=env_number(
                env, "SESSION_THROTTLE_WINDOW_SECONDS", 60, int, 1, 86_400
            ),
        )


def _storage_config() -> Any:
    """DynamoDB and S3 (small reads and writes): standard retries, short timeouts."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=3, read_timeout=10
    )


#: Answers whose output-guardrail verdict a process remembers (each at most a few KB).
OUTPUT_VERDICTS_CACHED = 32


def region() -> str:
    """The Region the Lambda runtime sets (we never define a region variable of our own)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def describe(value: Any) -> Any:
    """A JSON-able description of a constructor argument: plain values as they are,
    functions and classes by ``module.qualname`` (``lru_cache(…)`` when wrapped), other
    objects by their class."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [describe(v) for v in value]
    wrapped = getattr(value, "__wrapped__", None)
    if wrapped is not None and callable(value):
        return f"lru_cache({describe(wrapped)})"
    if hasattr(value, "__qualname__"):  # a function or a class
        return f"{value.__module__}.{value.__qualname__}"
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


class Services:
    """The object graph for one :class:`Settings`; every member is built on first use.

    Every domain component is built by :meth:`_build`, which records the arguments it was
    really given (:attr:`constructor_args`): run records and tests read them from here.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.constructor_args: dict[str, dict[str, Any]] = {}

    def _build(self, name: str, factory: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        bound = inspect.signature(factory).bind(*args, **kwargs)
        bound.apply_defaults()
        self.constructor_args[name] = {
            "class": describe(factory),
            "args": {key: describe(value) for key, value in bound.arguments.items()},
        }
        return factory(*args, **kwargs)

    def describe_components(self, *names: str) -> dict[str, dict[str, Any]]:
        """The real constructor arguments of the named components (built if need be)."""
        described: dict[str, dict[str, Any]] = {}
        for name in names:
            component = getattr(self, name)
            # Pure functions (the guardrails) are chosen, not constructed: name them.
            described[name] = self.constructor_args.get(name) or {"function": describe(component)}
        return described

    # -- AWS clients (boto3 imported here only) -----------------------------------------

    # One factory per service, each with the timeouts and retries that service needs:
    # Bedrock's and Comprehend's live next to their adapters (make_*_client).

    @cached_property
    def _dynamodb(self) -> Any:
        import boto3

        return boto3.resource("dynamodb", region_name=region(), config=_storage_config())

    @cached_property
    def _s3(self) -> Any:
        return self._client("s3")

    def _client(self, service: str) -> Any:
        """A small-request client (S3, Secrets Manager): standard retries, short timeouts."""
        import boto3

        return boto3.client(service, region_name=region(), config=_storage_config())

    # -- ports ----------------------------------------------------------------------------

    @cached_property
    def clock(self) -> Any:
        from pipeline.adapters.local.clock import SystemClock

        return SystemClock()

    @cached_property
    def conversations(self) -> Any:
        if self.settings.store_backend == "memory":
            from pipeline.adapters.local.memory_stores import InMemoryConversationStore

            return InMemoryConversationStore()
        from pipeline.adapters.aws.dynamodb import DynamoConversationStore

        table = self._dynamodb.Table(self.settings.conversations_table)
        return DynamoConversationStore(table, ttl_days=self.settings.conversation_ttl_days)

    @cached_property
    def feedback_store(self) -> Any:
        if self.settings.store_backend == "memory":
            from pipeline.adapters.local.memory_stores import InMemoryFeedbackStore

            return InMemoryFeedbackStore()
        from pipeline.adapters.aws.dynamodb import DynamoFeedbackStore

        return DynamoFeedbackStore(self._dynamodb.Table(self.settings.feedback_table))

    @cached_property
    def prompts(self) -> Any:
        s = self.settings
        if s.store_backend == "dynamodb" and s.prompts_table and s.prompt_bucket:
            from pipeline.adapters.aws.dynamodb import DynamoS3PromptStore

            return DynamoS3PromptStore(
                self._dynamodb.Table(s.prompts_table), self._s3, s.prompt_bucket
            )
        from pipeline.adapters.local.prompt_files import FilePromptStore

        return FilePromptStore(PROMPTS_DIR)

    @cached_property
    def metrics(self) -> Any:
        if self.settings.store_backend == "memory":
            from pipeline.adapters.local.metrics import InMemoryMetrics

            return InMemoryMetrics()
        from pipeline.adapters.aws.metrics import PowertoolsMetrics

        return PowertoolsMetrics(
            namespace=self.settings.metrics_namespace, service=self.settings.service_name
        )

    @cached_property
    def model(self) -> Any:
        if self.settings.model_backend == "bedrock":
            from functools import lru_cache

            from pipeline.adapters.aws.bedrock import BedrockModel, make_bedrock_client

            where = region()

            # Under a latency budget each call gets a client whose read timeout is the time
            # left (whole seconds, cached) and which does not retry by itself.
            @lru_cache(maxsize=64)
            def client_for_timeout(seconds: int) -> Any:
                return make_bedrock_client(where, max_attempts=1, read_timeout=float(seconds))

            return BedrockModel(
                make_bedrock_client(where),
                model_id=self.settings.model_id,
                client_for_timeout=client_for_timeout,
            )
        from pipeline.adapters.local.offline_model import OfflineModel

        return OfflineModel()

    @cached_property
    def budget(self) -> Any:
        """The latency budget (None when ``LATENCY_BUDGET_MS=0``)."""
        from pipeline.domain.budget import LatencyBudget

        if not self.settings.latency_budget_ms:
            return None
        return LatencyBudget(budget_ms=self.settings.latency_budget_ms)

    @cached_property
    def generation_p95(self) -> Any:
        """The p95 generation latency measured in this container (prior until enough data)."""
        from pipeline.domain.budget import RollingPercentile

        return RollingPercentile(prior=self.settings.generation_p95_ms)

    @cached_property
    def nlp(self) -> Any:
        if self.settings.nlp_backend == "comprehend":
            from pipeline.adapters.aws.comprehend import ComprehendNlp, make_comprehend_client

            return ComprehendNlp(make_comprehend_client(region()))
        from pipeline.adapters.local.offline_nlp import OfflineNlp

        return OfflineNlp()

    @cached_property
    def session_keys(self) -> Any:
        """The session-token key provider, or None when no key source is configured."""
        if self.settings.session_key_secret_arn:
            from pipeline.adapters.aws.secrets import SecretsManagerSessionKey

            return SecretsManagerSessionKey(
                self._client("secretsmanager"), self.settings.session_key_secret_arn
            )
        if self.settings.session_key_file:
            from pipeline.adapters.local.session_key import KeyFileSessionKey

            return KeyFileSessionKey(self.settings.session_key_file)
        return None

    @cached_property
    def idempotency_store(self) -> Any:
        """POST /query answers by Idempotency-Key (DynamoDB, conditional writes)."""
        s = self.settings
        if s.store_backend == "dynamodb" and s.idempotency_table:
            from pipeline.adapters.aws.idempotency import DynamoIdempotencyStore

            return DynamoIdempotencyStore(
                self._dynamodb.Table(s.idempotency_table), lease_seconds=s.idempotency_lease_seconds
            )
        from pipeline.adapters.local.idempotency import InMemoryIdempotencyStore

        return InMemoryIdempotencyStore()

    @cached_property
    def session_throttle(self) -> Any:
        """The per-session fixed-window limit of POST /query."""
        s = self.settings
        if s.store_backend == "dynamodb" and s.session_throttle_table:
            from pipeline.adapters.aws.session_throttle import DynamoSessionThrottle

            return DynamoSessionThrottle(
                self._dynamodb.Table(s.session_throttle_table),
                limit=s.session_throttle_limit,
                window_seconds=s.session_throttle_window_seconds,
            )
        from pipeline.adapters.local.session_throttle import InMemorySessionThrottle

        return InMemorySessionThrottle(
            limit=s.session_throttle_limit, window_seconds=s.session_throttle_window_seconds
        )

    @cached_property
    def workflow_runner(self) -> Any:
        """Runs the Express state machine synchronously (StartSyncExecution)."""
        from pipeline.adapters.aws.stepfunctions import (
            SyncWorkflowRunner,
            make_stepfunctions_client,
        )

        if not self.settings.state_machine_arn:
            raise SettingsError("POST /query needs STATE_MACHINE_ARN")
        return SyncWorkflowRunner(make_stepfunctions_client(region()), self.settings.state_machine_arn)

    # -- domain services ------------------------------------------------------------------

    def query_api(self, *, received_at_ms: int | None = None, wait_seconds: float = 0.0) -> Any:
        """The POST /query service for one request (cheap: its members are built once).

        ``received_at_ms`` (API Gateway's receipt) starts the latency budget; ``wait_seconds``
        bounds how long a retry waits for the first request with its Idempotency-Key (the
        time the Lambda has left, so the retry answers 409 instead of timing out).
        """
        from pipeline.domain.query_api import QueryApi

        authority = self.session_authority
        if authority is None:
            raise SettingsError("POST /query needs SESSION_KEY_SECRET_ARN or SESSION_KEY_FILE")
        runner = self.workflow_runner

        def run(workflow_input: dict[str, Any], execution_name: str) -> Any:
            if received_at_ms is not None:
                workflow_input = {**workflow_input, "received_at_ms": received_at_ms}
            return runner(workflow_input, execution_name)

        return QueryApi(
            run,
            authority,
            self.idempotency_store,
            self.clock,
            wait_seconds=max(0.0, wait_seconds),
            poll_seconds=0.2,
            throttle=self.session_throttle,
        )

    @cached_property
    def session_authority(self) -> Any:
        """Checks X-Session-Token; None (ownership unchecked, warned) without a key source."""
        from pipeline.domain.sessions import SessionAuthority

        if self.session_keys is None:
            logger().warning(
                "session ownership is not checked: set SESSION_KEY_SECRET_ARN or SESSION_KEY_FILE"
            )
            return None
        conversations = self.conversations
        return SessionAuthority(
            self.session_keys,
            has_turns=lambda session_id: bool(conversations.recent_turns(session_id, 1)),
        )

    @cached_property
    def input_guard(self) -> Callable[[str], Any]:
        from pipeline.domain.guardrails import scan_input

        return scan_input

    @cached_property
    def output_guard(self) -> Callable[[str], Any]:
        from functools import lru_cache

        from pipeline.domain.guardrails import scan_output

        # scan_output is pure, and a caller that reports the verdict and then validates the
        # same answer (review, local runs) scans it twice: remember recent texts' verdicts.
        # Several (OUTPUT_VERDICTS_CACHED), not only the last: the local engine interleaves
        # executions, so another answer is often generated between an answer's generation and
        # its validation (with one entry, a second full scan of ~9 % of the server's CPU under
        # load). In AWS the two steps are separate functions: nothing changes there.
        return lru_cache(maxsize=OUTPUT_VERDICTS_CACHED)(scan_output)

    @cached_property
    def detector(self) -> Any:
        from pipeline.domain.intent import IntentDetector, load_intent_model

        return self._build("detector", IntentDetector, load_intent_model(), self.nlp)

    @cached_property
    def generator(self) -> Any:
        from pipeline.domain.generation import ResponseGenerator

        return self._build(
            "generator",
            ResponseGenerator,
            self.model,
            self.prompts,
            output_guard=self.output_guard,
            history_turns=self.settings.history_turns,
        )

    @cached_property
    def validator(self) -> Any:
        from pipeline.adapters.botocore_catalog import BotocoreApiCatalog
        from pipeline.adapters.local.code_checks import check_shell, check_yaml
        from pipeline.domain.quality import QualityValidator

        options: dict[str, Any] = {
            "output_guard": self.output_guard,
            "shell_checker": check_shell,
            "yaml_checker": check_yaml,
        }
        if self.settings.quality_threshold is not None:
            options["threshold"] = self.settings.quality_threshold
        return self._build("validator", QualityValidator, BotocoreApiCatalog(), **options)

    # -- the step services the handlers call -----------------------------------------------

    @cached_property
    def capture(self) -> Any:
        from pipeline.domain.workflow.capture_step import QueryCapture

        return QueryCapture(
            self.conversations,
            self.clock,
            input_guard=self.input_guard,
            budget=self.budget,
            history_turns=self.settings.history_turns,
        )

    @cached_property
    def intent(self) -> Any:
        from pipeline.domain.intent import route
        from pipeline.domain.workflow.intent_step import IntentStep

        return IntentStep(
            self.detector,
            self.conversations,
            route=route,
            history_turns=self.settings.history_turns,
        )

    @cached_property
    def experiments(self) -> Any:
        """Session → variant routing over the prompt store's experiments (none: unchanged)."""
        from pipeline.domain.experiments import ExperimentRouter

        return self._build(
            "experiments",
            ExperimentRouter,
            self.prompts,
            refresh_seconds=self.settings.experiment_refresh_seconds,
        )

    @cached_property
    def generation(self) -> Any:
        from pipeline.domain.workflow.generation_step import GenerationStep

        return GenerationStep(
            self.generator,
            self.conversations,
            history_turns=self.settings.history_turns,
            clock=self.clock,
            budget=self.budget,
            experiments=self.experiments,
        )

    @cached_property
    def quality(self) -> Any:
        from pipeline.domain.workflow.quality_step import QualityStep

        return QualityStep(
            self.validator,
            max_regenerations=self.settings.max_regenerations,
            clock=self.clock,
            budget=self.budget,
            generation_p95=self.generation_p95,
        )

    @cached_property
    def collection(self) -> Any:
        from pipeline.domain.workflow.feedback_step import FeedbackCollection

        return FeedbackCollection(self.conversations, self.feedback_store, self.metrics, self.clock)

    @cached_property
    def feedback_intake(self) -> Any:
        from pipeline.domain.feedback import FeedbackIntake

        return FeedbackIntake(
            self.feedback_store, self.conversations, self.clock, input_guard=self.input_guard
        )

    @cached_property
    def summaries(self) -> Any:
        """Where analyze_feedback writes its JSON summary (None: nowhere)."""
        if not self.settings.feedback_summary_bucket:
            return None
        from pipeline.adapters.aws.s3_summaries import S3SummaryWriter

        return S3SummaryWriter(self._s3, self.settings.feedback_summary_bucket)

    @cached_property
    def feedback_report(self) -> Any:
        from pipeline.domain.feedback import FeedbackReport

        return self._build(
            "feedback_report",
            FeedbackReport,
            self.feedback_store,
            self.metrics,
            self.clock,
            experiments=self.prompts,
            summaries=self.summaries,
            experiment_window_hours=self.settings.experiment_window_hours,
        )


_lock = threading.Lock()
_services: dict[Settings, Services] = {}


def services(settings: Settings | None = None) -> Services:
    """The services for the current environment, built once per settings value."""
    settings = settings or Settings.from_env()
    found = _services.get(settings)
    if found is None:
        with _lock:
            found = _services.setdefault(settings, Services(settings))
    return found


def offline_services() -> Services:
    """The object graph on the offline defaults (offline model and NLP, memory stores).

    The batch CLI, the eval suites, the benchmarks and the tests all take their detectors
    and validator from here, so they measure the components the Lambdas build (the same
    :class:`Services` code, with :class:`Settings` defaults instead of the environment).
    """
    return services(Settings())


def reset() -> None:
    """Forget every built service (tests, and local runs that swap moto backends)."""
    with _lock:
        _services.clear()


# The handler runtime and the API Gateway mapping live in their own modules (one concern
# each); a handler imports this module only, so their names are re-exported here.
from pipeline.handlers.api_gateway import (  # noqa: E402
    API_GATEWAY_TIMEOUT_MS,
    ApiError,
    api_error,
    api_response,
    header,
    headers_of,
    json_body,
    raw_body,
    received_at_ms,
    request_id,
    seconds_left,
)
from pipeline.handlers.observability import (  # noqa: E402
    API_CORRELATION,
    TRACED_MODULES,
    WORKFLOW_CORRELATION,
    lambda_handler,
    logger,
    tracer,
)

__all__ = [
    "API_CORRELATION", "API_GATEWAY_TIMEOUT_MS", "TRACED_MODULES", "WORKFLOW_CORRELATION", "ApiError",
    "Services", "Settings", "SettingsError", "api_error", "api_response", "header", "headers_of", "json_body",
    "lambda_handler", "logger", "offline_services", "raw_body", "received_at_ms", "region", "request_id",
    "reset", "seconds_left", "services", "tracer",
]
