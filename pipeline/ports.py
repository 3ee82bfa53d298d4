"""Ports: the interfaces the domain needs from the outside world.

Each port is a ``typing.Protocol``. The AWS adapters (``pipeline/adapters/aws``) take an
injected boto3 client; the local adapters (``pipeline/adapters/local``) are the offline
defaults used by tests, the batch CLI, the eval harness and the local workflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pipeline.domain.models import (
    Feedback,
    ModelRequest,
    ModelResponse,
    NlpAnalysis,
    PromptTemplate,
    Turn,
)

if TYPE_CHECKING:  # the experiment records live beside the assignment logic
    from pipeline.domain.experiments import Experiment


class ModelError(Exception):
    """A model call failed. ``transient`` errors (throttling, timeouts) may be retried."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class TransientModelError(ModelError):
    """A model call failed in a way worth retrying (throttling, timeouts, 5xx).

    A class of its own because Step Functions matches Retry rules on the *name* of the
    error a Lambda raises: the workflow retries ``TransientModelError`` and sends any
    other ``ModelError`` straight to Fallback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


class ModelUnavailableError(ModelError):
    """The configured model cannot be invoked at all: past its end of life, no model access
    in the account, an id Bedrock does not know, or one that needs an inference profile.

    Not transient, and not a bad answer: every request will fail until the deployment's
    ``model_id`` changes. Step Functions sees the name ``ModelUnavailableError``; the handler
    counts it (metric ``ModelUnavailable``, alarmed) before the workflow falls back.
    """


def model_error(message: str, *, transient: bool) -> ModelError:
    """The right ModelError class for a failure: adapters raise what this returns."""
    return TransientModelError(message) if transient else ModelError(message)


@runtime_checkable
class ModelClient(Protocol):
    """Generates text from a rendered request (Bedrock Converse, OfflineModel, replay)."""

    def generate(self, request: ModelRequest) -> ModelResponse:
        """Return the model's reply; raise :class:`ModelError` on failure."""
        ...


