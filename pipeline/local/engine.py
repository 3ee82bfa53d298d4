"""Per-execution costs of moto's Step Functions interpreter and DynamoDB, paid once instead.

moto runs each execution exactly like AWS would, but it redid expensive things for every
one of them, which made the local server CPU-bound at ~3 requests/s:

* it parses the state machine definition with its ANTLR grammar (~45 % of an execution's
  CPU time for our 14-state definition);
* it builds a new boto3 Lambda client for every Task state that invokes a function (botocore
  loads and validates the service model each time: ~15 %), then sends the invoke through
  botocore's serialiser and moto's HTTP-level dispatch to reach the in-process handler
  (~10 %);
* the caller can only poll for the end of an execution (32 pollers waking every few ms
  compete with the executions for the GIL);
* it compiles every JSONPath (``InputPath``, ``ResultSelector``'s ``$.x``, ``ResultPath``)
  with a new jsonpath-ng parser, PLY tables included, each time a state evaluates it
  (~4 % of an execution);
* moto's DynamoDB answers a ``Query`` on a table's key by sorting *every item of the table*
  and keeping the partition asked for, so each history read of an execution cost
  O(table size) and the local server got slower with every stored turn (7 req/s after 500
  turns, falling); then it deep-copies the items found, which are only read afterwards
  (over half of a history read's CPU time);
* it lists a response class's methods with ``inspect.getmembers`` on every API call;
* its JSON response serializer walks DynamoDB's ten-member ``AttributeValue`` shape for
  every value of every item, asking five alias providers for each member's names (~22 % of
  the CPU, by a yappi profile of sequential queries across all threads);
* its interpreter deep-copies the whole workflow state ~50 times per execution, and
  ``copy.deepcopy``'s memo bookkeeping made that ~20 %;
* it evaluates every Task state in a new thread and waits for it (three thread hand-overs
  per task; on one busy core each wake-up under the GIL can park the whole process), keeps
  every thread it started in a list nothing reads, and botocore signs every request to it
  (SigV4, ~3 % of the server's CPU) although nothing checks the signature.

:func:`install` keeps one parsed program per definition text while a
:class:`~pipeline.local.workflow.LocalWorkflow` is open, compiles each JSONPath once, reads
a key query's partition directly (the same items, in the same order, copied as a list),
lists each moto response class's methods once, writes plain DynamoDB values in their wire
form, copies JSON state with a plain recursive copy, runs a Lambda task without its own
``TimeoutSeconds`` in the execution's thread, drops finished threads from moto's list,
leaves DynamoDB/Step Functions/Secrets Manager requests unsigned, hands a Lambda task's
payload straight to the workflow's invoke hook (the one moto's Lambda backend calls) with the response moto's
Lambda API would give (``FunctionError``, the payload size limit), and signals the end of
each execution. The parsed program is safe to share between concurrent executions: it is
immutable (moto keeps every per-execution value (retry attempt counters, the data stack)
in the execution's ``Environment``, under keys the components get once, assigned here
before the program is shared). Nothing about what an execution does changes: the same
interpreter, Retry and Catch, the same handler events, the same items read.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

_PROGRAMS: dict[str, Any] = {}
_LOCK = threading.Lock()
_MAX_PROGRAMS = 16
_FINISHED: dict[str, threading.Event] = {}
#: AWS Lambda's limit on a synchronous response payload (moto's Lambda API checks it too).
MAX_RESPONSE_BYTES = 6_000_000

#: ``invoke(function_name, payload_bytes, response_headers) -> response_bytes``
InvokeHook = Callable[[str, bytes, dict[str, str]], bytes]


def _assign_heap_keys(component: Any) -> None:
    """Give every component of a parsed program its heap key now (moto assigns it lazily,
    and two executions racing on the first access would each get a different key)."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending: list[Any] = [component]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Component):  # States, StateProps … hold the evaluable parts
            if isinstance(item, EvalComponent):
                _ = item.heap_key
            pending.extend(vars(item).values())
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)


