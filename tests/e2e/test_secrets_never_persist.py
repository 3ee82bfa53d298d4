"""Secrets never persist: every secret- or PII-bearing golden case (seen splits only; the
blind split is never read) goes through ``POST /query``; then every table, every object of
every bucket, the idempotency store, the handlers' logs (at DEBUG) and the server's logs
are searched for the secrets. None may appear.

The secrets are found in each case's text by the patterns below, written from the formats
themselves (AWS key ids and secret keys, private key bodies, ``password=…`` values, card
numbers, e-mail addresses), not by the guardrail under test. The state machine's own
execution history (the workflow input holds the raw query) is the deploy branch's
subject: the raw query leaves the state after CaptureUserQuery there.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from pipeline.local.api_runtime import LocalApi
from pipeline.local.workflow import LocalWorkflow

pytestmark = pytest.mark.xdist_group("api_security")

GOLDEN = Path(__file__).resolve().parents[2] / "golden_sets" / "guardrails_input.jsonl"
SEEN_SPLITS = {"train", "dev", "test"}
SECRET_CATEGORIES = {"aws_access_key", "aws_secret_key", "aws_session_token", "password",
                     "generic_secret", "private_key", "pii"}

_PATTERNS = [
    # access key ids only: AROA/AIDA/ANPA… are role, user and policy ids (GUIDE §3.1:
    # resource ids are never secrets), printed by every AssumeRole and CloudTrail record
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"),  # secret access keys
    re.compile(r"[A-Za-z0-9/+=]{100,}"),  # session tokens, key bodies
    re.compile(r"(?i)(?:password|passwd|pwd|secret|token|api[_-]?key)\w*\s*[:=]\s*[\"']?([^\s\"',;]{8,})"),
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"),  # e-mail addresses
]
_ARN = re.compile(r"arn:aws[\w-]*:[\w-]+:[\w-]*:\d{12}:[^\s\"',]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def secrets_in(text: str) -> set[str]:
    found: set[str] = set()
    for form in {text, unicodedata.normalize("NFKC", text)}:
        form = _ARN.sub(" ", form)  # "…:secret:prod/db-8Hk2Qa" names a secret, it is not one
        for pattern in _PATTERNS:
            for match in pattern.finditer(form):
                found.add(match.group(match.lastindex or 0))
        for match in _CARD.finditer(form):
            digits = re.sub(r"\D", "", match.group(0))
            if 13 <= len(digits) <= 19 and _luhn(digits):
                found.add(digits)
    placeholders = re.compile(r"(?i)example|x{6,}|\*{4,}|\$\{|<[^>]*>|redacted")
    return {s for s in found if len(s) >= 8 and not placeholders.search(s) and not _public(s)}


#: GUIDE §3.2: a role mailbox on a company domain ("noreply@", "support@") is not pii.
_ROLE_MAILBOX = re.compile(r"(?i)^(?:no-?reply|do-?not-?reply|support|security|billing|info|contact|sales|admin|ops|alerts"
                           r"|rechnung|buchhaltung|kontakt|factura(?:cion)?|facturation|fatura|contacto|faturamento)"
                           r"(?:[.+_-][\w.+-]*)?@(?!(?:gmail|yahoo|hotmail|outlook|icloud|proton|gmx)\.)")


_AMI_LOGIN = re.compile(r"(?:ec2-user|ubuntu|admin|centos|fedora|bitnami|root)@[\w-]+(?:\.[\w-]+){2,}$")


def _pgp_encrypted(head: bytes) -> bool:
    """An OpenPGP message encrypted to a public key (``gpg --encrypt``, Terraform's
    ``encrypted_secret`` with ``pgp_key``): it opens with a public-key encrypted session key
    packet, new format (0xC1, base64 ``wcBM…``) or old (0x84 / 0x85, ``hQEM…``). Ciphertext,
    which only the key's owner can open, is data (GUIDE §3.1)."""
    if len(head) < 4:
        return False
    if head[0] == 0xC1:
        return 0xC0 <= head[1] <= 0xDF  # a two-octet body length, as gpg writes for RSA
    return (head[0] == 0x84 and head[2] == 3) or (head[0] == 0x85 and head[3] == 3)  # version 3


