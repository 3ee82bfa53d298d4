"""DynamoDB and S3 adapters against moto: schemas as the stack creates them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from pipeline.adapters.aws.dynamodb import (
    DynamoConversationStore,
    DynamoFeedbackStore,
    DynamoS3PromptStore,
    from_item,
    to_item,
)
from pipeline.domain.generation import TemplateNotFoundError
from pipeline.domain.models import Feedback, ImplicitSignals, Turn
from pipeline.domain.workflow import RecordExistsError, RecordNotFoundError

PROMPTS = Path(__file__).resolve().parents[3] / "pipeline" / "prompts"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzREALKEY"


def create_tables(dynamodb) -> dict:
    """The three tables with the key schemas and GSIs of ``stack/`` (see the adapter docstring)."""

    def gsi(name, pk, sk, projection="ALL"):
        return {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": pk, "KeyType": "HASH"},
                {"AttributeName": sk, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": projection},
        }

    conversations = dynamodb.create_table(
        TableName="Conversations",
        KeySchema=[
            {"AttributeName": "session_id", "KeyType": "HASH"},
            {"AttributeName": "turn_index", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "session_id", "AttributeType": "S"},
            {"AttributeName": "turn_index", "AttributeType": "N"},
            {"AttributeName": "user_id", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[gsi("UserIdIndex", "user_id", "created_at", "KEYS_ONLY")],
        BillingMode="PAY_PER_REQUEST",
    )
    feedback = dynamodb.create_table(
        TableName="Feedback",
        KeySchema=[{"AttributeName": "feedback_id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "feedback_id", "AttributeType": "S"},
            {"AttributeName": "session_id", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "S"},
            {"AttributeName": "day", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            gsi("SessionIdIndex", "session_id", "timestamp", "KEYS_ONLY"),
            gsi("TimestampIndex", "day", "timestamp"),
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    prompts = dynamodb.create_table(
        TableName="Prompts",
        KeySchema=[
            {"AttributeName": "template_id", "KeyType": "HASH"},
            {"AttributeName": "version", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "template_id", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[gsi("CreatedAtIndex", "kind", "created_at")],
        BillingMode="PAY_PER_REQUEST",
    )
    return {"conversations": conversations, "feedback": feedback, "prompts": prompts}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield create_tables(boto3.resource("dynamodb", region_name="us-east-1"))


def turn(
    index: int, *, session: str = "session-0001", user: str | None = "user-1", text: str = "q"
) -> Turn:
    created = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=index)
    return Turn(
        session, f"req-{index}", index, created.isoformat(), text, user_id=user, confidence=0.5
    )


def test_float_decimal_round_trip() -> None:
    item = to_item({"a": 0.1, "b": 3, "c": None, "d": [1.5, {"e": None}], "f": True})
    assert item == {"a": Decimal("0.1"), "b": 3, "d": [Decimal("1.5"), {}], "f": True}
    assert from_item(item) == {"a": 0.1, "b": 3, "d": [1.5, {}], "f": True}
    with pytest.raises(ValueError):
        to_item(float("nan"))


def test_a_thousand_turn_session_works_and_reads_back_in_order(aws) -> None:
    store = DynamoConversationStore(aws["conversations"], ttl_days=30)
    for i in range(1000):
        store.append_turn(turn(i, text="x" * 300))
    assert store.next_turn_index("session-0001") == 1000
    recent = store.recent_turns("session-0001", 6)
    assert [t.turn_index for t in recent] == list(range(994, 1000))
    earlier = store.recent_turns("session-0001", 6, before=500)
    assert [t.turn_index for t in earlier] == list(range(494, 500))
    assert store.recent_turns("session-0001", 6, before=0) == []
    assert len(store.recent_turns("session-0001", 1000)) == 1000  # pages through query results
    # An interaction's turn among the last `within`, read back alone (the filter pages too:
    # 1 MB pages of 300-character turns hold fewer than 1,000 items).
    found = store.find_turn("session-0001", "req-3", 1000)
    assert found is not None and found.turn_index == 3 and found.interaction_id == "req-3"
    assert store.find_turn("session-0001", "req-3", 996) is None  # older than the last 996
    assert store.find_turn("session-0001", "req-996", 4).turn_index == 996
    assert store.find_turn("session-0001", "req-nope", 1000) is None
    assert store.find_turn("session-9999", "req-3", 1000) is None


def test_append_never_overwrites_and_update_needs_an_existing_turn(aws) -> None:
    store = DynamoConversationStore(aws["conversations"])
    store.append_turn(turn(0, text="original"))
    with pytest.raises(RecordExistsError):
        store.append_turn(turn(0, text="overwrite"))
    assert store.recent_turns("session-0001", 1)[0].user_text == "original"
    with pytest.raises(RecordNotFoundError):
        store.update_turn(turn(5))
    store.update_turn(
        Turn(**{**turn(0).to_dict(), "assistant_text": "reply", "guardrail_categories": ()})
    )
    assert store.recent_turns("session-0001", 1)[0].assistant_text == "reply"


def test_user_index_is_populated_and_ttl_is_set(aws) -> None:
    store = DynamoConversationStore(aws["conversations"], ttl_days=30)
    store.append_turn(turn(0, session="session-aaaa"))
    store.append_turn(turn(1, session="session-bbbb"))
    store.append_turn(turn(2, session="session-cccc", user=None))  # anonymous: not in the index
    found = store.turns_for_user("user-1", 10)
    assert [t.session_id for t in found] == ["session-bbbb", "session-aaaa"]  # newest first
    raw = aws["conversations"].get_item(Key={"session_id": "session-aaaa", "turn_index": 0})["Item"]
    created = datetime.fromisoformat(raw["created_at"])
    assert int(raw["expires_at"]) == int((created + timedelta(days=30)).timestamp())
    assert (
        "user_id"
        not in aws["conversations"].get_item(Key={"session_id": "session-cccc", "turn_index": 2})[
            "Item"
        ]
    )


def test_feedback_store_no_overwrite_session_and_time_queries(aws) -> None:
    store = DynamoFeedbackStore(aws["feedback"], today=lambda: date(2026, 3, 3))
    signals = ImplicitSignals(
        latency_ms=12.5, quality_score=0.83, template_id="compute", template_version="v2"
    )
    for day, fid in ((1, "f1"), (2, "f2"), (3, "f3")):
        store.put(
            Feedback(
                fid,
                "session-0001",
                f"req-{day}",
                f"2026-03-0{day}T10:00:00+00:00",
                "implicit",
                signals=signals,
            )
        )
    with pytest.raises(RecordExistsError):
        store.put(
            Feedback(
                "f1", "session-0001", "req-x", "2026-03-01T11:00:00+00:00", "explicit", rating=1
            )
        )
    assert {f.feedback_id for f in store.for_session("session-0001")} == {"f1", "f2", "f3"}
    assert store.get("f2") == next(f for f in store.for_session("session-0001") if f.feedback_id == "f2")
    assert store.get("f1").source == "implicit" and store.get("missing") is None  # the original kept
    since = list(store.since("2026-03-02T09:00:00+00:00"))
    assert [f.feedback_id for f in since] == ["f2", "f3"]
    assert since[0].signals == signals
    assert aws["feedback"].get_item(Key={"feedback_id": "f1"})["Item"]["day"] == "2026-03-01"


def test_stores_read_back_hold_no_secret_after_a_secret_bearing_query(aws) -> None:
    from pipeline.adapters.local.clock import FixedClock

    scan_input = pytest.importorskip("pipeline.domain.guardrails").scan_input
    from pipeline.domain.workflow import QueryCapture, WorkflowInput

    store = DynamoConversationStore(aws["conversations"])
    capture = QueryCapture(store, FixedClock(), input_guard=scan_input).capture(
        WorkflowInput(
            "my aws_secret_access_key = " + SECRET + " why denied?", "session-0001", "req-1"
        )
    )
    assert capture.blocked
    items = aws["conversations"].scan()["Items"]
    assert items and SECRET not in json.dumps(items, default=str)


def test_prompt_store_reads_bodies_from_s3_latest_by_natural_version(aws) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="prompts")
    store = DynamoS3PromptStore(aws["prompts"], s3, "prompts")
    paths = sorted(PROMPTS.glob("*/*.json"))
    for i, path in enumerate(paths):
        store.publish(path.read_bytes(), created_at=f"2026-01-01T00:00:{i:02d}+00:00")
    with pytest.raises(RecordExistsError):
        store.publish(paths[0].read_bytes())
    item = aws["prompts"].get_item(
        Key={"template_id": paths[0].parent.name, "version": paths[0].stem}
    )["Item"]
    assert (
        item["s3_key"] == f"prompts/{paths[0].parent.name}/{paths[0].stem}.json"
        and item["kind"] == "prompt"
    )

    from pipeline.adapters.local.prompt_files import FilePromptStore

    files = FilePromptStore(PROMPTS)
    fresh = DynamoS3PromptStore(aws["prompts"], s3, "prompts")
    assert fresh.list_templates() == files.list_templates()
    template_id = paths[0].parent.name
    assert fresh.get(template_id) == files.get(template_id)
    with pytest.raises(TemplateNotFoundError):
        fresh.get("no_such_template")


def test_prompt_store_refuses_a_body_that_does_not_match_its_hash(aws) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="prompts")
    path = sorted(PROMPTS.glob("*/*.json"))[0]
    store = DynamoS3PromptStore(aws["prompts"], s3, "prompts")
    store.publish(path.read_bytes())
    tampered = json.loads(path.read_bytes())
    tampered["description"] = "changed behind the index's back"
    s3.put_object(
        Bucket="prompts",
        Key=f"prompts/{path.parent.name}/{path.stem}.json",
        Body=json.dumps(tampered),
    )
    with pytest.raises(ValueError, match="sha256"):
        DynamoS3PromptStore(aws["prompts"], s3, "prompts").get(path.parent.name, path.stem)
