"""Typed records passed between the assistant's components.

Every record is a frozen dataclass: immutable, hashable where its fields are, cheap to
build. Records that cross a process boundary (Lambda events, DynamoDB items, JSONL) have
``to_dict``/``from_dict`` helpers so the handlers never hand-roll dictionaries.

Secrets never live in these records in clear text: a :class:`Finding` carries only the
span and the category of what a guardrail matched, never the matched text, and every
stored text field is filled from :attr:`GuardrailVerdict.redacted_text`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

# ---------------------------------------------------------------------------
# Public contract: identifiers used in the API, the golden sets and the reports.
# ---------------------------------------------------------------------------

INTENTS: tuple[str, ...] = (
    "ec2_troubleshooting",
    "s3_troubleshooting",
    "lambda_troubleshooting",
    "rds_database",
    "networking",
    "iam_security",
    "billing_cost",
    "account_management",
    "general_support",
    "out_of_scope",
)

INPUT_BLOCK_CATEGORIES: tuple[str, ...] = (
    "aws_access_key",
    "aws_secret_key",
    "aws_session_token",
    "private_key",
    "password",
    "generic_secret",
    "credential_request",
    "future_features",
    "prompt_attack",
)
#: Categories whose findings are secrets: the reply tells the user to rotate them.
SECRET_CATEGORIES: tuple[str, ...] = INPUT_BLOCK_CATEGORIES[:6]
INPUT_REDACT_CATEGORIES: tuple[str, ...] = ("pii",)
INPUT_CATEGORIES: tuple[str, ...] = INPUT_BLOCK_CATEGORIES + INPUT_REDACT_CATEGORIES
OUTPUT_CATEGORIES: tuple[str, ...] = (
    "sensitive_data",
    "future_commitment",
    "competitor_disparagement",
)

QUALITY_CHECKS: tuple[str, ...] = (
    "completeness",
    "structure",
    "accuracy",
    "relevance",
    "tone",
    "safety",
)

#: How a reply is generated: ``answer`` (the intent's template), ``clarification`` and
#: ``escalation`` (the workflow's Clarify / Escalate tasks), ``fallback`` (a static reply).
#: The one definition: the generator and the workflow's generation step both use it.
GENERATION_MODES: tuple[str, ...] = ("answer", "clarification", "escalation", "fallback")

#: Completed earlier turns of a conversation given to the intent detector and the model.
#: The one default: ``Settings.history_turns`` (env ``HISTORY_TURNS``) starts from it and the
#: composition root passes that one value to every step and to the generator.
HISTORY_TURNS: int = 6


class GuardrailAction(StrEnum):
    """What the pipeline does with a text after a guardrail has looked at it."""

    ALLOW = "allow"
    REDACT = "redact"
    BLOCK = "block"


class ResponseType(StrEnum):
    """The kind of reply the workflow returns (public contract of ``POST /query``)."""

    ANSWER = "answer"
    CLARIFICATION = "clarification"
    ESCALATION = "escalation"
    BLOCKED = "blocked"
    FALLBACK = "fallback"


# ---------------------------------------------------------------------------
# Guardrails
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a guardrail rule matched. Holds the span, never the matched text."""

    category: str
    rule_id: str
    start: int
    end: int
    action: GuardrailAction

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "rule_id": self.rule_id,
            "start": self.start,
            "end": self.end,
            "action": self.action.value,
        }


@dataclass(frozen=True, slots=True)
class GuardrailVerdict:
    """The outcome of scanning one text.

    ``redacted_text`` is the only form of the text that may be stored, logged or sent to
    a model. ``message`` is the user-facing reply when the action is ``block``.
    """

    action: GuardrailAction
    findings: tuple[Finding, ...]
    redacted_text: str
    message: str | None = None

    @property
    def categories(self) -> tuple[str, ...]:
        """Distinct categories found, in a stable (sorted) order."""
        return tuple(sorted({f.category for f in self.findings}))

    @property
    def blocked(self) -> bool:
        return self.action is GuardrailAction.BLOCK

    def summary(self) -> dict[str, Any]:
        """The ``{"action", "categories"}`` shape used by the API and the batch CLI."""
        return {"action": self.action.value, "categories": list(self.categories)}


# ---------------------------------------------------------------------------
# NLP and intent
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entity:
    text: str
    type: str  # e.g. AWS_SERVICE, ARN, ERROR_CODE, REGION, ORGANIZATION
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class NlpAnalysis:
    """What the NlpClient port (Comprehend or OfflineNlp) says about a text."""

    sentiment: str  # POSITIVE | NEGATIVE | NEUTRAL | MIXED
    sentiment_scores: dict[str, float] = field(default_factory=dict, hash=False)
    entities: tuple[Entity, ...] = ()
    key_phrases: tuple[str, ...] = ()

    @property
    def negativity(self) -> float:
        return float(self.sentiment_scores.get("NEGATIVE", 0.0))


