"""Multi-part questions, ask kinds, topic relevance and inline CLI calls."""

from __future__ import annotations

import pytest

from pipeline.adapters.botocore_catalog import BotocoreApiCatalog
from pipeline.domain.quality import QualityValidator, question_parts


@pytest.fixture(scope="module")
def validator() -> QualityValidator:
    return QualityValidator(BotocoreApiCatalog(), output_guard=lambda text: _Clean())


class _Clean:
    categories: tuple[str, ...] = ()
    findings: tuple[object, ...] = ()


def _failed(validator: QualityValidator, query: str, response: str, check: str) -> bool:
    report = validator.validate(query, response)
    return not report.passed and any(c.check == check and c.score < 0.5 for c in report.checks)


@pytest.mark.parametrize(
    ("query", "parts"),
    [
        ("How do I take a snapshot of my EBS volume and copy it to another region?", 2),
        ("How do I find unused EBS volumes and Elastic IPs in my account?", 2),
        ("What is the difference between SQS standard and FIFO queues?", 1),
        ("How do I create and attach an EBS volume?", 1),
        ("Two things: 1) how do I rotate access keys 2) how do I enforce MFA for console users?", 2),
    ],
)
def test_question_parts(query: str, parts: int) -> None:
    assert len(question_parts(query)) == parts


def test_second_action_ignored_fails(validator: QualityValidator) -> None:
    assert _failed(
        validator,
        "How do I take a snapshot of my EBS volume and copy it to another region?",
        "Create it with `aws ec2 create-snapshot --volume-id vol-0abc1234def567890`. "
        "Snapshots are incremental, so only changed blocks are stored.",
        "completeness",
    )


@pytest.mark.parametrize(
    ("query", "response"),
    [
        (
            "How do I back up my DynamoDB table and how long are the backups kept?",
            "Turn on point-in-time recovery in the table's **Backups** tab, or create an on-demand "
            "backup there with **Create backup**. You can restore either kind to a new table.",
        ),
        (
            "Does Lambda support Python 3.12, and how much memory can a function have?",
            "Yes, `python3.12` is a supported runtime; choose it when you create the function. "
            "Memory is set per function in **Configuration > General configuration**.",
        ),
    ],
)
def test_ask_kind_not_answered_fails(validator: QualityValidator, query: str, response: str) -> None:
    assert _failed(validator, query, response, "completeness")


@pytest.mark.parametrize(
    ("query", "response"),
    [
        (
            "How do I enable S3 versioning, and how much extra will it cost me?",
            "1. Open the bucket's **Properties** tab.\n2. Under **Bucket Versioning** choose **Edit** "
            "and **Enable**.\n\nVersioning itself is free, but you pay standard storage rates for "
            "every noncurrent version, so add a lifecycle rule to expire old versions.",
        ),
        (
            "How do I create a bucket and upload a file to it?",
            "Run:\n\n```bash\naws s3 mb s3://my-bucket\naws s3 cp report.pdf s3://my-bucket/\n```\n\n"
            "The bucket name must be globally unique.",
        ),
        (
            "Is there a limit on Lambda concurrency?",
            "Yes. By default each account has 1,000 concurrent executions per Region, shared by all "
            "functions. You can request an increase in Service Quotas.",
        ),
        (
            "Can Lambda functions write to the local disk?",
            "Yes, to `/tmp`. It has 512 MB by default and can be configured up to 10,240 MB "
            "(**Ephemeral storage**). It can survive between invocations but is lost when the "
            "execution environment is recycled.",
        ),
    ],
)
def test_good_multi_part_answers_pass(validator: QualityValidator, query: str, response: str) -> None:
    report = validator.validate(query, response)
    assert report.passed, report.issues


def test_generic_answer_to_short_question_fails_relevance(validator: QualityValidator) -> None:
    assert _failed(
        validator,
        "How do I delete my AWS account?",
        "Thanks for your question! Here are some general best practices: enable MFA for the root "
        "user, use IAM roles instead of access keys, and set up budgets to watch your spending.",
        "relevance",
    )


