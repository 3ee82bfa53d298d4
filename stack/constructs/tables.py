"""DynamoDB tables: Conversations, Prompts and Feedback, and POST /query's Idempotency and
SessionThrottle tables.

All five are on-demand, encrypted (AWS-owned key), with point-in-time recovery; in a
prod stage they get deletion protection and are retained when the stack is deleted.

The Feedback table has **no stream**: ``analyze_feedback`` runs on a schedule and reads
the ``TimestampIndex`` (day, timestamp), so a stream would have no consumer and would
only cost money and widen the data's exposure.
"""

from __future__ import annotations

from typing import TypedDict

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig

S = ddb.AttributeType.STRING
N = ddb.AttributeType.NUMBER


class _CommonTableProps(TypedDict):
    """The ``ddb.Table`` keyword arguments all tables share."""

    billing_mode: ddb.BillingMode
    encryption: ddb.TableEncryption
    point_in_time_recovery_specification: ddb.PointInTimeRecoverySpecification
    deletion_protection: bool
    removal_policy: RemovalPolicy


class Tables(Construct):
    """The tables of the assistant."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        common: _CommonTableProps = {
            "billing_mode": ddb.BillingMode.PAY_PER_REQUEST,
            "encryption": ddb.TableEncryption.AWS_MANAGED,
            "point_in_time_recovery_specification": ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            "deletion_protection": config.is_prod,
            "removal_policy": RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
        }

        #: One item per turn (session_id, turn_index): sessions never outgrow an item.
        self.conversations = ddb.Table(
            self,
            c.CONVERSATIONS_TABLE_ID,
            partition_key=ddb.Attribute(name=c.CONVERSATIONS_PK, type=S),
            sort_key=ddb.Attribute(name=c.CONVERSATIONS_SK, type=N),
            time_to_live_attribute=c.CONVERSATIONS_TTL_ATTRIBUTE,
            **common,
        )
        # Sparse: only turns with a user_id are indexed (anonymous sessions are not).
        self.conversations.add_global_secondary_index(
            index_name=c.CONVERSATIONS_USER_INDEX,
            partition_key=ddb.Attribute(name="user_id", type=S),
            sort_key=ddb.Attribute(name="created_at", type=S),
            # No deployed function queries it yet (a user's sessions come with the REST API
            # issue): keys only, so every turn write is not copied in full a second time.
            projection_type=ddb.ProjectionType.KEYS_ONLY,
        )

        #: The index of prompt templates; bodies live in the prompt bucket.
        self.prompts = ddb.Table(
            self,
            c.PROMPTS_TABLE_ID,
            partition_key=ddb.Attribute(name=c.PROMPTS_PK, type=S),
            sort_key=ddb.Attribute(name=c.PROMPTS_SK, type=S),
            **common,
        )
        self.prompts.add_global_secondary_index(
            index_name=c.PROMPTS_CREATED_INDEX,
            partition_key=ddb.Attribute(name="kind", type=S),
            sort_key=ddb.Attribute(name="created_at", type=S),
            projection_type=ddb.ProjectionType.ALL,
        )

        self.feedback = ddb.Table(
            self,
            c.FEEDBACK_TABLE_ID,
            partition_key=ddb.Attribute(name=c.FEEDBACK_PK, type=S),
            **common,
        )
        self.feedback.add_global_secondary_index(
            index_name=c.FEEDBACK_SESSION_INDEX,
            partition_key=ddb.Attribute(name="session_id", type=S),
            sort_key=ddb.Attribute(name="timestamp", type=S),
            projection_type=ddb.ProjectionType.KEYS_ONLY,  # no deployed reader: keys only
        )
        # Partitioned by day (YYYY-MM-DD) so the hourly analysis reads one or two days.
        self.feedback.add_global_secondary_index(
            index_name=c.FEEDBACK_TIMESTAMP_INDEX,
            partition_key=ddb.Attribute(name="day", type=S),
            sort_key=ddb.Attribute(name="timestamp", type=S),
            projection_type=ddb.ProjectionType.ALL,
        )

        # POST /query's own state: answers by Idempotency-Key and per-session request
        # counters. Both short-lived (TTL): an item expires a day (a window) after its write.
        self.idempotency = ddb.Table(
            self,
            c.IDEMPOTENCY_TABLE_ID,
            partition_key=ddb.Attribute(name=c.IDEMPOTENCY_PK, type=S),
            time_to_live_attribute=c.API_STATE_TTL_ATTRIBUTE,
            **common,
        )
        self.session_throttle = ddb.Table(
            self,
            c.SESSION_THROTTLE_TABLE_ID,
            partition_key=ddb.Attribute(name=c.SESSION_THROTTLE_PK, type=S),
            time_to_live_attribute=c.API_STATE_TTL_ATTRIBUTE,
            **common,
        )

    @property
    def all(self) -> list[ddb.Table]:
        return [self.conversations, self.prompts, self.feedback, self.idempotency, self.session_throttle]
