"""Feedback: explicit ratings from users, implicit signals from the workflow, analytics.

* Explicit feedback (``POST /feedback``): a rating 1-5 *or* thumbs up/down, and an
  optional comment. :func:`parse_explicit_feedback` validates the request body and names
  the offending field; :class:`FeedbackIntake` stores it with the comment redacted.
* Implicit signals (latency, regenerations, quality score, clarification, escalation,
  template and variant) are written by the workflow's CollectFeedback step as
  ``Feedback(source="implicit")`` records.
* :func:`analyze` joins both per interaction and computes CSAT (share of ratings >= 4 or
  thumbs up), the mean rating, counts per intent / template / variant, low-rated
  templates, regeneration and escalation rates and the quality-vs-rating correlation;
  :class:`FeedbackReport` runs it over the last hours, adds the segments, experiment
  verdicts and comment themes of :mod:`pipeline.domain.feedback_analytics`, emits the
  metrics and writes the JSON summary.

Example:
    >>> request = parse_explicit_feedback(
    ...     {"session_id": "sess-0001", "interaction_id": "req-1", "thumbs": "up"})
    >>> request.thumbs
    'up'
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pipeline.domain.feedback_analytics import (
    ExperimentVerdict,
    comment_themes,
    daily,
    experiment_verdict,
    interactions,
    segment_stats,
    segments,
)
from pipeline.domain.models import Feedback, GuardrailVerdict, ImplicitSignals
from pipeline.domain.workflow.errors import RecordExistsError, RecordNotFoundError
from pipeline.ports import (
    Clock,
    ConversationStore,
    ExperimentSource,
    FeedbackStore,
    MetricsSink,
    SummaryWriter,
)

SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{8,64}$")
INTERACTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_COMMENT_CHARS = 2000
THUMBS = ("up", "down")
FEEDBACK_ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{8,64}$")
EXPLICIT_FIELDS = frozenset(
    {"session_id", "interaction_id", "rating", "thumbs", "comment", "feedback_id"}
)

#: Key of the scheduled analysis event that sets its window (hours). The EventBridge rule in
#: stack/ sends it and analyze_feedback reads it: one name for both ends.
WINDOW_HOURS_KEY = "window_hours"
#: Optional key of the same event: more windows (hours) for the segment tables.
WINDOWS_HOURS_KEY = "windows_hours"

METRIC_CSAT = "CSAT"  # percent of satisfied explicit feedback in the window
METRIC_MEAN_RATING = "MeanRating"
METRIC_EXPLICIT_FEEDBACK = "ExplicitFeedback"
METRIC_REGENERATION_RATE = "RegenerationRate"
METRIC_ESCALATION_RATE = "EscalationRate"
METRIC_LOW_RATED_TEMPLATES = "LowRatedTemplates"
# Per experiment arm (dimensions experiment, variant) and the verdict (experiment, recommendation).
METRIC_EXPERIMENT_JUDGED = "ExperimentJudged"
METRIC_EXPERIMENT_CSAT = "ExperimentCSAT"
METRIC_EXPERIMENT_MEAN_RATING = "ExperimentMeanRating"
METRIC_EXPERIMENT_RECOMMENDATION = "ExperimentRecommendation"
#: Key prefix of the JSON summaries analyze_feedback writes (``latest.json`` is the newest).
SUMMARY_PREFIX = "feedback-summaries/"


class FeedbackValidationError(ValueError):
    """An explicit-feedback request is invalid. ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class FeedbackConflictError(ValueError):
    """A client's feedback_id is already used by a different feedback record."""


class UnknownInteractionError(RecordNotFoundError):
    """Feedback names a session or interaction the assistant has no record of."""


@dataclass(frozen=True, slots=True)
class ExplicitFeedbackRequest:
    """A validated ``POST /feedback`` body. ``comment`` is still the user's raw text."""

    session_id: str
    interaction_id: str
    rating: int | None = None
    thumbs: str | None = None
    comment: str | None = None
    feedback_id: str | None = None


