from __future__ import annotations

from stack import constants as c


def _table(template_json, resources, construct_id):
    found = [r["Properties"] for k, r in resources(template_json, "AWS::DynamoDB::Table").items()
             if k.startswith(f"{c.TABLES_ID}{construct_id}")]
    assert len(found) == 1, construct_id
    return found[0]


def _keys(props):
    return {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]}


def _gsis(props):
    return {g["IndexName"]: {k["AttributeName"]: k["KeyType"] for k in g["KeySchema"]}
            for g in props.get("GlobalSecondaryIndexes", [])}


def test_five_tables_on_demand_encrypted_with_pitr(template_json, resources):
    tables = resources(template_json, "AWS::DynamoDB::Table")
    assert len(tables) == 5
    for resource in tables.values():
        props = resource["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert not props.get("DeletionProtectionEnabled"), "dev stage: no deletion protection"
        assert resource["DeletionPolicy"] == "Delete"


def test_conversations_keys_gsi_and_ttl(template_json, resources):
    props = _table(template_json, resources, c.CONVERSATIONS_TABLE_ID)
    assert _keys(props) == {"session_id": "HASH", "turn_index": "RANGE"}
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types["turn_index"] == "N" and types["session_id"] == "S"
    assert _gsis(props) == {c.CONVERSATIONS_USER_INDEX: {"user_id": "HASH", "created_at": "RANGE"}}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_prompts_keys_and_gsi(template_json, resources):
    props = _table(template_json, resources, c.PROMPTS_TABLE_ID)
    assert _keys(props) == {"template_id": "HASH", "version": "RANGE"}
    assert _gsis(props) == {c.PROMPTS_CREATED_INDEX: {"kind": "HASH", "created_at": "RANGE"}}


def test_feedback_keys_gsis_and_no_stream(template_json, resources):
    props = _table(template_json, resources, c.FEEDBACK_TABLE_ID)
    assert _keys(props) == {"feedback_id": "HASH"}
    assert _gsis(props) == {
        c.FEEDBACK_SESSION_INDEX: {"session_id": "HASH", "timestamp": "RANGE"},
        c.FEEDBACK_TIMESTAMP_INDEX: {"day": "HASH", "timestamp": "RANGE"},
    }
    assert "StreamSpecification" not in props  # no consumer: removed on purpose


def test_query_api_tables_keys_and_ttl(template_json, resources):
    """POST /query's state: one item per Idempotency-Key, one counter per session window;
    both expire by TTL (the adapters treat an expired item as absent before DynamoDB deletes it)."""
    from pipeline.adapters.aws import idempotency, session_throttle

    props = _table(template_json, resources, c.IDEMPOTENCY_TABLE_ID)
    assert _keys(props) == {idempotency.KEY: "HASH"} and not _gsis(props)
    assert props["TimeToLiveSpecification"] == {"AttributeName": idempotency.TTL_ATTRIBUTE, "Enabled": True}
    props = _table(template_json, resources, c.SESSION_THROTTLE_TABLE_ID)
    assert _keys(props) == {session_throttle.KEY: "HASH"} and not _gsis(props)
    assert props["TimeToLiveSpecification"] == {"AttributeName": session_throttle.TTL_ATTRIBUTE, "Enabled": True}


def test_prod_stage_protects_and_retains_data(prod_template, resources):
    tables = resources(prod_template, "AWS::DynamoDB::Table")
    assert len(tables) == 5
    for table in tables.values():
        assert table["Properties"]["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    buckets = resources(prod_template, "AWS::S3::Bucket")
    assert buckets and all(bucket["DeletionPolicy"] == "Retain" for bucket in buckets.values())


def test_every_projected_index_has_a_reader(template_json, resources):
    """A GSI that projects ALL doubles every write; only indexes a deployed function queries
    (a Query grant on the index in TABLE_GRANTS) may do that, the others project keys only."""
    from stack.support_stack import QUERY, TABLE_GRANTS

    queried = {index for grants in TABLE_GRANTS.values() for grant in grants
               if QUERY in grant.actions for index in grant.indexes}
    projections = {g["IndexName"]: g["Projection"]["ProjectionType"]
                   for table in resources(template_json, "AWS::DynamoDB::Table").values()
                   for g in table["Properties"].get("GlobalSecondaryIndexes", [])}
    assert projections, "the stack has GSIs"
    for index, projection in projections.items():
        if index not in queried:
            assert projection == "KEYS_ONLY", f"{index} projects {projection} but nothing reads it"
    assert projections[c.CONVERSATIONS_USER_INDEX] == "KEYS_ONLY"
    assert projections[c.FEEDBACK_SESSION_INDEX] == "KEYS_ONLY"
