"""The local engine's shared, once-paid parts: the FIFO handler lock, the parse and JSONPath
caches, the partition query, and the admission slots."""

from __future__ import annotations

import json
import threading
import time

import pytest

from pipeline.local import engine


def _wait_until(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_the_fifo_lock_is_granted_in_arrival_order() -> None:
    lock = engine.FifoLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for number in range(6):
        thread = threading.Thread(target=lambda n=number: (lock.acquire(), order.append(n), lock.release()))
        thread.start()
        _wait_until(lambda n=number: len(lock._waiters) == n + 1)  # queued behind the others
        threads.append(thread)
    lock.release()
    for thread in threads:
        thread.join(10)
    assert order == list(range(6))
    lock.acquire()  # free again
    lock.release()


def test_releasing_an_unlocked_fifo_lock_is_an_error() -> None:
    import pytest

    with pytest.raises(RuntimeError):
        engine.FifoLock().release()


def test_a_definition_is_parsed_once_and_every_component_has_its_heap_key() -> None:
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    definition = json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "C"}],
              "Default": "C"},
        "C": {"Type": "Succeed"}}})
    first = engine.parsed_program(definition)
    assert engine.parsed_program(definition) is first
    components, pending, seen = [], [first], set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Component):
            if isinstance(item, EvalComponent):
                components.append(item)
            pending.extend(vars(item).values())
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    assert len(components) > 5
    # assigned eagerly: the name-mangled attribute is set before any execution touched it
    assert all(c.__dict__.get("_EvalComponent__heap_key") for c in components)


def test_a_task_of_an_ended_execution_is_known_to_the_invoke_hook() -> None:
    class Env:
        def __init__(self, running: bool) -> None:
            self.running = running

        def is_running(self) -> bool:
            return self.running

    assert engine.execution_running()  # outside any task (feedback_api, tests)
    for running in (True, False):
        engine._TASK.env = Env(running)
        try:
            assert engine.execution_running() is running
        finally:
            engine._TASK.env = None


def _conversations_like_table(client) -> None:
    client.create_table(
        TableName="turns", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"},
                   {"AttributeName": "turn_index", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"},
                              {"AttributeName": "turn_index", "AttributeType": "N"},
                              {"AttributeName": "user_id", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_user", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"},
                                               {"AttributeName": "turn_index", "KeyType": "RANGE"}]}])
    for session in ("a", "b", "c"):
        for index in (3, 0, 11, 2, 7, 1):  # out of order: the answer must be sorted anyway
            client.put_item(TableName="turns", Item={
                "session_id": {"S": session}, "turn_index": {"N": str(index)},
                "user_id": {"S": f"u{index % 2}"}, "text": {"S": f"{session}-{index}"}})


def _queries(client) -> list:
    def pages(**kwargs) -> list:
        found, answers = [], 0
        while True:
            page = client.query(TableName="turns", **kwargs)
            found.append((page["Items"], page.get("LastEvaluatedKey"), page["Count"], page["ScannedCount"]))
            answers += 1
            if "LastEvaluatedKey" not in page or answers > 20:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    key = {"KeyConditionExpression": "session_id = :s", "ExpressionAttributeValues": {":s": {"S": "b"}}}
    return [
        pages(**key),
        pages(**key, ScanIndexForward=False, Limit=2),
        pages(KeyConditionExpression="session_id = :s AND turn_index BETWEEN :lo AND :hi",
              ExpressionAttributeValues={":s": {"S": "a"}, ":lo": {"N": "1"}, ":hi": {"N": "7"}}, Limit=2),
        pages(**{**key, "ExpressionAttributeValues": {":s": {"S": "c"}, ":t": {"S": "c-7"}}},
              FilterExpression="#t <> :t", ExpressionAttributeNames={"#t": "text"}),
        pages(KeyConditionExpression="session_id = :s", ExpressionAttributeValues={":s": {"S": "none"}}),
        pages(IndexName="by_user", KeyConditionExpression="user_id = :u",
              ExpressionAttributeValues={":u": {"S": "u1"}}, ScanIndexForward=False),
    ]