def parsed_program(definition: str) -> Any:
    """The evaluation entry point of ``definition``, parsed once per definition text."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    with _LOCK:
        found = _PROGRAMS.get(definition)
        if found is None:
            found = AmazonStateLanguageParser.parse(definition)[0]
            _assign_heap_keys(found)
            if len(_PROGRAMS) >= _MAX_PROGRAMS:
                _PROGRAMS.pop(next(iter(_PROGRAMS)))
            _PROGRAMS[definition] = found
        return found


def finished_event(execution_arn: str) -> threading.Event:
    """Set when the execution's interpreter thread has finished (its status is final)."""
    with _LOCK:
        return _FINISHED.setdefault(execution_arn, threading.Event())


def forget(execution_arn: str) -> None:
    with _LOCK:
        _FINISHED.pop(execution_arn, None)


_TASK = threading.local()  # the Environment of the task state this thread is evaluating


def execution_running() -> bool:
    """False when the execution whose task this thread runs has already ended (it timed out
    at the state machine's TimeoutSeconds, or was stopped): its result would be discarded."""
    env = getattr(_TASK, "env", None)
    return env is None or bool(env.is_running())


_QUERY = threading.local()  # the partition key of the table query this thread evaluates


def _install_json_path_cache(stack: contextlib.ExitStack) -> None:
    """Compile each JSONPath once: the compiled path objects are immutable (``find`` and
    ``update_or_create`` build new results and never change the path), so concurrent
    executions can share them."""
    from functools import lru_cache

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        original = module.parse
        module.parse = lru_cache(maxsize=4096)(original)
        stack.callback(setattr, module, "parse", original)


def _install_method_names_cache(stack: contextlib.ExitStack) -> None:
    """moto lists a response class's methods (``inspect.getmembers``) on every API call to
    find the action's handler; a class's methods do not change while it serves, so list
    them once per class."""
    from functools import lru_cache

    from moto.core import responses

    original = responses.method_names_from_class
    responses.method_names_from_class = lru_cache(maxsize=256)(original)
    stack.callback(setattr, responses, "method_names_from_class", original)


def _install_partition_query(stack: contextlib.ExitStack) -> None:
    """A DynamoDB ``Query`` on the table's own key reads that one partition.

    moto's ``Table.query`` takes every item of the table (``all_items`` sorts them all) and
    keeps those whose hash key matches; here ``all_items`` returns only the queried
    partition's items while such a query runs in this thread. moto keeps the same filter,
    sort, paging and limits after it, so the answer is the same item list. Index queries
    and scans are untouched.
    """
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items

    # moto passes ``index_name`` positionally (8th argument after self).
    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        _QUERY.scope = (self, hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _QUERY.scope = None

    def all_items(self: Table) -> Any:
        scope = getattr(_QUERY, "scope", None)
        if scope is None or scope[0] is not self:
            return original_all_items(self)
        # .get: indexing the defaultdict would create an empty partition.
        partition = self.items.get(scope[1])
        if partition is None:
            return []
        if not self.range_key_attr:
            return [partition]
        return sorted(list(partition.values()), key=lambda item: item.range_key)

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    stack.callback(setattr, Table, "query", original_query)
    stack.callback(setattr, Table, "all_items", original_all_items)
    stack.callback(setattr, table_module, "copy", table_module.copy)
    table_module.copy = _CopyOfKeyQueryResults()


class _CopyOfKeyQueryResults:
    """The ``copy`` module as moto's table module sees it, except in a key query.

    ``Table.query`` deep-copies the items it found (``copy.deepcopy(results)``, over half of
    a history read's CPU time) so that what follows cannot change the stored items. What
    follows a key query only reads them: the filter evaluates, projections build new items,
    the response serializer reads. A copy of the list is enough there; everything else
    (index queries, scans, backups) still gets moto's deep copy.
    """

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, list) and getattr(_QUERY, "scope", None) is not None:
            return list(value)
        return copy.deepcopy(value, memo)