def test_inline_cli_call_with_options_must_be_complete(validator: QualityValidator) -> None:
    query = "How do I turn on versioning for my S3 bucket?"
    incomplete = "Run `aws s3api put-bucket-versioning --versioning-configuration Status=Enabled` to turn it on."
    complete = (
        "Run `aws s3api put-bucket-versioning --bucket my-bucket "
        "--versioning-configuration Status=Enabled` to turn it on."
    )
    named = "The `aws s3api put-bucket-versioning` command turns versioning on for a bucket you name."
    assert _failed(validator, query, incomplete, "accuracy")
    assert validator.validate(query, complete).passed
    accuracy = {c.check: c.score for c in validator.validate(query, named).checks}["accuracy"]
    assert accuracy == 1.0


def test_context_statements_are_not_asks(validator: QualityValidator) -> None:
    # A pasted error and a complaint say what the question is about; only the questions are asks.
    query = (
        "My boss is yelling at me because the site is down. CloudFront shows "
        "<Error><Code>AccessDenied</Code></Error> for every page. How do I fix the S3 origin access?"
    )
    response = (
        "I'm sorry about the pressure. The S3 origin is denying CloudFront:\n\n"
        "1. Attach an origin access control to the distribution's S3 origin.\n"
        "2. Add the bucket policy statement the console generates for that distribution.\n"
        "3. Invalidate `/*` and reload the page."
    )
    assert not _failed(validator, query, response, "completeness")


def test_an_unanswered_second_question_still_fails(validator: QualityValidator) -> None:
    query = "How do I enable versioning on my S3 bucket? And how do I restore a deleted object version?"
    response = (
        "Enable versioning on the bucket:\n\n"
        "```bash\naws s3api put-bucket-versioning --bucket my-bucket "
        "--versioning-configuration Status=Enabled\n```\n"
    )
    assert _failed(validator, query, response, "completeness")


_SSH_QUERY = "My EC2 SSH connection times out after 60 seconds when I run ssh -i key.pem ec2-user@203.0.113.5"
_LAMBDA_LEAD = (
    "## Summary\n\nHere is how to approach this (Lambda: Task timed out). 'Task timed out after N seconds' "
    "means the function ran longer than its configured timeout.\n\n"
    "## Steps\n\n1. Open the function's configuration and check its timeout.\n"
    "2. If it runs in a VPC, check that the instance of the database it calls is reachable.\n"
    "3. Raise the timeout or make the handler faster."
)
_EC2_LEAD = (
    "## Summary\n\nHere is how to approach this (EC2: SSH connection times out). An SSH timeout means the "
    "connection never reached the SSH daemon on the instance.\n\n"
    "## Steps\n\n1. Check that the security group allows port 22 from your IP address.\n"
    "2. Check that the instance has a public IP address and a route to an internet gateway.\n"
    "3. Retry the ssh command with -v to see where it stops."
)


def _relevance(validator: QualityValidator, query: str, response: str) -> tuple[float, tuple[str, ...]]:
    check = next(c for c in validator.validate(query, response).checks if c.check == "relevance")
    return check.score, check.messages


def test_an_answer_leading_with_another_service_fails_relevance(validator: QualityValidator) -> None:
    # "instance" (an EC2 alias) appears in passing, so the whole-answer rule is satisfied;
    # the opening is about Lambda, which the question never mentions.
    score, messages = _relevance(validator, _SSH_QUERY, _LAMBDA_LEAD)
    assert score < 0.5
    assert any("leads with Lambda" in m and "about EC2" in m for m in messages)
    assert _failed(validator, _SSH_QUERY, _LAMBDA_LEAD, "relevance")


def test_an_answer_leading_with_the_questions_service_passes_relevance(validator: QualityValidator) -> None:
    assert _relevance(validator, _SSH_QUERY, _EC2_LEAD)[0] == 1.0


def test_a_lead_service_the_question_mentions_by_alias_is_not_off_topic(validator: QualityValidator) -> None:
    # "function" names Lambda in the question even though "Lambda" is never written.
    query = "My function that writes to DynamoDB times out after 3 seconds"
    assert _relevance(validator, query, _LAMBDA_LEAD.replace("database it calls", "DynamoDB table it writes"))[0] == 1.0


def test_no_lead_rule_when_the_question_names_no_service(validator: QualityValidator) -> None:
    query = "It times out after 60 seconds, what should I check?"
    messages = _relevance(validator, query, _LAMBDA_LEAD)[1]
    assert not any("leads with" in m for m in messages)