def parse_explicit_feedback(body: Any) -> ExplicitFeedbackRequest:
    """Validate a ``POST /feedback`` body.

    Args:
        body: the decoded JSON body.

    Returns:
        The validated request.

    Raises:
        FeedbackValidationError: naming the first invalid field.
    """
    if not isinstance(body, dict):
        raise FeedbackValidationError("body", "must be a JSON object")
    unknown = sorted(set(body) - EXPLICIT_FIELDS)
    if unknown:
        raise FeedbackValidationError(unknown[0], "is not a known field")
    session_id = body.get("session_id")
    if not isinstance(session_id, str) or not SESSION_ID_PATTERN.match(session_id):
        raise FeedbackValidationError(
            "session_id", "must be 8-64 characters of A-Z, a-z, 0-9 and '-'"
        )
    interaction_id = body.get("interaction_id")
    if not isinstance(interaction_id, str) or not INTERACTION_ID_PATTERN.match(interaction_id):
        raise FeedbackValidationError(
            "interaction_id", "must be 1-128 characters of A-Z, a-z, 0-9 and '._:-'"
        )
    rating, thumbs = body.get("rating"), body.get("thumbs")
    if rating is None and thumbs is None:
        raise FeedbackValidationError("rating", "give a rating (1-5) or thumbs ('up' or 'down')")
    if rating is not None and thumbs is not None:
        raise FeedbackValidationError("thumbs", "give either a rating or thumbs, not both")
    if rating is not None and (
        isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5
    ):
        raise FeedbackValidationError("rating", "must be an integer from 1 to 5")
    if thumbs is not None and thumbs not in THUMBS:
        raise FeedbackValidationError("thumbs", "must be 'up' or 'down'")
    comment = body.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            raise FeedbackValidationError("comment", "must be a string")
        if len(comment) > MAX_COMMENT_CHARS:
            raise FeedbackValidationError(
                "comment", f"must be at most {MAX_COMMENT_CHARS} characters"
            )
        comment = comment.strip() or None
    feedback_id = body.get("feedback_id")
    if feedback_id is not None and (
        not isinstance(feedback_id, str) or not FEEDBACK_ID_PATTERN.match(feedback_id)
    ):
        raise FeedbackValidationError(
            "feedback_id", "must be 8-64 characters of A-Z, a-z, 0-9 and '-'"
        )
    return ExplicitFeedbackRequest(session_id, interaction_id, rating, thumbs, comment, feedback_id)