class _NotJson(Exception):
    """The value holds something other than JSON data (the deep copy then is moto's own)."""


_JSON_LEAVES = frozenset({str, int, float, bool, type(None)})


def _copy_json(value: Any) -> Any:
    """A copy of a JSON value (dicts, lists, strings, numbers, booleans, null).

    Leaves (immutable) are taken as they are without a call per leaf: most of a state's
    values are strings, and the call was most of the copy's cost.
    """
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _JSON_LEAVES else _copy_json(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _JSON_LEAVES else _copy_json(item) for item in value]
    if kind in _JSON_LEAVES:
        return value  # immutable
    raise _NotJson


class _StateCopies:
    """The ``copy`` module as moto's Step Functions interpreter sees it: a deep copy of JSON
    data is a plain recursive copy.

    The interpreter deep-copies the whole state on every read and write of it (each state's
    input, every JSONPath result, the result, the task frame's stack: ~50 copies of the
    state per execution of our definition), and ``copy.deepcopy``'s memo and keep-alive
    bookkeeping made them ~15 % of an execution's CPU. A state is JSON data; anything else
    (program states, events) still gets ``copy.deepcopy``. The copies are equal and share
    nothing with the original, as before.
    """

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        if memo is None:
            try:
                return _copy_json(value)
            except _NotJson:
                pass
        return copy.deepcopy(value, memo)


#: The interpreter modules whose ``copy.deepcopy`` copies execution state.
_STATE_COPY_MODULES = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
)


def _install_state_copies(stack: contextlib.ExitStack) -> None:
    import importlib

    for name in _STATE_COPY_MODULES:
        module = importlib.import_module(name)
        stack.callback(setattr, module, "copy", getattr(module, "copy"))  # noqa: B009 - a module's global
        setattr(module, "copy", _StateCopies())  # noqa: B010 - replacing a module's global


def _install_attribute_key_cache(stack: contextlib.ExitStack) -> None:
    """moto's response serializer finds each member of a response in the result by asking
    five alias providers for candidate names, for every value it serializes (a DynamoDB
    item is a tree of ``AttributeValue`` structures of ten members each: ~40 % of a
    history read's CPU). For a ``dict`` the candidates depend only on the member's name
    and shape (a dict has no ``Meta`` aliases and always the same class name), and the
    shapes live as long as moto's cached service models: list them once per (name, shape).
    Other objects still ask the providers every time.
    """
    from moto.core import serialize

    picker = serialize.XFormedAttributePicker
    original = picker.get_possible_keys
    found: dict[tuple[str, int], tuple[Any, tuple[str, ...]]] = {}

    def get_possible_keys(self: Any, context: Any) -> Any:
        if (type(context.obj) is not dict or context.shape is None
                or self.alias_providers is not serialize.DEFAULT_ALIAS_PROVIDERS):
            return original(self, context)
        cache_key = (context.key, id(context.shape))
        cached = found.get(cache_key)
        if cached is None or cached[0] is not context.shape:
            # The shape is kept with its keys, so its id cannot be reused while cached.
            cached = (context.shape, tuple(original(self, context)))
            found[cache_key] = cached
        return cached[1]

    picker.get_possible_keys = get_possible_keys  # type: ignore[method-assign]
    stack.callback(setattr, picker, "get_possible_keys", original)


_NOT_PLAIN = object()
_STRING_MEMBERS = frozenset({"S", "N"})
_FLAG_MEMBERS = frozenset({"BOOL", "NULL"})
_STRING_SET_MEMBERS = frozenset({"SS", "NS"})


