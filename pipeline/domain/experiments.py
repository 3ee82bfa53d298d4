"""Online prompt experiments: which version of a template a session is served.

An experiment belongs to one template: its variants are versions of that template with
traffic weights, and one of them is the ``control`` (what the template served before the
experiment, and what a rollback returns to). The experiment is stored next to the versions
(``pipeline/prompts/{template_id}/experiment.toml``; deployed by the stack into the Prompts
table beside the version items) and edited with ``python -m pipeline prompts``.

Assignment is :func:`~pipeline.domain.generation.assign_variant`: a sha256 of the
experiment id and the session id picks the bucket, so a session keeps its variant on every
turn and in every Lambda container, and two experiments are independent. Without an
experiment, nothing changes: the latest version of the template serves every session.

Example:
    >>> experiment = parse_experiment(
    ...     {"experiment_id": "compute-runbook", "template_id": "compute_troubleshooting",
    ...      "control": "v1", "weights": {"v1": 50, "v2": 50}}, origin="example")
    >>> assign(experiment, "session-0001").variant in ("v1", "v2")
    True
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pipeline.domain.generation import assign_variant, natural_version_key
from pipeline.domain.models import PromptTemplate
from pipeline.ports import ExperimentSource

__all__ = [
    "EXPERIMENT_FILE",
    "PRIMARY_METRICS",
    "Assignment",
    "Experiment",
    "ExperimentError",
    "ExperimentRouter",
    "ExperimentSource",
    "assign",
    "check_versions_exist",
    "parse_experiment",
]

#: File name of a template's experiment, next to its ``{version}.json`` files. Not ``.json``
#: on purpose: every reader of ``*/*.json`` (stores, the stack, the harness) sees templates only.
EXPERIMENT_FILE = "experiment.toml"
#: What decides an experiment: the share of satisfied judgements, or the mean 1-5 rating.
PRIMARY_METRICS = ("csat", "mean_rating")
DEFAULT_MIN_SAMPLES = 200
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")
_TEMPLATE_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSION_RE = re.compile(r"^v\d+(?:\.\d+)*$")
_FIELDS = frozenset(
    {
        "experiment_id",
        "template_id",
        "hypothesis",
        "control",
        "weights",
        "primary_metric",
        "min_samples_per_variant",
        "started_at",
        "revision",
    }
)


class ExperimentError(ValueError):
    """An experiment definition is invalid: the message says what, where, and how to fix it."""


@dataclass(frozen=True, slots=True)
class Experiment:
    """One template's traffic split between its versions."""

    experiment_id: str
    template_id: str
    control: str
    #: ``(version, weight)`` in a stable order (natural version order).
    weights: tuple[tuple[str, float], ...]
    hypothesis: str = ""
    primary_metric: str = "csat"
    min_samples_per_variant: int = DEFAULT_MIN_SAMPLES
    started_at: str = ""
    #: Optimistic-lock counter: every stored change increments it (conditional writes).
    revision: int = 0

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(v for v, _ in self.weights)

    @property
    def serving(self) -> tuple[str, ...]:
        """The versions that receive traffic (weight > 0)."""
        return tuple(v for v, w in self.weights if w > 0)

    def share(self, version: str) -> float:
        """The fraction of sessions ``version`` receives."""
        total = sum(w for _, w in self.weights)
        return dict(self.weights).get(version, 0.0) / total if total else 0.0

    def with_weights(self, weights: Mapping[str, float]) -> Experiment:
        """A copy with new weights (validated); versions not named keep weight 0 if known."""
        merged = {v: 0.0 for v in self.variants}
        merged.update({k: float(w) for k, w in weights.items()})
        data = {**self.to_dict(), "weights": merged}
        return parse_experiment(data, origin=f"experiment {self.experiment_id}")

    def promoted(self, version: str) -> Experiment:
        """All traffic to ``version``, which becomes the control (the experiment is decided)."""
        if version not in self.variants:
            raise ExperimentError(
                f"experiment {self.experiment_id}: {version!r} is not one of its variants "
                f"({', '.join(self.variants)}). Fix: publish it and give it a weight first."
            )
        return replace(self.with_weights({v: 100.0 if v == version else 0.0 for v in self.variants}),
                       control=version)

    def rolled_back(self) -> Experiment:
        """All traffic back to the control."""
        return self.promoted(self.control)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "template_id": self.template_id,
            "hypothesis": self.hypothesis,
            "control": self.control,
            "weights": {v: w for v, w in self.weights},
            "primary_metric": self.primary_metric,
            "min_samples_per_variant": self.min_samples_per_variant,
            "started_at": self.started_at,
            "revision": self.revision,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_toml(self) -> str:
        """The ``experiment.toml`` text (what :func:`parse_experiment` reads back)."""

        def string(value: str) -> str:
            return json.dumps(value)  # a JSON string is a valid TOML basic string

        def number(value: float) -> str:
            return str(int(value)) if float(value).is_integer() else repr(float(value))

        lines = [
            "# Online experiment of this template: see docs/experiments.md.",
            f"experiment_id = {string(self.experiment_id)}",
            f"template_id = {string(self.template_id)}",
            f"hypothesis = {string(self.hypothesis)}",
            f"control = {string(self.control)}",
            f"primary_metric = {string(self.primary_metric)}",
            f"min_samples_per_variant = {self.min_samples_per_variant}",
            f"started_at = {string(self.started_at)}",
            f"revision = {self.revision}",
            "",
            "[weights]",
            *(f"{string(v)} = {number(w)}" for v, w in self.weights),
        ]
        return "\n".join(lines) + "\n"


