"""Feedback analytics: segments, experiment verdicts and the themes of low-rated comments.

:func:`interactions` joins the records of one interaction (the workflow's implicit record
and the user's latest rating or thumbs) into one :class:`InteractionRow`. :func:`analyze_window`
then computes, per intent, template, experiment variant and response type
(:func:`segment_stats`): volume, judged interactions, average rating, CSAT with its Wilson
interval, the thumbs-up ratio, mean quality score, escalation, clarification and
regeneration rates. :func:`experiment_verdict` compares each variant of an experiment with
its control (:mod:`pipeline.domain.feedback_stats`) and recommends ``promote``,
``keep running`` or ``roll back``; :func:`comment_themes` groups the comments of low-rated
answers by their most shared key phrases. The analyze_feedback Lambda runs this (standard
library only); ``python -m evals feedback-report`` renders the same analysis with pandas.

Example:
    >>> rows = interactions(records)  # doctest: +SKIP
    >>> segment_stats(rows).to_dict()["csat"]  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.domain.experiments import Experiment
from pipeline.domain.feedback_stats import Difference, compare_means, compare_proportions, wilson
from pipeline.domain.models import Feedback, ImplicitSignals

RECOMMEND_PROMOTE = "promote"
RECOMMEND_KEEP_RUNNING = "keep running"
RECOMMEND_ROLL_BACK = "roll back"
RECOMMENDATIONS = (RECOMMEND_PROMOTE, RECOMMEND_KEEP_RUNNING, RECOMMEND_ROLL_BACK)
DIMENSIONS = ("intent", "template", "variant", "response_type")
LOW_RATING = 2  # ratings at or below this (and thumbs down) are "low-rated"


@dataclass(frozen=True, slots=True)
class InteractionRow:
    """One interaction: what the workflow observed and how the user judged it."""

    interaction_id: str
    session_id: str
    timestamp: str
    intent: str | None = None
    template_id: str | None = None
    template_version: str | None = None
    experiment_id: str | None = None
    variant: str | None = None
    response_type: str | None = None
    quality_score: float | None = None
    regenerations: int = 0
    escalated: bool = False
    clarification_asked: bool = False
    observed: bool = False  # the implicit record is in the window
    rating: int | None = None
    thumbs: str | None = None
    comment: str | None = None

    @property
    def day(self) -> str:
        return self.timestamp[:10]

    @property
    def template(self) -> str | None:
        if not self.template_id:
            return None
        return f"{self.template_id}@{self.template_version}" if self.template_version else self.template_id

    @property
    def variant_key(self) -> str | None:
        """``experiment/variant`` for a turn served inside an experiment."""
        return f"{self.experiment_id}/{self.variant}" if self.experiment_id and self.variant else None

    @property
    def satisfied(self) -> bool | None:
        if self.rating is not None:
            return self.rating >= 4
        if self.thumbs is not None:
            return self.thumbs == "up"
        return None

    @property
    def low_rated(self) -> bool:
        return (self.rating is not None and self.rating <= LOW_RATING) or self.thumbs == "down"

    def key(self, dimension: str) -> str | None:
        return {
            "intent": self.intent,
            "template": self.template,
            "variant": self.variant_key,
            "response_type": self.response_type,
        }[dimension]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {
            "satisfied": self.satisfied
        }


def _context(signals: ImplicitSignals) -> dict[str, Any]:
    return {
        "intent": signals.intent,
        "template_id": signals.template_id,
        "template_version": signals.template_version,
        "experiment_id": signals.experiment_id,
        "variant": signals.variant if signals.experiment_id else None,
        "response_type": signals.response_type or _response_type(signals),
    }


def _response_type(signals: ImplicitSignals) -> str | None:
    if signals.blocked:
        return "blocked"
    if signals.escalated:
        return "escalation"
    if signals.clarification_asked:
        return "clarification"
    return "answer" if signals.template_id else None


def interactions(records: Iterable[Feedback]) -> list[InteractionRow]:
    """One row per interaction, oldest first; the latest judgement of an interaction wins.

    The context (intent, template, experiment, variant) comes from the implicit record, or
    from the explicit one (which copies its turn's) when the implicit record is not in the
    records given.
    """
    implicit: dict[str, Feedback] = {}
    judgement: dict[str, Feedback] = {}
    for record in sorted(records, key=lambda r: r.timestamp):
        if record.source == "implicit":
            implicit[record.interaction_id] = record
        elif record.rating is not None or record.thumbs is not None:
            judgement[record.interaction_id] = record
    rows = []
    for interaction in set(implicit) | set(judgement):
        seen, judged = implicit.get(interaction), judgement.get(interaction)
        base = seen or judged
        assert base is not None
        signals = base.signals
        values: dict[str, Any] = {
            "interaction_id": interaction,
            "session_id": base.session_id,
            "timestamp": base.timestamp,
            **_context(signals),
        }
        if seen is not None:
            values.update(
                observed=True,
                quality_score=signals.quality_score,
                regenerations=signals.regenerations,
                escalated=signals.escalated,
                clarification_asked=signals.clarification_asked,
            )
        if judged is not None:
            values.update(rating=judged.rating, thumbs=judged.thumbs, comment=judged.comment)
        rows.append(InteractionRow(**values))
    return sorted(rows, key=lambda r: (r.timestamp, r.interaction_id))


# ---------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True, slots=True)
class SegmentStats:
    """The feedback of one segment (an intent, a template, a variant, a response type)."""

    volume: int
    judged: int
    satisfied: int
    rated: int
    mean_rating: float | None
    thumbs_up: int
    thumbs_down: int
    mean_quality: float | None
    escalation_rate: float | None
    clarification_rate: float | None
    regeneration_rate: float | None
    mean_regenerations: float | None

    @property
    def csat(self) -> float | None:
        return self.satisfied / self.judged if self.judged else None

    @property
    def csat_interval(self) -> tuple[float, float] | None:
        return wilson(self.satisfied, self.judged) if self.judged else None

    @property
    def thumbs_ratio(self) -> float | None:
        total = self.thumbs_up + self.thumbs_down
        return self.thumbs_up / total if total else None

    def to_dict(self) -> dict[str, Any]:
        interval = self.csat_interval
        return {
            "volume": self.volume,
            "judged": self.judged,
            "csat": _r(self.csat),
            "csat_ci": [_r(interval[0]), _r(interval[1])] if interval else None,
            "rated": self.rated,
            "mean_rating": _r(self.mean_rating),
            "thumbs_up": self.thumbs_up,
            "thumbs_down": self.thumbs_down,
            "thumbs_ratio": _r(self.thumbs_ratio),
            "mean_quality": _r(self.mean_quality),
            "escalation_rate": _r(self.escalation_rate),
            "clarification_rate": _r(self.clarification_rate),
            "regeneration_rate": _r(self.regeneration_rate),
            "mean_regenerations": _r(self.mean_regenerations),
        }


def segment_stats(rows: Sequence[InteractionRow]) -> SegmentStats:
    """The statistics of a set of interactions (rates over the observed ones)."""
    judged = [r for r in rows if r.satisfied is not None]
    ratings = [float(r.rating) for r in rows if r.rating is not None]
    observed = [r for r in rows if r.observed]
    answers = [r for r in observed if r.response_type == "answer"]

    def rate(population: Sequence[InteractionRow], predicate: Callable[[InteractionRow], bool]) -> float | None:
        return sum(1 for r in population if predicate(r)) / len(population) if population else None

    return SegmentStats(
        volume=len(rows),
        judged=len(judged),
        satisfied=sum(1 for r in judged if r.satisfied),
        rated=len(ratings),
        mean_rating=_mean(ratings),
        thumbs_up=sum(1 for r in rows if r.thumbs == "up"),
        thumbs_down=sum(1 for r in rows if r.thumbs == "down"),
        mean_quality=_mean([r.quality_score for r in observed if r.quality_score is not None]),
        escalation_rate=rate(observed, lambda r: r.escalated),
        clarification_rate=rate(observed, lambda r: r.clarification_asked),
        regeneration_rate=rate(answers, lambda r: r.regenerations > 0),
        mean_regenerations=_mean([float(r.regenerations) for r in answers]),
    )


def segments(rows: Sequence[InteractionRow]) -> dict[str, dict[str, SegmentStats]]:
    """``{dimension: {key: stats}}`` for every dimension of :data:`DIMENSIONS`."""
    result: dict[str, dict[str, SegmentStats]] = {}
    for dimension in DIMENSIONS:
        groups: dict[str, list[InteractionRow]] = defaultdict(list)
        for row in rows:
            key = row.key(dimension)
            if key is not None:
                groups[key].append(row)
        result[dimension] = {key: segment_stats(group) for key, group in sorted(groups.items())}
    return result


def daily(rows: Sequence[InteractionRow], dimension: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``{key: {day: {"volume", "judged", "csat", "mean_rating"}}}``: the series over time."""
    grouped: dict[str, dict[str, list[InteractionRow]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        key = row.key(dimension)
        if key is not None:
            grouped[key][row.day].append(row)
    series: dict[str, dict[str, dict[str, Any]]] = {}
    for key, days in sorted(grouped.items()):
        series[key] = {}
        for day, group in sorted(days.items()):
            stats = segment_stats(group)
            series[key][day] = {
                "volume": stats.volume,
                "judged": stats.judged,
                "csat": _r(stats.csat),
                "mean_rating": _r(stats.mean_rating),
            }
    return series


# ---------------------------------------------------------------------------
# Experiments
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExperimentVerdict:
    """An experiment's arms, each variant against the control, and the recommendation."""

    experiment: Experiment
    arms: dict[str, SegmentStats]
    comparisons: dict[str, dict[str, Difference]]  # variant -> metric -> difference
    recommendation: str
    variant: str | None  # the variant to promote, or the ones to roll back (first)
    reason: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        e = self.experiment
        return {
            "experiment_id": e.experiment_id,
            "template_id": e.template_id,
            "hypothesis": e.hypothesis,
            "control": e.control,
            "weights": {v: w for v, w in e.weights},
            "primary_metric": e.primary_metric,
            "min_samples_per_variant": e.min_samples_per_variant,
            "confidence": round(self.confidence, 4),
            "arms": {v: s.to_dict() for v, s in self.arms.items()},
            "comparisons": {
                v: {m: d.to_dict() for m, d in by_metric.items()} for v, by_metric in self.comparisons.items()
            },
            "recommendation": self.recommendation,
            "variant": self.variant,
            "reason": self.reason,
        }


def _judged_n(stats: SegmentStats, metric: str) -> int:
    return stats.rated if metric == "mean_rating" else stats.judged


def experiment_verdict(
    experiment: Experiment, rows: Sequence[InteractionRow], *, confidence: float = 0.95
) -> ExperimentVerdict:
    """Compare every variant with the control and recommend what to do.

    * ``keep running`` while any serving variant has fewer judged interactions (ratings for
      ``mean_rating``) than ``min_samples_per_variant``: no verdict before that;
    * ``promote`` the variant whose primary metric is better than the control's with the
      interval excluding 0 (the best one when several are), provided its CSAT is not
      significantly worse;
    * ``roll back`` when every other serving variant is significantly worse than the control;
    * else ``keep running``, with the smallest difference the sample can detect.

    With k variants besides the control, each interval is at ``1 - (1 - confidence) / k``
    (Bonferroni), so the chance of any false verdict stays at most ``1 - confidence``.
    """
    mine = [r for r in rows if r.experiment_id == experiment.experiment_id]
    by_variant: dict[str, list[InteractionRow]] = {v: [] for v in experiment.variants}
    for row in mine:
        if row.variant in by_variant:
            by_variant[row.variant].append(row)
    arms = {v: segment_stats(group) for v, group in by_variant.items()}
    control = experiment.control
    others = [v for v in experiment.variants if v != control and (v in experiment.serving or arms[v].volume)]
    level = 1 - (1 - confidence) / max(1, len(others))
    comparisons: dict[str, dict[str, Difference]] = {}
    for variant in others:
        comparisons[variant] = {
            "csat": compare_proportions(
                (arms[control].satisfied, arms[control].judged),
                (arms[variant].satisfied, arms[variant].judged),
                confidence=level,
            ),
            "mean_rating": compare_means(
                [float(r.rating) for r in by_variant[control] if r.rating is not None],
                [float(r.rating) for r in by_variant[variant] if r.rating is not None],
                confidence=level,
            ),
        }
    metric = experiment.primary_metric
    need = experiment.min_samples_per_variant

    def verdict(recommendation: str, variant: str | None, reason: str) -> ExperimentVerdict:
        return ExperimentVerdict(experiment, arms, comparisons, recommendation, variant, reason, level)

    if not others:
        return verdict(RECOMMEND_KEEP_RUNNING, None, "only the control serves: nothing to compare")
    short = {v: _judged_n(arms[v], metric) for v in [control, *others] if _judged_n(arms[v], metric) < need}
    if short:
        listed = ", ".join(f"{v} {n}/{need}" for v, n in short.items())
        return verdict(RECOMMEND_KEEP_RUNNING, None,
                       f"not enough judged interactions for a verdict on {metric} ({listed})")
    better = [
        v for v in others
        if comparisons[v][metric].significant and (comparisons[v][metric].difference or 0) > 0
        and not (comparisons[v]["csat"].significant and (comparisons[v]["csat"].difference or 0) < 0)
    ]
    if better:
        best = max(better, key=lambda v: comparisons[v][metric].difference or 0.0)
        d = comparisons[best][metric]
        return verdict(RECOMMEND_PROMOTE, best,
                       f"{best} beats {control} on {metric} by {d.difference:+.3f} "
                       f"({level:.1%} CI {d.low:+.3f} to {d.high:+.3f})")
    worse = [v for v in others if comparisons[v][metric].significant and (comparisons[v][metric].difference or 0) < 0]
    if worse and len(worse) == len(others):
        d = comparisons[worse[0]][metric]
        return verdict(RECOMMEND_ROLL_BACK, worse[0],
                       f"{', '.join(worse)} worse than {control} on {metric} "
                       f"({worse[0]}: {d.difference:+.3f}, {level:.1%} CI {d.low:+.3f} to {d.high:+.3f})")
    detectable = max((comparisons[v][metric].detectable or 0.0) for v in others)
    return verdict(RECOMMEND_KEEP_RUNNING, None,
                   f"no detectable difference on {metric} yet; this sample detects differences "
                   f"of about {detectable:.3f} or more")


# ---------------------------------------------------------------------------
# Themes of low-rated comments
# ---------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9][a-z0-9'_-]*")
STOPWORDS = frozenset(
    """a about after again all also am an and any are as at be because been but by can
    could did didn't do does doesn't don't for from get got had has have how i i'm if in
    into is isn't it it's its just me more my no not of on or our so than that the their
    them then there these they this to too up us very was wasn't we were what when which
    who why will with would you your yours""".split()
)


def _phrases(text: str) -> set[str]:
    """Key-phrase candidates: content words and the 2-3 word runs without a stopword."""
    words = _WORD.findall(text.lower())
    found: set[str] = set()
    run: list[str] = []
    for word in [*words, ""]:
        if word and word not in STOPWORDS and len(word) > 2:
            run.append(word)
            continue
        for size in (1, 2, 3):
            for start in range(len(run) - size + 1):
                found.add(" ".join(run[start:start + size]))
        run = []
    return found


@dataclass(frozen=True, slots=True)
class Theme:
    phrase: str
    count: int
    examples: tuple[str, ...]
    mean_rating: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"phrase": self.phrase, "count": self.count, "examples": list(self.examples),
                "mean_rating": _r(self.mean_rating)}


def comment_themes(rows: Sequence[InteractionRow], *, max_themes: int = 8, examples: int = 3,
                   min_count: int = 2) -> list[Theme]:
    """Group the comments of low-rated interactions by their most shared key phrase.

    Greedy: the phrase found in the most remaining comments (longer phrases first on a tie)
    becomes a theme and takes those comments; repeat. Comments that share no phrase with
    another are left out (they are in the rows).
    """
    comments = [(r.comment, r.rating) for r in rows if r.low_rated and r.comment]
    remaining = [(text, rating, _phrases(text)) for text, rating in comments]
    themes: list[Theme] = []
    while remaining and len(themes) < max_themes:
        counts = Counter(p for _, _, phrases in remaining for p in phrases)
        if not counts:
            break
        phrase, count = max(counts.items(), key=lambda item: (item[1], len(item[0].split()), item[0]))
        if count < min_count:
            break
        taken = [(t, r) for t, r, p in remaining if phrase in p]
        remaining = [(t, r, p) for t, r, p in remaining if phrase not in p]
        ratings = [float(r) for _, r in taken if r is not None]
        distinct = tuple(dict.fromkeys(t for t, _ in taken))[:examples]  # different wordings first
        themes.append(Theme(phrase, count, distinct, _mean(ratings)))
    return themes
