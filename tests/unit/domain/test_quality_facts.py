"""The fact engine (``quality/facts.py``): clauses, denials, values, and pattern shape."""

from __future__ import annotations

import re._constants as sre_constants
import re._parser as sre_parser
from pathlib import Path

import pytest

from pipeline.domain.prefilter import RE2_AVAILABLE
from pipeline.domain.quality import facts as facts_module
from pipeline.domain.quality.catalogue import catalogue
from pipeline.domain.quality.facts import FACTS, check_facts, violations
from pipeline.domain.quality.parsing import parse_response
from pipeline.domain.quality.scoring import Findings

RULES = catalogue().rules
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)


def _nests_unbounded(items, inside: bool = False) -> bool:
    # An unbounded repeat (* + {n,}) inside another unbounded repeat can backtrack exponentially.
    for op, av in items:
        if op in _REPEATS:
            _low, high, sub = av
            unbounded = high == sre_constants.MAXREPEAT
            children, inner = [sub], inside or unbounded
            if unbounded and inside:
                return True
        elif op == sre_constants.SUBPATTERN:
            children, inner = [av[-1]], inside
        elif op == sre_constants.BRANCH:
            children, inner = av[1], inside
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            children, inner = [av[1]], inside
        else:
            continue
        if any(_nests_unbounded(child, inner) for child in children):
            return True
    return False


def test_the_shape_check_sees_nested_repeats():
    assert _nests_unbounded(sre_parser.parse(r"(?:a+b)*"))
    assert not _nests_unbounded(sre_parser.parse(r"(?:(?!x)[^.\n]){0,40}?\bfoo\s+bar"))


@pytest.mark.parametrize("rule", FACTS, ids=[r.id for r in FACTS])
def test_fact_pattern_has_no_nested_unbounded_repeat(rule):
    assert not _nests_unbounded(sre_parser.parse(rule.regex.pattern, rule.regex.flags)), rule.id


@pytest.mark.parametrize("rule", FACTS, ids=[r.id for r in FACTS])
def test_fact_names_its_documentation(rule):
    assert rule.source.startswith("https://"), rule.id
    assert "amazon" in rule.source or "aws" in rule.source, rule.id


def test_a_denial_in_an_earlier_clause_does_not_hide_the_claim():
    rule = RULES["accuracy.fact.resize_running_instance"]
    assert violations(rule, "No downtime is needed: EC2 can change the type of a running instance live.")
    assert not violations(rule, "You cannot change the type of a running instance; stop it first.")


def test_a_leading_no_answers_the_question_and_denies_nothing():
    rule = RULES["accuracy.fact.data_transfer_in_free"]
    assert violations(rule, "No, inbound data is charged at the same per-GB rate as outbound.")
    assert not violations(rule, "No inbound data is charged: transfer in from the internet is free.")


def test_the_value_of_a_second_wording_is_checked():
    rule = RULES["accuracy.fact.sqs_visibility_default"]
    assert violations(rule, "SQS hides it for the visibility timeout (5 minutes by default).")
    assert not violations(rule, "SQS hides it for the visibility timeout (30 seconds by default).")


def test_check_facts_names_the_line_and_the_fact():
    text = "## Limits\n\nSome context.\nLambda memory can be set from 64 MB to 10,240 MB.\n"
    found = Findings()
    check_facts(parse_response(text), found)
    assert len(found.errors) == 1
    assert found.errors[0].startswith("line 4: ")
    assert RULES["accuracy.fact.lambda_memory_min"].description in found.errors[0]


def test_a_correct_answer_on_the_same_topics_is_not_flagged():
    text = (
        "Lambda functions time out after at most 15 minutes; memory goes from 128 MB to 10,240 MB "
        "and `/tmp` defaults to 512 MB.\n"
        "SQS keeps messages for 4 days by default, and the visibility timeout can be up to 12 hours.\n"
        "A DynamoDB item can be up to 400 KB, and BatchWriteItem accepts up to 25 items.\n"
        "For CloudFront, request the ACM certificate in us-east-1; for an ALB, in the ALB's own Region.\n"
        "Deploy to us-east-1 (N. Virginia) or eu-west-1 (Ireland).\n"
    )
    found = Findings()
    check_facts(parse_response(text), found)
    assert found.errors == []


