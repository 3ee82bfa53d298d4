"""Per-execution costs of moto's Step Functions interpreter, paid once instead.

moto runs each execution exactly like AWS would, but it redoes two expensive things for
every one of them, which made the local server CPU-bound at ~3 requests/s:

* it parses the state machine definition with its ANTLR grammar (~45 % of an execution's
  CPU time for our 14-state definition);
* it builds a new boto3 Lambda client for every Task state that invokes a function (botocore
  loads and validates the service model each time: ~15 %), then sends the invoke through
  botocore's serialiser and moto's HTTP-level dispatch to reach the in-process handler
  (~10 %);
* the caller can only poll for the end of an execution (32 pollers waking every few ms
  compete with the executions for the GIL).

:func:`install` keeps one parsed program per definition text while a
:class:`~pipeline.local.workflow.LocalWorkflow` is open, hands a Lambda task's payload
straight to the workflow's invoke hook (the one moto's Lambda backend calls) with the
response moto's Lambda API would give (``FunctionError``, the payload size limit), and
signals the end of each execution. The parsed program is safe to share between concurrent
executions: it is immutable (moto keeps every per-execution value (retry attempt counters,
the data stack) in the execution's ``Environment``, under keys the components get once,
assigned here before the program is shared). Nothing about what an execution does
changes: the same interpreter, Retry and Catch, the same handler events.
"""

from __future__ import annotations

import contextlib
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


def install(stack: contextlib.ExitStack, invoke: InvokeHook) -> None:
    """Patch moto's execution worker and Lambda task invocation while ``stack`` is open."""
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
        return response

    def integration(env: Any, parameters: dict[str, Any], region: str, state_credentials: Any) -> None:
        _TASK.env = env  # read by execution_running() in the invoke hook, same thread
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
