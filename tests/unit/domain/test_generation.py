"""Tests for prompt parsing, selection, rendering, strategies, A/B buckets and the generator."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from pipeline.adapters.local.offline_model import OFFLINE_MODEL_ID, OfflineModel
from pipeline.adapters.local.prompt_files import FilePromptStore
from pipeline.adapters.local.scripted_model import FailingModel, ScriptedModel
from pipeline.domain.generation import (
    HISTORY_TURNS,
    STRATEGIES,
    PromptTemplateError,
    ResponseGenerator,
    TemplateNotFoundError,
    assign_variant,
    parse_directives,
    parse_template,
    render_request,
    select_template,
    strategy_for_attempt,
)
from pipeline.domain.models import (
    GuardrailAction,
    GuardrailVerdict,
    IntentResult,
    Turn,
)
from pipeline.ports import ModelError

VALID = {
    "template_id": "compute_troubleshooting",
    "version": "v1",
    "description": "test",
    "intents": ["ec2_troubleshooting"],
    "system_prompt": "You are helpful. Literal {braces} are fine here.",
    "user_template": "<question>\n{query}\n</question>\n<intent>{intent}</intent>",
    "parameters": {
        "model_family": "anthropic.claude",
        "temperature": 0.7,
        "max_tokens": 2048,
        "top_p": 0.9,
    },
    "format_instructions": [
        "mode:answer",
        "sections:Summary,Steps",
        "steps:bullets",
        "max_words:200",
    ],
}


def _tpl(**changes):
    data = copy.deepcopy(VALID)
    data.update(changes)
    return parse_template(data, origin="test.json")


def _turn(i, user, assistant):
    return Turn(
        session_id="s1",
        interaction_id=f"i{i}",
        turn_index=i,
        created_at="2024-01-01T00:00:00Z",
        user_text=user,
        assistant_text=assistant,
    )


@pytest.fixture(scope="module")
def store():
    return FilePromptStore()


# -- parse_template ------------------------------------------------------------------


def test_parse_valid_template_keeps_fields_and_defaults():
    data = copy.deepcopy(VALID)
    data["parameters"] = {"temperature": 0.5}
    tpl = parse_template(data, origin="x.json")
    assert tpl.template_id == "compute_troubleshooting" and tpl.version == "v1"
    assert tpl.parameters.temperature == 0.5
    assert tpl.parameters.model_family == "anthropic.claude" and tpl.parameters.model_id == ""
    assert tpl.parameters.max_tokens == 2048 and tpl.parameters.top_p == 0.9
    assert tpl.format_instructions[1] == "sections:Summary,Steps"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"user_template": "Q: {query} {secret}"}, "unknown placeholder {secret}"),
        ({"user_template": "Q: {query"}, "not a valid format string"),
        ({"user_template": "no question here"}, "never uses {query}"),
        ({"intents": ["ec2_troubleshooting", "weather"]}, "unknown intent"),
        ({"intents": []}, "non-empty"),
        ({"parameters": {"temperature": 1.5}}, "temperature"),
        ({"parameters": {"max_tokens": 0}}, "max_tokens"),
        ({"parameters": {"top_p": -0.1}}, "top_p"),
        ({"parameters": {"max_tokens": 10.5}}, "max_tokens"),
        ({"parameters": {"topk": 3}}, "unknown parameter"),
        ({"format_instructions": ["sparkles"]}, "unknown format instruction"),
        ({"format_instructions": ["steps:zigzag"]}, "invalid value"),
        ({"format_instructions": ["max_words:many"]}, "positive integer"),
        ({"format_instructions": ["sections:Summary,Poem"]}, "unknown sections"),
        ({"version": "latest"}, "version"),
        ({"template_id": "Bad-Id"}, "template_id"),
        ({"colour": "blue"}, "unknown field"),
    ],
)
def test_parse_rejects_invalid_templates_with_named_origin(change, expected):
    data = copy.deepcopy(VALID)
    data.update(change)
    with pytest.raises(PromptTemplateError) as info:
        parse_template(data, origin="pipeline/prompts/compute_troubleshooting/v1.json")
    message = str(info.value)
    assert "pipeline/prompts/compute_troubleshooting/v1.json" in message
    assert expected in message
    assert "Fix:" in message


def test_parse_names_missing_fields():
    data = copy.deepcopy(VALID)
    del data["user_template"], data["intents"]
    with pytest.raises(PromptTemplateError, match="missing required field.*intents.*user_template"):
        parse_template(data, origin="f.json")


def test_static_template_does_not_need_query():
    tpl = _tpl(user_template="Sorry, please try again.", format_instructions=["mode:static"])
    assert tpl.format_instructions == ("mode:static",)


# -- select_template -----------------------------------------------------------------


def test_select_latest_by_natural_version():
    templates = [_tpl(version="v2"), _tpl(version="v10"), _tpl(version="v9")]
    assert select_template("ec2_troubleshooting", templates).version == "v10"
    assert select_template("ec2_troubleshooting", templates, version="v2").version == "v2"


def test_select_missing_version_or_intent_raises():
    templates = [_tpl()]
    with pytest.raises(TemplateNotFoundError, match="no version 'v7'"):
        select_template("ec2_troubleshooting", templates, version="v7")
    with pytest.raises(TemplateNotFoundError):
        select_template("billing_cost", templates)
    with pytest.raises(ValueError, match="unknown mode"):
        select_template("billing_cost", templates, mode="poetry")


def test_select_modes_use_their_templates(store):
    templates = store.list_templates()
    assert (
        select_template("ec2_troubleshooting", templates, "clarification").template_id
        == "clarification"
    )
    assert (
        select_template("ec2_troubleshooting", templates, "escalation").template_id == "escalation"
    )
    assert select_template("billing_cost", templates, "fallback").template_id == "fallback"
    assert (
        select_template("ec2_troubleshooting", templates).template_id == "compute_troubleshooting"
    )
    assert select_template("out_of_scope", templates).template_id == "out_of_scope"
    # An unknown intent is answered by the general template, never by a mode template.
    assert select_template("no_such_intent", templates).template_id == "general"


# -- strategies and rendering --------------------------------------------------------


def test_strategy_for_attempt_is_bounded():
    assert [strategy_for_attempt(n) for n in (1, 2, 3, 4, 10)] == [
        "default",
        "strict",
        "conservative",
        "conservative",
        "conservative",
    ]
    assert strategy_for_attempt(0) == "default"
    assert STRATEGIES[0] == "default"


def test_render_fills_placeholders_and_format_block():
    tpl = _tpl()
    intent = IntentResult("ec2_troubleshooting", 0.91, entities=("EC2",))
    request = render_request(tpl, "  ssh times out  ", intent=intent)
    assert request.messages[-1].role == "user"
    assert "<question>\nssh times out\n</question>" in request.messages[-1].text
    assert "<intent>ec2_troubleshooting</intent>" in request.messages[-1].text
    assert request.system.startswith("You are helpful. Literal {braces} are fine here.")
    assert parse_directives(request.system) == tpl.format_instructions
    assert request.parameters == tpl.parameters


def test_render_keeps_query_braces_literal():
    request = render_request(_tpl(), 'policy {"Effect": "Deny"} {query}', intent=None)
    assert 'policy {"Effect": "Deny"} {query}' in request.messages[-1].text


def test_render_includes_last_completed_turns_as_alternating_messages():
    history = [_turn(i, f"question {i}", f"answer {i}") for i in range(6)]
    history.append(_turn(6, "current question, no reply yet", None))
    request = render_request(_tpl(), "follow-up", intent=None, history=history)
    roles = [m.role for m in request.messages]
    assert roles == ["user", "assistant"] * HISTORY_TURNS + ["user"]
    assert request.messages[0].text == f"question {6 - HISTORY_TURNS}"
    assert request.messages[-2].text == "answer 5"
    assert all("current question" not in m.text for m in request.messages)


def test_strict_strategy_adds_quality_directives():
    request = render_request(_tpl(), "q", intent=None, strategy="strict")
    directives = parse_directives(request.system)
    assert "steps:numbered" in directives and "steps:bullets" not in directives
    assert "address_all_parts" in directives and "real_cli_only" in directives
    assert "Address every part" in request.system
    assert request.parameters.temperature == 0.7


def test_conservative_strategy_lowers_temperature_and_shortens():
    request = render_request(
        _tpl(format_instructions=["mode:answer", "max_words:400"]),
        "q",
        intent=None,
        strategy="conservative",
    )
    assert request.parameters.temperature == 0.2
    assert request.parameters.max_tokens == 1024
    assert "max_words:250" in parse_directives(request.system)
    with pytest.raises(ValueError):
        render_request(_tpl(), "q", intent=None, strategy="yolo")


# -- assign_variant ------------------------------------------------------------------


def test_assign_variant_is_deterministic_and_balanced():
    sessions = [f"session-{i}" for i in range(4000)]
    first = [assign_variant(s, "exp", ["v1", "v2"]) for s in sessions]
    assert first == [assign_variant(s, "exp", ["v1", "v2"]) for s in sessions]
    counts = Counter(first)
    assert 0.45 < counts["v1"] / len(sessions) < 0.55
    other = [assign_variant(s, "other-exp", ["v1", "v2"]) for s in sessions]
    assert first != other  # experiments bucket independently


def test_assign_variant_weights():
    sessions = [f"s{i}" for i in range(4000)]
    counts = Counter(assign_variant(s, "exp", ["a", "b"], [0.9, 0.1]) for s in sessions)
    assert 0.86 < counts["a"] / 4000 < 0.94
    assert {assign_variant(s, "exp", ["a", "b"], [0, 1]) for s in sessions[:200]} == {"b"}
    with pytest.raises(ValueError):
        assign_variant("s", "e", [])
    with pytest.raises(ValueError):
        assign_variant("s", "e", ["a"], [1, 2])


# -- ResponseGenerator ---------------------------------------------------------------


def _verdict(action, text=""):
    return GuardrailVerdict(action=action, findings=(), redacted_text=text)


def test_generate_answer_records_template_strategy_and_model(store):
    generator = ResponseGenerator(OfflineModel(), store)
    intent = IntentResult("ec2_troubleshooting", 0.9)
    generation, verdict = generator.generate("SSH to my EC2 instance times out", intent)
    assert verdict is None
    assert (
        generation.template_id == "compute_troubleshooting" and generation.template_version == "v2"
    )
    assert generation.model_id == OFFLINE_MODEL_ID
    assert generation.strategy == "default" and generation.attempt == 1
    assert "security group" in generation.text.lower()
    second, _ = generator.generate("SSH to my EC2 instance times out", intent, attempt=2)
    assert second.strategy == "strict" and second.attempt == 2


def test_template_versions_pin_and_wildcard(store):
    intent = IntentResult("ec2_troubleshooting", 0.9)
    pinned = ResponseGenerator(
        OfflineModel(), store, template_versions={"compute_troubleshooting": "v1"}
    )
    assert pinned.generate("ssh timeout", intent)[0].template_version == "v1"
    wildcard = ResponseGenerator(OfflineModel(), store, template_versions={"*": "v1"})
    assert wildcard.generate("ssh timeout", intent)[0].template_version == "v1"
    # The wildcard falls back to latest for templates without that version.
    billing = IntentResult("billing_cost", 0.9)
    assert (
        ResponseGenerator(OfflineModel(), store, template_versions={"*": "v2"})
        .generate("bill", billing)[0]
        .template_version
        == "v1"
    )
    # Per-call pins override the constructor's.
    assert (
        pinned.generate("ssh timeout", intent, versions={"compute_troubleshooting": "v2"})[
            0
        ].template_version
        == "v2"
    )


def test_output_guard_block_replaces_text_with_static_fallback(store):
    model = ScriptedModel(["This feature will be released next quarter."])
    generator = ResponseGenerator(
        model, store, output_guard=lambda text: _verdict(GuardrailAction.BLOCK, text)
    )
    generation, verdict = generator.generate(
        "when is it out?", IntentResult("general_support", 0.8)
    )
    assert verdict is not None and verdict.blocked
    assert generation.template_id == "fallback"
    assert "next quarter" not in generation.text
    assert "AWS Support Center" in generation.text
    assert model.calls == 1  # the safe reply costs no second model call


def test_output_guard_redact_uses_redacted_text(store):
    model = ScriptedModel(["Email me at bob@example.com"])
    generator = ResponseGenerator(
        model,
        store,
        output_guard=lambda text: _verdict(GuardrailAction.REDACT, "Email me at [EMAIL]"),
    )
    generation, verdict = generator.generate("contact?", IntentResult("general_support", 0.8))
    assert verdict.action is GuardrailAction.REDACT
    assert generation.text == "Email me at [EMAIL]"
    assert generation.template_id == "general"


def test_output_guard_allow_keeps_text(store):
    generator = ResponseGenerator(
        ScriptedModel(["fine"]),
        store,
        output_guard=lambda text: _verdict(GuardrailAction.ALLOW, text),
    )
    generation, verdict = generator.generate("q", None)
    assert generation.text == "fine" and verdict.action is GuardrailAction.ALLOW


def test_model_errors_propagate_with_transience(store):
    generator = ResponseGenerator(FailingModel(transient=True), store)
    with pytest.raises(ModelError) as info:
        generator.generate("q", None)
    assert info.value.transient is True


def test_clarification_asks_exactly_one_question_with_alternatives(store):
    generator = ResponseGenerator(OfflineModel(), store)
    intent = IntentResult(
        "ec2_troubleshooting",
        0.4,
        alternatives=(("networking", 0.35), ("ec2_troubleshooting", 0.4)),
        needs_clarification=True,
    )
    generation, _ = generator.generate("my server is not reachable", intent, mode="clarification")
    assert generation.template_id == "clarification"
    assert generation.text.count("?") == 1
    assert "EC2 instance" in generation.text and "networking" in generation.text


def test_escalation_sets_expectations_without_refund_promises(store):
    generator = ResponseGenerator(OfflineModel(), store)
    intent = IntentResult(
        "billing_cost", 0.9, escalate=True, reasons=("billing_dispute",), sentiment="NEGATIVE"
    )
    generation, _ = generator.generate("I want my money back NOW", intent, mode="escalation")
    assert generation.template_id == "escalation"
    text = generation.text.lower()
    assert "support engineer will follow up" in text
    assert "refund" not in text and "credit" not in text


def test_fallback_mode_is_static_and_calls_no_model(store):
    model = ScriptedModel(["should not be used"])
    generation, verdict = ResponseGenerator(model, store).generate(
        "anything", None, mode="fallback"
    )
    assert generation.template_id == "fallback" and generation.model_id == "static"
    assert verdict is None and model.calls == 0


def test_render_includes_as_many_turns_as_the_history_setting_says():
    history = [_turn(i, f"question {i}", f"answer {i}") for i in range(6)]
    request = render_request(_tpl(), "follow-up", intent=None, history=history, history_turns=2)
    assert [m.text for m in request.messages[:-1]] == ["question 4", "answer 4", "question 5", "answer 5"]
    assert render_request(_tpl(), "follow-up", intent=None, history=history, history_turns=0).messages[:-1] == ()


def test_hypothesis_is_optional_template_metadata():
    from pipeline.domain.generation import PromptTemplateError, parse_template

    base = {"template_id": "t", "version": "v1", "intents": ["networking"], "system_prompt": "s",
            "user_template": "{query}", "parameters": {}}
    assert parse_template(base, origin="x").hypothesis == ""
    assert parse_template({**base, "hypothesis": "shorter wins"}, origin="x").hypothesis == "shorter wins"
    with pytest.raises(PromptTemplateError, match="hypothesis is not a string"):
        parse_template({**base, "hypothesis": 3}, origin="x")
