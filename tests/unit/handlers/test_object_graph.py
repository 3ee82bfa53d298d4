"""One object graph: every consumer gets its detectors and validator from the composition root.

The eval suites, the tests, the benchmarks, the batch CLI and the Lambda handlers must
measure and run the same components with the same settings (issue 7 §3). Where a consumer
holds a component, the test finds that very object; the run record must log the real
constructor arguments, read from the root, not hand-typed strings.
"""

from __future__ import annotations

from typing import Any

import pytest

from evals.runner import RunConfig
from evals.suites import get_suite
from pipeline.adapters.local.code_checks import check_shell, check_yaml
from pipeline.domain.quality import QualityValidator
from pipeline.handlers import composition
from pipeline.handlers.composition import Services, Settings, offline_services


def _held(function: Any, kind: type) -> list[Any]:
    """The objects of type ``kind`` a closure holds (the components a solver was built with)."""
    cells = getattr(function, "__closure__", None) or ()
    return [cell.cell_contents for cell in cells if isinstance(cell.cell_contents, kind)]


def test_the_lambdas_cli_and_eval_share_one_graph_on_default_settings():
    # A Lambda with no overriding environment builds Settings() and gets the cached graph.
    assert composition.services(Settings.from_env({})) is offline_services()


def test_validator_has_the_shell_and_yaml_checks_the_lambdas_use():
    validator = offline_services().validator
    assert validator.shell_checker is check_shell
    assert validator.yaml_checker is check_yaml
    assert validator.output_guard is offline_services().output_guard


def test_quality_suite_scores_the_root_validator():
    solve = get_suite("quality").solver.build(RunConfig())
    assert _held(solve, QualityValidator) == [offline_services().validator]


@pytest.mark.parametrize("suite", ["intent", "out_of_scope"])
def test_intent_suites_score_the_root_detector(suite):
    from pipeline.domain.intent import IntentDetector

    solve = get_suite(suite).solver.build(RunConfig())
    assert _held(solve, IntentDetector) == [offline_services().detector]


@pytest.mark.parametrize(("suite", "guard"), [("guardrails_input", "input_guard"), ("guardrails_output", "output_guard"),
                                              ("prompt_attacks", "input_guard")])
def test_guardrail_suites_scan_with_the_root_guard(suite, guard):
    solve = get_suite(suite).solver.build(RunConfig())
    cells = [c.cell_contents for c in solve.__closure__ or ()]
    assert getattr(offline_services(), guard) in cells


def test_batch_cli_uses_the_root_components():
    from pipeline.cli import make_review, make_triage

    review_cells = [c.cell_contents for c in make_review().__closure__ or ()]
    assert offline_services().validator in review_cells
    assert offline_services().output_guard in review_cells
    triage_cells = [c.cell_contents for c in make_triage().__closure__ or ()]
    assert offline_services().detector in triage_cells and offline_services().input_guard in triage_cells


def test_benchmarks_measure_the_root_components():
    from evals.benchmarks import guardrails

    assert guardrails.scan_input is offline_services().input_guard
    # The intent benchmark builds a fresh graph (to time loading) from the same Settings.
    fresh = Services(Settings())
    assert fresh.describe_components("detector") == offline_services().describe_components("detector")


def test_run_record_logs_the_real_constructor_arguments():
    from evals.record import suite_components

    recorded = suite_components(get_suite("quality"))
    assert recorded == offline_services().describe_components("validator")
    args = recorded["validator"]["args"]
    assert args["shell_checker"].endswith("code_checks.check_shell)")
    assert args["yaml_checker"].endswith("code_checks.check_yaml)")
    assert args["threshold"] == offline_services().validator.threshold
    assert suite_components(get_suite("intent"))["detector"]["args"]["nlp"].endswith("OfflineNlp")


def test_one_history_setting_reaches_every_step_and_the_generator():
    services = Services(Settings(history_turns=3))
    assert services.intent._history_turns == 3
    assert services.generation._history_turns == 3
    assert services.describe_components("generator")["generator"]["args"]["history_turns"] == 3


def test_one_definition_of_the_generation_modes():
    from pipeline.domain import generation, models, workflow

    assert generation.MODES is models.GENERATION_MODES
    assert workflow.MODES is models.GENERATION_MODES


def test_deployed_lambdas_configure_the_validator_like_the_eval():
    from stack.config import StackConfig

    config = StackConfig()
    deployed = Settings.from_env({
        "QUALITY_THRESHOLD": str(config.quality_threshold),
        "MAX_REGENERATIONS": str(config.max_regenerations),
        "HISTORY_TURNS": str(config.history_turns),
    })
    assert Services(deployed).describe_components("validator") == offline_services().describe_components("validator")


def test_the_output_guard_remembers_answers_generated_in_between():
    # The local engine interleaves executions: another answer is scanned between an answer's
    # generation and its validation, and the validation must not scan it again.
    from pipeline.handlers.composition import OUTPUT_VERDICTS_CACHED, Services, Settings

    guard = Services(Settings()).output_guard
    answers = [f"Answer {i}: open the S3 console and choose the bucket." for i in range(OUTPUT_VERDICTS_CACHED)]
    first = [guard(text) for text in answers]
    hits = guard.cache_info().hits
    assert [guard(text) for text in answers] == first
    assert guard.cache_info().hits == hits + len(answers)
