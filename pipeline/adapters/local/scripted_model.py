"""Scripted ModelClients for tests: fixed replies, injected failures, recorded requests.

Example:
    >>> model = ScriptedModel(["first answer", ModelError("throttled", transient=True)])
    >>> model.generate(request).text          # doctest: +SKIP
    'first answer'
    >>> model.generate(request)               # doctest: +SKIP
    Traceback (most recent call last):
    pipeline.ports.ModelError: throttled
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pipeline.domain.models import ModelRequest, ModelResponse
from pipeline.ports import ModelClient, ModelError, TransientModelError, model_error

SCRIPTED_MODEL_ID = "scripted-test-model"

#: One step of a script: a reply text, an exception to raise, or a function of the request.
ScriptStep = str | BaseException | Callable[[ModelRequest], str]


class ScriptedModel:
    """Plays a script of replies and failures, one step per call, and records the requests.

    Args:
        script: The steps, in order.
        repeat_last: When the script runs out, repeat its last step (default) instead of
            raising ``ModelError("script exhausted")``.
    """

    model_id = SCRIPTED_MODEL_ID

    def __init__(self, script: Iterable[ScriptStep], *, repeat_last: bool = True) -> None:
        self._script = list(script)
        if not self._script:
            raise ValueError("ScriptedModel needs at least one step")
        self._repeat_last = repeat_last
        self.requests: list[ModelRequest] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    def generate(self, request: ModelRequest) -> ModelResponse:
        """Return (or raise) the next scripted step."""
        index = len(self.requests)
        self.requests.append(request)
        if index >= len(self._script):
            if not self._repeat_last:
                raise ModelError(
                    f"script exhausted after {len(self._script)} steps", transient=False
                )
            index = len(self._script) - 1
        step = self._script[index]
        if isinstance(step, BaseException):
            raise step
        text = step(request) if callable(step) else step
        return ModelResponse(
            text=text,
            model_id=SCRIPTED_MODEL_ID,
            input_tokens=sum(len(m.text.split()) for m in request.messages),
            output_tokens=len(text.split()),
        )


class FailingModel:
    """Always raises :class:`ModelError`.

    Args:
        transient: Whether the error is transient (throttling) or permanent (validation).
        message: The error message.
    """

    model_id = "failing-test-model"

    def __init__(self, *, transient: bool = True, message: str = "injected model failure") -> None:
        self.transient = transient
        self.message = message
        self.calls = 0

    def generate(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        raise model_error(self.message, transient=self.transient)


@dataclass
class FlakyModel:
    """Fails the first ``failures`` calls with a transient error, then delegates to ``inner``."""

    inner: ModelClient
    failures: int = 1
    calls: int = 0

    def generate(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self.calls <= self.failures:
            raise TransientModelError(f"injected transient failure {self.calls}/{self.failures}")
        return self.inner.generate(request)
