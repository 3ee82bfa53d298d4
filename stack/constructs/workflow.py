"""The Express state machine of docs/workflow-contract.md.

Every Lambda task passes the state (or ``{"state.$": "$", "mode": …}`` for the three tasks
that share ``generate_response``) and stores the function's return value under its own
key with ``ResultPath`` (``$.capture``, ``$.intent``, ``$.generation``, ``$.quality``).
Tasks use the function ARN as resource (CDK's ``payload_response_only``), so the stored
value *is* the handler's return value: ``$.capture.blocked``, ``$.intent.route`` and
``$.quality.retry`` are read directly by the Choice states.

Every task retries Lambda service errors and throttling (``constants.TRANSIENT_ERRORS``)
and catches everything else with the error at ``$.error``: into ``Fallback`` (the fallback
reply at ``$.reply``, then ``CollectFeedback`` stores it on the turn like any answer), or,
for ``CaptureUserQuery`` (no turn stored yet) and ``CollectFeedback`` itself, into
``FallbackResponse`` (the response shape, end).

``CaptureUserQuery``'s ResultSelector rebuilds the state from the capture (ResultPath
``$``): the raw query never reaches a later state, only ``$.capture.redacted_query`` does. The
regeneration loop is bounded twice: by ``validate_quality`` (``retry`` is false once the
attempts are used) and by ``CheckQuality`` itself (``attempt`` must be <= max_regenerations).
An answer that is not regenerated and that ``validate_quality`` marks ``unusable`` (empty,
garbage, unsafe) goes to ``Fallback``: the customer gets the fallback reply.

Logging is ALL with ``includeExecutionData: false``: the raw query never reaches the logs.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig
from stack.constructs.functions import retention_for

#: ASL has no null literal in Parameters that survives CDK (None keys are dropped), so
#: nulls are produced with an intrinsic: States.StringToJson('null') evaluates to null.
NULL_EXPR = "States.StringToJson('null')"


def _response(**fields: object) -> dict[str, object]:
    """The public response shape; every key always present."""
    shape: dict[str, object] = {
        "session_id.$": "$.session_id",
        "interaction_id.$": "$.interaction_id",
        "response": "",
        "response_type": "",
        "intent.$": NULL_EXPR,
        "confidence.$": NULL_EXPR,
        "quality_score.$": NULL_EXPR,
        "template.$": NULL_EXPR,
        "guardrail": {"action": "allow", "categories": []},
    }
    shape.update(fields)
    return shape


class Workflow(Construct):
    """Builds the state machine from the functions created by :class:`Functions`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        functions: Mapping[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)

        # Catch target of CaptureUserQuery (no turn was stored, nothing to finish) and of
        # CollectFeedback itself (no loop): the response shape, straight to the end.
        fallback_response = sfn.Pass(
            self,
            c.S_FALLBACK_RESPONSE,
            comment="The fallback reply when no stored turn can be finished; the error at $.error.",
            parameters=_response(response=c.FALLBACK_MESSAGE, response_type="fallback"),
        )
        # Catch target of every other task: the turn was stored by CaptureUserQuery, so the
        # fallback reply goes through CollectFeedback like every answer (no turn without a
        # stored reply, implicit feedback and metrics recorded).
        fallback = sfn.Pass(
            self,
            c.S_FALLBACK,
            comment="A failed task's reply for the user (the error kept at $.error), stored by CollectFeedback.",
            parameters={"response_type": "fallback", "response": c.FALLBACK_MESSAGE},
            result_path="$.reply",
        )

        def task(
            state: str,
            result_path: str,
            mode: str | None = None,
            *,
            catch_to: sfn.IChainable = fallback,
            result_selector: dict[str, object] | None = None,
        ) -> tasks.LambdaInvoke:
            # Without Parameters a Lambda-ARN task receives the whole state ("$").
            payload = (
                sfn.TaskInput.from_object({"state": sfn.JsonPath.entire_payload, "mode": mode})
                if mode
                else None
            )
            step = tasks.LambdaInvoke(
                self,
                state,
                lambda_function=functions[c.TASK_HANDLER[state]],
                payload=payload,
                payload_response_only=True,
                retry_on_service_exceptions=False,
                result_selector=result_selector,
                result_path=result_path,
            )
            step.add_retry(
                errors=list(c.TRANSIENT_ERRORS),
                interval=Duration.seconds(c.RETRY_INTERVAL_SECONDS),
                max_attempts=c.RETRY_MAX_ATTEMPTS,
                backoff_rate=c.RETRY_BACKOFF_RATE,
            )
            if c.TASK_HANDLER[state] == "generate_response":
                step.add_retry(
                    errors=list(c.MODEL_TRANSIENT_ERRORS),
                    interval=Duration.seconds(c.RETRY_INTERVAL_SECONDS),
                    max_attempts=c.MODEL_RETRY_MAX_ATTEMPTS,
                    backoff_rate=c.RETRY_BACKOFF_RATE,
                )
            step.add_catch(catch_to, errors=[sfn.Errors.ALL], result_path="$.error")
            return step

        # CaptureUserQuery's result REPLACES the state (ResultPath "$"): the raw query and
        # the receipt time stay behind, later states see only the redacted text in
        # $.capture. request_id comes from the execution input (the correlation id).
        capture = task(
            c.S_CAPTURE,
            "$",
            catch_to=fallback_response,
            result_selector={
                "session_id.$": "$.session_id",
                "interaction_id.$": "$.interaction_id",
                "user_id.$": "$.user_id",
                "request_id.$": "$$.Execution.Input.request_id",
                "capture.$": "$",
            },
        )
        detect = task(c.S_DETECT_INTENT, "$.intent")
        clarify = task(c.S_CLARIFY, "$.generation", mode="clarification")
        escalate = task(c.S_ESCALATE, "$.generation", mode="escalation")
        generate = task(c.S_GENERATE, "$.generation", mode="answer")
        validate = task(c.S_VALIDATE, "$.quality")
        collect = task(c.S_COLLECT, "$", catch_to=fallback_response)
        fallback.next(collect)

        blocked = sfn.Pass(
            self,
            c.S_BLOCKED,
            parameters={"response_type": "blocked", "response.$": "$.capture.block_message"},
            result_path="$.reply",
        )

        check_guardrail = (
            sfn.Choice(self, c.S_CHECK_GUARDRAIL)
            .when(sfn.Condition.boolean_equals("$.capture.blocked", True), blocked.next(collect))
            .otherwise(detect)
        )
        check_intent = (
            sfn.Choice(self, c.S_CHECK_INTENT)
            .when(sfn.Condition.string_equals("$.intent.route", "clarify"), clarify.next(collect))
            .when(sfn.Condition.string_equals("$.intent.route", "escalate"), escalate.next(collect))
            .otherwise(generate)
        )
        check_quality = (
            sfn.Choice(self, c.S_CHECK_QUALITY)
            .when(
                sfn.Condition.and_(
                    sfn.Condition.boolean_equals("$.quality.retry", True),
                    sfn.Condition.number_less_than_equals(
                        "$.quality.attempt", config.max_regenerations
                    ),
                ),
                generate,
            )
            # Not regenerated and unusable (empty, garbage, unsafe): the customer
            # gets the fallback reply, stored and counted by CollectFeedback like any other.
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present("$.quality.unusable"),
                    sfn.Condition.boolean_equals("$.quality.unusable", True),
                ),
                fallback,
            )
            .otherwise(collect)
        )
        definition = capture.next(check_guardrail)
        detect.next(check_intent)
        generate.next(validate).next(check_quality)

        # Under /aws/vendedlogs/: Step Functions' log delivery then needs no per-group entry
        # in the account's CloudWatch Logs resource policy (5,120-character limit).
        self.log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            log_group_name=f"{c.STATE_MACHINE_LOG_PREFIX}{Stack.of(self).stack_name}-{Names.unique_id(self)[-8:]}",
            retention=retention_for(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            c.STATE_MACHINE_ID,
            state_machine_type=sfn.StateMachineType.EXPRESS,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.seconds(config.state_machine_timeout_seconds),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
            comment="Support assistant: capture, guard, route, generate, validate, collect.",
        )