def _plain_attribute_value(value: Any) -> Any:
    """A DynamoDB ``AttributeValue`` as moto's JSON serializer writes it, when it holds
    only strings, numbers, flags, string sets, maps and lists of such values; otherwise
    ``_NOT_PLAIN`` (binary values, several members, anything unexpected: the serializer's
    own walk then writes it)."""
    if type(value) is not dict or len(value) != 1:
        return _NOT_PLAIN
    ((member, item),) = value.items()
    kind = type(item)
    if member in _STRING_MEMBERS and kind is str:
        return {member: item}
    if member in _FLAG_MEMBERS and kind is bool:
        return {member: item}
    if member == "M" and kind is dict:
        written = {}
        for name, entry in item.items():
            plain = _plain_attribute_value(entry)
            if plain is _NOT_PLAIN or type(name) is not str:
                return _NOT_PLAIN
            written[name] = plain
        return {"M": written}
    if member == "L" and kind is list:
        entries = []
        for entry in item:
            plain = _plain_attribute_value(entry)
            if plain is _NOT_PLAIN:
                return _NOT_PLAIN
            entries.append(plain)
        return {"L": entries}
    if member in _STRING_SET_MEMBERS and kind is list and all(type(entry) is str for entry in item):
        return {member: list(item)}
    return _NOT_PLAIN


def _install_attribute_value_writer(stack: contextlib.ExitStack) -> None:
    """moto's JSON serializer writes a DynamoDB item by walking the ``AttributeValue``
    shape: ten members per value, each looked up under its candidate names, recursively
    (over half of a history read's CPU). A plain value (strings, numbers, flags, string
    sets, maps, lists) is already in its wire form: it is written as the walk would write
    it, with the same members and values; any other value still takes the walk.
    """
    from moto.core import serialize

    serializer = serialize.BaseJSONSerializer
    original = serializer._serialize_type_structure

    def write_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and type(value) is dict \
                and self.operation_model.service_model.service_name == "dynamodb":
            plain = _plain_attribute_value(value)
            if plain is not _NOT_PLAIN:
                serialized[self.get_serialized_name(shape, key)] = plain
                return
        original(self, serialized, value, shape, key)

    serializer._serialize_type_structure = write_structure  # type: ignore[method-assign]
    stack.callback(setattr, serializer, "_serialize_type_structure", original)


def _install_inline_lambda_tasks(stack: contextlib.ExitStack) -> None:
    """A Lambda Task state without its own ``TimeoutSeconds`` runs in the thread that
    evaluates the execution, not in a new thread.

    moto evaluates every Task state in a fresh thread and waits for it with the state's
    timeout; for a Task without ``TimeoutSeconds`` that wait is 99,999,999 s, i.e. the
    execution's thread only waits for the task's. Each such hand-over (start the thread,
    wait for it to start, wake the waiting thread at the end) costs wake-ups of sleeping
    threads under the interpreter lock: with four executions and the HTTP threads sharing
    one core, the sampled profile put ~2-3 % of the server's CPU on them, and the thread
    objects stay in moto's ``TMP_THREADS`` list for the process's life. Running the task
    inline does the same steps in the same order (frame opened with the state's input and
    a copy of the stack, the task evaluated, the frame ended and closed, an error re-raised
    after that, then ResultSelector/ResultPath). A Task with a ``TimeoutSeconds`` (or one
    computed at run time), and every other state kind, still takes moto's threaded path,
    which can give up waiting.
    """
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )

    original = execute_state.ExecutionState._evaluate_with_timeout

    def evaluate(self: Any, env: Any) -> None:
        if not isinstance(self, StateTaskLambda) or not self.timeout.is_default_value():
            return original(self, env)
        self.timeout.eval(env=env)
        env.stack.pop()  # the default timeout: never reached by a task that returns
        frame = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = execute_state.copy.deepcopy(env.stack)
        outputs: list[Any] = []
        error: Exception | None = None
        try:
            self._eval_execution(frame)
            outputs.extend(frame.stack)
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the frame closed (as moto does)
            error = exc
        frame.set_ended()
        env.close_frame(frame)
        if error is not None:
            raise error
        env.stack.append(outputs.pop())
        if not self._is_language_query_jsonpath():
            env.states.set_result(env.stack[-1])
        if self.assign_decl:
            self.assign_decl.eval(env=env)
        if self.result_selector:
            self.result_selector.eval(env=env)
        if self.result_path:
            self.result_path.eval(env)
        else:
            env.states.reset(input_value=env.stack.pop())

    execute_state.ExecutionState._evaluate_with_timeout = evaluate  # type: ignore[method-assign]
    stack.callback(setattr, execute_state.ExecutionState, "_evaluate_with_timeout", original)


