"""The CLI check knows the real AWS CLI: customisations, v2 commands, prose commands.

The catalogue is built from the ``awscli`` package by ``python -m evals.build_cli_catalogue``;
the first test proves the shipped file is what that script writes for the pinned version.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.domain.quality.cli_catalogue import (
    CLI_CATALOGUE,
    CliCatalogueError,
    load_cli_catalogue,
)
from pipeline.handlers.composition import offline_services

REPO_ROOT = Path(__file__).resolve().parents[3]
QUERY = "How do I set this up from the command line?"


@pytest.fixture(scope="module")
def validator():
    return offline_services().validator


def _accuracy(validator, response: str) -> tuple[str, ...]:
    report = validator.validate(QUERY, response)
    return next(c.messages for c in report.checks if c.check == "accuracy")


@pytest.mark.xdist_group("awscli_build")
def test_shipped_cli_catalogue_is_what_the_build_script_writes():
    try:
        installed = importlib.metadata.version("awscli")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("awscli is not installed (it is in the train dependency group)")
    shipped = json.loads(CLI_CATALOGUE.read_text(encoding="utf-8"))
    if shipped["awscli_version"] != installed:
        pytest.skip(f"shipped catalogue is for awscli {shipped['awscli_version']}, {installed} is installed")
    # Its own process: importing awscli replaces botocore with the copy it vendors.
    built = subprocess.run(
        [sys.executable, "-m", "evals.build_cli_catalogue", "--stdout"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert built == CLI_CATALOGUE.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "command",
    [
        # Options the CLI adds to API operations (customisations).
        "aws ec2 authorize-security-group-ingress --group-id sg-1 --protocol tcp --port 22 --cidr 203.0.113.0/24",
        "aws ec2 revoke-security-group-ingress --group-id sg-1 --protocol tcp --port 22 --source-group sg-2",
        "aws ec2 run-instances --image-id ami-12345678 --count 1 --instance-type t3.micro",
        "aws sns subscribe --topic-arn arn:aws:sns:us-east-1:111122223333:alerts --protocol email "
        "--notification-endpoint ops@example.com",
        "aws eks update-cluster-version --name prod --kubernetes-version 1.29",
        "aws lambda create-function --function-name f --runtime python3.12 --role arn:aws:iam::111122223333:role/r "
        "--handler app.handler --zip-file fileb://function.zip",
        "aws ec2 describe-instances --max-items 5 --no-cli-pager --output table",
        # The CLI's own commands (v1 and v2).
        "aws s3 cp ./site s3://my-bucket/ --recursive --exclude '*.tmp'",
        "aws cloudformation deploy --template-file t.yaml --stack-name s --capabilities CAPABILITY_IAM",
        "aws eks update-kubeconfig --name prod --region eu-west-1",
        "aws logs tail /aws/lambda/f --follow --since 10m",
        "aws configure set region eu-west-1",
        "aws ecr get-login-password --region us-east-1",
        # Streaming output takes the file as a positional argument (the catalogue's --outfile).
        "aws lambda invoke --function-name my-fn --payload '{}' response.json",
        "aws lambda invoke --function-name my-fn --cli-binary-format raw-in-base64-out out.json",
        "aws s3api get-object --bucket my-bucket --key logs/app.log app.log",
    ],
)
def test_valid_cli_commands_pass(validator, command):
    assert _accuracy(validator, f"Run this:\n\n```bash\n{command}\n```\n") == ()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("aws ec2 authorize-security-group-ingress --group-id sg-1 --proto tcp --port 22", "has no parameter --proto"),
        # `--version` is the global flag here: the CLI renamed the member to --kubernetes-version.
        ("aws eks update-cluster-version --name prod --version 1.29", "missing required parameter(s) --kubernetes-version"),
        ("aws sns subscribe --topic-arn arn:aws:sns:us-east-1:111122223333:t --protocol email --endpoint a@b.c",
         "has no parameter --endpoint"),
        ("aws ec2 describe-instance --instance-ids i-1", "did you mean describe-instances"),
        ("aws s3 get-object --bucket b --key k out.txt", "use `aws s3api get-object`"),
        ("aws s3 sync . s3://b --delete-removed", "has no parameter --delete-removed"),
        ("aws logs tail /aws/lambda/f --folow", "has no parameter --folow"),
        ("aws ec3 describe-instances", "is not an AWS CLI service"),
        ("aws sqs send-message --queue-url https://sqs.example/q", "missing required parameter(s) --message-body"),
        ("aws s3api get-object --bucket my-bucket --key logs/app.log", "missing required parameter(s) --outfile"),
    ],
)
def test_invalid_cli_commands_fail(validator, command, message):
    messages = _accuracy(validator, f"Run this:\n\n```bash\n{command}\n```\n")
    assert any(message in m for m in messages), messages


def test_commands_in_plain_prose_are_checked(validator):
    assert _accuracy(
        validator,
        "Open port 22 with aws ec2 authorize-security-group-ingress --group-id sg-1 --protocol tcp --port 22 "
        "--cidr 203.0.113.0/24 and try again.",
    ) == ()
    messages = _accuracy(validator, "Then run aws ec2 describe-instance --instance-ids i-1 to check the state.")
    assert any("describe-instances" in m for m in messages), messages
    messages = _accuracy(validator, "Use aws s3 sync --delete-removed to mirror the folder.")
    assert any("--delete-removed" in m for m in messages), messages


def test_ordinary_prose_after_aws_is_not_a_command(validator):
    assert _accuracy(validator, "Review the aws account settings page and the aws support plans first.") == ()
    # Prose names a command without its required options: that is not a broken call.
    assert _accuracy(validator, "The aws sqs send-message command posts one message.") == ()


def test_loader_names_a_missing_key(tmp_path):
    data = json.loads(CLI_CATALOGUE.read_text(encoding="utf-8"))
    del data["global_options"]
    path = tmp_path / "cli_commands.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CliCatalogueError, match="global_options"):
        load_cli_catalogue(path)


def test_a_command_substitution_does_not_cut_the_aws_command_it_sits_in(validator):
    whole = ("```bash\nQUERY_ID=$(aws logs start-query \\\n  --log-group-names /aws/lambda/orders \\\n"
             "  --start-time $(date -d '1 hour ago' +%s) \\\n  --end-time $(date +%s) \\\n"
             "  --query-string 'filter @message like /ERROR/' \\\n  --query queryId --output text)\n```\n")
    assert _accuracy(validator, "Run this:\n\n" + whole) == ()
    cut = "```bash\nX=$(aws logs start-query --log-group-names a --start-time $(date +%s))\n```\n"
    assert any("missing required parameter(s) --end-time, --query-string" in m
               for m in _accuracy(validator, "Run this:\n\n" + cut))


def test_the_negative_spelling_of_a_required_boolean_satisfies_it(validator):
    entry = ("```bash\naws ec2 create-network-acl-entry --network-acl-id acl-0123456789abcdef0 {flag} "
             "--rule-number 110 --protocol tcp --port-range From=1024,To=65535 --cidr-block 0.0.0.0/0 "
             "--rule-action allow\n```\n")
    for flag in ("--egress", "--ingress"):
        assert _accuracy(validator, "Add the rule:\n\n" + entry.format(flag=flag)) == ()
    assert any("--egress" in m for m in _accuracy(validator, "Add the rule:\n\n" + entry.format(flag="")))


@pytest.mark.parametrize(
    "command",
    [
        # Options awscli's s3 plugins add when `sync` builds its command table (sync strategies).
        "aws s3 sync ./site s3://my-bucket --delete --exclude '*.tmp'",
        "aws s3 sync s3://a s3://b --size-only",
        "aws s3 sync ./build s3://my-bucket --exact-timestamps",
        # Waiters, from botocore's waiter models.
        "aws ec2 wait instance-running --instance-ids i-0123456789abcdef0",
        "aws cloudformation wait stack-create-complete --stack-name app",
        "aws s3api wait bucket-exists --bucket my-bucket",
    ],
)
def test_sync_strategy_options_and_real_waiters_pass(validator, command):
    assert _accuracy(validator, f"```bash\n{command}\n```") == ()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("aws ec2 wait instance-started --instance-ids i-0123456789abcdef0", "is not a waiter of `aws ec2`"),
        ("aws dynamodb wait table-active --table-name t", "is not a waiter of `aws dynamodb`"),
    ],
)
def test_a_waiter_that_does_not_exist_fails(validator, command, message):
    assert any(message in m for m in _accuracy(validator, f"```bash\n{command}\n```"))


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("ec2.get_waiter('instance_running').wait(InstanceIds=['i-1'])", True),
        ("ec2.get_waiter('instance_started').wait(InstanceIds=['i-1'])", False),
        ("ec2.get_paginator('describe_instances')", True),
        ("ec2.get_paginator('describe_instance')", False),
    ],
)
def test_boto3_waiter_and_paginator_names_are_checked(validator, code, valid):
    response = f"```python\nimport boto3\nec2 = boto3.client('ec2')\n{code}\n```"
    messages = _accuracy(validator, response)
    assert (messages == ()) is valid, messages


def test_an_operations_own_max_items_is_not_taken_for_pagination(validator):
    # wafv2 GetSampledRequests is not paginated: MaxItems is its own required parameter.
    command = ("```bash\naws wafv2 get-sampled-requests --web-acl-arn arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/a/1"
               " --rule-metric-name common --scope REGIONAL --time-window StartTime=1,EndTime=2{extra}\n```")
    assert _accuracy(validator, command.format(extra=" --max-items 50")) == ()
    assert any("--max-items" in m for m in _accuracy(validator, command.format(extra="")))


CONSOLE = "Run this in Dev Tools:\n\n```json\nPUT _index_template/logs\n{{\n  \"index_patterns\": [\"logs-*\"]{extra}\n}}\n\nGET _cluster/health\n```\n"


@pytest.mark.parametrize(("extra", "bad"), [("", False), (",", True)])
def test_opensearch_console_requests_in_a_json_block(validator, extra, bad):
    # Dev Tools console format: a request line, then its JSON body (OpenSearch Dashboards docs).
    assert bool(_accuracy(validator, CONSOLE.format(extra=extra))) is bad


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ("PUT _ilm/policy/retention\n{\"policy\": {}}", True),
        ("PUT app-logs-*/_settings\n{\"index.lifecycle.name\": \"retention\"}", True),
        ("PUT _plugins/_ism/policies/retention\n{\"policy\": {}}", False),
        ("PUT _plugins/_security/api/rolesmapping/all_access\n{\"users\": []}", False),
    ],
)
def test_elasticsearch_xpack_apis_in_an_opensearch_answer(validator, body, bad):
    response = f"On your Amazon OpenSearch Service domain, run:\n\n```json\n{body}\n```\n"
    assert any("X-Pack" in m for m in _accuracy(validator, response)) is bad


def test_an_answer_in_glues_own_vocabulary_is_about_glue(validator):
    query = "Glue 4.0 Spark job on 10 x G.1X workers runs out of memory. Switch to G.2X or add workers?"
    response = ("G.2X doubles the memory per executor (2 DPU per worker), which is what fixes an executor running "
                "out of memory; more G.1X workers only add parallelism. Enable job metrics to see executor "
                "memory in CloudWatch.\n\n1. Check the Spark UI for skew.\n2. Switch to 5 x G.2X.\n")
    relevance = next(c for c in validator.validate(query, response).checks if c.check == "relevance")
    assert relevance.score >= 0.5, relevance.messages


def test_a_cli_call_with_two_exclusive_options_fails(validator):
    command = ("```bash\naws ecs create-service --cluster web --service-name api --task-definition api:3 "
               "--desired-count 2{extra} --capacity-provider-strategy capacityProvider=FARGATE_SPOT,weight=1\n```")
    assert any("cannot take both" in m for m in _accuracy(validator, command.format(extra=" --launch-type FARGATE")))
    assert not any("cannot take both" in m for m in _accuracy(validator, command.format(extra="")))


@pytest.mark.parametrize(
    ("name", "bad"),
    [("example-shop.com", True), ("example.co.uk.", True), ("www.example-shop.com", False), ("api.example.com", False)],
)
def test_a_cname_at_the_zone_apex(validator, name, bad):
    # RFC 1034 3.6.2: no CNAME beside the apex's SOA and NS; Route 53 uses an alias record there.
    batch = {"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": name, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": "lb-1.eu-west-1.elb.amazonaws.com"}]}}]}
    response = ("```bash\naws route53 change-resource-record-sets --hosted-zone-id Z1 --change-batch '"
                + json.dumps(batch) + "'\n```\n")
    assert any("zone apex" in m for m in _accuracy(validator, response)) is bad


@pytest.mark.parametrize(
    ("response", "message"),
    [
        # botocore docs: "Valid values: 1 to 10" (ReceiveMessage.MaxNumberOfMessages).
        ("```bash\naws sqs receive-message --queue-url https://sqs.us-east-1.amazonaws.com/1/q "
         "--max-number-of-messages 20\n```\n", "above the documented maximum 10"),
        # botocore docs: "Values range: 0 to 43200" (ChangeMessageVisibility.VisibilityTimeout).
        ("```bash\naws sqs change-message-visibility --queue-url u --receipt-handle r --visibility-timeout 86400\n```\n",
         "above the documented maximum 43200"),
        # shape limit (elbv2 HealthyThresholdCount min 2).
        ("```python\nimport boto3\nelb = boto3.client('elbv2')\nelb.modify_target_group(TargetGroupArn='arn', "
         "HealthyThresholdCount=1)\n```\n", "below the documented minimum 2"),
        ("```python\nimport boto3\nsqs = boto3.client('sqs')\nsqs.receive_message(QueueUrl='u', MaxNumberOfMessages=25)\n```\n",
         "above the documented maximum 10"),
    ],
)
def test_a_number_outside_the_documented_range_fails(validator, response, message):
    assert any(message in m for m in _accuracy(validator, response)), _accuracy(validator, response)


@pytest.mark.parametrize(
    "response",
    [
        "```bash\naws sqs receive-message --queue-url u --max-number-of-messages 10 --wait-time-seconds 20\n```\n",
        # "The range 32767 to 65535 is reserved for internal use": not the parameter's range.
        "```bash\naws ec2 create-network-acl-entry --network-acl-id acl-1 --ingress --rule-number 110 --protocol tcp "
        "--port-range From=443,To=443 --cidr-block 0.0.0.0/0 --rule-action allow\n```\n",
        "```bash\naws rds modify-db-instance --db-instance-identifier db1 --backup-retention-period 0\n```\n",
        "```python\nimport boto3\nsqs = boto3.client('sqs')\nsqs.receive_message(QueueUrl='u', MaxNumberOfMessages=10)\n```\n",
    ],
)
def test_a_number_inside_the_documented_range_passes(validator, response):
    assert not any("documented" in m for m in _accuracy(validator, response))


@pytest.mark.parametrize(
    ("documentation", "expected"),
    [
        ("<p>Valid values: 1 to 10. Default: 1.</p>", (1, 10)),
        ("<p>Values range: <code>0</code> to <code>43200</code>.</p>", (0, 43200)),
        ("<p>Constraints:</p><ul><li><p>Must be a value from 1 to 35.</p></li></ul>", (1, 35)),
        ("<p>The range is 2-10.</p>", (2, 10)),
        ("<p>Valid Range: Minimum value of 0. Maximum value of 200.</p>", (0, 200)),
        ("<p>For MySQL: Must be an integer from 20 to 65536. For SQL Server: Must be an integer from 20 to 16384.</p>",
         (20, 65536)),  # one range per engine: the widest span
        ("<p>Valid Values: 1150-65535 for MySQL; Valid Values: 1-100 for X</p>", (1, 65535)),
        ("<p>Positive integer from 1 to 32766. The range 32767 to 65535 is reserved for internal use.</p>", None),
        ("<p>The number of days between 1 and 3 runs.</p>", None),
    ],
)
def test_documented_range_reads_botocore_docs(documentation, expected):
    from pipeline.adapters.botocore_catalog import documented_range

    assert documented_range(documentation) == expected


@pytest.mark.parametrize(
    ("command", "bad"),
    [
        ("aws s3 sync ./site s3://my-site-bucket --no-delete", True),  # sync's --delete has no negation
        ("aws s3 sync ./site s3://my-site-bucket --no-progress", False),
        ("aws s3 cp big.iso s3://b/ --no-guess-mime-type", False),
        ("aws lambda update-event-source-mapping --uuid 0c5e8f2a-71b4-4d93-a6e0-3b9d2f7c1e48 --no-enabled", False),
        ("aws ec2 modify-subnet-attribute --subnet-id subnet-1 --no-map-public-ip-on-launch", False),
        ("aws ec2 modify-instance-attribute --instance-id i-1 --no-disable-api-termination", False),
        ("aws rds modify-db-instance --db-instance-identifier db1 --no-multi-az", False),
        # BackupRetentionPeriod is an integer: the CLI has no --no- form for it.
        ("aws rds modify-db-instance --db-instance-identifier db1 --no-backup-retention-period", True),
    ],
)
def test_a_negated_option_must_negate_a_flag(validator, command, bad):
    messages = _accuracy(validator, f"Run this:\n\n```bash\n{command}\n```\n")
    assert any("has no parameter --no-" in m for m in messages) is bad, messages
