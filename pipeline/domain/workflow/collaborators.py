"""Collaborator protocols: what the steps need from the other domain services.

The domain services implement them (the guardrail scans, the intent detector, the response
generator, the quality validator, ``experiments.ExperimentRouter``); fakes do in tests. They
are not in ``pipeline/ports.py``, which holds the ports to infrastructure (model, stores,
metrics, clock): declaring the services' shapes here keeps the steps free of imports of the
services themselves, so the steps stay importable and testable with fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from pipeline.domain.models import Generation, GuardrailVerdict, IntentResult, QualityReport, Turn

Guard = Callable[[str], GuardrailVerdict]


class IntentDetecting(Protocol):
    def detect(self, text: str, history: Sequence[Turn] = ()) -> IntentResult: ...


class ResponseGenerating(Protocol):
    def generate(
        self,
        query: str,
        intent: IntentResult | None,
        *,
        history: Sequence[Turn] = (),
        attempt: int = 1,
        mode: str = "answer",
        versions: Mapping[str, str] | None = None,
    ) -> tuple[Generation, GuardrailVerdict | None]: ...


class VariantAssignment(Protocol):
    """One session's variant of one experiment (``experiments.Assignment``)."""

    @property
    def experiment_id(self) -> str: ...

    @property
    def template_id(self) -> str: ...

    @property
    def variant(self) -> str: ...


class ExperimentAssigning(Protocol):
    """``experiments.ExperimentRouter``: a session's variants, by template id."""

    def assignments(self, session_id: str) -> Mapping[str, VariantAssignment]: ...


class QualityValidating(Protocol):
    def validate(
        self, query: str, response: str, *, intent: str | None = None, sentiment: str | None = None
    ) -> QualityReport: ...