@dataclass(frozen=True, slots=True)
class IntentResult:
    """Intent with a calibrated confidence, alternatives and routing flags."""

    intent: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...] = ()
    needs_clarification: bool = False
    escalate: bool = False
    reasons: tuple[str, ...] = ()  # why clarify/escalate, e.g. "explicit_human_request"
    sentiment: str = "NEUTRAL"
    entities: tuple[str, ...] = ()  # AWS service names mentioned
    method: str = "classifier"  # "rule" | "classifier" | "hybrid"

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "alternatives": [[i, round(p, 4)] for i, p in self.alternatives],
            "needs_clarification": self.needs_clarification,
            "escalate": self.escalate,
            "reasons": list(self.reasons),
            "sentiment": self.sentiment,
            "entities": list(self.entities),
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IntentResult:
        return cls(
            intent=data["intent"],
            confidence=float(data["confidence"]),
            alternatives=tuple((str(i), float(p)) for i, p in data.get("alternatives", ())),
            needs_clarification=bool(data.get("needs_clarification", False)),
            escalate=bool(data.get("escalate", False)),
            reasons=tuple(data.get("reasons", ())),
            sentiment=data.get("sentiment", "NEUTRAL"),
            entities=tuple(data.get("entities", ())),
            method=data.get("method", "classifier"),
        )


# ---------------------------------------------------------------------------
# Conversation
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange in a session. ``user_text`` is always the redacted text."""

    session_id: str
    interaction_id: str
    turn_index: int
    created_at: str  # ISO-8601 UTC
    user_text: str
    user_id: str | None = None
    assistant_text: str | None = None
    response_type: str | None = None
    intent: str | None = None
    confidence: float | None = None
    guardrail_action: str = "allow"
    guardrail_categories: tuple[str, ...] = ()
    quality_score: float | None = None
    template_id: str | None = None
    template_version: str | None = None
    #: What the latency budget decided for this turn (pipeline.domain.budget.DECISIONS).
    budget_decision: str | None = None
    #: The prompt experiment this turn's template was in, and the session's variant of it.
    experiment_id: str | None = None
    variant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["guardrail_categories"] = list(self.guardrail_categories)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["guardrail_categories"] = tuple(values.get("guardrail_categories", ()))
        values["turn_index"] = int(values["turn_index"])
        if values.get("confidence") is not None:
            values["confidence"] = float(values["confidence"])
        if values.get("quality_score") is not None:
            values["quality_score"] = float(values["quality_score"])
        return cls(**values)


# ---------------------------------------------------------------------------
# Prompts and generation
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelParameters:
    """Generation parameters of a template.

    Templates name the model *family* their prompts are written for; the model id itself is
    one deployment setting (stack context ``model_id`` -> ``MODEL_ID``), so a model's end of
    life is a one-line change. ``model_id`` stays empty unless a template pins one.
    """

    model_family: str = "anthropic.claude"
    model_id: str = ""
    temperature: float = 0.7
    max_tokens: int = 2048
    top_p: float = 0.9

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A versioned prompt template (``pipeline/prompts/{template_id}/{version}.json``)."""

    template_id: str
    version: str
    system_prompt: str
    user_template: str
    parameters: ModelParameters
    intents: tuple[str, ...]
    format_instructions: tuple[str, ...] = ()
    description: str = ""
    #: What this version is expected to improve, tested offline by ``python -m evals ab``.
    hypothesis: str = ""

    @property
    def ref(self) -> dict[str, str]:
        return {"id": self.template_id, "version": self.version}


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "user" | "assistant"
    text: str


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """A fully rendered request to a ModelClient. Contains only redacted text."""

    system: str
    messages: tuple[Message, ...]
    parameters: ModelParameters


@dataclass(frozen=True, slots=True)
class ModelResponse:
    text: str
    model_id: str
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str = "end_turn"
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Generation:
    """A generated answer and how it was produced."""

    text: str
    template_id: str
    template_version: str
    model_id: str
    strategy: str = "default"
    attempt: int = 1
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Generation:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---------------------------------------------------------------------------
# Quality
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QualityCheckResult:
    check: str  # one of QUALITY_CHECKS
    score: float  # 0..1
    messages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "score": round(self.score, 4), "messages": list(self.messages)}


@dataclass(frozen=True, slots=True)
class QualityReport:
    score: float
    passed: bool
    threshold: float
    checks: tuple[QualityCheckResult, ...]

    @property
    def issues(self) -> list[dict[str, str]]:
        """``[{"check", "message"}]`` for every message of every check (batch CLI shape)."""
        return [{"check": c.check, "message": m} for c in self.checks for m in c.messages]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "passed": self.passed,
            "threshold": self.threshold,
            "checks": [c.to_dict() for c in self.checks],
            "issues": self.issues,
        }


# ---------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImplicitSignals:
    """What the workflow observed about an interaction, without asking the user."""

    latency_ms: float | None = None
    regenerations: int = 0
    quality_score: float | None = None
    clarification_asked: bool = False
    escalated: bool = False
    blocked: bool = False
    fallback: bool = False
    intent: str | None = None
    template_id: str | None = None
    template_version: str | None = None
    variant: str | None = None
    #: The prompt experiment the template was in (None: no experiment, the latest served).
    experiment_id: str | None = None
    #: answer, clarification, escalation, blocked or fallback (``ResponseType``).
    response_type: str | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    """One feedback record: explicit (rating/thumbs/comment) and/or implicit signals."""

    feedback_id: str
    session_id: str
    interaction_id: str
    timestamp: str  # ISO-8601 UTC
    source: str  # "explicit" | "implicit"
    rating: int | None = None  # 1..5
    thumbs: str | None = None  # "up" | "down"
    comment: str | None = None  # redacted
    signals: ImplicitSignals = field(default_factory=ImplicitSignals)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feedback:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        signals = values.get("signals") or {}
        if isinstance(signals, dict):
            sig_known = {f for f in ImplicitSignals.__dataclass_fields__}
            values["signals"] = ImplicitSignals(
                **{k: v for k, v in signals.items() if k in sig_known}
            )
        if values.get("rating") is not None:
            values["rating"] = int(values["rating"])
        return cls(**values)