def _fail(origin: str, problem: str, fix: str) -> ExperimentError:
    return ExperimentError(f"{origin}: {problem}. Fix: {fix}.")


def parse_experiment(data: Any, *, origin: str) -> Experiment:
    """Validate an experiment's data (from ``experiment.toml``, the table, or the CLI).

    Raises:
        ExperimentError: naming the file or item, the problem and the fix.
    """
    if not isinstance(data, dict):
        raise _fail(origin, "an experiment must be a table/object", "write key = value pairs")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise _fail(origin, f"unknown field {unknown[0]!r}", f"use only {', '.join(sorted(_FIELDS))}")
    experiment_id = data.get("experiment_id")
    if not isinstance(experiment_id, str) or not _ID_RE.match(experiment_id):
        raise _fail(origin, f"experiment_id {experiment_id!r} is missing or invalid",
                    "use 3-64 characters of a-z, 0-9, '_', '.', '-' (e.g. compute-runbook-2026-12)")
    template_id = data.get("template_id")
    if not isinstance(template_id, str) or not _TEMPLATE_ID_RE.match(template_id):
        raise _fail(origin, f"template_id {template_id!r} is missing or invalid",
                    "name the template folder, e.g. compute_troubleshooting")
    weights = data.get("weights")
    if not isinstance(weights, dict) or not weights:
        raise _fail(origin, "weights are missing", "add a [weights] table such as v1 = 50, v2 = 50")
    parsed: dict[str, float] = {}
    for version, weight in weights.items():
        if not isinstance(version, str) or not _VERSION_RE.match(version):
            raise _fail(origin, f"weights key {version!r} is not a version", "use template versions such as v1, v2")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1_000_000:
            raise _fail(origin, f"weight of {version} is {weight!r}", "use a non-negative number (a percentage reads best)")
        parsed[version] = float(weight)
    if sum(parsed.values()) <= 0:
        raise _fail(origin, "every weight is 0, so no version would serve", "give at least one version a positive weight")
    control = data.get("control")
    if not isinstance(control, str) or control not in parsed:
        raise _fail(origin, f"control {control!r} is not one of the weighted versions ({', '.join(parsed)})",
                    "set control to the version served before the experiment")
    metric = data.get("primary_metric", "csat")
    if metric not in PRIMARY_METRICS:
        raise _fail(origin, f"primary_metric {metric!r} is unknown", f"use one of {', '.join(PRIMARY_METRICS)}")
    min_samples = data.get("min_samples_per_variant", DEFAULT_MIN_SAMPLES)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or not 10 <= min_samples <= 10_000_000:
        raise _fail(origin, f"min_samples_per_variant {min_samples!r} is out of range",
                    "use an integer from 10 up (judged interactions per variant before any verdict)")
    revision = data.get("revision", 0)
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise _fail(origin, f"revision {revision!r} is invalid", "leave it out or use a non-negative integer")
    for name in ("hypothesis", "started_at"):
        if not isinstance(data.get(name, ""), str):
            raise _fail(origin, f"{name} must be a string", f"quote the {name}")
    return Experiment(
        experiment_id=experiment_id,
        template_id=template_id,
        control=control,
        weights=tuple(sorted(parsed.items(), key=lambda item: natural_version_key(item[0]))),
        hypothesis=data.get("hypothesis", ""),
        primary_metric=metric,
        min_samples_per_variant=min_samples,
        started_at=data.get("started_at", ""),
        revision=revision,
    )


