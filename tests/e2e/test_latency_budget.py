"""The latency budget on the local workflow, with a slow model stub and a virtual clock.

The stub "takes" its latency by advancing a virtual clock that the handlers read (no
sleeping, no timing thresholds): the budget arithmetic is exact, whatever the machine's
load. The request is received at the clock's start; the deadline is 25 s later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.adapters.local.metrics import InMemoryMetrics
from pipeline.domain.budget import (
    DECISION_FALLBACK,
    DECISION_REGENERATION_SKIPPED,
    DEFAULT_BUDGET_MS,
    METRIC_BUDGET_DECISIONS,
    model_call_timeout,
)
from pipeline.domain.models import ModelResponse
from pipeline.ports import TransientModelError

QUERY = "My EC2 instance refuses SSH connections since this morning, what should I check?"
#: Too short and vague to pass the quality validator: every answer asks for a regeneration.
POOR_ANSWER = "Maybe check some settings."


class VirtualClock:
    """A clock that only moves when the model stub spends time."""

    def __init__(self) -> None:
        self.start = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
        self.elapsed = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)


class SlowModel:
    """Takes ``seconds`` per call, or times out at the read timeout the budget allows."""

    model_id = "slow-stub"

    def __init__(self, clock: VirtualClock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds
        self.timeouts: list[float | None] = []

    def generate(self, request: Any) -> ModelResponse:
        timeout = model_call_timeout.get()
        self.timeouts.append(timeout)
        if timeout is not None and self.seconds > timeout:
            self.clock.elapsed += timeout
            raise TransientModelError("Read timeout on endpoint URL (stub)")
        self.clock.elapsed += self.seconds
        return ModelResponse(text=POOR_ANSWER, model_id=self.model_id,
                             latency_ms=self.seconds * 1000.0)


def _run(make_workflow, seconds: float) -> tuple[Any, SlowModel, VirtualClock, InMemoryMetrics]:
    clock, metrics = VirtualClock(), InMemoryMetrics()
    model = SlowModel(clock, seconds)
    workflow = make_workflow(model=model, services={"clock": clock, "metrics": metrics})
    request = {**workflow.workflow_input(QUERY), "received_at_ms": clock.start_ms}
    run = workflow.execute(request)
    (turn,) = workflow.scan("ConversationsTable")
    return run, turn, model, clock, metrics


def test_regeneration_runs_only_while_the_budget_holds_one(make_workflow):
    """9 s a generation, p95 prior 12 s: the first answer fails validation at 9 s and one
    regeneration fits (13.5 s left after the reserve); at 18 s the next would not, so the
    answer is returned as it is. Without the budget a third generation would end at 27 s."""
    run, turn, model, clock, metrics = _run(make_workflow, seconds=9)
    assert run.status == "SUCCEEDED"
    assert run.path.count("GenerateResponse") == 2 and len(model.timeouts) == 2
    assert clock.elapsed * 1000 <= DEFAULT_BUDGET_MS
    assert run.output["response_type"] == "answer" and run.output["response"] == POOR_ANSWER
    assert turn["budget_decision"] == DECISION_REGENERATION_SKIPPED
    assert metrics.total(METRIC_BUDGET_DECISIONS, decision=DECISION_REGENERATION_SKIPPED) == 1
    # each call was bounded by the time left, minus the reserve for validation and collection
    assert model.timeouts[0] > model.timeouts[1] and model.timeouts[1] * 1000 <= DEFAULT_BUDGET_MS - 9000


def test_a_model_slower_than_the_budget_falls_back_in_time(make_workflow):
    """30 s a generation: the call times out at the budget's read timeout, no retry fits,
    and the static fallback is returned before the deadline (never a 504)."""
    run, turn, model, clock, metrics = _run(make_workflow, seconds=30)
    assert run.status == "SUCCEEDED"
    assert len(model.timeouts) == 1 and clock.elapsed * 1000 <= DEFAULT_BUDGET_MS
    assert run.output["response_type"] == "fallback" and run.output["response"]
    assert turn["budget_decision"] == DECISION_FALLBACK
    assert metrics.total(METRIC_BUDGET_DECISIONS, decision=DECISION_FALLBACK) == 1


def test_a_fast_model_is_not_limited(make_workflow):
    run, turn, model, clock, metrics = _run(make_workflow, seconds=1)
    assert run.path.count("GenerateResponse") == 3  # 1 + max_regenerations, all within budget
    assert "budget_decision" not in turn or turn["budget_decision"] is None
    assert metrics.total(METRIC_BUDGET_DECISIONS) == 0