#: Services whose requests to the in-process moto are not signed (their moto backends read
#: nothing from the signature but the access key, i.e. the account).
UNSIGNED_SERVICES = frozenset({"dynamodb", "sfn", "secrets-manager"})


def _install_unsigned_requests(stack: contextlib.ExitStack) -> None:
    """Requests to the in-process moto are not signed (SigV4: ~3 % of the local server's CPU
    under load, ~0.1 ms per API call).

    Nothing checks a signature here: moto runs in this process with dummy credentials and
    IAM authentication off; it reads the account from the access key in the Authorization
    header, and without one it takes its default account, the same ``123456789012`` the
    dummy key maps to. Only the services in :data:`UNSIGNED_SERVICES` skip it (moto's S3
    treats an unsigned request as anonymous and applies bucket ACLs: S3 is still signed),
    only for ordinary requests (pre-signed URLs are still signed), and only while the local
    workflow is open: a process that talks to AWS never opens one, and the deployed Lambdas
    sign every request as before.
    """
    import botocore
    from botocore.signers import RequestSigner

    original = RequestSigner._choose_signer

    def choose_signer(self: RequestSigner, operation_name: str, signing_type: str, context: Any) -> Any:
        if signing_type == "standard" and self._service_id.hyphenize() in UNSIGNED_SERVICES:
            return botocore.UNSIGNED
        return original(self, operation_name, signing_type, context)

    RequestSigner._choose_signer = choose_signer  # type: ignore[method-assign]
    stack.callback(setattr, RequestSigner, "_choose_signer", original)