class FeedbackIntake:
    """Stores explicit feedback for an interaction the assistant actually answered.

    The comment goes through the input guardrail and only its redacted text is stored,
    whatever the verdict (a comment with a pasted key is still feedback worth keeping).
    """

    def __init__(
        self,
        feedback: FeedbackStore,
        conversations: ConversationStore,
        clock: Clock,
        *,
        input_guard: Callable[[str], GuardrailVerdict],
        lookback_turns: int = 1000,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._feedback = feedback
        self._conversations = conversations
        self._clock = clock
        self._guard = input_guard
        self._lookback = lookback_turns
        self._new_id = new_id

    def submit(self, body: Any) -> Feedback:
        """Validate, check the interaction exists, redact the comment and store.

        Raises:
            FeedbackValidationError: the body is invalid.
            UnknownInteractionError: no such session, or no such interaction in it.
        """
        return self.submit_once(body)[0]

    def submit_once(self, body: Any) -> tuple[Feedback, bool]:
        """:meth:`submit`, idempotent by the client's ``feedback_id``: ``(record, created)``.

        The same ``feedback_id`` again returns the stored original and ``created=False``
        (nothing is written); reusing it for another interaction raises
        :class:`FeedbackConflictError`.
        """
        request = parse_explicit_feedback(body)
        if request.feedback_id is not None:
            original = self._existing(request)
            if original is not None:
                return original, False
        # One turn read back (a long session's every turn was read before).
        turn = self._conversations.find_turn(
            request.session_id, request.interaction_id, self._lookback
        )
        if turn is None:
            raise UnknownInteractionError(
                f"interaction {request.interaction_id} not found in session {request.session_id}"
            )
        comment = self._guard(request.comment).redacted_text if request.comment else None
        record = Feedback(
            feedback_id=request.feedback_id or self._new_id(),
            session_id=request.session_id,
            interaction_id=request.interaction_id,
            timestamp=self._clock.now().isoformat(),
            source="explicit",
            rating=request.rating,
            thumbs=request.thumbs,
            comment=comment,
            # What the rating is about, copied from the turn: the experiment and variant
            # the session was served, so analytics never has to guess them.
            signals=ImplicitSignals(
                intent=turn.intent,
                template_id=turn.template_id,
                template_version=turn.template_version,
                variant=turn.variant or turn.template_version,
                experiment_id=turn.experiment_id,
                response_type=turn.response_type,
            ),
        )
        try:
            self._feedback.put(record)  # conditional: never overwrites a feedback_id
        except RecordExistsError:
            original = self._existing(request) if request.feedback_id else None
            if original is None:
                raise
            return original, False  # a concurrent retry stored it first
        return record, True

    def _existing(self, request: ExplicitFeedbackRequest) -> Feedback | None:
        # One read by the table's key (not the session's every record: a long session has
        # one implicit record per turn).
        stored = self._feedback.get(request.feedback_id) if request.feedback_id else None
        if stored is None:
            return None
        if (
            stored.session_id != request.session_id
            or stored.interaction_id != request.interaction_id
            or stored.source != "explicit"
        ):
            raise FeedbackConflictError(
                f"feedback_id {request.feedback_id} was used for another interaction"
            )
        return stored


# ---------------------------------------------------------------------------
# Analytics
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Feedback of one intent, template or variant."""

    interactions: int = 0
    rated: int = 0
    satisfied: int = 0
    mean_rating: float | None = None

    @property
    def csat(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "interactions": self.interactions,
            "rated": self.rated,
            "csat": _round(self.csat),
            "mean_rating": _round(self.mean_rating),
        }


@dataclass(frozen=True, slots=True)
class FeedbackAnalysis:
    """Aggregates over a set of feedback records (``analyze``'s result)."""

    records: int
    interactions: int
    explicit: int
    csat: float | None
    mean_rating: float | None
    ratings: dict[int, int] = field(default_factory=dict)
    thumbs: dict[str, int] = field(default_factory=dict)
    by_intent: dict[str, GroupStats] = field(default_factory=dict)
    by_template: dict[str, GroupStats] = field(default_factory=dict)
    by_variant: dict[str, GroupStats] = field(default_factory=dict)
    low_rated_templates: tuple[str, ...] = ()
    regeneration_rate: float | None = None
    escalation_rate: float | None = None
    clarification_rate: float | None = None
    block_rate: float | None = None
    mean_quality_score: float | None = None
    mean_latency_ms: float | None = None
    quality_rating_correlation: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "interactions": self.interactions,
            "explicit": self.explicit,
            "csat": _round(self.csat),
            "mean_rating": _round(self.mean_rating),
            "ratings": {str(k): v for k, v in sorted(self.ratings.items())},
            "thumbs": dict(self.thumbs),
            "by_intent": {k: v.to_dict() for k, v in sorted(self.by_intent.items())},
            "by_template": {k: v.to_dict() for k, v in sorted(self.by_template.items())},
            "by_variant": {k: v.to_dict() for k, v in sorted(self.by_variant.items())},
            "low_rated_templates": list(self.low_rated_templates),
            "regeneration_rate": _round(self.regeneration_rate),
            "escalation_rate": _round(self.escalation_rate),
            "clarification_rate": _round(self.clarification_rate),
            "block_rate": _round(self.block_rate),
            "mean_quality_score": _round(self.mean_quality_score),
            "mean_latency_ms": _round(self.mean_latency_ms, 1),
            "quality_rating_correlation": _round(self.quality_rating_correlation),
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def is_satisfied(record: Feedback) -> bool | None:
    """True for a rating >= 4 or thumbs up; None when the record carries no judgement."""
    if record.rating is not None:
        return record.rating >= 4
    if record.thumbs is not None:
        return record.thumbs == "up"
    return None


def rating_value(record: Feedback) -> float | None:
    """A 1-5 number for correlation: the rating, or thumbs mapped to 5 (up) / 1 (down)."""
    if record.rating is not None:
        return float(record.rating)
    if record.thumbs is not None:
        return 5.0 if record.thumbs == "up" else 1.0
    return None


def template_key(signals: ImplicitSignals) -> str | None:
    """``template_id@version`` (or just the id when the version is unknown)."""
    if not signals.template_id:
        return None
    return (
        f"{signals.template_id}@{signals.template_version}"
        if signals.template_version
        else signals.template_id
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def pearson(pairs: list[tuple[float, float]]) -> float | None:
    """Pearson's r; None with fewer than 3 pairs or when either side is constant."""
    if len(pairs) < 3:
        return None
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in pairs)
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def _group(keys: dict[str, str | None], judgements: dict[str, Feedback]) -> dict[str, GroupStats]:
    counts: dict[str, int] = Counter()
    rated: dict[str, list[Feedback]] = defaultdict(list)
    for interaction, key in keys.items():
        if key is None:
            continue
        counts[key] += 1
        if interaction in judgements:
            rated[key].append(judgements[interaction])
    result = {}
    for key, n in counts.items():
        records = rated.get(key, [])
        ratings = [float(r.rating) for r in records if r.rating is not None]
        result[key] = GroupStats(
            interactions=n,
            rated=len(records),
            satisfied=sum(1 for r in records if is_satisfied(r)),
            mean_rating=_mean(ratings),
        )
    return result


def analyze(
    feedbacks: Iterable[Feedback], *, low_csat: float = 0.6, min_rated: int = 5
) -> FeedbackAnalysis:
    """Aggregate feedback records, explicit and implicit, joined per interaction.

    Args:
        feedbacks: records in any order; when an interaction has several explicit
            records, the latest (by timestamp) is its judgement.
        low_csat: a template whose CSAT is below this is low-rated ...
        min_rated: ... provided it has at least this many judged interactions.

    Returns:
        The analysis; rates and means are None when there is nothing to compute them on.
    """
    records = list(feedbacks)
    signals: dict[str, ImplicitSignals] = {}
    judgements: dict[str, Feedback] = {}
    for record in sorted(records, key=lambda r: r.timestamp):
        if record.source == "implicit":
            signals[record.interaction_id] = record.signals
        elif is_satisfied(record) is not None:
            judgements[record.interaction_id] = record
    interactions = set(signals) | set(judgements)
    explicit = list(judgements.values())
    ratings = Counter(r.rating for r in explicit if r.rating is not None)
    thumbs = Counter(r.thumbs for r in explicit if r.thumbs is not None)
    satisfied = [bool(is_satisfied(r)) for r in explicit]

    by_template = _group({i: template_key(s) for i, s in signals.items()}, judgements)
    low_rated = tuple(
        sorted(
            key
            for key, stats in by_template.items()
            if stats.rated >= min_rated and stats.csat is not None and stats.csat < low_csat
        )
    )
    observed = list(signals.values())
    answered = [
        s for s in observed if not s.blocked and not s.escalated and not s.clarification_asked
    ]

    def rate(
        predicate: Callable[[ImplicitSignals], bool], population: list[ImplicitSignals]
    ) -> float | None:
        return sum(1 for s in population if predicate(s)) / len(population) if population else None

    pairs: list[tuple[float, float]] = []
    for interaction, judgement in judgements.items():
        quality = signals[interaction].quality_score if interaction in signals else None
        rating = rating_value(judgement)
        if quality is not None and rating is not None:
            pairs.append((float(quality), rating))
    return FeedbackAnalysis(
        records=len(records),
        interactions=len(interactions),
        explicit=len(explicit),
        csat=sum(satisfied) / len(satisfied) if satisfied else None,
        mean_rating=_mean([float(r) for r, n in ratings.items() for _ in range(n)]),
        ratings=dict(ratings),
        thumbs=dict(thumbs),
        by_intent=_group({i: s.intent for i, s in signals.items()}, judgements),
        by_template=by_template,
        by_variant=_group({i: s.variant for i, s in signals.items()}, judgements),
        low_rated_templates=low_rated,
        regeneration_rate=rate(lambda s: s.regenerations > 0, answered),
        escalation_rate=rate(lambda s: s.escalated, observed),
        clarification_rate=rate(lambda s: s.clarification_asked, observed),
        block_rate=rate(lambda s: s.blocked, observed),
        mean_quality_score=_mean(
            [s.quality_score for s in observed if s.quality_score is not None]
        ),
        mean_latency_ms=_mean([s.latency_ms for s in observed if s.latency_ms is not None]),
        quality_rating_correlation=pearson(pairs),
    )


class FeedbackReport:
    """The analyze_feedback job: analyse recent feedback, emit metrics, write the summary.

    One read of the feedback since the start of the longest window (the store queries its
    time index; never a scan), then, in memory: the totals of the main window (the metrics
    the dashboard and alarms use), the segments of every window, the experiment verdicts
    over ``experiment_window_hours``, the daily series and the themes of low-rated comments.

    Args:
        feedback: where feedback is read.
        metrics: where the metrics go (EMF in the Lambda).
        clock: now.
        experiments: the registry of running experiments (None: no verdicts).
        summaries: where the JSON summary is written (None: not written).
        experiment_window_hours: how far back the experiment verdicts look.
    """

    def __init__(
        self,
        feedback: FeedbackStore,
        metrics: MetricsSink,
        clock: Clock,
        *,
        experiments: ExperimentSource | None = None,
        summaries: SummaryWriter | None = None,
        experiment_window_hours: float = 24.0 * 14,
    ) -> None:
        self._feedback = feedback
        self._metrics = metrics
        self._clock = clock
        self._experiments = experiments
        self._summaries = summaries
        self._experiment_hours = experiment_window_hours

    def run(self, hours: float, *, windows: Sequence[float] = ()) -> dict[str, Any]:
        """Analyse feedback newer than ``hours`` ago (and each of ``windows``, in hours).

        Returns the summary: the window, :meth:`FeedbackAnalysis.to_dict` of it, and
        ``segments`` per window, ``experiments``, ``daily`` and ``themes``.
        """
        all_windows = sorted({float(hours), *(float(w) for w in windows)})
        if not all(w > 0 for w in all_windows):
            raise ValueError("hours must be positive")
        experiments = self._experiments.list_experiments() if self._experiments is not None else []
        longest = max([*all_windows, self._experiment_hours if experiments else 0.0])
        end = self._clock.now()
        start = end - timedelta(hours=hours)
        records = list(self._feedback.since((end - timedelta(hours=longest)).isoformat()))

        def newer(window: float) -> list[Feedback]:
            since = (end - timedelta(hours=window)).isoformat()
            return [r for r in records if r.timestamp >= since]

        analysis = analyze(newer(hours))
        self._emit_totals(analysis)
        window_summaries = []
        for window in all_windows:
            rows = interactions(newer(window))
            window_summaries.append({
                "hours": window,
                "start": (end - timedelta(hours=window)).isoformat(),
                "interactions": len(rows),
                "overall": segment_stats(rows).to_dict(),
                "segments": {
                    dimension: {key: stats.to_dict() for key, stats in by_key.items()}
                    for dimension, by_key in segments(rows).items()
                },
            })
        experiment_rows = interactions(newer(self._experiment_hours)) if experiments else []
        verdicts = [experiment_verdict(e, experiment_rows) for e in experiments]
        self._emit_experiments(verdicts)
        long_rows = interactions(newer(max(all_windows)))
        summary = {
            "window": {"start": start.isoformat(), "end": end.isoformat(), "hours": hours},
            **analysis.to_dict(),
            "windows": window_summaries,
            "experiments": [v.to_dict() for v in verdicts],
            "experiment_window_hours": self._experiment_hours if experiments else None,
            "daily": {
                "variant": daily(experiment_rows, "variant"),
                "template": daily(long_rows, "template"),
            },
            "themes": [t.to_dict() for t in comment_themes(long_rows)],
        }
        self._metrics.flush()
        if self._summaries is not None:
            summary["summary_location"] = self._summaries.write_json(
                f"{SUMMARY_PREFIX}{end:%Y/%m/%d/%H%M%S}.json", summary
            )
            self._summaries.write_json(f"{SUMMARY_PREFIX}latest.json", summary)
        return summary

    def _emit_totals(self, analysis: FeedbackAnalysis) -> None:
        put = self._metrics.put_metric
        put(METRIC_EXPLICIT_FEEDBACK, analysis.explicit, "Count")
        if analysis.csat is not None:
            put(METRIC_CSAT, analysis.csat * 100.0, "Percent")
        if analysis.mean_rating is not None:
            put(METRIC_MEAN_RATING, analysis.mean_rating, "None")
        if analysis.regeneration_rate is not None:
            put(METRIC_REGENERATION_RATE, analysis.regeneration_rate * 100.0, "Percent")
        if analysis.escalation_rate is not None:
            put(METRIC_ESCALATION_RATE, analysis.escalation_rate * 100.0, "Percent")
        put(METRIC_LOW_RATED_TEMPLATES, len(analysis.low_rated_templates), "Count")

    def _emit_experiments(self, verdicts: Sequence[ExperimentVerdict]) -> None:
        put = self._metrics.put_metric
        for verdict in verdicts:
            experiment_id = verdict.experiment.experiment_id
            for variant, stats in verdict.arms.items():
                dims = {"experiment": experiment_id, "variant": variant}
                put(METRIC_EXPERIMENT_JUDGED, stats.judged, "Count", dims)
                if stats.csat is not None:
                    put(METRIC_EXPERIMENT_CSAT, stats.csat * 100.0, "Percent", dims)
                if stats.mean_rating is not None:
                    put(METRIC_EXPERIMENT_MEAN_RATING, stats.mean_rating, "None", dims)
            put(METRIC_EXPERIMENT_RECOMMENDATION, 1, "Count",
                {"experiment": experiment_id, "recommendation": verdict.recommendation})
