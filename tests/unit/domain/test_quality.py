"""Unit tests for pipeline.domain.quality with a fake catalog and a fake output guard."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pipeline.domain.models import QUALITY_CHECKS, Finding, GuardrailAction, GuardrailVerdict
from pipeline.domain.quality import (
    CHECK_WEIGHTS,
    DEFAULT_THRESHOLD,
    HARD_FAIL_LEVEL,
    QualityValidator,
    parse_response,
)


@dataclass(frozen=True)
class FakeOperation:
    name: str
    parameters: frozenset[str]
    required: frozenset[str]
    open_parameters: bool = False
    high_level: bool = False
    cli_options: frozenset[str] = frozenset()
    cli_required: frozenset[str] = frozenset()
    cli_removed: frozenset[str] = frozenset()


class FakeCatalog:
    """A few real operations, enough for the rules under test."""

    _ops = {
        ("ec2", "DescribeInstances"): FakeOperation("DescribeInstances", frozenset({"InstanceIds", "Filters", "DryRun"}), frozenset(), cli_required=frozenset()),
        ("s3", "GetObject"): FakeOperation("GetObject", frozenset({"Bucket", "Key", "Range"}), frozenset({"Bucket", "Key"}), cli_required=frozenset({"Bucket", "Key"})),
        ("s3", "ListObjectsV2"): FakeOperation("ListObjectsV2", frozenset({"Bucket", "Prefix"}), frozenset({"Bucket"}), cli_required=frozenset({"Bucket"})),
    }
    _cli = {"describe-instances": "DescribeInstances", "get-object": "GetObject", "list-objects-v2": "ListObjectsV2"}
    _py = {"describe_instances": "DescribeInstances", "get_object": "GetObject", "list_objects_v2": "ListObjectsV2"}

    def has_service(self, name: str) -> bool:
        return name in {"ec2", "s3", "s3api"}

    def operation(self, service: str, operation: str):
        if service == "s3" and "-" in operation:
            return None  # like the real catalog: `aws s3` holds only high-level commands
        service = "s3" if service == "s3api" else service
        api = self._cli.get(operation) or self._py.get(operation)
        return self._ops.get((service, api)) if api else None

    def is_region(self, name: str) -> bool:
        return name in {"us-east-1", "us-west-2", "eu-west-1"}

    def service_names(self):
        return ("EC2", "S3", "Lambda", "RDS", "IAM", "CloudWatch", "DynamoDB")

    def operation_names(self, service: str):
        return sorted(cli for cli, api in self._cli.items() if (service, api) in self._ops
                      or (service in {"s3", "s3api"} and ("s3", api) in self._ops))


def allow_all(text: str) -> GuardrailVerdict:
    return GuardrailVerdict(GuardrailAction.ALLOW, (), text)


def block_refunds(text: str) -> GuardrailVerdict:
    if "refund" in text.lower():
        start = text.lower().index("refund")
        finding = Finding("future_commitment", "refund_promise", start, start + 6, GuardrailAction.BLOCK)
        return GuardrailVerdict(GuardrailAction.BLOCK, (finding,), text)
    return allow_all(text)


@pytest.fixture
def validator() -> QualityValidator:
    return QualityValidator(FakeCatalog(), output_guard=allow_all)


def failing(report) -> list[str]:
    return sorted(c.check for c in report.checks if c.score < HARD_FAIL_LEVEL)


GOOD_HOWTO = (
    "You can list the instances in a region with the AWS CLI:\n\n"
    "```bash\naws ec2 describe-instances --region us-east-1 --filters Name=instance-state-name,Values=running\n```\n\n"
    "1. Run the command above.\n2. Add `--query` to keep only the fields you need.\n"
)


def test_contract_constants():
    assert set(CHECK_WEIGHTS) == set(QUALITY_CHECKS)
    assert sum(CHECK_WEIGHTS.values()) == pytest.approx(1.0)
    assert 0 < DEFAULT_THRESHOLD < 1


def test_good_answer_passes_with_one_result_per_check(validator):
    report = validator.validate("How do I list my running EC2 instances?", GOOD_HOWTO)
    assert report.passed, report.issues
    assert [c.check for c in report.checks] == list(QUALITY_CHECKS)
    assert report.score == pytest.approx(1.0)
    assert report.threshold == DEFAULT_THRESHOLD


def test_wrong_cli_operation_names_the_line_and_suggests_nothing_made_up(validator):
    response = GOOD_HOWTO.replace("describe-instances", "describe-instance")
    report = validator.validate("How do I list my running EC2 instances?", response)
    assert not report.passed
    assert failing(report) == ["accuracy"]
    assert report.issues[0]["message"].startswith("line 4: `aws ec2 describe-instance` is not an EC2 operation")


def test_wrong_cli_parameter_suggests_the_right_one(validator):
    response = "Download it:\n\n```bash\naws s3api get-object --bucket-name my-bucket --key a.txt a.txt\n```\n"
    report = validator.validate("How do I download a file from S3 with the CLI?", response)
    messages = [i["message"] for i in report.issues]
    assert any("no parameter --bucket-name (did you mean --bucket?)" in m for m in messages)
    assert not report.passed


def test_missing_required_cli_parameter(validator):
    response = "Download it:\n\n```bash\naws s3api get-object --bucket my-bucket out.txt\n```\n"
    report = validator.validate("How do I download a file from S3 with the CLI?", response)
    assert any("missing required parameter(s) --key" in i["message"] for i in report.issues)


def test_s3_high_level_namespace_is_not_the_api(validator):
    response = "Run `aws s3 get-object --bucket b --key k` to download it."
    report = validator.validate("How do I download a file from S3?", response)
    assert any("use `aws s3api get-object`" in i["message"] for i in report.issues)


@pytest.fixture(scope="module")
def botocore_validator() -> QualityValidator:
    from pipeline.adapters.botocore_catalog import BotocoreApiCatalog

    return QualityValidator(BotocoreApiCatalog(), output_guard=allow_all)


def test_boto3_resource_called_with_a_client_method_it_lacks(botocore_validator):
    # A DynamoDB Table resource has get_item/query/scan…, not batch_get_item (the service
    # resource's and the client's); boto3's own helpers (batch_writer) are not in the model.
    response = (
        "Read them in one call:\n\n```python\nimport boto3\n\n"
        "dynamodb = boto3.resource('dynamodb')\ntable = dynamodb.Table('customers')\n"
        "resp = table.batch_get_item(Keys=[{'pk': '1'}])\n```\n"
    )
    report = botocore_validator.validate("How do I fetch several DynamoDB items in Python?", response)
    messages = " ".join(i["message"] for i in report.issues)
    assert "`table.batch_get_item()` is not a method of a boto3 dynamodb Table resource" in messages


def test_boto3_resource_methods_of_the_model_and_helpers_pass(botocore_validator):
    response = (
        "Use the Table resource:\n\n```python\nimport boto3\n\n"
        "dynamodb = boto3.resource('dynamodb')\ntable = dynamodb.Table('customers')\n"
        "item = table.get_item(Key={'pk': '1'})\ntable.wait_until_exists()\n"
        "with table.batch_writer() as batch:\n    batch.put_item(Item={'pk': '2'})\n"
        "resp = dynamodb.batch_get_item(RequestItems={'customers': {'Keys': [{'pk': '1'}]}})\n"
        "s3 = boto3.resource('s3')\nbucket = s3.Bucket('b')\nbucket.upload_file('a.txt', 'a.txt')\n"
        "bucket.Object('a.txt').load()\n```\n"
    )
    report = botocore_validator.validate("How do I read DynamoDB items with the resource API?", response)
    assert not any("resource" in i["message"] for i in report.issues), report.issues


def test_nested_fields_of_a_boto3_parameter_follow_the_service_model(botocore_validator):
    wrong = (
        "Call Converse:\n\n```python\nimport boto3\n\nclient = boto3.client('bedrock-runtime')\n"
        "response = client.converse(modelId='m', messages=[{'role': 'user', 'content': [{'text': 'hi'}]}],\n"
        "    inferenceConfig={'max_tokens': 400, 'temperature': 0.3})\n```\n"
    )
    report = botocore_validator.validate("How do I call a Bedrock model with Converse?", wrong)
    assert any("`inferenceConfig.max_tokens`" in i["message"] for i in report.issues)
    right = wrong.replace("'max_tokens'", "'maxTokens'")
    report = botocore_validator.validate("How do I call a Bedrock model with Converse?", right)
    assert not any("has no field" in i["message"] for i in report.issues), report.issues


def test_a_json_file_given_to_a_cli_option_follows_the_parameter_shape(botocore_validator):
    wrong = (
        "Save this as `cors.json`:\n\n```json\n"
        '{"CORSRules": [{"AllowOrigins": ["https://app.example.com"], "AllowedMethods": ["PUT"], "MaxAgeSeconds": 3000}]}\n'
        "```\n\nThen apply it:\n\n```bash\naws s3api put-bucket-cors --bucket b \\\n"
        "  --cors-configuration file://cors.json\n```\n"
    )
    report = botocore_validator.validate("How do I configure CORS on my bucket?", wrong)
    assert any("`cors-configuration.CORSRules[].AllowOrigins`" in i["message"] for i in report.issues), report.issues
    right = wrong.replace('"AllowOrigins"', '"AllowedOrigins"')
    report = botocore_validator.validate("How do I configure CORS on my bucket?", right)
    assert not any("has no field" in i["message"] for i in report.issues), report.issues


def test_step_functions_retriers_and_catchers_have_the_fields_of_the_spec(validator):
    state = (
        '"CallUpstream": {\n  "Type": "Task",\n  "Resource": "arn:aws:states:::lambda:invoke",\n'
        '  "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 2, "MaxRetries": 3, "BackoffRate": 2.0}],\n'
        '  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}],\n'
        '  "Next": "Done"\n}'
    )
    answer = "Add a retrier and a catcher:\n\n```json\n" + state + "\n```\n"
    report = validator.validate("How do I retry a Lambda task in Step Functions?", answer)
    assert any("`Retry.MaxRetries`" in i["message"] for i in report.issues), report.issues
    report = validator.validate("How do I retry a Lambda task in Step Functions?", answer.replace("MaxRetries", "MaxAttempts"))
    assert not any("retriers and catchers" in i["message"] for i in report.issues), report.issues


def test_s3_actions_need_resources_of_their_type(validator):
    policy = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "arn:aws:s3:::exports/data/*"}]}'
    )
    answer = "Attach this policy:\n\n```json\n" + policy + "\n```\n"
    report = validator.validate("Give me a least-privilege policy for the exports bucket", answer)
    assert any("s3:ListBucket applies to the bucket ARN" in i["message"] for i in report.issues), report.issues
    split = policy.replace(
        '"Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "arn:aws:s3:::exports/data/*"}',
        '"Action": "s3:ListBucket", "Resource": "arn:aws:s3:::exports"}, '
        '{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::exports/data/*"}',
    )
    report = validator.validate("Give me a least-privilege policy for the exports bucket", answer.replace(policy, split))
    assert not any("applies to" in i["message"] for i in report.issues), report.issues


def test_boto3_wrong_method_and_parameter(validator):
    response = (
        "Read it with boto3:\n\n```python\nimport boto3\n\ns3 = boto3.client('s3')\n"
        "body = s3.get_objects(Bucket='b', Key='k')['Body'].read()\n"
        "s3.get_object(Bucket='b', Name='k')\n```\n"
    )
    report = validator.validate("How do I read an S3 object in Python?", response)
    messages = " ".join(i["message"] for i in report.issues)
    assert "`s3.get_objects()` is not a boto3 s3 client method" in messages
    assert "has no parameter Name" in messages
    assert failing(report) == ["accuracy"]


def test_made_up_region(validator):
    report = validator.validate("Which region is in Oregon?", "Oregon is us-west-3, so deploy there.")
    assert any("`us-west-3` is not an AWS region" in i["message"] for i in report.issues)
    assert not report.passed


_POLICY = """Add this statement to the bucket policy:

