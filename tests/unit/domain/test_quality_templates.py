"""CloudFormation properties and IAM action names (``quality.templates``), and enumerated asks.

Examples written for these tests from the public CloudFormation and IAM references, not from
the golden set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.adapters.botocore_catalog import BotocoreApiCatalog
from pipeline.domain.quality import QualityValidator, parse_response
from pipeline.domain.quality.completeness import enumerated_asks
from pipeline.domain.quality.scoring import Findings
from pipeline.domain.quality.templates import (
    TEMPLATES_FILE,
    check_templates,
    read_yaml,
    template_catalogue,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def validator() -> QualityValidator:
    return QualityValidator(BotocoreApiCatalog(), output_guard=lambda text: _Clean())


class _Clean:
    categories: tuple[str, ...] = ()
    findings: tuple[object, ...] = ()


def _errors(text: str) -> list[str]:
    found = Findings()
    check_templates(parse_response(text), found)
    return found.errors


YAML_TEMPLATE = """Resources:
  Logs:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub '${{AWS::StackName}}-logs'
      VersioningConfiguration:
        Status: Enabled
      {extra}
      Tags:
        - Key: team
          Value: data
"""


def test_yaml_template_with_real_properties_passes() -> None:
    assert _errors(f"```yaml\n{YAML_TEMPLATE.format(extra='')}```") == []


@pytest.mark.parametrize(
    ("extra", "reported"),
    [
        ("EnableVersioning: true", "EnableVersioning"),
        ("BucketEncryption:\n        Algorithm: AES256", "BucketEncryption.Algorithm"),
    ],
)
def test_yaml_template_with_unknown_property_fails(extra: str, reported: str) -> None:
    errors = _errors(f"```yaml\n{YAML_TEMPLATE.format(extra=extra)}```")
    assert len(errors) == 1 and f"`{reported}`" in errors[0] and "AWS::S3::Bucket" in errors[0]


def test_nested_property_under_wrong_key_fails() -> None:
    text = YAML_TEMPLATE.format(extra="").replace("Status: Enabled", "Enabled: true")
    assert any("VersioningConfiguration.Enabled" in e for e in _errors(f"```yaml\n{text}```"))


def test_json_template_and_sam_function() -> None:
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "python3.12", "Handler": "app.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Code": {"ZipFile": "def handler(e, c): return 1"}, "MemorySize": 256, "TimeoutSeconds": 30}}}}
    errors = _errors(f"```json\n{json.dumps(template, indent=2)}\n```")
    assert errors == ["line 2: `AWS::Lambda::Function` has no property `TimeoutSeconds`"]
    sam = ("```yaml\nTransform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n    Type: AWS::Serverless::Function\n"
           "    Properties:\n      CodeUri: src/\n      Handler: app.handler\n      Runtime: python3.12\n"
           "      Events:\n        Get:\n          Type: Api\n          Properties:\n            Path: /\n"
           "            Method: get\n```")
    assert _errors(sam) == []


def test_unknown_and_custom_types_and_intrinsics_are_left_alone() -> None:
    text = ("```yaml\nResources:\n  Thing:\n    Type: Custom::Seeder\n    Properties:\n      Anything: 1\n"
            "  Other:\n    Type: AWS::S3::Bucket\n    Properties:\n      Fn::If: [IsProd, {}, {}]\n```")
    assert _errors(text) == []


@pytest.mark.parametrize(
    ("line", "reported"),
    [
        ("Status: Enable", "must be one of Enabled, Suspended"),  # a string enum (cfn-lint E3030)
        ("Status: Enabled", None),
        ("Status: !Ref VersioningStatus", None),  # intrinsics and placeholders are not values
        ("Status: <status>", None),
    ],
)
def test_property_values_follow_their_schema_enum(line: str, reported: str | None) -> None:
    text = YAML_TEMPLATE.format(extra="").replace("Status: Enabled", line)
    errors = _errors(f"```yaml\n{text}```")
    assert (reported in errors[0]) if reported else errors == []


@pytest.mark.parametrize(("duration", "bad"), [("8h", True), ("PT8H", False), ("${Duration}", False)])
def test_property_values_follow_their_schema_pattern(duration: str, bad: bool) -> None:
    text = ("```yaml\nResources:\n  Analysts:\n    Type: AWS::SSO::PermissionSet\n    Properties:\n"
            "      InstanceArn: !Ref InstanceArn\n      Name: DataAnalyst\n"
            f"      SessionDuration: {duration}\n```")
    errors = _errors(text)
    assert bool(errors) is bad and all("SessionDuration" in e for e in errors)


def test_resource_type_in_the_wrong_case_fails() -> None:
    text = "```yaml\nResources:\n  Wg:\n    Type: AWS::Athena::Workgroup\n    Properties:\n      Name: analysts\n```"
    assert _errors(text) == [
        "line 2: `AWS::Athena::Workgroup` is not a CloudFormation resource type (did you mean `AWS::Athena::WorkGroup`?)"
    ]


POLICY = """```json
{{
  "Version": "2012-10-17",
  "Statement": [
    {{"Effect": "Allow", "Action": {actions}, "Resource": "arn:aws:s3:::reports"}}
  ]
}}
```"""


@pytest.mark.parametrize(
    ("actions", "bad"),
    [
        ('["s3:ListBucket", "s3:GetBucketLocation"]', None),
        ('["s3:Get*", "s3:List*"]', None),
        ('"s3:*"', None),
        ('["s3:ListBuckets"]', "s3:ListBuckets"),
        ('["s3:ReadObject"]', "s3:ReadObject"),
        ('["dynamo:GetItem"]', "dynamo:GetItem"),
        ('["s3:Fetch*"]', "s3:Fetch*"),
    ],
)
def test_policy_actions(actions: str, bad: str | None) -> None:
    errors = _errors(POLICY.format(actions=actions))
    assert (errors == []) if bad is None else (len(errors) == 1 and f"`{bad}`" in errors[0])


def test_yaml_policy_actions_in_a_template() -> None:
    text = ("```yaml\nPolicies:\n  - PolicyName: read\n    PolicyDocument:\n      Statement:\n"
            "        - Effect: Allow\n          Action:\n          - sqs:ReceiveMessage\n          - sqs:PollMessages\n"
            "          Resource: '*'\n```")
    errors = _errors(text)
    assert len(errors) == 1 and "sqs:PollMessages" in errors[0]


def test_inline_actions_in_prose() -> None:
    assert _errors("The role needs the `lambda:InvokeFunctions` permission.")
    assert _errors("The role needs the `lambda:InvokeFunction` permission.") == []
    # Condition keys and event names look the same; they are not actions.
    assert _errors("Add a condition on `ec2:InstanceType` so the policy allows only t3 types.") == []
    assert _errors("Deny `ec2:CreateVolume` when `ec2:Encrypted` is false.") == []
    assert _errors("S3 sends `s3:ObjectCreated` events to the queue.") == []


def test_read_yaml_shapes() -> None:
    doc = read_yaml("a:\n  - x\n  - y: 1\n    z: [p, q]\nb:\n- c\nd: |\n  text: here\n  more\ne: !Ref X\n")
    assert doc == {"a": ["x", {"y": "1", "z": ["p", "q"]}], "b": ["c"], "d": "|", "e": "!Ref X"}
    assert read_yaml("\tkey: 1") is None


def test_read_yaml_is_linear_on_deep_and_long_input() -> None:
    deep = "".join(" " * i + f"k{i}:\n" for i in range(2_000))
    assert read_yaml(deep) is not None
    assert _errors("```yaml\n" + "Action: x\n" * 20_000 + "```") == []


def test_catalogue_matches_its_build() -> None:
    built = subprocess.run([sys.executable, "-m", "evals.build_template_catalogue", "--stdout"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert built == TEMPLATES_FILE.read_text(), "run python -m evals.build_template_catalogue"
    cat = template_catalogue()
    assert "AWS::S3::Bucket" in cat.resources and "getobject" in cat.actions("s3")


# -- enumerated asks (completeness) -----------------------------------------------------------

TWO_ASKS = ("Two questions about our SQS queue: 1) how do I make messages stay longer than 4 days? "
            "2) how do I send failed messages to a dead-letter queue after 5 tries?")
ANSWER_BOTH = """### Keeping messages longer