_STAGE_ANSWER = (
    "API Gateway returns `Missing Authentication Token` when no deployed resource matches the URL. "
    "Your URL has no stage name.\n\n1. Add the stage to the URL: `https://abc.execute-api.eu-west-3.amazonaws.com/prod/orders`.\n"
    "2. Deploy the API again with `aws apigateway create-deployment --rest-api-id abc --stage-name prod`.\n"
)


def test_a_problem_statement_names_its_setup_and_need_not_address_every_service(validator: QualityValidator) -> None:
    # No question: the Lambda behind the API is the setup; the answer is about API Gateway.
    query = ("I created a REST API on API Gateway with GET /orders that calls a Lambda. curl on the URL returns "
             '{"message":"Missing Authentication Token"}. I did not set up any authentication!')
    assert not _failed(validator, query, _STAGE_ANSWER, "completeness")


def test_a_question_about_two_services_still_needs_both(validator: QualityValidator) -> None:
    query = "Why does API Gateway return Missing Authentication Token, and how do I give the Lambda access to DynamoDB?"
    assert _failed(validator, query, _STAGE_ANSWER, "completeness")


def test_a_service_only_in_a_pasted_command_need_not_be_addressed(validator: QualityValidator) -> None:
    query = ("kubectl get pods says Unauthorized on my EKS cluster. aws eks update-kubeconfig ran fine and "
             "aws sts get-caller-identity shows my SSO admin role")
    answer = ("EKS only lets in the IAM principal that created the cluster plus the principals mapped to it.\n\n"
              "1. Add an access entry for your role: `aws eks create-access-entry --cluster-name prod "
              "--principal-arn arn:aws:iam::111122223333:role/Admin`.\n"
              "2. Associate the cluster admin policy with `aws eks associate-access-policy`.\n")
    assert not _failed(validator, query, answer, "completeness")


def test_a_service_the_customer_does_not_want_need_not_be_addressed(validator: QualityValidator) -> None:
    query = ("We want all dev EC2 instances to stop at 20:00 and start at 07:00 on weekdays. What's the simplest way, "
             "ideally without writing and maintaining a Lambda function?")
    answer = ("Stop and start the EC2 instances with EventBridge Scheduler and Systems Manager Automation; "
              "no code to maintain.\n\n"
              "1. Create two schedules with `aws scheduler create-schedule`, one at 20:00 and one at 07:00.\n"
              "2. Target the AWS-StopEC2Instance and AWS-StartEC2Instance runbooks with the tag env=dev.\n")
    assert not _failed(validator, query, answer, "completeness")


def test_a_constraint_to_keep_working_is_still_an_ask(validator: QualityValidator) -> None:
    query = ("How do I make CloudFront return index.html for client-side routes without breaking our /api/* "
             "behavior, which goes to an ALB?")
    answer = ("Add a CloudFront Function on viewer request that rewrites paths without a file extension to "
              "/index.html.\n\n1. Create the function.\n2. Associate it with the default cache behavior.\n")
    assert _failed(validator, query, answer, "completeness")


def test_a_statement_starting_with_cant_is_not_an_ask(validator: QualityValidator) -> None:
    from pipeline.domain.quality.text import ask_sentences

    assert ask_sentences("Can't SSH anymore since a reboot this morning. What are my options?") == ["What are my options?"]


def test_pros_and_cons_are_answered_by_benefits_and_considerations(validator: QualityValidator) -> None:
    query = "Should we move our order pipeline from chained SQS queues to Step Functions? Pros/cons?"
    answer = ("Step Functions is usually a good fit here.\n\n### What Step Functions gives you\n\n"
              "- Visibility of each order's step.\n- Declarative retries.\n\n### What to consider\n\n"
              "- Price per state transition.\n- A 256 KB payload limit; keep SQS in front for buffering.\n")
    assert not _failed(validator, query, answer, "completeness")


def test_a_pasted_aws_error_is_context_not_an_ask():
    from pipeline.domain.quality.text import ask_sentences

    query = ("Launching 10 instances:\n\nAn error occurred (VcpuLimitExceeded) when calling the RunInstances operation: "
             "You have requested more vCPU capacity than your current vCPU limit of 64 allows. Please visit "
             "http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.\n\nhow do i raise it?")
    assert ask_sentences(query) == ["how do i raise it?"]