CORRECT = [
    line.strip()
    for line in (Path(__file__).parent / "data" / "correct_aws_statements.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


@pytest.mark.parametrize("statement", CORRECT)
def test_no_fact_rule_flags_a_correct_statement(statement):
    # Every rule, not only the one about the statement's topic: a number near another
    # rule's words must not be read as that rule's claim.
    found = Findings()
    check_facts(parse_response(statement), found)
    assert found.errors == []


WRONG = [
    line.strip()
    for line in (Path(__file__).parent / "data" / "wrong_aws_statements.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


@pytest.mark.parametrize("statement", WRONG)
def test_a_wrong_statement_is_flagged(statement):
    found = Findings()
    check_facts(parse_response(statement), found)
    assert found.errors, statement


def test_near_reads_the_subject_from_the_lines_above_the_claim():
    # The value sits in a bullet; "SQS" and "retention" are only in the line above it.
    rule = RULES["accuracy.fact.sqs_retention_max_context"]
    text = "The queue's message retention period:\n- **Default:** 4 days\n- **Maximum:** 7 days"
    assert violations(rule, text)
    assert not violations(rule, text.replace("7 days", "14 days"))


def test_near_needs_every_pattern_within_its_window():
    rule = RULES["accuracy.fact.sqs_retention_max_context"]
    # The same bullet with the SQS paragraph far above it: no subject near the claim.
    far = "SQS message retention is discussed below.\n" + "Filler sentence about something else.\n" * 20
    assert not violations(rule, far + "- **Maximum:** 7 days")
    # Without the retention word near it, a maximum in days is another quantity.
    assert not violations(rule, "The SQS queue is polled.\n- **Maximum:** 7 days of lag before the alarm")


def test_near_catches_the_same_fact_in_other_languages():
    assert violations(RULES["accuracy.fact.spot_notice_context"],
                      "EC2 envía un aviso de interrupción de Spot con 5 minutos de antelación.")
    assert violations(RULES["accuracy.fact.deep_archive_minimum_context"],
                      "Deep Archive hat eine Mindestspeicherdauer von 90 Tagen.")
    assert not violations(RULES["accuracy.fact.deep_archive_minimum_context"],
                          "Deep Archive hat eine Mindestspeicherdauer von 180 Tagen.")


def test_a_default_port_claim_is_checked_only_as_a_default():
    rule = RULES["accuracy.fact.port_mysql"]
    assert violations(rule, "The default MySQL port is 3307.")
    assert not violations(rule, "Our MySQL listens on port 3307 because we changed it.")


def _examples() -> list[str]:
    texts = [text for rule in FACTS for text in rule.must_match + rule.must_not_match]
    return texts + CORRECT + WRONG


def test_the_gate_keeps_every_rule_whose_pattern_matches():
    # Each rule's RE2 gate is a superset of its pattern: a text it rules out cannot match.
    for text in _examples():
        for index, rule in enumerate(FACTS):
            if rule.regex.search(text):
                assert facts_module.gate_allows(index, text), (rule.id, text)


def test_every_rule_has_an_re2_gate():
    if not RE2_AVAILABLE:
        pytest.skip("google-re2 is not installed")
    for index, rule in enumerate(FACTS):
        facts_module.gate_allows(index, "")
        assert facts_module._GATES[index] is not facts_module._NO_GATE, rule.id


def test_check_facts_finds_the_same_defects_with_and_without_the_gates(monkeypatch):
    texts = _examples()
    texts.append("\n".join(texts[:200]))  # many rules' words in one answer

    def errors() -> list[list[str]]:
        found = []
        for text in texts:
            findings = Findings()
            check_facts(parse_response(text), findings)
            found.append(findings.errors)
        return found

    gated = errors()
    monkeypatch.setattr(facts_module, "gate_allows", lambda index, text: True)
    assert errors() == gated
    assert any(gated)