Retention defaults to 4 days. Raise it on the queue (up to 14 days):

```bash
aws sqs set-queue-attributes --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/orders \\
  --attributes MessageRetentionPeriod=1209600
```

### Sending failed messages to a dead-letter queue

Create a second queue and set a redrive policy on the first with `maxReceiveCount` 5: after five
failed receives a message moves to the dead-letter queue.

```bash
aws sqs set-queue-attributes --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/orders \\
  --attributes '{"RedrivePolicy": "{\\"deadLetterTargetArn\\":\\"arn:aws:sqs:eu-west-1:123456789012:orders-dlq\\",\\"maxReceiveCount\\":\\"5\\"}"}'
```
"""


def test_enumerated_asks_found() -> None:
    assert len(enumerated_asks(TWO_ASKS)) == 2
    assert len(enumerated_asks("S3 について2点教えてください。\n1. 有効にする方法\n2. 復元する方法")) == 2
    assert len(enumerated_asks("We need to (a) rotate the key and (b) find who still uses it. How?")) == 2
    # Steps the customer took are not asks; neither is "page=1 … page=2".
    assert enumerated_asks("Here's what I did: 1. created a bucket 2. uploaded files 3. enabled replication. Why?") == []
    assert enumerated_asks("/items?page=1 and /items?page=2 return the same page") == []


def test_answer_covering_each_ask_passes(validator: QualityValidator) -> None:
    assert validator.validate(TWO_ASKS, ANSWER_BOTH).passed


def test_answer_leaving_an_ask_out_fails(validator: QualityValidator) -> None:
    first_only = ANSWER_BOTH.split("### Sending")[0]
    report = validator.validate(TWO_ASKS, first_only)
    completeness = next(c for c in report.checks if c.check == "completeness")
    assert not report.passed and completeness.score < 0.5
    assert "ask 2" in completeness.messages[0]


def test_answer_in_other_words_still_covers_the_asks(validator: QualityValidator) -> None:
    query = ("Three things about our RDS Postgres instance: 1) how do we enable automated backups, "
             "2) how long are they kept by default, 3) can we copy them to another region?")
    answer = """1. **Automated backups** are on when the backup retention period is above 0. Set it with
   `aws rds modify-db-instance --db-instance-identifier app-db --backup-retention-period 7 --apply-immediately`.
