"""Dashboard, alarms and the alarm topic.

The business metrics come from the handlers (Powertools EMF, namespace
``config.metrics_namespace``, dimension ``service``); the per-category and per-intent
breakdowns use SEARCH expressions so a new category shows up without a deploy.
Task failures caught by ``Fallback`` do not fail the execution, so a metric filter on
the state machine's log group counts them (``WorkflowTaskFailures``).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig

FIVE_MIN = Duration.minutes(5)


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        api: apigw.RestApi,
        state_machine: sfn.StateMachine,
        state_machine_logs: logs.ILogGroup,
        functions: list[lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id)
        ns = config.metrics_namespace
        service = {"service": config.service_name}

        # --- alarm topic (encrypted with a CMK CloudWatch may use) ---------------------
        self.key = kms.Key(
            self,
            "AlarmTopicKey",
            enable_key_rotation=True,
            description="Encrypts the support-assistant alarm topic",
            # dev: scheduled for deletion with the stack (7-day window); prod: kept.
            removal_policy=RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
            pending_window=None if config.is_prod else Duration.days(7),
        )
        self.key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "AlarmTopic", master_key=self.key, enforce_ssl=True,
                               display_name="Support assistant alarms")
        if config.alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(config.alarm_email))
        action = cw_actions.SnsAction(self.topic)

        # --- metrics ------------------------------------------------------------------
        stage = api.deployment_stage.stage_name
        api_dims = {"ApiName": api.rest_api_name, "Stage": stage}

        def api_metric(name: str, stat: str = "Sum") -> cw.Metric:
            return cw.Metric(namespace="AWS/ApiGateway", metric_name=name, dimensions_map=api_dims,
                             statistic=stat, period=FIVE_MIN)

        requests = api_metric("Count")
        errors_4xx = api_metric("4XXError")
        errors_5xx = api_metric("5XXError")
        latency_p50 = api_metric("Latency", "p50")
        latency_p99 = api_metric("Latency", "p99")

        executions_started = state_machine.metric_started(period=FIVE_MIN)
        executions_failed = state_machine.metric_failed(period=FIVE_MIN)
        executions_timed_out = state_machine.metric_timed_out(period=FIVE_MIN)
        execution_time = state_machine.metric_time(period=FIVE_MIN, statistic="p99")

        logs.MetricFilter(
            self,
            "TaskFailuresFilter",
            log_group=state_machine_logs,
            metric_namespace=ns,
            metric_name=c.METRIC_TASK_FAILURES,
            filter_pattern=logs.FilterPattern.any_term("LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed"),
            metric_value="1",
            default_value=0,
        )
        task_failures = cw.Metric(namespace=ns, metric_name=c.METRIC_TASK_FAILURES,
                                  statistic="Sum", period=FIVE_MIN)

        def business(name: str, stat: str, period: Duration = FIVE_MIN) -> cw.Metric:
            return cw.Metric(namespace=ns, metric_name=name, dimensions_map=service,
                             statistic=stat, period=period)

        quality = business(c.METRIC_QUALITY_SCORE, "Average")
        regenerations = business(c.METRIC_REGENERATIONS, "Sum")
        csat = business(c.METRIC_CSAT, "Average", Duration.hours(1))
        blocks_by_category = cw.MathExpression(
            expression=(
                f"SEARCH('{{{ns},service,category}} MetricName=\"{c.METRIC_GUARDRAIL_BLOCK}\"', 'Sum', 300)"
            ),
            label="", period=FIVE_MIN,
        )
        intents = cw.MathExpression(
            expression=f"SEARCH('{{{ns},service,intent}} MetricName=\"{c.METRIC_INTENT}\"', 'Sum', 300)",
            label="", period=FIVE_MIN,
        )

        budget_decisions = cw.MathExpression(
            expression=(
                f"SEARCH('{{{ns},service,decision}} MetricName=\"{c.METRIC_BUDGET_DECISIONS}\"', 'Sum', 300)"
            ),
            label="", period=FIVE_MIN,
        )

        def lambda_sum(metric: str) -> cw.MathExpression:
            usage = {f"{metric.lower()}{i}": fn.metric(metric, statistic="Sum", period=FIVE_MIN) for i, fn in enumerate(functions)}
            return cw.MathExpression(expression=" + ".join(f"FILL({k}, 0)" for k in usage),
                                     using_metrics=usage, label=f"Lambda {metric}", period=FIVE_MIN)

        lambda_errors = lambda_sum("Errors")
        lambda_throttles = lambda_sum("Throttles")

        # --- dashboard ----------------------------------------------------------------
        # Dashboards are global (not regional): the Region in the name keeps the same stage
        # deployed in two Regions from colliding.
        self.dashboard = cw.Dashboard(
            self, "Dashboard", dashboard_name=f"{c.APP_NAME}-{config.stage}-{Aws.REGION}"
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(title="API requests and errors", left=[requests, errors_4xx, errors_5xx], width=8),
            cw.GraphWidget(title="API latency (ms)", left=[latency_p50, latency_p99], width=8),
            cw.GraphWidget(title="Workflow executions",
                           left=[executions_started, executions_failed, executions_timed_out, task_failures],
                           right=[execution_time], width=8),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Guardrail blocks by category", left=[blocks_by_category], width=8),
            cw.GraphWidget(title="Intent distribution", left=[intents], width=8),
            cw.GraphWidget(title="Quality score and regenerations", left=[quality], right=[regenerations], width=8),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(title="CSAT (explicit feedback)", left=[csat], width=8),
            cw.GraphWidget(title="Lambda errors and throttles", left=[lambda_errors, lambda_throttles], width=8),
            cw.GraphWidget(title="Latency budget decisions (fallback, regeneration skipped)",
                           left=[budget_decisions], width=8),
        )

        # --- alarms ---------------------------------------------------------------------
        def alarm(alarm_id: str, metric: cw.IMetric, threshold: float, description: str, *,
                  periods: int = 1, op: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                  missing: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING) -> cw.Alarm:
            created = cw.Alarm(
                self, alarm_id, metric=metric, threshold=threshold, evaluation_periods=periods,
                comparison_operator=op, treat_missing_data=missing, alarm_description=description,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            return created

        api_5xx_rate = cw.MathExpression(
            expression="IF(requests > 0, 100 * errors / requests, 0)",
            using_metrics={"errors": errors_5xx, "requests": requests},
            label="API 5xx rate (%)", period=FIVE_MIN,
        )
        self.alarms = {
            "Api5xxRate": alarm("Api5xxRateAlarm", api_5xx_rate, 5, "More than 5% of API requests failed with 5xx", periods=2),
            "ApiLatencyP99": alarm("ApiLatencyP99Alarm", latency_p99, 15000, "API p99 latency above 15 s", periods=3),
            "WorkflowFailures": alarm(
                "WorkflowFailuresAlarm",
                cw.MathExpression(expression="FILL(f, 0) + FILL(t, 0)",
                                  using_metrics={"f": executions_failed, "t": executions_timed_out},
                                  label="Failed + timed-out executions", period=FIVE_MIN),
                1, "Workflow executions failed or timed out (Fallback did not catch them)"),
            "WorkflowTaskFailures": alarm("WorkflowTaskFailuresAlarm", task_failures, 5,
                                          "Tasks failing into Fallback (5+ in 5 minutes)"),
            "LambdaErrors": alarm("LambdaErrorsAlarm", lambda_errors, 5, "Lambda errors across the assistant's functions"),
            "LambdaThrottles": alarm("LambdaThrottlesAlarm", lambda_throttles, 1, "Lambda throttles across the assistant's functions"),
            "QualityDrop": alarm("QualityDropAlarm", quality, config.quality_threshold,
                                 "Average answer quality below the regeneration threshold for 15 minutes",
                                 periods=3, op=cw.ComparisonOperator.LESS_THAN_THRESHOLD),
            "ModelUnavailable": alarm(
                "ModelUnavailableAlarm", business(c.METRIC_MODEL_UNAVAILABLE, "Sum"), 1,
                "The configured Bedrock model cannot be invoked (end of life, no model access, "
                "unknown id): every answer is the fallback until model_id changes (docs/deploy.md)"),
            "CsatDrop": alarm("CsatDropAlarm", csat, c.CSAT_ALARM_PERCENT,
                              f"CSAT below {c.CSAT_ALARM_PERCENT:.0f}% of rated answers over three hours",
                              periods=3, op=cw.ComparisonOperator.LESS_THAN_THRESHOLD),
        }