def _public(value: str) -> bool:
    """Look-alikes that are not secrets: words (``process.env.LOCAL``), 40-digit hex ids
    (a service account's ``private_key_id``, a SHA-1), a base64 PEM certificate, a role
    mailbox of a company."""
    if "@" in value:
        # "ssh ubuntu@ec2-….compute-1.amazonaws.com" logs into a host: no mailbox
        # "git@github.com:org/repo.git" is an SSH login to a Git host, no mailbox either
        # "ssh ec2-user@bastion.example.com": the default login of an AMI (EC2 User Guide: ec2-user,
        # ubuntu, admin, centos, fedora, bitnami, root) at a host is a login, not a person's mailbox
        lowered = value.lower()
        return (bool(_ROLE_MAILBOX.match(value)) or lowered.endswith(".amazonaws.com") or lowered.startswith("git@")
                or _AMI_LOGIN.match(lowered) is not None)
    if not (re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
        return True
    if re.fullmatch(r"\[[\w.\-]+\](?::\d{1,5})?", value):
        return True  # "[email-smtp.….amazonaws.com]:587", a relay host after "sasl_passwd:\n": GUIDE §3.1, a hostname
    if re.fullmatch(r"[A-Za-z_][\w.]*\(.*\)(?:\.\w+\(.*\))*", value):
        return True  # code that computes a value ("base64.b64encode(dig).decode()"), not one
    if re.fullmatch(r"[0-9a-fA-F]{40}", value):
        return True
    if _UUID.fullmatch(value):
        return True  # GUIDE §3.1: a request token or resource UUID is an id, not a secret
    try:
        head = base64.b64decode(value[:64] + "=" * (-len(value[:64]) % 4), validate=False)
    except (ValueError, binascii.Error):
        return False
    return head.startswith(b"-----BEGIN CERTIFICATE") or _pgp_encrypted(head)


def secret_cases() -> list[tuple[str, str, set[str]]]:
    cases = []
    with GOLDEN.open(encoding="utf-8") as handle:
        for line in handle:
            case = json.loads(line)
            if case.get("split") not in SEEN_SPLITS:  # never the blind split
                continue
            expected = case.get("expected") or {}
            if expected.get("action") not in {"block", "redact"}:
                continue
            if not SECRET_CATEGORIES & set(expected.get("categories") or []):
                continue
            text = case["input"]
            needles = secrets_in(text)
            if needles and 1 <= len(text) <= 4000:
                cases.append((case["id"], text, needles))
    return cases


def _everything_stored(api: LocalApi) -> str:
    workflow = api.workflow
    parts = []
    for logical in workflow.template.tables():
        parts.append(json.dumps(workflow.scan(logical), default=str, ensure_ascii=False))
    s3 = workflow.client("s3")
    for bucket in workflow.template.buckets():
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                parts.append(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8", "replace"))
    parts.append(json.dumps(api.idempotency.all(), default=str, ensure_ascii=False))
    return "\n".join(parts)


def test_no_secret_of_the_golden_set_is_stored_or_logged(stack_template: Any, tmp_path: Path) -> None:
    from pipeline.handlers import composition
    from pipeline.local import server as server_module

    cases = secret_cases()
    assert len(cases) >= 100, "the golden set's seen secret and PII cases"
    server_log = io.StringIO()
    server_module.configure_logging(server_log)  # the workflow's failure log, as served
    handler_log = io.StringIO()
    capture = logging.StreamHandler(handler_log)
    capture.setFormatter(composition.logger().registered_formatter)
    powertools = logging.getLogger(composition.logger().name)
    powertools.addHandler(capture)
    # The shared logger is built once per process, by whoever calls it first (maybe before
    # the workflow's POWERTOOLS_LOG_LEVEL=DEBUG applies): set its level here, restore it after.
    level = powertools.level
    powertools.setLevel(logging.DEBUG)
    workflow = LocalWorkflow(stack_template, env={"POWERTOOLS_LOG_LEVEL": "DEBUG"})
    try:
        with LocalApi(workflow=workflow, key_file=tmp_path / "session.key") as api:
            answered = {}
            for number, (case_id, text, _needles) in enumerate(cases):
                status, body = api.query(json.dumps({"query": text}).encode(), {
                    "Idempotency-Key": f"secret-case-{number:05d}"}, f"req-{number:05d}")
                assert status == 200, (case_id, body)
                answered[body["session_id"]] = (case_id, body["response_type"])
            stored = _everything_stored(api)
            sessions_stored = {item["session_id"] for item in workflow.scan("ConversationsTable")}
            logs = "\n".join([handler_log.getvalue(), workflow.handler_output.getvalue(), server_log.getvalue()])
    finally:
        powertools.removeHandler(capture)
        powertools.setLevel(level)
    # A case whose turn was never stored (its execution failed or ran out of time before the
    # capture) proves nothing about redaction, and would pass unseen: each must be stored.
    unstored = sorted(case for session_id, case in answered.items() if session_id not in sessions_stored)
    assert not unstored, f"{len(unstored)} cases stored no turn (case, response_type): {unstored[:20]}"
    assert "DEBUG" in logs or handler_log.getvalue(), "the handlers' logs were captured"
    leaks = sorted((case_id, where) for case_id, _text, needles in cases for needle in needles
                   for where, haystack in (("store", stored), ("logs", logs)) if needle in haystack)
    assert not leaks, f"{len(leaks)} secrets persisted: {leaks[:20]}"
