"""GenerateResponse's (and Clarify's, Escalate's) logic: one generation attempt within the deadline.

One module per step: each is the whole logic of one Lambda (``pipeline/handlers``).
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.budget import DECISION_FALLBACK, LatencyBudget, epoch_ms, model_call_timeout
from pipeline.domain.models import HISTORY_TURNS, IntentResult, Turn
from pipeline.domain.workflow.collaborators import ExperimentAssigning, ResponseGenerating
from pipeline.domain.workflow.errors import WorkflowInputError
from pipeline.domain.workflow.history import earlier_turns
from pipeline.domain.workflow.state import (
    MODES,
    Capture,
    intent_from_state,
    nonnegative_int,
    require_dict,
)
from pipeline.ports import Clock, ConversationStore, ModelError


class GenerationStep:
    """GenerateResponse / Clarify / Escalate: one generation attempt for a mode.

    The attempt number comes from ``$.quality.attempt`` of the previous validation, so the
    generator can pick the next regeneration strategy. With ``experiments``, the session's
    variants pin the template versions, and when the template used is in an experiment the
    state records it (``$.generation.experiment``: ``{"id", "variant"}``); without
    experiments the latest version of each template serves, as before.
    """

    def __init__(
        self,
        generator: ResponseGenerating,
        conversations: ConversationStore,
        *,
        history_turns: int = HISTORY_TURNS,
        clock: Clock | None = None,
        budget: LatencyBudget | None = None,
        experiments: ExperimentAssigning | None = None,
    ) -> None:
        self._generator = generator
        self._conversations = conversations
        self._history_turns = history_turns
        self._clock = clock
        self._budget = budget
        self._experiments = experiments

    def generate(self, state: dict[str, Any], mode: str = "answer") -> dict[str, Any]:
        """One generation within the request's deadline.

        No time for a generation: the static fallback reply (no model call), recorded as
        ``budget_decision: "fallback"``. A transient model failure (throttling, a read
        timeout at the deadline) with no time left for the retry Step Functions would make:
        the same. Otherwise the model call may take the time left minus the reserve.
        """
        if mode not in MODES:
            raise WorkflowInputError(f"mode must be one of {MODES}, got {mode!r}")
        capture = Capture.from_dict(require_dict(state, "capture"))
        intent, _ = intent_from_state(state)
        previous = state.get("quality")
        attempt = 1
        if mode == "answer" and isinstance(previous, dict):
            attempt = nonnegative_int(previous.get("attempt"), 0) + 1
        history = earlier_turns(self._conversations, capture, self._history_turns)
        budget, deadline = self._budget, capture.deadline_ms
        if budget is None or self._clock is None or deadline is None:
            return self._generate(capture, intent, history, attempt, mode)
        if not budget.can_generate(deadline, epoch_ms(self._clock.now())):
            return self._fallback(capture, intent, history, attempt)
        window = budget.generation_window_ms(deadline, epoch_ms(self._clock.now()))
        token = model_call_timeout.set(window / 1000.0 if window is not None else None)
        try:
            return self._generate(capture, intent, history, attempt, mode)
        except ModelError as error:
            if error.transient and not budget.can_generate(deadline, epoch_ms(self._clock.now())):
                return self._fallback(capture, intent, history, attempt)
            raise
        finally:
            model_call_timeout.reset(token)

    def _generate(self, capture: Capture, intent: IntentResult, history: list[Turn],
                  attempt: int, mode: str) -> dict[str, Any]:
        assignments = (
            self._experiments.assignments(capture.session_id) if self._experiments is not None else {}
        )
        if assignments:
            generation, verdict = self._generator.generate(
                capture.redacted_query, intent, history=tuple(history), attempt=attempt, mode=mode,
                versions={tid: a.variant for tid, a in assignments.items()},
            )
        else:  # no experiment: the call (and the reply) is exactly what it was before
            generation, verdict = self._generator.generate(
                capture.redacted_query, intent, history=tuple(history), attempt=attempt, mode=mode
            )
        output_guardrail = (
            verdict.summary() if verdict is not None else {"action": "allow", "categories": []}
        )
        state = {**generation.to_dict(), "output_guardrail": output_guardrail}
        assigned = assignments.get(generation.template_id)
        if assigned is not None and assigned.variant == generation.template_version:
            state["experiment"] = {"id": assigned.experiment_id, "variant": assigned.variant}
        return state

    def _fallback(self, capture: Capture, intent: IntentResult, history: list[Turn],
                  attempt: int) -> dict[str, Any]:
        reply = self._generate(capture, intent, history, attempt, "fallback")
        return {**reply, "budget_decision": DECISION_FALLBACK}