def test_a_key_query_reads_only_its_partition_and_answers_exactly_as_moto_does() -> None:
    import contextlib

    import boto3
    from moto import mock_aws
    from moto.dynamodb.models.table import Table

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _conversations_like_table(client)
        expected = _queries(client)
        stored = client.scan(TableName="turns")["Items"]
        with contextlib.ExitStack() as stack:
            engine._install_partition_query(stack)
            whole_table_reads = []
            patched_all_items = Table.all_items

            def counting(self):
                found = patched_all_items(self)
                whole_table_reads.append(len(found))
                return found

            Table.all_items = counting
            try:
                answered = _queries(client)
            finally:
                Table.all_items = patched_all_items
        assert Table.all_items is not patched_all_items  # restored when the stack closed
        assert client.scan(TableName="turns")["Items"] == stored  # reading changed nothing
    assert answered == expected
    # Key queries saw their partition (6 items or none), the index query the whole table (18).
    assert whole_table_reads and set(whole_table_reads) <= {0, 6, 18}
    assert whole_table_reads.count(18) == 1


def test_json_paths_are_compiled_once_while_installed() -> None:
    import contextlib

    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.parse
    with contextlib.ExitStack() as stack:
        engine._install_json_path_cache(stack)
        assert json_path.parse("$.capture.session_id") is json_path.parse("$.capture.session_id")
        assert json_path.extract_json("$.a[1]", {"a": [5, 6]}) == 6
    assert json_path.parse is original


def test_admission_slots_are_granted_in_arrival_order_and_refuse_beyond_their_bounds() -> None:
    slots = engine.FifoSlots(capacity=1, max_waiting=2)
    slots.acquire(timeout=0)
    order: list[int] = []
    refused: list[str] = []

    def wait_for_slot(number: int) -> None:
        try:
            slots.acquire(timeout=30)
        except engine.AdmissionRefused as error:
            refused.append(str(error))
            return
        order.append(number)
        slots.release()

    threads = []
    for number in range(2):
        threads.append(threading.Thread(target=wait_for_slot, args=(number,)))
        threads[-1].start()
        _wait_until(lambda n=number: slots.waiting == n + 1)
    with pytest.raises(engine.AdmissionRefused):  # the queue is full: refused at once
        slots.acquire(timeout=30)
    slots.release()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1] and refused == []
    # A waiter that times out leaves the queue and is refused; the slot stays usable.
    slots.acquire(timeout=0)
    with pytest.raises(engine.AdmissionRefused):
        slots.acquire(timeout=0.05)
    assert slots.waiting == 0
    slots.release()
    slots.acquire(timeout=0)
    slots.release()
    with pytest.raises(RuntimeError):
        slots.release()


def test_state_copies_are_equal_independent_and_fall_back_to_deepcopy_for_other_objects() -> None:
    import contextlib
    import copy

    from moto.stepfunctions.parser.asl.eval import states

    state = {"capture": {"session_id": "s", "turn": 3, "score": 0.5, "blocked": False, "user": None},
             "history": [{"text": "a"}, {"text": "b", "tags": ["x", "y"]}], "empty": {}, "none": []}
    original = states.copy
    with contextlib.ExitStack() as stack:
        engine._install_state_copies(stack)
        copied = states.copy.deepcopy(state)
        assert copied == state
        copied["capture"]["turn"] = 4
        copied["history"][1]["tags"].append("z")
        assert state["capture"]["turn"] == 3 and state["history"][1]["tags"] == ["x", "y"]

        class Marker:
            pass

        shared = Marker()
        other = {"a": shared, "b": shared, "c": [1]}
        copied_other = states.copy.deepcopy(other)  # not JSON: copy.deepcopy (aliasing kept)
        assert copied_other["a"] is copied_other["b"] and copied_other["a"] is not shared
        memo: dict = {}
        assert states.copy.deepcopy([1, {"k": "v"}], memo) == [1, {"k": "v"}] and memo  # memo: moto's own
        assert states.copy.copy is copy.copy
    assert states.copy is original


