"""The documented-quantity check (``quality/quantities.py``, ``catalogue/quantities.toml``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline.domain.quality.quantities import (
    QuantityError,
    load_quantities,
    quantity_table,
    wrong_quantities,
)

TABLE = quantity_table()
GOLDEN = Path(__file__).resolve().parents[3] / "golden_sets" / "quality.jsonl"


def _flagged(text: str) -> set[str]:
    return {entry.id for _, entry, _ in wrong_quantities(text, TABLE)}


@pytest.mark.parametrize(
    ("entry_id", "text"),
    [(q.id, t) for q in TABLE.quantities for t in q.must_match],
)
def test_every_must_match_example_is_flagged_by_its_entry(entry_id: str, text: str) -> None:
    assert entry_id in _flagged(text)


@pytest.mark.parametrize(
    ("entry_id", "text"),
    [(q.id, t) for q in TABLE.quantities for t in q.must_not_match],
)
def test_no_must_not_match_example_is_flagged(entry_id: str, text: str) -> None:
    assert _flagged(text) == set()


def test_every_entry_cites_a_documentation_page() -> None:
    assert all(q.source.startswith("https://") for q in TABLE.quantities)
    assert len({q.id for q in TABLE.quantities}) == len(TABLE.quantities)


@pytest.mark.parametrize(
    "text",
    [
        "La duración máxima de una función Lambda es de 30 minutos.",  # es
        "Eine Lambda-Funktion läuft höchstens 60 Minuten.",  # de
        "Le délai d'expiration maximal d'une fonction Lambda est de 20 minutes.",  # fr
        "O tempo de execução máximo de uma função Lambda é de 1 hora.",  # pt
        "Lambda 関数のタイムアウトは最大 60 分です。",  # ja
        "The Lambda timeout can be set anywhere between 1 and 3,600 seconds.",  # a range
        "- **Lambda timeout:** up to 30 minutes",  # a bullet
    ],
)
def test_a_wrong_claim_is_read_in_other_languages_and_shapes(text: str) -> None:
    assert "lambda.timeout.max" in _flagged(text)


@pytest.mark.parametrize(
    "text",
    [
        "Your Lambda function is configured with a timeout of 30 seconds.",  # the user's setting
        "Increase the Lambda timeout from 3 to 30 seconds.",  # a change, not the allowed range
        "Lambda used to be limited to 5 minutes; today the maximum is 15 minutes.",  # the past
        "Lambda is not limited to 5 minutes anymore.",  # a denial
        "Your logs show `Max Memory Used: 71 MB` for the Lambda function.",  # a literal
        "Azure Load Balancer idle timeouts are 4 minutes by default, unlike an ALB.",  # another cloud
        "| Retention (up to 31 days) | SQS retention up to 14 days |",  # another table cell
        "With SQS batches of 10 messages that is up to 3,000 messages per second.",  # a rate
        "Athena bills a 10 MB minimum per query. Your bill shows 410 TB scanned.",  # the next sentence
    ],
)
def test_values_that_are_not_claims_about_the_limit_pass(text: str) -> None:
    assert _flagged(text) == set()


def test_a_value_right_for_another_named_service_is_not_flagged() -> None:
    text = (
        "Lambda@Edge has stricter limits than Lambda.\n\n"
        "- Viewer request triggers: the timeout is at most 5 seconds.\n"
    )
    assert _flagged(text) == set()


def test_sizes_compare_in_decimal_and_binary_units() -> None:
    assert _flagged("A DynamoDB item can be up to 409,600 bytes.") == set()  # 400 KiB
    assert _flagged("A DynamoDB item can be up to 400,000 bytes.") == set()  # 400 kB
    assert "dynamodb.item_size.max" in _flagged("A DynamoDB item can be up to 4 MB.")


def test_the_validator_fails_an_answer_with_a_wrong_documented_quantity() -> None:
    from pipeline.adapters.botocore_catalog import BotocoreApiCatalog
    from pipeline.domain.quality import QualityValidator

    validator = QualityValidator(BotocoreApiCatalog())
    query = "How long can an SQS message stay in the queue?"
    right = "SQS keeps a message for 4 days by default. You can raise the retention up to 14 days."
    wrong = "SQS keeps a message for 4 days by default. You can raise the retention up to 30 days."
    assert validator.validate(query, right).passed
    report = validator.validate(query, wrong)
    assert not report.passed
    assert any("14 days" in message for check in report.checks for message in check.messages)


def test_no_correct_seen_answer_is_flagged() -> None:
    """Every seen quality answer labelled correct passes the quantity check (blind never read)."""
    flagged = []
    with GOLDEN.open(encoding="utf-8") as handle:
        for line in handle:
            case = json.loads(line)
            if case["split"] == "blind" or not case["expected"]["passed"]:
                continue
            if _flagged(case["input"]["response"]):
                flagged.append(case["id"])
    assert flagged == []


def test_the_loader_rejects_an_entry_with_an_unknown_subject(tmp_path: Path) -> None:
    source = (Path(__file__).resolve().parents[3] / "pipeline" / "domain" / "quality" / "catalogue"
              / "quantities.toml").read_text(encoding="utf-8")
    broken = source.replace('subject = "lambda"', 'subject = "no_such_service"', 1)
    path = tmp_path / "quantities.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(QuantityError, match="no_such_service"):
        load_quantities(path)


def test_the_work_grows_at_most_linearly_with_a_flood_of_claims() -> None:
    """A text made only of claims: four times the text costs about four times the time (a
    ratio in one run, no absolute threshold), and past MAX_TEXT nothing more is read."""
    unit = "Lambda timeout up to 5 minutes; SQS retention between 1 and 2 days. "
    small, large = unit * 100, unit * 400

    def cost(text: str) -> float:
        start = time.perf_counter()
        for _ in range(3):
            wrong_quantities(text, TABLE)
        return time.perf_counter() - start

    cost(small)
    assert cost(large) < 8 * cost(small)


def test_a_table_row_is_read_under_its_column_header() -> None:
    from pipeline.domain.quality.quantities import check_quantities, table_sentences
    from pipeline.domain.quality.scoring import Findings

    table = (
        "Amazon Cognito token lifetimes:",
        "| Token | Default | Configurable range |",
        "|---|---|---|",
        "| Access token | 60 minutes | 5 minutes – 1 day |",
        "| Refresh token | 7 days | 1 hour – 365 days |",
    )
    lines = tuple(enumerate(table, start=1))
    read = [line for _, line in table_sentences(lines)]
    assert "Refresh token (Default): by default 7 days." in read
    assert "Refresh token (Configurable range): between 1 hour – 365 days." in read
    found = Findings()
    check_quantities(lines, found)
    # the default is 30 days and the maximum 10 years: both cells of the row are wrong
    assert len(found.errors) == 2 and all(e.startswith("line 5: a Cognito refresh token") for e in found.errors)
    right = tuple(enumerate((*table[:3], "| Refresh token | 30 days | 1 hour – 3650 days |"), start=1))
    found = Findings()
    check_quantities(right, found)
    assert found.errors == []


def test_a_table_without_a_qualifying_header_states_no_limit() -> None:
    from pipeline.domain.quality.quantities import check_quantities
    from pipeline.domain.quality.scoring import Findings

    lines = tuple(enumerate(("Our Lambda functions:", "| Function | Timeout |", "|---|---|", "| etl | 60 seconds |"), start=1))
    found = Findings()
    check_quantities(lines, found)
    assert found.errors == []
