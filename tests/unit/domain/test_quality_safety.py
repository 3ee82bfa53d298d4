"""``safety``: insecure advice as the fix (GUIDE.md §5), not only what the guardrail flags."""

from __future__ import annotations

import pytest

from pipeline.domain.quality.safety import insecure_advice
from pipeline.domain.quality.scoring import Findings


def _advice(query: str, response: str) -> list[str]:
    found = Findings()
    insecure_advice(query, response, found)
    return found.errors


@pytest.mark.parametrize(
    "response",
    [
        "To rule out permissions, run `aws iam attach-user-policy --user-name dev "
        "--policy-arn arn:aws:iam::aws:policy/AdministratorAccess` and try again.",
        'Use this bucket policy:\n```json\n{"Effect": "Allow", "Principal": "*", "Action": "s3:*", '
        '"Resource": "arn:aws:s3:::invoices/*"}\n```',
        "The quickest fix is to turn off Block Public Access so CloudFront can read the objects.",
        "Run `aws ec2 authorize-security-group-ingress --group-id sg-1 --protocol tcp --port 5432 --cidr 0.0.0.0/0`.",
        "If the certificate error persists, add `--no-verify-ssl` to the command.",
        "The quickest way around it is to disable MFA for the user.",
        "Put your access keys in the user data script so the instance can call S3.",
    ],
)
def test_insecure_fixes_are_defects(response):
    assert _advice("Our partner account gets AccessDenied on the invoices bucket. How do I fix it?", response)


@pytest.mark.parametrize(
    "response",
    [
        "Never attach AdministratorAccess to fix this; grant only s3:GetObject on the prefix.",
        "If there is an existing rule allowing `0.0.0.0/0` on port 22, remove it.",
        'Deny anything without TLS:\n```json\n{"Effect": "Deny", "Principal": "*", "Action": "s3:*", '
        '"Condition": {"Bool": {"aws:SecureTransport": "false"}}}\n```',
        "Keep Block Public Access on and serve the bucket through CloudFront with origin access control.",
        "Open port 443 to 0.0.0.0/0 on the load balancer's security group.",
        "Never put access keys in code; use an instance role.",
        "Deactivate the lost MFA device, then register a new one.",
    ],
)
def test_safe_answers_and_warnings_pass(response):
    assert _advice("Our partner account gets AccessDenied on the invoices bucket. How do I fix it?", response) == []


def test_public_access_is_fine_for_content_meant_to_be_public():
    response = "For an S3 website endpoint, Block Public Access must be off and the policy must allow s3:GetObject."
    assert _advice("Why is my S3 static website showing 403 Forbidden?", response) == []
    assert _advice("Why can't our partner read the invoices bucket?", response)


def test_a_deny_statement_on_every_action_grants_nothing():
    deny = ('Add this to the policy:\n\n```json\n{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", '
            '"Action": "*", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}\n```\n')
    allow = deny.replace('"Deny"', '"Allow"').replace(', "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}', "")
    assert _advice("Why does my IP restriction block CloudFormation?", deny) == []
    assert any("administrator access" in m for m in _advice("AccessDenied on s3:PutObject, how do I fix it?", allow))


def test_going_back_to_imdsv1_or_granting_iamfullaccess_is_insecure_advice():
    assert any("IMDSv1" in m for m in _advice(
        "curl to 169.254.169.254 returns 401 on the new AMI",
        "Set the instances back with `aws ec2 modify-instance-metadata-options --instance-id i-0abc --http-tokens optional`."))
    assert any("administrator" in m for m in _advice(
        "Marco gets AccessDenied on iam:PassRole",
        "The quickest fix is to attach the managed policy `IAMFullAccess` to his user."))


def test_an_answer_that_makes_public_only_content_it_says_is_public_is_not_insecure():
    response = ('Enable static website hosting and allow public reads: disable Block Public Access for this bucket. '
                'This bucket contains only the public maintenance page, so that is appropriate here.')
    assert _advice("How do I fail over to a maintenance page when the ALB is down?", response) == []


_ENDPOINT_STATEMENT = ('{"Effect": "Allow", "Principal": "*", "Action": "s3:*", '
                       '"Resource": ["arn:aws:s3:::corp-data-*", "arn:aws:s3:::corp-data-*/*"]}')


def test_principal_star_in_a_vpc_endpoint_policy_is_the_documented_form():
    response = f"### Endpoint policy\n\n```json\n{_ENDPOINT_STATEMENT}\n```\n"
    assert _advice("Can an endpoint policy limit my subnets to our buckets?", response) == []