_ITEMS = [
    {"session_id": {"S": "p"}, "turn_index": {"N": "0"}, "text": {"S": ""}, "flag": {"BOOL": True},
     "nothing": {"NULL": True}, "tags": {"SS": ["a", "b"]}, "scores": {"NS": ["1", "2.5"]},
     "nested": {"M": {"inner": {"L": [{"S": "x"}, {"N": "3"}, {"M": {}}, {"L": []}, {"BOOL": False}]},
                      "empty": {"M": {}}}}, "list": {"L": []}},
    {"session_id": {"S": "p"}, "turn_index": {"N": "1"}, "blob": {"B": b"\x00\x01raw"},
     "blobs": {"BS": [b"1", b"2"]}, "mixed": {"L": [{"S": "y"}, {"B": b"z"}]},
     "deep": {"M": {"b": {"B": b"q"}, "s": {"S": "t"}}}},
    {"session_id": {"S": "p"}, "turn_index": {"N": "2"}, "unicode": {"S": "é ☃ \u2028 \"quoted\""},
     "number": {"N": "-1.5e3"}},
]


def _dynamodb_answers(client) -> list:
    return [
        client.query(TableName="items", KeyConditionExpression="session_id = :s",
                     ExpressionAttributeValues={":s": {"S": "p"}}),
        client.query(TableName="items", KeyConditionExpression="session_id = :s",
                     ExpressionAttributeValues={":s": {"S": "p"}}, ScanIndexForward=False, Limit=1),
        client.get_item(TableName="items", Key={"session_id": {"S": "p"}, "turn_index": {"N": "0"}}),
        client.get_item(TableName="items", Key={"session_id": {"S": "p"}, "turn_index": {"N": "1"}}),
        client.scan(TableName="items"),
        client.put_item(TableName="items", Item={**_ITEMS[0], "turn_index": {"N": "9"}}, ReturnValues="ALL_OLD"),
        client.put_item(TableName="items", Item={**_ITEMS[1], "turn_index": {"N": "9"}}, ReturnValues="ALL_OLD"),
    ]


def test_dynamodb_answers_are_serialized_exactly_as_moto_serializes_them() -> None:
    import contextlib

    import boto3
    from moto import mock_aws
    from moto.core import serialize

    def answers() -> list:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            client.create_table(
                TableName="items", BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"},
                           {"AttributeName": "turn_index", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"},
                                      {"AttributeName": "turn_index", "AttributeType": "N"}])
            for item in _ITEMS:
                client.put_item(TableName="items", Item=item)
            found = _dynamodb_answers(client)
        for answer in found:
            answer.pop("ResponseMetadata")
        return found

    expected = answers()
    written, plain_calls = [], []
    original_plain = engine._plain_attribute_value
    original_structure = serialize.BaseJSONSerializer._serialize_type_structure
    original_keys = serialize.XFormedAttributePicker.get_possible_keys

    def counting(value):
        found = original_plain(value)
        plain_calls.append(found is not engine._NOT_PLAIN)
        return found

    with contextlib.ExitStack() as stack:
        engine._install_attribute_key_cache(stack)
        engine._install_attribute_value_writer(stack)
        engine._plain_attribute_value = counting
        try:
            written = answers()
            written_again = answers()  # the second time from the key cache
        finally:
            engine._plain_attribute_value = original_plain
    assert written == expected and written_again == expected
    assert True in plain_calls and False in plain_calls  # both the short cut and the walk ran
    assert serialize.BaseJSONSerializer._serialize_type_structure is original_structure
    assert serialize.XFormedAttributePicker.get_possible_keys is original_keys


def test_only_plain_attribute_values_take_the_short_cut() -> None:
    plain = engine._plain_attribute_value
    assert plain({"S": "x"}) == {"S": "x"} and plain({"N": "1"}) == {"N": "1"}
    assert plain({"M": {"a": {"L": [{"BOOL": True}, {"NULL": True}]}}}) == {"M": {"a": {"L": [{"BOOL": True}, {"NULL": True}]}}}
    for other in ({"B": b"x"}, {"BS": [b"x"]}, {"S": "x", "N": "1"}, {}, {"S": 1}, {"SS": ["a", 1]},
                  {"M": {"a": {"B": b"x"}}}, {"L": [None]}, {"BOOL": "true"}, {"s": "x"}):
        assert plain(other) is engine._NOT_PLAIN, other



