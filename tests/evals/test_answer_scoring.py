"""The template-independent answer rubrics: structure and grounding."""

from __future__ import annotations

import pytest

from evals.answer_scoring import (
    Knowledge,
    asks_for_steps,
    cli_calls,
    grounding_score,
    knowledge_from_articles,
    structure_score,
)
from pipeline.adapters.local.offline_model import load_knowledge


@pytest.fixture(scope="module")
def catalog():
    from pipeline.handlers.composition import offline_services

    return offline_services().validator.catalog


RUNBOOK = """## Summary

An SSH timeout means the connection never reached the SSH daemon.

## Steps

1. Confirm the instance is running.
2. Check the security group allows TCP 22 from your IP.

## Commands

```bash
aws ec2 describe-instances --instance-ids i-0123456789abcdef0
```

Learn more: [Troubleshoot](https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/TroubleshootingInstancesConnecting.html)
"""


def test_how_to_and_troubleshooting_questions_ask_for_steps():
    assert asks_for_steps("how do I rotate an access key", "iam_security")
    assert asks_for_steps("anything", "ec2_troubleshooting")
    assert not asks_for_steps("how do I bake bread", "out_of_scope")


def test_a_full_runbook_scores_one_on_structure(catalog):
    s = structure_score("my ec2 ssh times out, how do I fix it?", "ec2_troubleshooting", RUNBOOK, catalog)
    assert s.value == 1.0
    assert s.parts == {"sections": 1.0, "steps": 1.0, "calls": 1.0, "links": 1.0}


def test_prose_without_headings_or_steps_scores_low_and_bullets_score_half(catalog):
    prose = "An SSH timeout means the network path is blocked. Check the security group and the route table."
    s = structure_score("how do I fix an ssh timeout?", "ec2_troubleshooting", prose, catalog)
    assert s.parts["sections"] == 0.0 and s.parts["steps"] == 0.0
    bullets = RUNBOOK.replace("1. ", "- ").replace("2. ", "- ")
    assert structure_score("how do I fix it?", "ec2_troubleshooting", bullets, catalog).parts["steps"] == 0.5


def test_invalid_cli_calls_and_foreign_links_lower_structure(catalog):
    broken = RUNBOOK.replace("describe-instances", "describe-instancez").replace(
        "https://docs.aws.amazon.com", "http://example.com")
    s = structure_score("how do I fix it?", "ec2_troubleshooting", broken, catalog)
    assert s.parts["calls"] == 0.0 and s.parts["links"] == 0.0
    assert any("describe-instancez" in note for note in s.notes)


def test_steps_do_not_count_when_the_question_does_not_ask_for_them(catalog):
    s = structure_score("what is the free tier", "billing_cost", "## A\n\ntext\n\n## B\n\nmore", catalog)
    assert s.parts["steps"] is None and s.value == 1.0


def test_cli_calls_are_read_from_blocks_and_inline_code():
    text = "Run `aws s3 ls` first.\n\n```bash\n$ aws ec2 describe-instances --instance-ids i-1\n```"
    assert sorted(cli_calls(text)) == [("ec2", "describe-instances"), ("s3", "ls")]


def test_grounding_traces_commands_and_claims_to_the_knowledge_given():
    article = next(a for a in load_knowledge() if a.article_id == "ec2-ssh-timeout")
    knowledge = knowledge_from_articles([article])
    grounded = f"{article.summary}\n\n1. {article.steps[0]}\n\n```bash\n{article.cli[0].command}\n```"
    s = grounding_score(grounded, knowledge)
    assert s.value == 1.0
    invented = grounded + ("\n\nRebooting the billing console resets every IAM password in all regions instantly."
                           "\n\n```bash\naws lambda list-functions\n```")
    t = grounding_score(invented, knowledge)
    assert t.parts["commands"] == pytest.approx(0.5)
    assert t.parts["claims"] < 1.0
    assert any("lambda list-functions" in n for n in t.notes)


def test_grounding_is_vacuous_for_an_answer_with_no_claims_or_commands():
    assert grounding_score("Yes.", Knowledge((), (), frozenset())).value == 1.0
