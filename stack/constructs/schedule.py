"""EventBridge rule that runs ``analyze_feedback`` on a schedule (hourly by default)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig


class AnalyzeSchedule(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, function: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "AnalyzeFeedbackRule",
            description="Aggregate recent feedback into metrics and prompt statistics",
            schedule=events.Schedule.expression(config.analyze_schedule),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                function,
                event=events.RuleTargetInput.from_object(
                    {"source": "schedule", c.ANALYZE_WINDOW_HOURS_KEY: c.ANALYZE_WINDOW_HOURS}
                ),
                retry_attempts=2,
                max_event_age=Duration.hours(1),
            )
        )