def test_unsigned_requests_get_the_same_answers_from_moto_and_only_while_installed() -> None:
    import contextlib

    import boto3
    from moto import mock_aws

    def answers(client, s3, secrets) -> list:
        found = _queries(client)
        found.append(client.get_item(TableName="turns", Key={
            "session_id": {"S": "a"}, "turn_index": {"N": "2"}})["Item"])
        s3.put_object(Bucket="prompts", Key="a/b.txt", Body=b"body")
        found.append(s3.get_object(Bucket="prompts", Key="a/b.txt")["Body"].read())
        found.append(secrets.get_secret_value(SecretId="key")["SecretString"])
        return found

    authorization: list[bool] = []

    def seen(request, **_) -> None:
        if "s3." not in request.url:  # S3 stays signed (moto's S3 applies ACLs to anonymous requests)
            authorization.append("Authorization" in request.headers)

    s3_signed: list[bool] = []
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.meta.events.register_first("before-send", lambda request, **_: s3_signed.append(
            "Authorization" in request.headers))
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        for service in (client, s3, secrets):
            service.meta.events.register_first("before-send", seen)
        _conversations_like_table(client)
        s3.create_bucket(Bucket="prompts")
        secrets.create_secret(Name="key", SecretString="value")
        expected = answers(client, s3, secrets)
        assert authorization and all(authorization)
        authorization.clear()
        with contextlib.ExitStack() as stack:
            engine._install_unsigned_requests(stack)
            unsigned = answers(client, s3, secrets)
            assert authorization and not any(authorization)
            url = s3.generate_presigned_url("get_object", Params={"Bucket": "prompts", "Key": "a/b.txt"})
            assert "Signature=" in url or "X-Amz-Signature=" in url  # pre-signed URLs still are
        authorization.clear()
        answers(client, s3, secrets)
        assert authorization and all(authorization)  # signed again once the stack closed
    assert _without_metadata(unsigned) == _without_metadata(expected)
    assert s3_signed and all(s3_signed)


def _without_metadata(answers: list) -> list:
    return [{k: v for k, v in a.items() if k != "ResponseMetadata"} if isinstance(a, dict) else a
            for a in answers]


def test_lambda_tasks_run_inline_with_moto_s_results_and_errors_and_finished_threads_are_dropped() -> None:
    """The executed workflow (real handlers) takes the inline path for its Lambda tasks, gives
    the same output and path as moto's threaded path, reports a handler error the same way,
    and moto's thread list keeps no finished thread but the last execution's own."""
    import threading

    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.utils import TMP_THREADS

    from pipeline.local.workflow import Faults, LocalWorkflow

    def runs(inline: bool) -> list:
        found = []
        with LocalWorkflow(faults=Faults().fail_once("detect_intent")) as workflow:
            patched = execute_state.ExecutionState._evaluate_with_timeout
            if not inline:  # moto's own method, which the install wrapped
                execute_state.ExecutionState._evaluate_with_timeout = next(
                    c.cell_contents for c in patched.__closure__
                    if getattr(c.cell_contents, "__name__", "") == "_evaluate_with_timeout")
            started = []
            original_start = threading.Thread.start

            def counting_start(self, *args, **kwargs):
                started.append(self)
                return original_start(self, *args, **kwargs)

            threading.Thread.start = counting_start
            try:
                for query in ("why does my EC2 instance refuse SSH?", "how do I rotate an IAM access key?"):
                    run = workflow.run(query)
                    output = {k: v for k, v in run.output.items()
                              if k not in ("session_id", "interaction_id", "request_id")}
                    found.append((run.status, run.path, output, [(c.handler, c.error) for c in run.calls]))
            finally:
                threading.Thread.start = original_start
                execute_state.ExecutionState._evaluate_with_timeout = patched
            found.append(len(started))
            # at most the last execution's own thread (it swept the list before it ended)
            assert sum(not thread.is_alive() for thread in TMP_THREADS) <= 1
        return found

    inline, threaded = runs(True), runs(False)
    assert inline[:-1] == threaded[:-1]
    assert ("detect_intent", "Lambda.TooManyRequestsException") in inline[0][3]  # injected, retried alike
    assert inline[-1] < threaded[-1]  # fewer threads started for the same runs