class NlpError(Exception):
    """An NLP call failed. ``transient`` errors (throttling, timeouts) may be retried.

    Intent detection does not need NLP to work (rules and the classifier read the text), so
    the detector degrades to text-only analysis on this error instead of failing the query.
    """

    def __init__(self, message: str, *, transient: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


@runtime_checkable
class NlpClient(Protocol):
    """Sentiment, entities and key phrases (Comprehend in AWS, OfflineNlp locally)."""

    def analyze(self, text: str) -> NlpAnalysis: ...


@runtime_checkable
class AwsApiCatalog(Protocol):
    """Offline knowledge of the AWS APIs (botocore's service models), for accuracy checks."""

    def has_service(self, name: str) -> bool:
        """True for a boto3 client name (``s3``) or CLI service name (``s3api``)."""
        ...

    def operation(self, service: str, operation: str) -> OperationInfo | None:
        """Look up by CLI name (``describe-instances``) or boto3 name (``describe_instances``)."""
        ...

    def is_region(self, name: str) -> bool: ...

    def service_names(self) -> Sequence[str]:
        """Service names as a customer would write them (``EC2``, ``S3``, ``Lambda`` …)."""
        ...

    def operation_names(self, service: str) -> Sequence[str]:
        """CLI names of a service's operations, for "did you mean …" suggestions."""
        ...


class OperationInfo(Protocol):
    """One operation as the quality check sees it.

    Members are read-only properties so that immutable implementations (a frozen
    dataclass such as ``BotocoreOperation``) satisfy the protocol: a plain attribute
    annotation would demand a settable attribute.
    """

    @property
    def name(self) -> str:
        """The API name, e.g. ``DescribeInstances``."""
        ...

    @property
    def parameters(self) -> frozenset[str]:
        """boto3 parameter names, e.g. ``InstanceIds``."""
        ...

    @property
    def required(self) -> frozenset[str]: ...

    # The AWS CLI adds commands and options of its own on top of the API models
    # (``aws s3 cp``, ``--cli-input-json``): these say how to check a CLI call.
    @property
    def open_parameters(self) -> bool:
        """Accepts options we cannot enumerate: skip the parameter check."""
        ...

    @property
    def high_level(self) -> bool:
        """A CLI customisation, not an API operation."""
        ...

    @property
    def cli_options(self) -> frozenset[str]:
        """Extra CLI-only options."""
        ...

    @property
    def cli_required(self) -> frozenset[str]:
        """Required options as the CLI spells them."""
        ...

    @property
    def cli_removed(self) -> frozenset[str]:
        """API members the CLI does not accept as options (``--version`` of ``aws eks
        update-cluster-version`` is ``--kubernetes-version``)."""
        ...


class ConversationStore(Protocol):
    """Turns of a session, stored one item per turn so sessions never outgrow an item."""

    def append_turn(self, turn: Turn) -> None:
        """Store a new turn; refuses to overwrite an existing (session, turn_index)."""
        ...

    def update_turn(self, turn: Turn) -> None:
        """Replace the turn with the same (session_id, turn_index): used to add the reply."""
        ...

    def recent_turns(self, session_id: str, limit: int, before: int | None = None) -> list[Turn]:
        """The last ``limit`` turns, oldest first (with ``before``: of the turns whose
        ``turn_index`` is below it)."""
        ...

    def find_turn(self, session_id: str, interaction_id: str, within: int) -> Turn | None:
        """The turn of ``interaction_id`` among the session's last ``within`` turns, or None
        (one turn read back, not ``within``)."""
        ...

    def next_turn_index(self, session_id: str) -> int: ...

    def turns_for_user(self, user_id: str, limit: int) -> list[Turn]: ...


class PromptStore(Protocol):
    """Versioned prompt templates (S3 bodies + DynamoDB index in AWS, files locally)."""

    def get(self, template_id: str, version: str | None = None) -> PromptTemplate:
        """The given version, or the latest one when ``version`` is None."""
        ...

    def list_templates(self) -> list[PromptTemplate]: ...


class ExperimentSource(Protocol):
    """The running prompt experiments (files locally, the Prompts table in AWS)."""

    def list_experiments(self) -> list[Experiment]: ...


class PromptRegistry(PromptStore, ExperimentSource, Protocol):
    """The write side of the prompt store (``python -m pipeline prompts``).

    Writes are all-or-nothing: a template body is stored before its index entry, the index
    entry is a conditional write, and a failed write removes the body it stored.
    """

    def publish(self, body: bytes) -> PromptTemplate:
        """Validate and store a new template version; never overwrites an existing one."""
        ...

    def put_experiment(self, experiment: Experiment, *, expected_revision: int | None) -> Experiment:
        """Store ``experiment`` as revision ``expected_revision + 1`` (None: must not exist yet).

        Raises:
            RecordExistsError: someone else changed the experiment first (re-read and retry).
        """
        ...

    def delete_experiment(self, template_id: str, *, expected_revision: int) -> None:
        """Remove the template's experiment (same optimistic lock)."""
        ...


class SummaryWriter(Protocol):
    """Where analyze_feedback writes its JSON summary (S3 in AWS, a folder locally)."""

    def write_json(self, key: str, data: dict[str, Any]) -> str:
        """Store ``data`` under ``key``; returns where it went (``s3://…`` or a path)."""
        ...


class FeedbackStore(Protocol):
    def put(self, feedback: Feedback) -> None:
        """Store a new record; never overwrites an existing feedback_id."""
        ...

    def get(self, feedback_id: str) -> Feedback | None:
        """The record with this feedback_id (the table's key: one read), or None."""
        ...

    def for_session(self, session_id: str) -> list[Feedback]: ...

    def since(self, timestamp: str) -> Iterable[Feedback]: ...


class MetricsSink(Protocol):
    """Business metrics (CloudWatch EMF via Powertools in AWS, in-memory locally)."""

    def put_metric(
        self, name: str, value: float, unit: str = "Count", dimensions: dict[str, str] | None = None
    ) -> None: ...

    def flush(self) -> None: ...


class SessionKeyProvider(Protocol):
    """The secret that signs session tokens (Secrets Manager in AWS, a key file locally)."""

    def session_key(self) -> bytes:
        """At least 32 random bytes; the same bytes for every caller of one deployment."""
        ...


class IdempotencyStore(Protocol):
    """Remembers ``POST /query`` answers by idempotency key, with conditional writes."""

    def claim(self, key: str, fingerprint: str, created_at: str) -> dict[str, object] | None:
        """Claim ``key`` for a new request: None when claimed, else the existing record.

        The record is ``{"fingerprint", "status": "pending"|"done", "response"?}``; the
        claim is a conditional write (exactly one of several concurrent callers wins).
        """
        ...

    def complete(self, key: str, response: dict[str, object]) -> None:
        """Store the answer of a claimed key (status becomes ``done``)."""
        ...

    def release(self, key: str) -> None:
        """Forget a pending claim whose request failed, so a retry can run it again."""
        ...

    def get(self, key: str) -> dict[str, object] | None: ...


class SessionThrottle(Protocol):
    """Per-session request limit (a conditional counter in DynamoDB in AWS)."""

    def allow(self, session_id: str) -> bool:
        """Count one request of ``session_id``; False (nothing counted) over the limit."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...
