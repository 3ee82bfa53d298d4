from __future__ import annotations

import json

from stack import constants as c


def test_express_with_logging_all_without_data_and_tracing(resources, template_json):
    (sm,) = resources(template_json, "AWS::StepFunctions::StateMachine").values()
    props = sm["Properties"]
    assert props["StateMachineType"] == "EXPRESS"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is False


def test_states_and_start(definition):
    assert definition["StartAt"] == c.S_CAPTURE
    expected = set(c.TASK_STATES) | {c.S_CHECK_GUARDRAIL, c.S_BLOCKED, c.S_CHECK_INTENT,
                                      c.S_CHECK_QUALITY, c.S_FALLBACK, c.S_FALLBACK_RESPONSE}
    assert set(definition["States"]) == expected


def test_every_task_retries_transient_errors_and_catches_to_fallback(definition):
    for name in c.TASK_STATES:
        state = definition["States"][name]
        assert state["Type"] == "Task"
        assert state["Resource"].endswith(f"Functions{c.function_id(c.TASK_HANDLER[name])}")  \
            or c.function_id(c.TASK_HANDLER[name]) in state["Resource"]
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert set(c.TRANSIENT_ERRORS) <= retried, name
        assert all(r["MaxAttempts"] <= 3 for r in state["Retry"])
        # No turn to finish before the capture, and no loop from CollectFeedback's own catch.
        target = c.S_FALLBACK_RESPONSE if name in (c.S_CAPTURE, c.S_COLLECT) else c.S_FALLBACK
        assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                   "Next": target}], name


def test_result_paths_follow_the_contract(definition):
    s = definition["States"]
    # The capture replaces the state: the raw query stays behind (see the next test).
    assert s[c.S_CAPTURE]["ResultPath"] == "$"
    assert s[c.S_CAPTURE]["ResultSelector"]["capture.$"] == "$"
    assert s[c.S_DETECT_INTENT]["ResultPath"] == "$.intent"
    for name, mode in ((c.S_GENERATE, "answer"), (c.S_CLARIFY, "clarification"), (c.S_ESCALATE, "escalation")):
        assert s[name]["ResultPath"] == "$.generation"
        assert s[name]["Parameters"] == {"state.$": "$", "mode": mode}
    assert s[c.S_VALIDATE]["ResultPath"] == "$.quality"
    assert "Parameters" not in s[c.S_CAPTURE]  # the whole state is the payload


def test_choices_and_paths(definition):
    s = definition["States"]
    assert s[c.S_CAPTURE]["Next"] == c.S_CHECK_GUARDRAIL
    guard = s[c.S_CHECK_GUARDRAIL]
    assert guard["Choices"] == [{"Variable": "$.capture.blocked", "BooleanEquals": True, "Next": c.S_BLOCKED}]
    assert guard["Default"] == c.S_DETECT_INTENT
    assert s[c.S_BLOCKED]["Next"] == c.S_COLLECT and s[c.S_BLOCKED]["ResultPath"] == "$.reply"
    intent = s[c.S_CHECK_INTENT]
    routes = {ch["StringEquals"]: ch["Next"] for ch in intent["Choices"]}
    assert routes == {"clarify": c.S_CLARIFY, "escalate": c.S_ESCALATE}
    assert intent["Default"] == c.S_GENERATE
    assert s[c.S_CLARIFY]["Next"] == c.S_COLLECT and s[c.S_ESCALATE]["Next"] == c.S_COLLECT
    assert s[c.S_GENERATE]["Next"] == c.S_VALIDATE and s[c.S_VALIDATE]["Next"] == c.S_CHECK_QUALITY
    quality = s[c.S_CHECK_QUALITY]
    choice, unusable = quality["Choices"]  # in this order: a regeneration comes first
    assert choice["Next"] == c.S_GENERATE and quality["Default"] == c.S_COLLECT
    bound = [x for x in choice["And"] if x["Variable"] == "$.quality.attempt"]
    assert bound == [{"Variable": "$.quality.attempt", "NumericLessThanEquals": 2}]
    # An unusable answer that is not regenerated is replaced by the fallback reply.
    assert unusable == {"And": [{"Variable": "$.quality.unusable", "IsPresent": True},
                                {"Variable": "$.quality.unusable", "BooleanEquals": True}],
                        "Next": c.S_FALLBACK}
    assert s[c.S_COLLECT]["End"] is True and s[c.S_FALLBACK_RESPONSE]["End"] is True
    # The Fallback path stores its reply on the turn like every other path.
    assert s[c.S_FALLBACK]["Next"] == c.S_COLLECT and s[c.S_FALLBACK]["ResultPath"] == "$.reply"
    assert s[c.S_FALLBACK]["Parameters"] == {"response_type": "fallback", "response": c.FALLBACK_MESSAGE}