def test_dynamodb_items_and_state_machine_copies_are_not_tracked_while_installed() -> None:
    """moto's instance tracking (for its standalone server's dashboard) keeps nothing of the
    untracked models while installed; the tables still hold their items, and the tracking
    list comes back when the stack closes."""
    import contextlib

    import boto3
    from moto import mock_aws
    from moto.dynamodb.models.dynamo_type import Item
    from moto.stepfunctions.models import StateMachine

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _conversations_like_table(client)
        tracked_before = Item.instances_tracked
        with contextlib.ExitStack() as stack:
            engine._install_untracked_models(stack)
            assert StateMachine.instances_tracked == []
            for turn in range(3):  # the second and third overwrite the first
                client.put_item(TableName="turns", Item={"session_id": {"S": "s-new"}, "turn_index": {"N": "0"},
                                                         "text": {"S": f"v{turn}"}})
            assert Item.instances_tracked == []
        assert Item.instances_tracked is tracked_before
        found = client.get_item(TableName="turns", Key={"session_id": {"S": "s-new"}, "turn_index": {"N": "0"}})
        assert found["Item"]["text"] == {"S": "v2"}


def test_a_lambda_result_s_size_check_answers_as_moto_s_own() -> None:
    """The size check of a Lambda task's result reuses the size of the JSON text it came
    from when that bounds the exact size under the quota; otherwise moto's check decides.
    Either way the answer is moto's."""
    import contextlib
    import io

    from moto.stepfunctions.parser import quotas
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        lambda_eval_utils,
        state_task_lambda,
    )
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    limit = quotas.MAX_STATE_SIZE_UTF8_BYTES
    # The response's JSON is the text's length plus 74 characters: 1 byte under the quota,
    # exactly at it (over: the quota is "less than"), and beyond it.
    results = [
        {"response": "short", "n": 1.5, "flags": [True, None], "nested": {"a": [1, 2, {"b": "é ✓"}]}},
        {1: "an int key", "1": "collides with it once written"},  # shorter when read back
        {"text": "x" * (limit - 75)},
        {"text": "x" * (limit - 74)},
        {"text": "x" * limit},
        ["a", "list", 3],
    ]
    original = state_task_lambda.is_within_size_quota
    moto_checks = []

    def counting(value):
        moto_checks.append(value)
        return original(value)

    state_task_lambda.is_within_size_quota = counting
    outcomes = []
    try:
        with contextlib.ExitStack() as stack:
            engine._install_result_size_check(stack)
            patched = state_task_lambda.is_within_size_quota
            for result in results:
                body = json.dumps(result, default=str).encode("utf-8")
                payload = lambda_eval_utils._from_payload(io.BytesIO(body))
                response = {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": payload}
                exact = len(to_json_str(response).encode("utf-8"))
                engine._TASK.payload = (payload, len(body))
                del moto_checks[:]
                answer = patched(response)
                assert answer == quotas.is_within_size_quota(response) == (exact < limit)
                assert bool(moto_checks) == (not answer)  # moto's check only where the bound is not under
                outcomes.append((exact - limit, answer))
                engine._TASK.payload = None
                assert patched(response) == (exact < limit)  # without the known text: moto's own check
            assert patched({"Payload": {"other": "object"}}) is True
        assert state_task_lambda.is_within_size_quota is counting  # restored when the stack closed
    finally:
        engine._TASK.payload = None
        state_task_lambda.is_within_size_quota = original
    assert (-1, True) in outcomes and (0, False) in outcomes