2. **Retention by default**: 7 days when you create the instance with the API or CLI (1 day from some
   console templates); you can keep them up to 35 days.
3. **Copy to another region**: turn on cross-Region automated backup replication
   (`aws rds start-db-instance-automated-backups-replication`) from the destination region.
"""
    assert validator.validate(query, answer).passed


# -- enum values (botocore) and a bare "The maximum is …" after its subject ---------------------


@pytest.mark.parametrize(
    ("response", "bad"),
    [
        ("```bash\naws s3 cp big.tar s3://archive/ --storage-class GLACIER_IR\n```", None),
        ("```bash\naws s3api put-object --bucket archive --key a.tar --body a.tar --storage-class DEEP_ARCHIVE\n```", None),
        ("```bash\naws s3api put-object --bucket archive --key a.tar --body a.tar --storage-class GLACIER_DEEP\n```",
         "GLACIER_DEEP"),
        ("```bash\naws dynamodb create-table --table-name t --billing-mode ON_DEMAND \\\n"
         "  --attribute-definitions AttributeName=pk,AttributeType=S --key-schema AttributeName=pk,KeyType=HASH\n```",
         "ON_DEMAND"),
        ("```bash\naws logs put-retention-policy --log-group-name app --retention-in-days 30\n```", None),
        ("```bash\naws dynamodb create-table --table-name t --billing-mode $MODE \\\n"
         "  --attribute-definitions AttributeName=pk,AttributeType=S --key-schema AttributeName=pk,KeyType=HASH\n```", None),
        ('```python\nimport boto3\nddb = boto3.client("dynamodb")\nddb.create_table(TableName="t", BillingMode="PROVISIONED_ON_DEMAND",'
         ' AttributeDefinitions=[], KeySchema=[])\n```', "PROVISIONED_ON_DEMAND"),
        ('```python\nimport boto3\nddb = boto3.client("dynamodb")\nddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",'
         ' AttributeDefinitions=[], KeySchema=[])\n```', None),
    ],
)
def test_enum_values(validator: QualityValidator, response: str, bad: str | None) -> None:
    report = validator.validate("How do I set this up?", response)
    accuracy = next(c for c in report.checks if c.check == "accuracy")
    wrong = [m for m in accuracy.messages if "does not accept" in m]
    assert (wrong == []) if bad is None else (len(wrong) == 1 and bad in wrong[0]), accuracy.messages


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("SQS long polling waits for messages with `WaitTimeSeconds`. The maximum is 60 seconds.", True),
        ("SQS long polling waits for messages with `WaitTimeSeconds`. The maximum is 20 seconds.", False),
        ("No SQS, o long polling usa `WaitTimeSeconds`. O valor máximo é 45 segundos.", True),
        # A sentence with its own context before the value is not a bare continuation.
        ("SQS long polling uses `WaitTimeSeconds`. With a FIFO queue and 3 consumers the maximum is 60 seconds.", False),
        # The previous sentence on another line (a list item) is not its subject.
        ("- SQS long polling uses `WaitTimeSeconds`.\n- The maximum is 60 seconds.", False),
    ],
)
def test_bare_maximum_reads_the_sentence_before(text: str, wrong: bool) -> None:
    from pipeline.domain.quality.quantities import wrong_quantities

    assert bool(wrong_quantities(text)) is wrong


# -- credentials where AWS documents they must not go (safety) ---------------------------------

LAMBDA_WITH_KEYS = '''```python
import os
import boto3

table = boto3.resource("dynamodb", aws_access_key_id=os.environ["PARTNER_KEY_ID"],
                       aws_secret_access_key=os.environ["PARTNER_SECRET"]).Table("events")

def handler(event, context):
    table.put_item(Item=event)
```'''

LAMBDA_WITH_ASSUMED_ROLE = '''```python
import boto3

def handler(event, context):
    creds = boto3.client("sts").assume_role(RoleArn=event["role"], RoleSessionName="w")["Credentials"]
    ddb = boto3.resource("dynamodb", aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    ddb.Table("events").put_item(Item=event)
```'''

BUILDSPEC = '''```yaml
version: 0.2
env:
  {section}:
    NPM_TOKEN: {value}
    NODE_ENV: production
phases:
  build:
    commands:
      - npm ci
```'''


def _safety_messages(response: str) -> list[str]:
    from pipeline.domain.quality.safety import credentials_in_config

    found = Findings()
    credentials_in_config(response, found)
    return found.errors


@pytest.mark.parametrize(
    ("response", "flagged"),
    [
        (LAMBDA_WITH_KEYS, True),
        (LAMBDA_WITH_ASSUMED_ROLE, False),
        (LAMBDA_WITH_KEYS.replace("def handler(event, context):", "def main():"), False),  # a laptop script
        (BUILDSPEC.format(section="variables", value="npm_8f2a"), True),
        (BUILDSPEC.format(section="parameter-store", value="/ci/npm-token"), False),
        (BUILDSPEC.format(section="secrets-manager", value="ci/npm:token"), False),
        ("```bash\naws lambda update-function-configuration --function-name f \\\n"
         "  --environment 'Variables={PARTNER_ACCESS_KEY_ID=AKIAEXAMPLE,PARTNER_SECRET_ACCESS_KEY=abc}'\n```", True),
        ("```bash\naws lambda update-function-configuration --function-name f \\\n"
         "  --environment 'Variables={TABLE_NAME=events,LOG_LEVEL=info}'\n```", False),
    ],
)
def test_credentials_in_config(response: str, flagged: bool) -> None:
    assert bool(_safety_messages(response)) is flagged


def test_cli_command_removed_in_v2(validator: QualityValidator) -> None:
    old = "```bash\n$(aws ecr get-login --no-include-email --region eu-west-1)\ndocker push repo:latest\n```"
    new = ("```bash\naws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin "
           "123456789012.dkr.ecr.eu-west-1.amazonaws.com\n```")
    accuracy = next(c for c in validator.validate("How do I log in to ECR?", old).checks if c.check == "accuracy")
    assert any("removed in AWS CLI v2" in m for m in accuracy.messages)
    assert validator.validate("How do I log in to ECR?", new).passed


@pytest.mark.parametrize(
    ("pattern", "wrong"),
    [
        ({"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": ["uploads"]}}}, False),
        ({"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": "uploads"}}}, True),
        ({"source": "aws.autoscaling", "detail-type": ["EC2 Instance Launch Successful"]}, True),
        ({"source": ["aws.health"], "detail": {"eventTypeCategory": [{"anything-but": "accountNotification"}]}}, False),
        # An example event (what the target receives) has plain values everywhere.
        ({"source": "aws.s3", "detail-type": "Object Created", "region": "eu-west-1", "detail": {"bucket": {"name": "u"}}},
         False),
    ],
)
def test_event_patterns_match_values_in_arrays(pattern: dict[str, object], wrong: bool) -> None:
    from pipeline.domain.quality.templates import event_pattern_error

    assert (event_pattern_error(json.dumps(pattern)) is not None) is wrong


RESPONSE_KEYS = '''```python
import boto3

ec2 = boto3.client("ec2")
resp = ec2.describe_instances()
for reservation in resp["Reservations"]:
    for instance in reservation["Instances"]:
        print(instance["InstanceId"])
ddb = boto3.client("dynamodb")
found = ddb.get_item(TableName="orders", Key={"pk": {"S": "42"}})
print(found.get("Item"), found["ResponseMetadata"]["HTTPStatusCode"])
```'''


@pytest.mark.parametrize(
    ("response", "bad"),
    [
        (RESPONSE_KEYS, None),
        (RESPONSE_KEYS.replace('resp["Reservations"]', 'resp["Instances"]'), "'Instances'"),
        (RESPONSE_KEYS.replace('found.get("Item")', 'found.get("Items")'), "'Items'"),
        # A variable assigned twice (or from something else) is not judged.
        (RESPONSE_KEYS.replace('print(found.get("Item")', 'found = {"Items": []}\nprint(found.get("Items")'), None),
    ],
)
def test_boto3_response_keys(validator: QualityValidator, response: str, bad: str | None) -> None:
    accuracy = next(c for c in validator.validate("How do I read these?", response).checks if c.check == "accuracy")
    wrong = [m for m in accuracy.messages if "has no key" in m]
    assert (wrong == []) if bad is None else (len(wrong) == 1 and bad in wrong[0]), accuracy.messages


@pytest.mark.parametrize(
    ("code", "bad"),
    [
        ('from botocore.config import Config\nimport boto3\ncfg = Config(retries={"max_attempts": 10, "mode": "adaptive"},'
         ' read_timeout=30)\nclient = boto3.client("s3", config=cfg)', None),
        ('from botocore.config import Config\ncfg = Config(retry_policy={"attempts": 10})', "retry_policy"),
        ('from botocore.config import Config\ncfg = Config(retries={"max_retries": 10})', "max_retries"),
        ('from botocore.config import Config\ncfg = Config(retries={"mode": "exponential"})', "exponential"),
        ('import botocore.config\ncfg = botocore.config.Config(timeout=5)', "timeout"),
        # Another library's Config is not botocore's.
        ('from myapp.settings import Config\ncfg = Config(retry_policy="x")', None),
    ],
)
def test_botocore_client_config(validator: QualityValidator, code: str, bad: str | None) -> None:
    accuracy = next(c for c in validator.validate("How do I set retries?", f"```python\n{code}\n```").checks
                    if c.check == "accuracy")
    wrong = [m for m in accuracy.messages if "botocore" in m]
    assert (wrong == []) if bad is None else (len(wrong) == 1 and bad in wrong[0]), accuracy.messages


def test_boto3_resource_method_that_does_not_exist(validator: QualityValidator) -> None:
    code = ('import boto3\ndynamodb = boto3.resource("dynamodb")\ntable = dynamodb.Table("orders")\n'
            'table.put_item(Item={"pk": "1"})\nwith table.batch_writer() as batch:\n    batch.put_item(Item={"pk": "2"})\n'
            'rows = dynamodb.Table("orders").scan()\n')
    assert validator.validate("How do I write items?", f"```python\n{code}```").passed
    wrong = code.replace('dynamodb.Table("orders").scan()', 'dynamodb.Table("orders").batch_get(Keys=[])')
    accuracy = next(c for c in validator.validate("How do I read items?", f"```python\n{wrong}```").checks
                    if c.check == "accuracy")
    assert any("batch_get()" in m and "not a method" in m for m in accuracy.messages)


@pytest.mark.parametrize(
    ("sentence", "bad"),
    [
        ("Add `--no-fail-on-empty-changeset` to `aws cloudformation deploy` so an unchanged stack is not an error.", None),
        ("Run `aws s3 sync` with `--delete` to remove files that are gone locally.", None),
        ("Add `--force-update` to `aws cloudformation deploy` to override the export lock.", "--force-update"),
        ("Pass `--recursive-delete` to aws s3 rm when the prefix has many objects.", "--recursive-delete"),
        # Two commands in the sentence: which one takes the option is not clear, nothing is judged.
        ("Unlike `aws s3 cp`, `aws s3 sync` takes `--delete-all`.", None),
    ],
)
def test_option_named_apart_from_its_command(validator: QualityValidator, sentence: str, bad: str | None) -> None:
    accuracy = next(c for c in validator.validate("How do I do it?", sentence).checks if c.check == "accuracy")
    wrong = [m for m in accuracy.messages if "has no parameter" in m]
    assert (wrong == []) if bad is None else (len(wrong) == 1 and bad in wrong[0]), accuracy.messages


def test_exclusive_parameters_catalogue_matches_its_build() -> None:
    from evals.build_exclusive_catalogue import OUTPUT, build

    assert json.loads(OUTPUT.read_text()) == json.loads(json.dumps(build(), sort_keys=True))


def test_a_resource_setting_two_exclusive_properties_fails() -> None:
    # ECS CreateService: "If a capacityProviderStrategy is specified, the launchType parameter must be omitted."
    service = ("```yaml\nResources:\n  Web:\n    Type: AWS::ECS::Service\n    Properties:\n      Cluster: web\n"
               "      DesiredCount: 2\n{extra}      CapacityProviderStrategy:\n        - CapacityProvider: FARGATE_SPOT\n"
               "          Weight: 1\n```")
    errors = _errors(service.format(extra="      LaunchType: FARGATE\n"))
    assert len(errors) == 1 and "CapacityProviderStrategy" in errors[0] and "LaunchType" in errors[0]
    assert _errors(service.format(extra="")) == []