def test_fallback_response_returns_the_full_response_shape(definition):
    params = definition["States"][c.S_FALLBACK_RESPONSE]["Parameters"]
    keys = {k.removesuffix(".$") for k in params}
    assert keys == {"session_id", "interaction_id", "response", "response_type", "intent",
                    "confidence", "quality_score", "template", "guardrail"}
    assert params["response_type"] == "fallback"


def _reads(value: object) -> set[str]:
    """Every JSONPath a Parameters / ResultSelector block reads."""
    if isinstance(value, dict):
        found: set[str] = set()
        for key, child in value.items():
            if key.endswith(".$") and isinstance(child, str):
                found.add(child)
            found |= _reads(child)
        return found
    return set()


def test_only_the_first_step_can_see_the_raw_query(definition):
    """The workflow input's ``query`` is dropped by CaptureUserQuery's ResultSelector (its
    result replaces the state), so no later state can read ``$.query``: no state reads it,
    no Task passes the whole state before the capture replaced it, and the context object's
    copy of the input ($$.Execution.Input) is read only for the request id."""
    states = definition["States"]
    capture = states[c.S_CAPTURE]
    assert capture["ResultPath"] == "$"
    assert set(capture["ResultSelector"]) == {
        "session_id.$", "interaction_id.$", "user_id.$", "request_id.$", "capture.$"}
    assert "query" not in json.dumps(capture["ResultSelector"])
    for name, state in states.items():
        paths = set()
        for key in ("Parameters", "ResultSelector"):
            paths |= _reads(state.get(key))
        for choice in state.get("Choices", []):
            paths |= {v for k, v in choice.items() if k == "Variable"}
            for nested in choice.get("And", []) + choice.get("Or", []):
                paths.add(nested.get("Variable", ""))
        assert not any(p == "$.query" or p.startswith("$.query.") for p in paths), name
        assert not any(p.startswith("$$.Execution.Input") and p != "$$.Execution.Input.request_id"
                       for p in paths), name
    # Every path to a later state goes through the capture's ResultSelector, except its own
    # Catch, whose target answers and ends without a task.
    assert capture["Catch"][0]["Next"] == c.S_FALLBACK_RESPONSE
    fallback_response = states[c.S_FALLBACK_RESPONSE]
    assert fallback_response["Type"] == "Pass" and fallback_response.get("End") is True


def test_timeouts_are_derived_from_the_latency_budget(resources, template_json):
    """Under API Gateway's 29 s: the state machine ends 3 s after the budget, each workflow
    Lambda 2 s after it (was: 300 s and 120 s, so the client got a 504 while the execution
    went on and stored the turn)."""
    from stack.config import API_INTEGRATION_TIMEOUT_SECONDS, StackConfig

    config = StackConfig()
    (machine,) = resources(template_json, "AWS::StepFunctions::StateMachine").values()
    definition = machine["Properties"]["DefinitionString"]
    text = definition if isinstance(definition, str) else json.dumps(definition)
    assert f'\\"TimeoutSeconds\\":{config.state_machine_timeout_seconds}' in text.replace(" ", "")
    assert config.state_machine_timeout_seconds < API_INTEGRATION_TIMEOUT_SECONDS
    for fn in resources(template_json, "AWS::Lambda::Function").values():
        handler = fn["Properties"].get("Handler", "")
        if handler.startswith("pipeline.handlers.") and handler.split(".")[2] in c.WORKFLOW_HANDLERS:
            assert fn["Properties"]["Timeout"] == config.workflow_task_timeout_seconds
            env = fn["Properties"]["Environment"]["Variables"]
            assert env["LATENCY_BUDGET_MS"] == str(config.latency_budget_seconds * 1000)
