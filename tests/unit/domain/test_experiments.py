"""Prompt experiments: validation, deterministic sticky assignment, routing in the workflow."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.adapters.local.clock import FixedClock
from pipeline.adapters.local.memory_stores import InMemoryConversationStore, InMemoryFeedbackStore
from pipeline.adapters.local.metrics import InMemoryMetrics
from pipeline.adapters.local.offline_model import OfflineModel
from pipeline.adapters.local.prompt_files import FilePromptRegistry, FilePromptStore
from pipeline.domain.experiments import (
    EXPERIMENT_FILE,
    Experiment,
    ExperimentError,
    ExperimentRouter,
    assign,
    parse_experiment,
)
from pipeline.domain.feedback import FeedbackIntake
from pipeline.domain.generation import ResponseGenerator
from pipeline.domain.models import GuardrailAction, GuardrailVerdict
from pipeline.domain.workflow import (
    FeedbackCollection,
    GenerationStep,
    QueryCapture,
    WorkflowInput,
)

PROMPTS = Path(__file__).resolve().parents[3] / "pipeline" / "prompts"
BASE = {
    "experiment_id": "compute-runbook",
    "template_id": "compute_troubleshooting",
    "control": "v1",
    "weights": {"v1": 50, "v2": 50},
}


def allow(text: str) -> GuardrailVerdict:
    return GuardrailVerdict(GuardrailAction.ALLOW, (), text)


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"weights": {}}, "weights are missing"),
        ({"weights": {"v1": 0, "v2": 0}}, "every weight is 0"),
        ({"weights": {"v1": -1, "v2": 1}}, "weight of v1"),
        ({"weights": {"latest": 1}}, "is not a version"),
        ({"control": "v3"}, "control 'v3' is not one of"),
        ({"experiment_id": "X"}, "experiment_id"),
        ({"primary_metric": "clicks"}, "primary_metric"),
        ({"min_samples_per_variant": 3}, "min_samples_per_variant"),
        ({"colour": "blue"}, "unknown field 'colour'"),
    ],
)
def test_invalid_experiments_are_refused_with_what_where_and_fix(change, mentions) -> None:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment({**BASE, **change}, origin="prompts/compute_troubleshooting/experiment.toml")
    message = str(caught.value)
    assert mentions in message and message.startswith("prompts/compute_troubleshooting/experiment.toml: ")
    assert "Fix: " in message


def test_toml_round_trip_keeps_every_field() -> None:
    import tomllib

    experiment = parse_experiment({**BASE, "hypothesis": 'steps "help"', "weights": {"v1": 90, "v2": 10.5}},
                                  origin="x")
    assert parse_experiment(tomllib.loads(experiment.to_toml()), origin="x") == experiment


def test_assignment_is_deterministic_sticky_and_follows_the_weights() -> None:
    experiment = parse_experiment({**BASE, "weights": {"v1": 80, "v2": 20}}, origin="x")
    sessions = [f"session-{i:05d}" for i in range(4000)]
    first = [assign(experiment, s).variant for s in sessions]
    again = [assign(experiment, s).variant for s in sessions]
    assert first == again  # the same session always gets the same variant
    share = Counter(first)["v2"] / len(first)
    assert 0.18 < share < 0.22  # binomial sd at n=4000 is 0.0063: this is a 3-sigma band
    other = parse_experiment({**BASE, "experiment_id": "another-one", "weights": {"v1": 80, "v2": 20}}, origin="x")
    both = Counter((a, assign(other, s).variant) for a, s in zip(first, sessions, strict=True))
    # Independent experiments: being in v2 of one says nothing about the other.
    assert abs(both[("v2", "v2")] / len(sessions) - 0.2 * 0.2) < 0.015


def test_ramping_up_moves_only_sessions_towards_the_new_variant() -> None:
    ten = parse_experiment({**BASE, "weights": {"v1": 90, "v2": 10}}, origin="x")
    fifty = ten.with_weights({"v1": 50, "v2": 50})
    sessions = [f"s-{i:05d}" for i in range(2000)]
    # A session already in v2 stays there when its share grows (stickiness across ramps).
    assert all(assign(fifty, s).variant == "v2" for s in sessions if assign(ten, s).variant == "v2")


def test_promote_and_rollback_move_all_traffic_and_the_control() -> None:
    experiment = parse_experiment(BASE, origin="x")
    promoted = experiment.promoted("v2")
    assert promoted.control == "v2" and promoted.share("v2") == 1.0 and promoted.serving == ("v2",)
    assert experiment.rolled_back().share("v1") == 1.0
    with pytest.raises(ExperimentError, match="not one of its variants"):
        experiment.promoted("v7")


class FlakySource:
    def __init__(self, experiments: list[Experiment]) -> None:
        self.experiments, self.reads, self.fail = experiments, 0, False

    def list_experiments(self) -> list[Experiment]:
        self.reads += 1
        if self.fail:
            raise ConnectionError("registry unavailable")
        return list(self.experiments)


def test_router_rereads_after_the_refresh_and_keeps_the_last_read_on_failure() -> None:
    now = [0.0]
    source = FlakySource([parse_experiment(BASE, origin="x")])
    router = ExperimentRouter(source, refresh_seconds=60, monotonic=lambda: now[0])
    assert set(router.assignments("session-0001")) == {"compute_troubleshooting"}
    router.assignments("session-0002")
    assert source.reads == 1
    now[0] = 61.0
    source.experiments = []
    assert router.assignments("session-0001") == {} and source.reads == 2
    source.fail, now[0] = True, 200.0
    assert router.assignments("session-0001") == {}  # stale but serving
    with pytest.raises(ConnectionError):
        ExperimentRouter(source).assignments("session-0001")  # never read: the failure shows


def copy_prompts(tmp_path: Path) -> Path:
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS, root)
    return root


def run_turn(root: Path, session_id: str, *, experiments: bool = True, interaction: str = "req-1"):
    clock = FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), step=timedelta(milliseconds=5))
    conversations, feedback = InMemoryConversationStore(), InMemoryFeedbackStore()
    store = FilePromptStore(root)
    router = ExperimentRouter(store) if experiments else None
    capture = QueryCapture(conversations, clock, input_guard=allow).capture(
        WorkflowInput.from_dict({"query": "my ec2 instance refuses ssh, it times out",
                                 "session_id": session_id, "interaction_id": interaction})
    )
    step = GenerationStep(ResponseGenerator(OfflineModel(), store), conversations, experiments=router)
    state = {"capture": capture.to_dict(),
             "intent": {"intent": "ec2_troubleshooting", "confidence": 0.95, "route": "answer"}}
    state["generation"] = step.generate(state)
    state["quality"] = {"score": 0.9, "passed": True, "retry": False, "attempt": 1}
    response = FeedbackCollection(conversations, feedback, InMemoryMetrics(), clock).collect(state)
    return state, response, conversations, feedback, clock


def test_without_an_experiment_the_latest_version_serves_as_before(tmp_path: Path) -> None:
    root = copy_prompts(tmp_path)
    with_router, response, conversations, feedback, _ = run_turn(root, "session-0001")
    without, plain, *_ = run_turn(root, "session-0001", experiments=False)
    assert response["template"] == {"id": "compute_troubleshooting", "version": "v2"}
    def timeless(generation: dict) -> dict:
        return {k: v for k, v in generation.items() if k != "latency_ms"}

    assert timeless(with_router["generation"]) == timeless(without["generation"]) and response == plain
    turn = conversations.recent_turns("session-0001", 1)[0]
    assert turn.experiment_id is None and turn.variant is None
    assert feedback.all()[0].signals.experiment_id is None


def test_an_experiment_routes_each_session_and_is_recorded_on_turn_and_feedback(tmp_path: Path) -> None:
    root = copy_prompts(tmp_path)
    (root / "compute_troubleshooting" / EXPERIMENT_FILE).write_text(
        parse_experiment(BASE, origin="x").to_toml(), encoding="utf-8"
    )
    served: dict[str, str] = {}
    for i in range(40):
        session = f"session-{i:04d}"
        state, response, conversations, feedback, clock = run_turn(root, session)
        expected = assign(parse_experiment(BASE, origin="x"), session).variant
        assert response["template"]["version"] == expected
        assert state["generation"]["experiment"] == {"id": "compute-runbook", "variant": expected}
        turn = conversations.recent_turns(session, 1)[0]
        assert (turn.experiment_id, turn.variant) == ("compute-runbook", expected)
        [implicit] = feedback.all()
        assert (implicit.signals.experiment_id, implicit.signals.variant) == ("compute-runbook", expected)
        assert implicit.signals.response_type == "answer"
        explicit, _ = FeedbackIntake(feedback, conversations, clock, input_guard=allow).submit_once(
            {"session_id": session, "interaction_id": "req-1", "rating": 4}
        )
        assert (explicit.signals.experiment_id, explicit.signals.variant) == ("compute-runbook", expected)
        served[session] = expected
    assert set(served.values()) == {"v1", "v2"}
    # Sticky: the second turn of a session gets the same variant.
    _, again, *_ = run_turn(root, "session-0003", interaction="req-2")
    assert again["template"]["version"] == served["session-0003"]


def test_a_version_published_after_the_generator_listed_templates_is_found(tmp_path: Path) -> None:
    root = copy_prompts(tmp_path)
    registry = FilePromptRegistry(root)
    generator = ResponseGenerator(OfflineModel(), registry)
    assert generator.select("ec2_troubleshooting").version == "v2"
    body = (root / "compute_troubleshooting" / "v2.json").read_text(encoding="utf-8").replace(
        '"version": "v2"', '"version": "v3"'
    )
    registry.publish(body.encode())
    assert generator.select("ec2_troubleshooting", versions={"compute_troubleshooting": "v3"}).version == "v3"


def test_file_store_refuses_an_experiment_weighting_a_missing_version(tmp_path: Path) -> None:
    root = copy_prompts(tmp_path)
    (root / "compute_troubleshooting" / EXPERIMENT_FILE).write_text(
        parse_experiment({**BASE, "weights": {"v1": 50, "v9": 50}}, origin="x").to_toml(), encoding="utf-8"
    )
    with pytest.raises(ExperimentError, match=r"experiment.toml: compute_troubleshooting has no version v9.*Fix"):
        FilePromptStore(root).list_experiments()


def test_the_repository_experiments_are_valid() -> None:
    store = FilePromptStore(PROMPTS)
    for experiment in store.list_experiments():  # validated against the versions on read
        assert experiment.template_id in {t.template_id for t in store.list_templates()}