```json
{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::reports/*",
 "Condition": {"StringNotEquals": {"%s": "vpce-1a2b3c4d"}}}
```
"""


def test_a_made_up_global_condition_key_is_an_accuracy_defect(validator):
    report = validator.validate("Only allow access through my VPC endpoint", _POLICY % "aws:SourceVpcEndpoint")
    assert any("`aws:SourceVpcEndpoint` is not an AWS global condition key" in i["message"] for i in report.issues)
    assert "accuracy" in failing(report)


@pytest.mark.parametrize("key", ["aws:SourceVpce", "aws:sourcevpce", "aws:ResourceTag/team", "aws:cloudformation:stack-name"])
def test_real_condition_keys_tag_namespaces_and_variables_pass(validator, key):
    report = validator.validate("Only allow access through my VPC endpoint", _POLICY % key)
    assert not any("condition key" in i["message"] for i in report.issues)


def test_a_cloudwatch_agent_variable_is_not_a_condition_key(validator):
    text = 'Agent config:\n\n```json\n{"append_dimensions": {"InstanceId": "${aws:InstanceId}"}}\n```\n'
    report = validator.validate("How do I add the instance id dimension?", text)
    assert not any("condition key" in i["message"] for i in report.issues)


@pytest.mark.parametrize(
    "snippet",
    ["[INSERT BUCKET NAME]", "TODO: fill in", "{{bucket_name}}", "`s3://<value>/data`", "`s3://<xxx>/data`"],
)
def test_unexplained_placeholders_fail(validator, snippet):
    response = f"Copy the data to {snippet} and check the S3 console afterwards."
    report = validator.validate("Where should I copy the S3 data?", response)
    assert "accuracy" in failing(report), report.issues


@pytest.mark.parametrize("snippet", ["`s3://<your-bucket>/data`", "`arn:aws:s3:::<bucket-name>/*`"])
def test_self_describing_angle_placeholders_pass(validator, snippet):
    # The AWS documentation's own convention: the name says what goes there.
    response = f"Copy the data to {snippet} and check the S3 console afterwards."
    report = validator.validate("Where should I copy the S3 data?", response)
    assert "accuracy" not in failing(report), report.issues


def test_explained_placeholder_markdown_link_and_cfn_resolve_pass(validator):
    response = (
        "Use this principal in the S3 bucket policy: `arn:aws:iam::<account-id>:root`. "
        "Replace `<account-id>` with your 12-digit account ID. The password can come from "
        "`{{resolve:secretsmanager:db-secret}}`. See the [S3 docs](https://docs.aws.amazon.com/AmazonS3/latest/userguide/)."
    )
    report = validator.validate("What principal do I put in the S3 bucket policy?", response)
    assert report.passed, report.issues


@pytest.mark.parametrize(
    ("language", "code"),
    [("python", "def f(:\n    pass"), ("json", '{"a": 1,}'), ("bash", 'echo "unterminated'), ("yaml", "a:\n\tb: 1")],
)
def test_code_blocks_must_parse(validator, language, code):
    response = f"Here is the S3 example:\n\n```{language}\n{code}\n```\n"
    report = validator.validate("Show me an S3 example", response)
    assert "accuracy" in failing(report), report.issues


def test_injected_checkers_are_used():
    calls = []

    def shell(text: str) -> str | None:
        calls.append(text)
        return "syntax error near `fi'"

    validator = QualityValidator(FakeCatalog(), output_guard=allow_all, shell_checker=shell, yaml_checker=lambda t: "bad yaml")
    report = validator.validate("Show an S3 script and config", "Script:\n\n```bash\nls\n```\n\nConfig:\n\n```yaml\na: 1\n```\n")
    assert calls == ["ls"]
    messages = " ".join(i["message"] for i in report.issues)
    assert "syntax error near" in messages and "bad yaml" in messages


def test_truncated_answer_is_incomplete(validator):
    response = "1. Open the EC2 console.\n2. Select the instance and choose Actions, then"
    report = validator.validate("How do I stop my EC2 instance?", response)
    assert failing(report) == ["completeness"]


def test_howto_without_steps_is_incomplete(validator):
    report = validator.validate("How do I enable versioning on my S3 bucket?", "Versioning on S3 buckets is a useful feature.")
    assert "completeness" in failing(report)


def test_ignored_sub_question_is_incomplete(validator):
    query = "How do I enable S3 versioning? Also, what does DynamoDB point-in-time recovery cost?"
    response = "1. Open the S3 console and pick the bucket.\n2. Choose Properties, then Bucket Versioning, and enable it."
    report = validator.validate(query, response)
    assert "completeness" in failing(report)


def test_unbalanced_fence_and_broken_markdown(validator):
    report = validator.validate("How do I list EC2 instances?", "##Steps\n\nRun this:\n\n```bash\naws ec2 describe-instances\n")
    assert "structure" in failing(report)
    messages = " ".join(i["message"] for i in report.issues)
    assert "never closed" in messages and "heading needs a space" in messages


def test_wall_of_text_for_steps(validator):
    response = (
        "First open the EC2 console and find the instance you want to resize in the list of instances. "
        "Then stop the instance, because the type of a running instance cannot be changed while it runs. "
        "Next choose Actions, Instance settings and Change instance type, and pick the new type from the list. "
        "Finally start the instance again and check that your application comes back as expected after the change."
    )
    report = validator.validate("How do I change my EC2 instance type?", response)
    assert failing(report) == ["structure"]


def test_irrelevant_answer(validator):
    response = "To create a DynamoDB table, choose Create table in the DynamoDB console and set the partition key."
    report = validator.validate("Why is my Lambda function timing out after 3 seconds?", response)
    assert "relevance" in failing(report)


@pytest.mark.parametrize(
    "phrase",
    ["This is your fault for not reading the docs.", "Good luck with that.", "lol, that happens."],
)
def test_unprofessional_tone(validator, phrase):
    response = f"{phrase} Run `aws ec2 describe-instances` to see the EC2 instance state."
    report = validator.validate("How do I check the state of my EC2 instance?", response)
    assert "tone" in failing(report)


def test_upset_user_needs_empathy(validator):
    query = "This is ridiculous, my EC2 instance has been unreachable for hours!!"
    cold = "1. Check the EC2 security group allows port 22.\n2. Check the instance status checks."
    warm = "I'm sorry this has taken so long; let's fix it.\n\n" + cold
    assert "tone" in failing(validator.validate(query, cold))
    assert validator.validate(query, warm).passed


def test_sentiment_argument_makes_mild_queries_upset(validator):
    query = "My EC2 instance is still unreachable."
    cold = "1. Check the EC2 security group allows port 22.\n2. Check the instance status checks."
    assert validator.validate(query, cold).passed
    assert not validator.validate(query, cold, sentiment="NEGATIVE").passed


def test_safety_uses_the_output_guard():
    validator = QualityValidator(FakeCatalog(), output_guard=block_refunds)
    report = validator.validate("Can I get my EC2 charges back?", "Yes, we will refund your EC2 charges this week, straight to the card on your account.")
    assert failing(report) == ["safety"]
    assert not report.passed
    assert "future commitment" in report.issues[0]["message"]


def test_weights_validation_and_threshold():
    with pytest.raises(ValueError, match="unknown quality check"):
        QualityValidator(FakeCatalog(), weights={"speed": 1.0})
    strict = QualityValidator(FakeCatalog(), output_guard=allow_all, threshold=1.01)
    assert not strict.validate("How do I list my running EC2 instances?", GOOD_HOWTO).passed


def test_parse_response_tracks_lines_and_fences():
    parsed = parse_response("Intro `aws s3 ls`\n\n```bash\nls\n```\nafter\n~~~\nopen")
    assert [b.language for b in parsed.blocks] == ["bash", ""]
    assert parsed.blocks[0].start_line == 4 and parsed.blocks[0].closed
    assert parsed.unclosed_fence_line == 7
    assert parsed.inline_code == ((1, "aws s3 ls"),)


def test_report_serialises_for_the_batch_cli(validator):
    report = validator.validate("Which region is in Oregon?", "Oregon is us-west-3.")
    data = report.to_dict()
    assert data["passed"] is False
    assert {"check": "accuracy", "message": "line 1: `us-west-3` is not an AWS region"} in data["issues"]


def test_json_excerpt_and_angle_placeholders_in_shell_are_not_syntax_errors(validator):
    response = (
        "Add these keys to the task definition:\n\n```json\n\"taskRoleArn\": \"arn:aws:iam::111122223333:role/r\",\n"
        "\"cpu\": \"256\"\n```\n\nThen fetch it:\n\n```bash\necho <finding-id>\n```\n"
    )
    report = validator.validate("How do I set the task role in the S3 task definition?", response)
    assert "accuracy" not in failing(report), report.issues
    broken = "Use:\n\n```json\n{\"cpu\": \"256\",}\n```\n"
    assert "accuracy" in failing(validator.validate("Show me an S3 example", broken))


def test_an_answer_about_a_neighbouring_variant_is_irrelevant():
    from pipeline.domain.quality.relevance import confused_variant

    query = "Our app sits behind a Network Load Balancer and logs the NLB's IPs instead of the client IPs. How do we get the client IP?"
    alb = "An Application Load Balancer acts as a proxy; read the X-Forwarded-For header in your app."
    nlb = "With a Network Load Balancer and IP targets, turn on client IP preservation or proxy protocol v2."
    assert "Network Load Balancer" in (confused_variant(query, alb) or "")
    assert confused_variant(query, nlb) is None
    # a question that names both is a comparison, not a confusion
    assert confused_variant("NLB or ALB for gRPC?", alb) is None


def test_a_short_yes_no_question_answered_at_essay_length_is_a_structure_defect():
    from pipeline.domain.quality.structure import far_too_long

    essay = " ".join(["DynamoDB tables cannot be renamed in place, so you copy the data."] * 40)
    assert far_too_long("quick q: can i rename a dynamodb table? just need yes/no", essay)
    assert far_too_long("quick q: can i rename a dynamodb table? just need yes/no", "No. Create a new table and copy the data.") is None
    assert far_too_long("How do I migrate 300 GB of MySQL to RDS with 15 minutes of downtime?", essay) is None


@pytest.mark.parametrize(
    ("query", "confused", "on_topic"),
    [
        (  # an access error answered as throttling
            "Bedrock invoke_model fails: AccessDeniedException: You don't have access to the model with the specified model ID.",
            "Bedrock applies per-model quotas on requests per minute. Retry with backoff when it throttles you.",
            "Request access to the model in the Bedrock console (Model access), then retry; AccessDeniedException goes away.",
        ),
        (  # throttling answered as permissions
            "DynamoDB returns ThrottlingException: Rate exceeded on every batch write.",
            "Your IAM policy is missing dynamodb:BatchWriteItem; add it to the role.",
            "The table is throttling writes: switch to on-demand or raise the write capacity.",
        ),
        (  # DNS failover between Regions answered with one ALB's target health checks
            "Active-passive: if us-east-1 goes down, DNS (Route 53) should fail over to us-west-2. How?",
            "### 1. Configure the target group health check\n\naws elbv2 modify-target-group --health-check-path /health",
            "Create two failover records in Route 53 with a health check on the primary ALB.",
        ),
        (  # Aurora replica lag answered as MySQL binlog replication, in Spanish
            "Tenemos un clúster Aurora MySQL con dos réplicas y AuroraReplicaLag sube a 3 segundos.",
            "Las réplicas de lectura de MySQL reciben los cambios a través del binlog.",
            "Las réplicas de Aurora comparten el volumen del clúster; el retraso suele venir de la carga del escritor.",
        ),
    ],
)
def test_answers_about_a_different_error_or_mechanism_are_off_topic(query, confused, on_topic):
    from pipeline.domain.quality.relevance import confused_variant

    assert confused_variant(query, confused)
    assert confused_variant(query, on_topic) is None


@pytest.mark.parametrize(
    ("tail", "cut"),
    [
        ('{\n  "Rules": [{"Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::rep', True),
        ("Resources:\n  Route:\n    Type: AWS::EC2::Route\n    Properties:\n      TransitGatewayId: !Ref", True),
        ("aws s3api put-bucket-versioning \\\n  --bucket my-bucket \\", True),
        # A forgotten closing fence swallowing a finished sentence is structure's, not a cut.
        ("aws s3 ls\n\nThat lists every bucket in the account.", False),
    ],
)
def test_an_answer_that_stops_inside_an_unclosed_code_block_is_cut_off(validator, tail, cut):
    response = f"Here is the configuration:\n\n```\n{tail}"
    report = validator.validate("How do I set up S3 replication?", response)
    assert ("completeness" in failing(report)) is cut
    assert "structure" in failing(report)


def test_javascript_with_an_unclosed_brace_does_not_parse(validator):
    code = "function handler(event) {\n    var request = event.request;\n    return request;\n"
    report = validator.validate("Can a CloudFront Function rewrite the query string?",
                                f"Yes, in a viewer request function:\n\n```javascript\n{code}```\n")
    assert "accuracy" in failing(report)
    closed = validator.validate("Can a CloudFront Function rewrite the query string?",
                                f"Yes, in a viewer request function:\n\n```javascript\n{code}}}\n```\n")
    assert "accuracy" not in failing(closed)


@pytest.mark.parametrize(
    ("code", "bad"),
    [
        ("function handler(event) {\n    var request = event.request;\n    return request;\n", True),
        ("const f = (a) => { return [a, (a + 1)]; });", True),
        ("function handler(event) {\n    // a } in a comment\n    var s = '}' + \"{\" + `${x}}`;\n"
         "    if (/[{]/.test(s)) { return 1; }\n    return 2;\n}", False),
        ("public class A {\n  /* { */\n  void f() { System.out.println(\"{\"); }\n}", False),
        ("func main() {\n\tfmt.Println(`raw {`)\n}", False),
        ("exports.handler = async (event) => {\n  ...\n", False),  # elided on purpose
    ],
)
def test_brace_mismatch_in_c_family_code(code, bad):
    from pipeline.domain.quality.parsing import brace_mismatch

    assert (brace_mismatch(code) is not None) is bad


def test_an_answer_that_defers_the_steps_to_the_docs_is_incomplete(validator):
    query = "How do I set up VPC Flow Logs for three VPCs into one S3 bucket?"
    background = ("Flow Logs record the traffic of your network interfaces.\n\n"
                  "- Destinations: CloudWatch Logs, S3 or Firehose\n- Records are delivered every 10 minutes\n\n")
    deferred = validator.validate(query, background + "For the detailed setup steps, please refer to the VPC User Guide.")
    assert "completeness" in failing(deferred)
    steps = ("1. Create the bucket policy.\n2. Run `aws ec2 create-flow-logs` for each VPC.\n\n"
             "For the detailed setup steps, see the VPC User Guide.")
    assert "completeness" not in failing(validator.validate(query, background + steps))


@pytest.mark.parametrize(
    ("code", "bad"),
    [
        ('resource "aws_security_group" "db" {\n  name = "db"\n  ingress {\n    from_port = 5432\n  }\n', True),
        ('# don\'t forget the } below\nresource "aws_s3_bucket" "b" {\n  bucket = "my-${var.env}-bucket"\n'
         '  policy = <<EOF\n{"Version": "2012-10-17"}\nEOF\n}\n', False),
    ],
)
def test_brace_mismatch_in_hcl(code, bad):
    from pipeline.domain.quality.parsing import brace_mismatch

    assert (brace_mismatch(code, hash_comments=True) is not None) is bad