def check_versions_exist(experiment: Experiment, templates: Iterable[PromptTemplate], *, origin: str) -> None:
    """Every variant must be a published version of the experiment's template.

    Raises:
        ExperimentError: naming the missing version and how to publish it.
    """
    have = {t.version for t in templates if t.template_id == experiment.template_id}
    if not have:
        raise _fail(origin, f"template {experiment.template_id!r} does not exist",
                    "publish the template first (python -m pipeline prompts publish FILE)")
    missing = [v for v in experiment.variants if v not in have]
    if missing:
        raise _fail(origin, f"{experiment.template_id} has no version {', '.join(missing)} "
                    f"(have {', '.join(sorted(have, key=natural_version_key))})",
                    "publish that version first, or remove it from the weights")


@dataclass(frozen=True, slots=True)
class Assignment:
    """Which variant of which experiment one session is served (recorded on every turn)."""

    experiment_id: str
    template_id: str
    variant: str


def assign(experiment: Experiment, session_id: str) -> Assignment:
    """The deterministic, sticky variant of ``session_id`` in ``experiment``."""
    versions = [v for v, _ in experiment.weights]
    weights = [w for _, w in experiment.weights]
    return Assignment(
        experiment.experiment_id,
        experiment.template_id,
        assign_variant(session_id, experiment.experiment_id, versions, weights),
    )


class ExperimentRouter:
    """Assigns a session to the running experiments; re-reads them every ``refresh_seconds``.

    A Lambda container keeps its experiments for at most ``refresh_seconds``, so a promote
    or rollback reaches every container within that time. A failed refresh keeps serving
    the experiments last read (a reply never fails because the registry blinked); the first
    read's failure propagates like a template-store failure does.

    Args:
        source: any :class:`ExperimentSource`.
        refresh_seconds: how long a read is reused.
        monotonic: the clock for the refresh (injected by tests).
    """

    def __init__(
        self,
        source: ExperimentSource,
        *,
        refresh_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._experiments: dict[str, Experiment] | None = None
        self._read_at = 0.0

    def experiments(self) -> dict[str, Experiment]:
        """The experiments by template id."""
        now = self._monotonic()
        if self._experiments is None or now - self._read_at >= self._refresh:
            try:
                found = self._source.list_experiments()
            except Exception:
                if self._experiments is None:
                    raise
                found = list(self._experiments.values())
            self._experiments = {e.template_id: e for e in found}
            self._read_at = now
        return self._experiments

    def assignments(self, session_id: str) -> dict[str, Assignment]:
        """``{template_id: Assignment}`` for every experiment (empty when there is none)."""
        return {tid: assign(e, session_id) for tid, e in self.experiments().items()}


def pins(assignments: Mapping[str, Assignment]) -> dict[str, str]:
    """The ``{template_id: version}`` pins :meth:`ResponseGenerator.generate` takes."""
    return {tid: a.variant for tid, a in assignments.items()}


def by_id(experiments: Sequence[Experiment]) -> dict[str, Experiment]:
    return {e.experiment_id: e for e in experiments}