def _forget_finished_threads() -> None:
    """moto appends every thread its interpreter starts to ``TMP_THREADS``, a module list
    nothing reads, so finished threads (with their events, conditions and locks) stayed
    for the process's life and every full garbage collection walked them again. A running
    thread is still referenced by ``threading`` itself; only finished ones are dropped."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]


class _DiscardingList(list[Any]):
    """A list that keeps nothing appended to it (see :func:`_install_untracked_models`)."""

    def append(self, item: Any) -> None:
        pass


#: moto models whose instances are not tracked while a workflow is open: every DynamoDB
#: item written (one per put, the overwritten ones included) and the copy of the state
#: machine moto makes for every execution.
UNTRACKED_MODELS = ("moto.dynamodb.models.dynamo_type:Item", "moto.stepfunctions.models:StateMachine")


def _install_untracked_models(stack: contextlib.ExitStack) -> None:
    """moto appends every instance of its models to the class's ``instances_tracked`` list,
    for its standalone server's dashboard (``/moto-api/data.json``), which nothing in this
    process serves or reads. So every DynamoDB ``Item`` ever created stayed alive for the
    process's life, each overwritten turn's included (CollectFeedback rewrites the turn
    CaptureUserQuery wrote), and one deep copy of the state machine per execution: ~1.5
    items and a state machine per request that only every full garbage collection walked
    again. For the models in :data:`UNTRACKED_MODELS` the list keeps nothing while the
    workflow is open; the items in the tables are held by the tables, as before. (S3's models
    are left alone: moto's S3 reset reads its tracked keys to close their buffers.)
    """
    import importlib

    for path in UNTRACKED_MODELS:
        module_name, class_name = path.split(":")
        model = getattr(importlib.import_module(module_name), class_name)
        stack.callback(setattr, model, "instances_tracked", model.instances_tracked)
        model.instances_tracked = _DiscardingList()


def _install_result_size_check(stack: contextlib.ExitStack) -> None:
    """A Lambda task's result is checked against Step Functions' 256 KB state quota without
    serialising it again.

    moto checks the invoke response (``{"StatusCode", "ExecutedVersion", "Payload"}``) by
    writing it as JSON and counting the UTF-8 bytes (~3.5 % of the local server's CPU under
    load). The payload arrived here as JSON text (the handler's result, written by the
    invoke hook with ``json.dumps``' defaults, ASCII-only) and moto parsed it; writing the
    parsed value again with the same settings gives that text again, or a shorter one (keys
    that collided when written collapse when read), never a longer one. So the response's
    size is at most its other members' JSON plus the payload's text: when that bound is
    under the quota, so is the exact size and the answer is the same; otherwise moto's own
    check decides.
    """
    from moto.stepfunctions.parser import quotas
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    original = state_task_lambda.is_within_size_quota

    def is_within_size_quota(value: Any) -> bool:
        known = getattr(_TASK, "payload", None)
        if known is not None and isinstance(value, dict) and value.get("Payload") is known[0]:
            others = {key: member for key, member in value.items() if key != "Payload"}
            bound = (len(to_json_str(others).encode("utf-8")) + (2 if others else 0)
                     + len('"Payload": ') + known[1])
            if bound < quotas.MAX_STATE_SIZE_UTF8_BYTES:
                return True
        return bool(original(value))

    state_task_lambda.is_within_size_quota = is_within_size_quota
    stack.callback(setattr, state_task_lambda, "is_within_size_quota", original)


def install(stack: contextlib.ExitStack, invoke: InvokeHook) -> None:
    """Patch moto's execution worker, Lambda task invocation, JSONPath compilation and
    DynamoDB key queries while ``stack`` is open."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
    original_logic = ExecutionWorker._execution_logic
    original_invoke = lambda_eval_utils._invoke_lambda_function
    original_integration = lambda_eval_utils.execute_lambda_function_integration

    def entrypoint(self: ExecutionWorker) -> Any:
        return parsed_program(self._evaluation_details.state_machine_details.definition)

    def execution_logic(self: ExecutionWorker) -> None:
        try:
            original_logic(self)
        finally:
            _forget_finished_threads()
            finished_event(self._evaluation_details.execution_details.arn).set()

    def invoke_lambda(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        payload = parameters.get("Payload") or b"{}"
        headers: dict[str, str] = {}
        body = invoke(str(parameters["FunctionName"]), payload if isinstance(payload, bytes)
                      else str(payload).encode("utf-8"), headers)
        if len(body) > MAX_RESPONSE_BYTES:
            headers["x-amz-function-error"] = "Unhandled"
            body = json.dumps({"errorType": "Function.ResponseSizeTooLarge",
                               "errorMessage": "Response payload size exceeded maximum allowed payload size"}
                              ).encode("utf-8")
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST",
                                    "Payload": lambda_eval_utils._from_payload(io.BytesIO(body))}
        if headers.get("x-amz-function-error"):
            response["FunctionError"] = headers["x-amz-function-error"]
        elif isinstance(response["Payload"], dict | list) and body.isascii():
            _TASK.payload = (response["Payload"], len(body))  # its JSON text's size (see below)
        return response

    def integration(env: Any, parameters: dict[str, Any], region: str, state_credentials: Any) -> None:
        _TASK.env = env  # read by execution_running() in the invoke hook, same thread
        _TASK.payload = None
        try:
            original_integration(env=env, parameters=parameters, region=region,
                                 state_credentials=state_credentials)
        finally:
            _TASK.env = None

    # Replacing methods of moto's classes is the point here (its hooks for these steps).
    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]
    ExecutionWorker._execution_logic = execution_logic  # type: ignore[method-assign]
    lambda_eval_utils._invoke_lambda_function = invoke_lambda
    lambda_eval_utils.execute_lambda_function_integration = integration
    stack.callback(setattr, lambda_eval_utils, "execute_lambda_function_integration", original_integration)
    stack.callback(setattr, ExecutionWorker, "_get_evaluation_entrypoint", original_entrypoint)
    stack.callback(setattr, ExecutionWorker, "_execution_logic", original_logic)
    stack.callback(setattr, lambda_eval_utils, "_invoke_lambda_function", original_invoke)
    _install_json_path_cache(stack)
    _install_partition_query(stack)
    _install_method_names_cache(stack)
    _install_state_copies(stack)
    _install_attribute_key_cache(stack)
    _install_attribute_value_writer(stack)
    _install_unsigned_requests(stack)
    _install_inline_lambda_tasks(stack)
    _install_untracked_models(stack)
    _install_result_size_check(stack)


class FifoLock:
    """A mutual-exclusion lock granted in arrival order.

    The handlers run in one process the way one Lambda sandbox runs them, one invocation at a
    time (each call patches the process environment, and Powertools' logger keeps
    per-invocation state), so every handler call of every concurrent execution takes this
    lock. ``threading.Lock`` is not fair: under 32 concurrent executions the thread that
    just released it usually takes it again, and a few executions waited 20 s and more for
    their turn (a p99 three times the median). Handing the lock over in arrival order bounds
    every wait by the calls queued before it.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append(gate)
        gate.acquire()  # released by release(), which hands the lock over to this thread

    def release(self) -> None:
        with self._guard:
            if not self._held:
                raise RuntimeError("release of an unlocked FifoLock")
            if self._waiters:
                self._waiters.popleft().release()  # still held: ownership passes on
            else:
                self._held = False

    def __enter__(self) -> FifoLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class AdmissionRefused(Exception):
    """No execution slot became free in time, or too many requests already wait for one."""


class FifoSlots:
    """``capacity`` execution slots, granted in arrival order, with a bounded queue.

    What keeps an overloaded local server answering: at most ``capacity`` executions run at
    once (they share one interpreter and its GIL, so more of them only interleave and each
    finishes later), at most ``max_waiting`` requests wait for a slot, and none waits longer
    than ``timeout`` seconds. A request beyond those bounds is refused at once
    (:class:`AdmissionRefused`; the API answers 503 with ``Retry-After``) instead of queueing
    until the state machine's timeout turns it into a 504 after half a minute.
    """

    def __init__(self, capacity: int, max_waiting: int) -> None:
        if capacity < 1 or max_waiting < 0:
            raise ValueError("capacity must be >= 1 and max_waiting >= 0")
        self.capacity = capacity
        self.max_waiting = max_waiting
        self._guard = threading.Lock()
        self._free = capacity
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> None:
        with self._guard:
            if self._free and not self._waiters:
                self._free -= 1
                return
            if len(self._waiters) >= self.max_waiting:
                raise AdmissionRefused(f"{len(self._waiters)} requests already wait for a slot")
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append(gate)
        if gate.acquire(timeout=max(0.0, timeout)):
            return  # release() handed its slot to this request
        with self._guard:
            if gate in self._waiters:  # still queued: leave the queue
                self._waiters.remove(gate)
                raise AdmissionRefused(f"no slot became free within {timeout:g} s")
        # The slot was handed over between the timeout and the guard: it is ours.

    def release(self) -> None:
        with self._guard:
            if self._waiters:
                self._waiters.popleft().release()  # the slot passes to the oldest waiter
            elif self._free < self.capacity:
                self._free += 1
            else:
                raise RuntimeError("release of a slot that was not acquired")

    @property
    def waiting(self) -> int:
        return len(self._waiters)
