"""CloudTrail: management events plus data events for the assistant's own Lambdas,
tables and prompt bucket (advanced event selectors; the L2 ``Trail`` has no DynamoDB
data-event selector). Logs go to an encrypted, SSL-only, access-logged bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stack.config import StackConfig
from stack.constructs.prompts_bucket import secure_bucket_props


class Audit(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        access_logs: s3.IBucket,
        functions: Sequence[lambda_.IFunction],
        tables: Sequence[ddb.ITable],
        prompt_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "TrailBucket",
            **secure_bucket_props(config),
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="trail-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="archive-trail",
                    transitions=[s3.Transition(storage_class=s3.StorageClass.GLACIER,
                                               transition_after=Duration.days(90))],
                    noncurrent_version_expiration=Duration.days(30),
                )
            ],
        )
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            enable_file_validation=True,
            include_global_service_events=True,
            is_multi_region_trail=False,
        )
        cfn = self.trail.node.default_child
        assert isinstance(cfn, cloudtrail.CfnTrail)
        # A trail takes event selectors OR advanced event selectors, not both
        # (AWS::CloudTrail::Trail AdvancedEventSelector); the L2 Trail writes an empty list.
        cfn.add_property_deletion_override("EventSelectors")
        cfn.add_property_override(
            "AdvancedEventSelectors",
            [
                {"Name": "Management events",
                 "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
                {"Name": "Assistant Lambda invocations",
                 "FieldSelectors": [
                     {"Field": "eventCategory", "Equals": ["Data"]},
                     {"Field": "resources.type", "Equals": ["AWS::Lambda::Function"]},
                     {"Field": "resources.ARN", "Equals": [fn.function_arn for fn in functions]},
                 ]},
                {"Name": "Assistant DynamoDB tables",
                 "FieldSelectors": [
                     {"Field": "eventCategory", "Equals": ["Data"]},
                     {"Field": "resources.type", "Equals": ["AWS::DynamoDB::Table"]},
                     {"Field": "resources.ARN", "Equals": [t.table_arn for t in tables]},
                 ]},
                {"Name": "Prompt bucket objects",
                 "FieldSelectors": [
                     {"Field": "eventCategory", "Equals": ["Data"]},
                     {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                     {"Field": "resources.ARN", "StartsWith": [prompt_bucket.arn_for_objects("")]},
                 ]},
            ],
        )