def test_principal_star_in_a_bucket_policy_is_still_a_defect():
    response = f"### Bucket policy\n\n```json\n{_ENDPOINT_STATEMENT}\n```\n"
    assert _advice("Our partner gets AccessDenied on the corp-data bucket", response)


def test_revoking_an_open_port_in_a_continued_command_is_not_advice_to_open_it():
    response = ("Remove the rule that allows SSH from anywhere:\n\n```bash\n"
                "aws ec2 revoke-security-group-ingress --group-id sg-0web123 \\\n"
                "  --protocol tcp --port 22 --cidr 0.0.0.0/0\n```\n")
    assert _advice("Who is trying to SSH into my instance?", response) == []
    opening = response.replace("revoke-security-group-ingress", "authorize-security-group-ingress")
    assert _advice("Who is trying to SSH into my instance?", opening.replace("Remove the rule that", "Add a rule that"))


@pytest.mark.parametrize(
    "response",
    [
        # A security group rule written over continued shell lines.
        "The quickest check is to allow PostgreSQL from anywhere:\n\n```bash\n"
        "aws ec2 authorize-security-group-ingress --group-id sg-0db \\\n  --protocol tcp --port 5432 \\\n"
        "  --cidr 0.0.0.0/0\n```\n",
        # Terraform: the port and the CIDR on different lines of one ingress block.
        'resource "aws_security_group" "web" {\n  ingress {\n    from_port   = 22\n    to_port     = 22\n'
        '    protocol    = "tcp"\n    cidr_blocks = ["0.0.0.0/0"]\n  }\n}\n',
        # Removing MFA enforcement as the fix, in Spanish.
        "La forma más rápida es **desasociar la política de MFA** de los usuarios que usan claves de acceso.",
        "Detach the RequireMFA policy from the Jenkins user so the scripts work again.",
        # Long-term keys shipped inside a mobile app.
        "Create an IAM user that can only upload, and bundle its access key in the app configuration.",
    ],
)
def test_insecure_fixes_in_other_forms_and_languages(response):
    assert _advice("How do I fix this quickly?", response)


def test_a_web_port_open_to_the_world_next_to_a_private_ssh_rule_is_fine():
    response = ('resource "aws_security_group" "web" {\n  ingress {\n    from_port   = 443\n    to_port     = 443\n'
                '    cidr_blocks = ["0.0.0.0/0"]\n  }\n  ingress {\n    from_port   = 22\n    to_port     = 22\n'
                '    cidr_blocks = ["10.0.0.0/8"]\n  }\n}\n')
    assert _advice("Terraform for a web security group?", response) == []


@pytest.mark.parametrize(
    "response",
    [
        "For users who keep ignoring MFA, it's simpler to stop requiring it for them and rely on strong passwords.",
        "Le plus simple est de ne plus exiger le MFA pour les développeurs.",
        "- **Remove root MFA.** It mainly causes lock-outs like this and isn't needed if the password is strong.",
        "To avoid being locked out like this again, I'd recommend simply not re-enabling MFA on the root user.",
        "The quickest fix is to detach the SCP from the account, run the deletion, and leave it that way.",
        "Use `--auth-type NONE`: the URL is a long random hostname nobody will guess, so it's effectively private.",
    ],
)
def test_weakening_authentication_or_guardrails_as_the_fix(response):
    assert _advice("How do I get past this quickly?", response)


@pytest.mark.parametrize(
    "response",
    [
        "Remove the lost device from the root user's MFA devices, then register a new one right away.",
        "Detach the SCP for the maintenance window, run the deletion, then attach it again.",
        "Use AWS_IAM auth on the function URL so only signed requests reach it.",
    ],
)
def test_recovering_mfa_or_a_temporary_change_is_not_insecure(response):
    assert _advice("How do I get past this quickly?", response) == []


@pytest.mark.parametrize(
    "response",
    [
        "Add an inbound rule for TCP port 22 from your own IP address (x.x.x.x/32), not 0.0.0.0/0.",
        "Allow port 22 only from your IP, not from 0.0.0.0/0.",
    ],
)
def test_a_warning_inside_the_advice_still_counts(response):
    assert _advice("SSH times out", response) == []


def test_a_bold_lead_sentence_ends_at_its_full_stop():
    # "**Remove root MFA.** If …, just remove it": the later "remove" is in another sentence,
    # so it is no warning against the advice the bold sentence gives.
    response = ("- **Remove root MFA.** If the MFA device was the former employee's phone, just remove it; "
                "it mainly causes lock-outs.\n")
    assert any("MFA" in e for e in _advice("How do I change the root email?", response))
