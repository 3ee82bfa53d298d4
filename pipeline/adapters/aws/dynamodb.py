"""DynamoDB (and S3) adapters for the conversation, feedback and prompt stores.

Each adapter takes an injected boto3 DynamoDB ``Table`` resource (and an S3 client for
prompt bodies), so tests pass moto-backed tables and the composition root passes real
ones. Python floats and DynamoDB's ``Decimal`` are converted in one place
(:func:`to_item` / :func:`from_item`); ``None`` values are not written, so sparse GSI
keys such as ``user_id`` stay absent instead of failing the index's type check.

Key schemas (the stack in ``stack/`` creates the same):

* Conversations: PK ``session_id`` (S), SK ``turn_index`` (N); ``user_id``,
  ``created_at`` (ISO-8601), ``expires_at`` (TTL, epoch seconds); GSI ``UserIdIndex``
  (``user_id``, ``created_at``). One item per turn, so a session never outgrows an item.
* Feedback: PK ``feedback_id`` (S); ``session_id``, ``timestamp``, ``day`` (YYYY-MM-DD);
  GSIs ``SessionIdIndex`` (``session_id``, ``timestamp``) and ``TimestampIndex``
  (``day``, ``timestamp``).
* Prompts: PK ``template_id`` (S), SK ``version`` (S); ``s3_key``, ``sha256``,
  ``created_at``, ``kind`` = ``"prompt"``; GSI ``CreatedAtIndex`` (``kind``, ``created_at``).
  Bodies in S3 at ``prompts/{template_id}/{version}.json``. A template's experiment is one
  more item of its partition: SK ``experiment``, ``kind`` = ``"experiment"``, the definition
  as JSON in ``body`` and an optimistic-lock ``revision`` (see ``pipeline.domain.experiments``).

Example:
    >>> table = boto3.resource("dynamodb").Table("Conversations")  # doctest: +SKIP
    >>> DynamoConversationStore(table).recent_turns("session-0001", 6)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from pipeline.domain.experiments import Experiment, check_versions_exist, parse_experiment
from pipeline.domain.generation import (
    TemplateNotFoundError,
    natural_version_key,
    parse_template,
    parse_template_body,
)
from pipeline.domain.models import Feedback, ModelParameters, PromptTemplate, Turn
from pipeline.domain.workflow.errors import RecordExistsError, RecordNotFoundError

USER_ID_INDEX = "UserIdIndex"
SESSION_ID_INDEX = "SessionIdIndex"
TIMESTAMP_INDEX = "TimestampIndex"
CREATED_AT_INDEX = "CreatedAtIndex"
PROMPT_KIND = "prompt"
EXPERIMENT_KIND = "experiment"
EXPERIMENT_SORT_KEY = "experiment"  # the SK of a template's experiment item (never a version)
_NO_PARAMETERS = ModelParameters()
MAX_FEEDBACK_DAYS = 90  # ``since`` never walks more day partitions than this

# ---------------------------------------------------------------------------
# Floats <-> Decimal, in one place.
# ---------------------------------------------------------------------------


def to_item(value: Any) -> Any:
    """A JSON-like value as DynamoDB accepts it: floats as Decimal, tuples as lists, no None."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int | Decimal):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("DynamoDB cannot store NaN or infinity")
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: to_item(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_item(v) for v in value]
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_item(value: Any) -> Any:
    """The inverse of :func:`to_item`: integral Decimals as int, others as float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_item(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_item(v) for v in value]
    return value


def _is_conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _query_all(table: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a query, following ``LastEvaluatedKey``."""
    while True:
        page = table.query(**kwargs)
        yield from page.get("Items", [])
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def _query_limited(table: Any, limit: int, **kwargs: Any) -> list[dict[str, Any]]:
    """Up to ``limit`` items of a query (``Limit`` caps a page, so keep paging)."""
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        page = table.query(Limit=limit - len(items), **kwargs)
        items.extend(page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if not last:
            break
        kwargs["ExclusiveStartKey"] = last
    return items[:limit]


# ---------------------------------------------------------------------------
# Conversations
# ---------------------------------------------------------------------------


class DynamoConversationStore:
    """One item per turn; appends never overwrite, updates require the item to exist.

    Args:
        table: boto3 ``Table`` resource of the Conversations table.
        ttl_days: ``expires_at`` is ``created_at`` plus this many days.
    """

    def __init__(self, table: Any, *, ttl_days: int = 30) -> None:
        self._table = table
        self._ttl = timedelta(days=ttl_days)

    def _item(self, turn: Turn) -> dict[str, Any]:
        item = to_item(turn.to_dict())
        try:
            created = datetime.fromisoformat(turn.created_at)
        except ValueError:
            created = datetime.now(UTC)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        item["expires_at"] = int((created + self._ttl).timestamp())
        return item

    def append_turn(self, turn: Turn) -> None:
        try:
            self._table.put_item(
                Item=self._item(turn), ConditionExpression=Attr("session_id").not_exists()
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise RecordExistsError(
                    f"turn {turn.session_id}/{turn.turn_index} already exists"
                ) from None
            raise

    def update_turn(self, turn: Turn) -> None:
        try:
            self._table.put_item(
                Item=self._item(turn), ConditionExpression=Attr("session_id").exists()
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise RecordNotFoundError(
                    f"turn {turn.session_id}/{turn.turn_index} does not exist"
                ) from None
            raise

    def recent_turns(self, session_id: str, limit: int, before: int | None = None) -> list[Turn]:
        if limit <= 0:
            return []
        condition = Key("session_id").eq(session_id)
        if before is not None:
            condition = condition & Key("turn_index").lt(before)
        items = _query_limited(
            self._table,
            limit,
            KeyConditionExpression=condition,
            ScanIndexForward=False,
        )
        return [Turn.from_dict(from_item(i)) for i in reversed(items)]

    def find_turn(self, session_id: str, interaction_id: str, within: int) -> Turn | None:
        # Newest first; the filter runs server-side, so only the matching item comes back
        # (the read still evaluates up to ``within`` items: Limit counts evaluated items).
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("session_id").eq(session_id),
            "FilterExpression": Attr("interaction_id").eq(interaction_id),
            "ScanIndexForward": False,
        }
        evaluated = 0
        while evaluated < within:
            page = self._table.query(Limit=within - evaluated, **kwargs)
            if page.get("Items"):
                return Turn.from_dict(from_item(page["Items"][0]))
            evaluated += int(page.get("ScannedCount", 0))
            last = page.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        return None

    def next_turn_index(self, session_id: str) -> int:
        last = self.recent_turns(session_id, 1)
        return last[0].turn_index + 1 if last else 0

    def turns_for_user(self, user_id: str, limit: int) -> list[Turn]:
        """The user's latest turns across sessions, newest first."""
        if limit <= 0:
            return []
        items = _query_limited(
            self._table,
            limit,
            IndexName=USER_ID_INDEX,
            KeyConditionExpression=Key("user_id").eq(user_id),
            ScanIndexForward=False,
        )
        # The index projects keys only (no deployed reader pays for a full copy of every
        # turn): read each turn from the table by its key.
        return [t for t in (self._get_turn(i) for i in items) if t is not None]

    def _get_turn(self, keys: dict[str, Any]) -> Turn | None:
        found = self._table.get_item(
            Key={"session_id": keys["session_id"], "turn_index": keys["turn_index"]}
        ).get("Item")
        return Turn.from_dict(from_item(found)) if found else None


# ---------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------


class DynamoFeedbackStore:
    """Feedback records; ``day`` partitions ``TimestampIndex`` so ``since`` is a few queries.

    Args:
        table: boto3 ``Table`` resource of the Feedback table.
        today: returns the current UTC date (injected by tests).
    """

    def __init__(self, table: Any, *, today: Callable[[], date] | None = None) -> None:
        self._table = table
        self._today = today or (lambda: datetime.now(UTC).date())

    def put(self, feedback: Feedback) -> None:
        item = to_item(feedback.to_dict())
        item["day"] = feedback.timestamp[:10]
        try:
            self._table.put_item(Item=item, ConditionExpression=Attr("feedback_id").not_exists())
        except ClientError as error:
            if _is_conditional_failure(error):
                raise RecordExistsError(f"feedback {feedback.feedback_id} already exists") from None
            raise

    def get(self, feedback_id: str) -> Feedback | None:
        # Consistent: an idempotent retry must see the record its first attempt wrote.
        found = self._table.get_item(Key={"feedback_id": feedback_id}, ConsistentRead=True).get("Item")
        return Feedback.from_dict(from_item(found)) if found else None

    def for_session(self, session_id: str) -> list[Feedback]:
        items = _query_all(
            self._table,
            IndexName=SESSION_ID_INDEX,
            KeyConditionExpression=Key("session_id").eq(session_id),
        )
        # Keys-only index: each record is read from the table by its key.
        found = (
            self._table.get_item(Key={"feedback_id": i["feedback_id"]}).get("Item") for i in items
        )
        return [Feedback.from_dict(from_item(item)) for item in found if item]

    def since(self, timestamp: str) -> Iterator[Feedback]:
        """Records with ``timestamp >= since``, oldest day first, one query per day."""
        start = date.fromisoformat(timestamp[:10])
        end = self._today()
        day = max(start, end - timedelta(days=MAX_FEEDBACK_DAYS))
        while day <= end:
            condition = Key("day").eq(day.isoformat())
            if day == start:
                condition = condition & Key("timestamp").gte(timestamp)
            for item in _query_all(
                self._table, IndexName=TIMESTAMP_INDEX, KeyConditionExpression=condition
            ):
                yield Feedback.from_dict(from_item(item))
            day += timedelta(days=1)


# ---------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------


def prompt_s3_key(template_id: str, version: str) -> str:
    return f"prompts/{template_id}/{version}.json"


class DynamoS3PromptStore:
    """Prompt index in DynamoDB, bodies in S3; templates are cached per instance (cold start).

    Args:
        table: boto3 ``Table`` resource of the Prompts table.
        s3_client: boto3 S3 client.
        bucket: the prompt-template bucket.
    """

    def __init__(self, table: Any, s3_client: Any, bucket: str) -> None:
        self._table = table
        self._s3 = s3_client
        self._bucket = bucket
        self._cache: dict[tuple[str, str], PromptTemplate] = {}

    def publish(self, body: bytes, *, created_at: str | None = None) -> PromptTemplate:
        """Upload a template body, then index it with a conditional put: all or nothing.

        The body goes to S3 first (an index item never points at a missing body); when the
        conditional put fails (the version exists, or any other error) the object version
        this call wrote is deleted again, so the bucket holds what it held before.

        Raises:
            PromptTemplateError: the body is not a valid template (nothing is written).
            RecordExistsError: that template version is already indexed.
        """
        template = parse_template_body(body, origin="publish")
        key = prompt_s3_key(template.template_id, template.version)
        existing = self._table.get_item(
            Key={"template_id": template.template_id, "version": template.version}
        ).get("Item")
        if existing:
            raise RecordExistsError(
                f"prompt {template.template_id}/{template.version} already exists: versions are immutable. "
                "Fix: publish it as a new version."
            )
        written = self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=body, ContentType="application/json"
        )
        item = {
            "template_id": template.template_id,
            "version": template.version,
            "s3_key": key,
            "sha256": hashlib.sha256(body).hexdigest(),
            "created_at": created_at or datetime.now(UTC).isoformat(),
            "kind": PROMPT_KIND,
        }
        try:
            self._table.put_item(Item=item, ConditionExpression=Attr("template_id").not_exists())
        except Exception as error:
            self._remove_body(key, written.get("VersionId"))
            if isinstance(error, ClientError) and _is_conditional_failure(error):
                raise RecordExistsError(
                    f"prompt {template.template_id}/{template.version} already exists"
                ) from None
            raise
        return template

    def _remove_body(self, key: str, version_id: str | None) -> None:
        """Undo a body upload: the exact object version when the bucket is versioned."""
        if version_id and version_id != "null":
            self._s3.delete_object(Bucket=self._bucket, Key=key, VersionId=version_id)
        else:
            self._s3.delete_object(Bucket=self._bucket, Key=key)

    # -- experiments --------------------------------------------------------------------

    def list_experiments(self) -> list[Experiment]:
        """Every template's experiment (one Query on CreatedAtIndex, no scan)."""
        items = _query_all(
            self._table,
            IndexName=CREATED_AT_INDEX,
            KeyConditionExpression=Key("kind").eq(EXPERIMENT_KIND),
        )
        return [self._experiment(item) for item in items]

    def _experiment(self, item: dict[str, Any]) -> Experiment:
        origin = f"prompts table item {item.get('template_id')}/{EXPERIMENT_SORT_KEY}"
        data = json.loads(item["body"])
        data["revision"] = int(item.get("revision", data.get("revision", 0)))
        return parse_experiment(data, origin=origin)

    def put_experiment(self, experiment: Experiment, *, expected_revision: int | None) -> Experiment:
        """Store ``experiment`` if the stored revision is still ``expected_revision``.

        Raises:
            ExperimentError: a variant is not a published version of the template.
            RecordExistsError: the stored experiment changed since it was read.
        """
        check_versions_exist(
            experiment, self._versions(experiment.template_id), origin=f"experiment {experiment.experiment_id}"
        )
        stored = replace(experiment, revision=(expected_revision or 0) + 1)
        item = {
            "template_id": experiment.template_id,
            "version": EXPERIMENT_SORT_KEY,
            "kind": EXPERIMENT_KIND,
            "created_at": experiment.started_at or datetime.now(UTC).isoformat(),
            "body": stored.to_json(),
            "revision": stored.revision,
        }
        condition = (
            Attr("template_id").not_exists()
            if expected_revision is None
            else Attr("revision").eq(expected_revision)
        )
        try:
            self._table.put_item(Item=item, ConditionExpression=condition)
        except ClientError as error:
            if _is_conditional_failure(error):
                raise RecordExistsError(
                    f"experiment of {experiment.template_id} changed since it was read "
                    f"(expected revision {expected_revision}). Fix: run the command again."
                ) from None
            raise
        return stored

    def delete_experiment(self, template_id: str, *, expected_revision: int) -> None:
        """Remove a template's experiment if it is still at ``expected_revision``."""
        try:
            self._table.delete_item(
                Key={"template_id": template_id, "version": EXPERIMENT_SORT_KEY},
                ConditionExpression=Attr("revision").eq(expected_revision),
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                raise RecordExistsError(
                    f"experiment of {template_id} changed since it was read. Fix: run the command again."
                ) from None
            raise

    def _versions(self, template_id: str) -> list[PromptTemplate]:
        """The template's versions as records, from the index alone (no body reads)."""
        items = _query_all(self._table, KeyConditionExpression=Key("template_id").eq(template_id))
        return [
            PromptTemplate(
                template_id=template_id, version=i["version"], system_prompt="", user_template="",
                parameters=_NO_PARAMETERS, intents=(),
            )
            for i in items
            if i.get("kind", PROMPT_KIND) == PROMPT_KIND
        ]

    def _load(self, item: dict[str, Any]) -> PromptTemplate:
        ref = (item["template_id"], item["version"])
        if ref in self._cache:
            return self._cache[ref]
        key = item.get("s3_key") or prompt_s3_key(*ref)
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        digest = hashlib.sha256(body).hexdigest()
        if item.get("sha256") and item["sha256"] != digest:
            raise ValueError(f"s3://{self._bucket}/{key}: sha256 {digest} does not match the index")
        template = parse_template(json.loads(body), origin=f"s3://{self._bucket}/{key}")
        self._cache[ref] = template
        return template

    def get(self, template_id: str, version: str | None = None) -> PromptTemplate:
        if version is not None and (template_id, version) in self._cache:
            return self._cache[(template_id, version)]
        items = [
            i
            for i in _query_all(self._table, KeyConditionExpression=Key("template_id").eq(template_id))
            if i.get("kind", PROMPT_KIND) == PROMPT_KIND
        ]
        if version is not None:
            items = [i for i in items if i["version"] == version]
        if not items:
            wanted = f"{template_id}/{version}" if version else template_id
            raise TemplateNotFoundError(f"no prompt template {wanted} in the prompts table")
        return self._load(max(items, key=lambda i: natural_version_key(i["version"])))

    def list_templates(self) -> list[PromptTemplate]:
        """Every version of every template, sorted by id then version."""
        items = _query_all(
            self._table,
            IndexName=CREATED_AT_INDEX,
            KeyConditionExpression=Key("kind").eq(PROMPT_KIND),
        )
        ordered = sorted(items, key=lambda i: (i["template_id"], natural_version_key(i["version"])))
        return [self._load(i) for i in ordered]
