"""Run the deployed workflow locally: the synthesized state machine on moto.

Nothing here re-implements the workflow. :class:`LocalWorkflow` reads the CloudFormation
template that ``stack/`` synthesizes and

* resolves the state machine's ``DefinitionString`` (``Fn::Join`` of strings and
  ``Fn::GetAtt [<function>, Arn]``) into plain ASL and creates it in moto's Step Functions,
  whose interpreter executes it (Retry, Catch, Choice, ResultPath … for real);
* creates moto DynamoDB tables, S3 buckets and Secrets Manager secrets from the template's
  own definitions (keys, GSIs, TTL), so the local tables cannot drift from the stack;
* fills the prompt bucket and the Prompts table the way the stack does at deploy time:
  the ``BucketDeployment``'s source asset (``cdk.out/asset.<hash>``) is uploaded under its
  key prefix, the ``Custom::PromptIndex`` items are written and every ``Custom::AWS``
  ``putItem`` of the template is executed;
* replaces moto's Lambda invoke (``LambdaSimpleBackend.invoke``) with an in-process call of
  the real handler named by the function's ``Handler`` property, with the function's
  environment from the template (``Ref``/``GetAtt`` resolved to the moto resources;
  ``MODEL_BACKEND``/``NLP_BACKEND`` switched to ``offline``). A handler exception comes
  back with ``x-amz-function-error`` so the state machine's Retry/Catch apply to it.

Timings: each execution's wall time is split into handler time (measured around each
in-process call) and engine overhead (everything else: moto's interpreter, the fake AWS
API calls, polling).

Fault injection (tests): :class:`Faults` can make a handler fail (once or always) with a
given error name, and ``model=`` replaces the ModelClient the handlers use. A Lambda
*service* error such as throttling reaches a real state machine as the error name
``Lambda.TooManyRequestsException``; the fault hook produces the same error name, which is
what Retry matches on.

Example:
    >>> with LocalWorkflow() as wf:                                      # doctest: +SKIP
    ...     run = wf.run("why does my EC2 instance refuse SSH?")
    ...     run.output["response_type"], run.path
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import re
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline.local import engine
from pipeline.local.results import Faults, HandlerCall, RunResult
from pipeline.local.template import (
    ACCOUNT,
    DEFAULT_OUTDIR,
    PARTITION,
    REGION,
    REPO_ROOT,
    FunctionSpec,
    LocalWorkflowError,
    StackTemplate,
    bucket_name,
    function_arn,
    load_template,
)

__all__ = [
    "DEFAULT_OUTDIR", "Faults", "FunctionSpec", "HandlerCall", "LocalWorkflow",
    "LocalWorkflowError", "RunResult", "StackTemplate", "bucket_name", "function_arn",
    "load_template", "run_query",
]

STATE_DIR = REPO_ROOT / ".cache" / "local-workflow"

#: Environment overrides for local runs: offline model and NLP, quiet logs.
LOCAL_ENV = {
    "MODEL_BACKEND": "offline",
    "NLP_BACKEND": "offline",
    "STORE_BACKEND": "dynamodb",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}

failure_log = logging.getLogger("support_assistant.workflow")
_ENV_LOCK = engine.FifoLock()  # one handler call at a time, in arrival order (see FifoLock)

# ---------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------


class ExecutionEndedError(RuntimeError):
    """A task of an execution that has already ended was not run."""


class _Context:
    """The bits of the Lambda context object handlers may read."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalWorkflow:
    """The synthesized workflow on moto, with the real handlers in-process.

    Args:
        template: a :class:`StackTemplate`; by default the cached synth in ``outdir``.
        outdir: cloud assembly folder (``cdk.out``).
        model: a ModelClient to use instead of the offline model (fault injection).
        faults: handler failures to inject.
        env: extra environment overrides for every handler.
        state_file: load the Conversations/Feedback items from this JSON file on start and
            save them after every run, so separate processes continue a conversation.
        services: composition-root members to replace (``clock``, ``metrics`` …), as ``model``
            replaces the ModelClient.
        retain_executions: keep every ended execution in moto's Step Functions, so that
            ``describe_execution`` and ``get_execution_history`` still answer for it (tests
            read them). The local API server passes ``False``: the deployed API
            starts Express executions synchronously, and Step Functions keeps nothing of an
            Express execution to describe afterwards; a long-running server would otherwise
            hold every execution, its history and its state, for good.
    """

    def __init__(
        self,
        template: StackTemplate | None = None,
        *,
        outdir: str | Path = DEFAULT_OUTDIR,
        model: Any = None,
        faults: Faults | None = None,
        env: Mapping[str, str] | None = None,
        state_file: str | Path | None = None,
        services: Mapping[str, Any] | None = None,
        retain_executions: bool = True,
    ) -> None:
        self.synthesized = False
        self.retain_executions = retain_executions
        if template is None:
            template, self.synthesized = load_template(outdir)
        self.template = template
        self.model = model
        #: Members of the handlers' composition root to replace (e.g. ``clock``, ``metrics``):
        #: everything built from them is rebuilt on the next invocation.
        self.service_overrides = dict(services or {})
        if model is not None:
            self.service_overrides["model"] = model
        self.faults = faults or Faults()
        self.extra_env = dict(env or {})
        self.state_file = Path(state_file) if state_file else None
        self.functions = template.functions()
        self.sm_logical, self.definition, self.sm_type = template.state_machine()
        self._by_name = {spec.logical_id: spec for spec in self.functions.values()}
        self._calls: list[HandlerCall] = []
        #: Failed handler invocations by ``(handler, error name)``, injected ones included:
        #: what AWS/Lambda's ``Errors`` metric counts (tests and the load report read it).
        self.handler_errors: Counter[tuple[str, str]] = Counter()
        self._stack = contextlib.ExitStack()
        self._clients: dict[str, Any] = {}
        self.setup_seconds = 0.0
        self.handler_output = io.StringIO()

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> LocalWorkflow:
        start = time.perf_counter()
        from moto import mock_aws
        from moto.awslambda_simple.models import LambdaSimpleBackend

        # Handler calls never delete environment keys while executions may run (see
        # _patched_env); the environment as it was is restored when the workflow closes.
        self._stack.callback(_restore_env, dict(os.environ))

        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": REGION}.items():
            os.environ.setdefault(key, value)
        self._stack.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                             "lambda": {"use_docker": False}})
        )
        engine.install(self._stack, self._invoke)
        original = LambdaSimpleBackend.invoke
        runner = self

        # Same signature as LambdaSimpleBackend.invoke, first parameter named ``self`` too
        # (mypy compares parameter names when a function replaces a method).
        def invoke(self: LambdaSimpleBackend, function_name: str, qualifier: str | None, body: Any,
                   headers: Any, response_headers: Any) -> bytes:
            return runner._invoke(function_name, body, response_headers)

        # Patching a method on the class is the point here (moto's hook for local Lambdas).
        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
        self._stack.callback(setattr, LambdaSimpleBackend, "invoke", original)
        self._stack.callback(self._reset_services)
        self._reset_services()
        try:
            self._create_resources()
            if self.state_file and self.state_file.exists():
                self.load_state(self.state_file)
        except Exception:
            self._stack.close()
            raise
        self.setup_seconds = time.perf_counter() - start
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(service, region_name=REGION)
        return self._clients[service]

    @staticmethod
    def _reset_services() -> None:
        with contextlib.suppress(ImportError):
            from pipeline.handlers import composition

            composition.reset()

    # -- resources ------------------------------------------------------------------------

    def _create_resources(self) -> None:
        ddb = self.client("dynamodb")
        for logical, props in self.template.tables().items():
            name = self.template.ref(logical)
            kwargs: dict[str, Any] = {
                "TableName": name,
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": "PAY_PER_REQUEST",
            }
            if props.get("GlobalSecondaryIndexes"):
                kwargs["GlobalSecondaryIndexes"] = [
                    {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
                    for g in props["GlobalSecondaryIndexes"]
                ]
            ddb.create_table(**kwargs)
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
        # Secrets as the stack's GenerateSecretString makes them (random, never in the
        # template); a Secret's Ref is its local name (the logical id).
        secrets = self.client("secretsmanager")
        for logical in self.template.of_type("AWS::SecretsManager::Secret"):
            secrets.create_secret(Name=self.template.ref(logical), SecretString=uuid.uuid4().hex + uuid.uuid4().hex)
        s3 = self.client("s3")
        for name in self.template.buckets():
            s3.create_bucket(Bucket=name)
        for source, bucket, prefix in self.template.bucket_deployments():
            if not source.is_dir():
                raise LocalWorkflowError(f"asset folder {source} is missing; re-synthesize")
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    key = prefix + path.relative_to(source).as_posix()
                    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        for table, items in self.template.index_items():
            for item in items:
                ddb.put_item(TableName=table, Item=item)
        for call in self.template.sdk_calls():
            client = self.client(call["service"].lower())
            method = re.sub(r"(?<!^)(?=[A-Z])", "_", call["action"]).lower()
            getattr(client, method)(**call.get("parameters", {}))
        sfn = self.client("stepfunctions")
        created = sfn.create_state_machine(
            name=self.sm_logical,
            definition=json.dumps(self.definition),
            roleArn=f"arn:{PARTITION}:iam::{ACCOUNT}:role/local-workflow",
            type=self.sm_type,
        )
        self.state_machine_arn = created["stateMachineArn"]

    def table_name(self, table: str) -> str:
        """Physical name of a table by its construct id (``ConversationsTable``) or logical id."""
        for logical in self.template.tables():
            if logical == table or logical.startswith(f"Tables{table}"):
                return self.template.ref(logical)
        raise KeyError(table)

    def scan(self, table: str) -> list[dict[str, Any]]:
        """Every item of a table as plain Python values (tests and the load check read the
        tables back), read from the emulated table itself.

        Not through the ``Scan`` API: after a replay of the secret-bearing golden cases,
        moto 5.2's Scan answered full pages whose ``Count`` said 761 items while ``Items``
        held 524 (a different number from run to run), so a test reading the store back
        could pass without seeing up to a third of what was stored. The stored items are
        what a check of the store is about.
        """
        from boto3.dynamodb.types import TypeDeserializer

        des = TypeDeserializer()
        return [{k: des.deserialize(v) for k, v in item.items()} for item in self._stored_items(table)]

    def _stored_items(self, table: str) -> list[dict[str, Any]]:
        """The table's items in DynamoDB's wire form (``{"S": …}``), as stored."""
        from moto.dynamodb.models import dynamodb_backends

        stored = dynamodb_backends[ACCOUNT][REGION].get_table(self.table_name(table))
        return [item.to_json()["Attributes"] for item in list(stored.all_items())]

    # -- state across processes -------------------------------------------------------------

    PERSISTED_TABLES = ("ConversationsTable", "FeedbackTable")

    def save_state(self, path: Path) -> None:
        dump = {table: self._stored_items(table) for table in self.PERSISTED_TABLES}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": 1, "tables": dump}), encoding="utf-8")
        tmp.replace(path)

    def load_state(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LocalWorkflowError(f"{path}: cannot read the local state ({exc}); delete it") from exc
        ddb = self.client("dynamodb")
        for table, items in data.get("tables", {}).items():
            name = self.table_name(table)
            for item in items:
                ddb.put_item(TableName=name, Item=item)

    # -- the Lambda invoke hook ---------------------------------------------------------------

    def _invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        logical = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        if ":function:" in function_name:
            logical = function_name.split(":function:", 1)[1].split(":", 1)[0]
        spec = self._by_name.get(logical)
        if spec is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error_payload("ResourceNotFoundException", f"no local function {logical}")
        raw = body.decode("utf-8") if isinstance(body, bytes) else (body or "{}")
        event = json.loads(raw) if raw else {}

        injected = self.faults.check(spec.short_name)
        if injected:
            self._calls.append(HandlerCall(spec.short_name, 0.0, injected))
            self._record_failure(spec, injected)
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error_payload(injected, f"injected fault in {spec.short_name}")

        env = {**spec.environment, **LOCAL_ENV, **self.extra_env}
        with _ENV_LOCK, _patched_env(env), contextlib.redirect_stdout(self.handler_output):
            start = time.perf_counter()
            try:
                if not engine.execution_running():
                    # Its execution timed out while this call waited for the lock: running
                    # the handler would only delay the live ones (overload would collapse
                    # into timeouts), and the result would be discarded anyway.
                    raise ExecutionEndedError("the execution ended before this task ran")
                if self.service_overrides:
                    self._install_overrides()
                module = importlib.import_module(spec.module)
                result = getattr(module, spec.handler.rsplit(".", 1)[1])(event, _Context(spec))
                error = None
            except Exception as exc:  # noqa: BLE001 - reported to the state machine
                result, error = exc, type(exc).__name__
            elapsed = time.perf_counter() - start
        self._calls.append(HandlerCall(spec.short_name, elapsed, error))
        if error is not None:
            self._record_failure(spec, error)
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error_payload(error, str(result), result)
        return json.dumps(result, default=str).encode("utf-8")

    def _record_failure(self, spec: FunctionSpec, error: str) -> None:
        """Count a failed invocation and log it the way the Lambda runtime would: the
        function and the error name only (an exception's message may quote user text)."""
        self.handler_errors[(spec.short_name, error)] += 1
        failure_log.warning("handler failed", extra={"fields": {
            "type": "handler_error", "function": spec.logical_id, "handler": spec.short_name,
            "error_type": error}})

    def invoke_function(self, short_name: str, event: dict[str, Any]) -> Any:
        """Call a project Lambda (``feedback_api`` …) in-process, as API Gateway's proxy
        integration would, with the function's environment from the template."""
        for spec in self.functions.values():
            if spec.short_name == short_name:
                headers: dict[str, str] = {}
                raw = self._invoke(spec.logical_id, json.dumps(event).encode("utf-8"), headers)
                payload = json.loads(raw)
                if headers.get("x-amz-function-error"):
                    raise LocalWorkflowError(f"{short_name} failed: {payload.get('errorType')}")
                return payload
        raise LocalWorkflowError(f"the template has no function with handler {short_name}")

    def session_has_turns(self, session_id: str) -> bool:
        """True when the Conversations table holds a turn of the session."""
        found = self.client("dynamodb").query(
            TableName=self.table_name("ConversationsTable"),
            KeyConditionExpression="session_id = :s",
            ExpressionAttributeValues={":s": {"S": session_id}},
            Limit=1,
        )
        return bool(found.get("Items"))

    def _install_overrides(self) -> None:
        from pipeline.handlers import composition

        services = composition.services()
        if all(services.__dict__.get(k) is v for k, v in self.service_overrides.items()):
            return
        # Drop every member built so far (they may hold the replaced ones), then install.
        for name in [k for k in services.__dict__ if k not in ("settings", "constructor_args")]:
            services.__dict__.pop(name, None)
        services.constructor_args.clear()  # rebuilt with the members, as they are built
        services.__dict__.update(self.service_overrides)

    # -- running ---------------------------------------------------------------------------

    def _wait(self, execution_arn: str, start: float, timeout: float) -> tuple[dict[str, Any], list[Any]]:
        """Wait for the execution to finish; returns (describe output, history events).

        Reads moto's backend directly when it can (the boto3 round trip serialises the
        whole history on every poll and competes with the interpreter thread for the GIL);
        falls back to the public API otherwise.
        """
        execution: ParserExecution | None = None
        try:
            from moto.stepfunctions.parser.backend.execution import Execution as ParserExecution
            from moto.stepfunctions.parser.models import stepfunctions_parser_backends

            # Annotated as moto.stepfunctions.models.Execution (the base backend's
            # signature); the parser backend returns its own Execution class.
            found = stepfunctions_parser_backends[ACCOUNT][REGION].describe_execution(execution_arn)
            if isinstance(found, ParserExecution) and found.exec_status is not None:
                execution = found
        except Exception:  # noqa: BLE001 - moto internals moved: use the public API
            execution = None
        sfn = self.client("stepfunctions")
        if execution is not None:  # woken by the interpreter thread when it ends
            engine.finished_event(execution_arn).wait(max(0.0, timeout - (time.perf_counter() - start)))
        delay = 0.0005
        while True:
            if execution is not None:
                running = execution.exec_status is None or execution.exec_status.value == "RUNNING"
            else:
                running = sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
            if not running:
                break
            if time.perf_counter() - start > timeout:
                raise LocalWorkflowError(f"execution {execution_arn} still running after {timeout} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.005)
        engine.forget(execution_arn)
        if execution is not None:
            status = execution.exec_status
            assert status is not None  # the loop above only ends once the status is set
            events: list[dict[str, Any]] = _ended_history(execution)
            for event in events:
                if hasattr(event.get("type"), "value"):
                    event["type"] = event["type"].value
            # What describe_execution says of an ended execution, minus the input (read by
            # nobody here, and serialised on every call: ~1 % of the server's CPU under load).
            described: dict[str, Any] = {"status": status.value}
            if status.value == "SUCCEEDED":
                from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

                described["output"] = to_json_str(execution.output, separators=(",", ":"))
            return described, events
        described = sfn.describe_execution(executionArn=execution_arn)
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return described, events

    def workflow_input(self, query: str, session_id: str | None = None,
                       user_id: str | None = None) -> dict[str, Any]:
        """What POST /query's service (QueryApi, the query_api Lambda) hands the workflow.

        Validated like the API (api/openapi.yaml): raises
        :class:`~pipeline.domain.api_contract.ContractError` for a query outside 1..4000
        characters, a malformed session id or user id.
        """
        from pipeline.domain.api_contract import query_request_from

        body: dict[str, Any] = {"query": query}
        if session_id is not None:
            body["session_id"] = session_id
        if user_id is not None:
            body["user_id"] = user_id
        query_request_from(body)
        request_id = str(uuid.uuid4())
        return {
            "query": query,
            "session_id": session_id or request_id,
            "interaction_id": request_id,
            "user_id": user_id,
            "request_id": request_id,
            "received_at_ms": int(time.time() * 1000),  # $context.requestTimeEpoch
        }

    def run(self, query: str, *, session_id: str | None = None, user_id: str | None = None,
            timeout: float = 60.0) -> RunResult:
        return self.execute(self.workflow_input(query, session_id, user_id), timeout=timeout)

    def execute(self, workflow_input: dict[str, Any], *, timeout: float = 60.0,
                name: str | None = None) -> RunResult:
        """Start one execution and wait for it. ``name`` is the execution name (unique per
        state machine: the API derives it from the Idempotency-Key)."""
        from pipeline.domain.api_contract import query_request_from

        query_request_from({k: workflow_input.get(k) for k in ("query", "session_id", "user_id")
                            if workflow_input.get(k) is not None})
        sfn = self.client("stepfunctions")
        self._calls = []
        start = time.perf_counter()  # engine time includes the start_execution API call
        execution_arn = sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=name or f"local-{uuid.uuid4()}",
            input=json.dumps(workflow_input),
        )["executionArn"]
        described, events = self._wait(execution_arn, start, timeout)
        if not self.retain_executions:
            _forget_execution(execution_arn)
        total = time.perf_counter() - start
        path = [
            e["stateEnteredEventDetails"]["name"]
            for e in events
            if e.get("type", "").endswith("StateEntered") and "stateEnteredEventDetails" in e
        ]
        output = json.loads(described["output"]) if described.get("output") else None
        result = RunResult(
            output=output,
            status=described["status"],
            path=path,
            calls=list(self._calls),
            total_seconds=total,
            input=workflow_input,
            execution_arn=execution_arn,
            events=events,
        )
        if self.state_file is not None:
            self.save_state(self.state_file)
        return result


_EXECUTIONS_LOCK = threading.Lock()


def _forget_execution(execution_arn: str) -> None:
    """Drop an ended execution from moto's Step Functions (``retain_executions=False``)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[ACCOUNT][REGION]
    state_machine = backend._get_state_machine_for_execution(execution_arn)
    with _EXECUTIONS_LOCK:  # list.remove by value: no other thread's start is lost
        for execution in state_machine.executions:
            if execution.execution_arn == execution_arn:
                state_machine.executions.remove(execution)
                break


def _ended_history(execution: Any) -> list[dict[str, Any]]:
    """The history events of an ended execution, each a shallow copy (moto's
    ``to_history_output`` deep-copies every event and its details under the history's lock:
    ~1.5 % of the server's CPU under load). Nothing writes the history of an ended
    execution, and only the copies' top-level keys are changed here."""
    env = execution.exec_worker.env
    if env is None:
        return []
    manager = env.event_manager
    if not hasattr(manager, "_history_event_list") or not hasattr(manager, "_mutex"):
        return [dict(e) for e in execution.to_history_output()["events"]]  # moto internals moved
    with manager._mutex:
        return [dict(event) for event in manager._history_event_list]


@contextlib.contextmanager
def _patched_env(env: Mapping[str, str]) -> Iterator[None]:
    """Set a handler's environment for one call.

    Keys are never deleted afterwards (a key that did not exist is set to ``""``, which every
    setting treats as unset, or keeps its :data:`LOCAL_ENV` value, the same for every call,
    so that boto3 never sees an empty region): other threads (moto's interpreter, boto3) iterate
    ``os.environ`` without our lock, and a key deleted mid-iteration raised ``KeyError``
    in them under concurrent executions.
    """
    # Only the keys whose value changes are written (each write is a putenv): consecutive
    # handlers share most of their environment (tables, region, LOCAL_ENV).
    saved = {k: os.environ.get(k) for k, v in env.items() if os.environ.get(k) != v}
    os.environ.update({k: env[k] for k in saved})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is not None:
                os.environ[key] = value
            elif key not in LOCAL_ENV:
                os.environ[key] = ""
        for key, value in env.items():
            if key not in saved and os.environ.get(key) != value:
                os.environ[key] = value  # the handler changed it: back to what it was before


def _restore_env(saved: Mapping[str, str]) -> None:
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    os.environ.update(saved)


def _error_payload(error_type: str, message: str, exc: BaseException | None = None) -> bytes:
    trace = traceback.format_exception(exc)[-5:] if exc is not None else []
    return json.dumps(
        {"errorType": error_type, "errorMessage": message, "stackTrace": trace}
    ).encode("utf-8")


def run_query(query: str, **kwargs: Any) -> RunResult:
    """One query through a fresh local workflow (convenience for scripts)."""
    session_id = kwargs.pop("session_id", None)
    with LocalWorkflow(**kwargs) as workflow:
        return workflow.run(query, session_id=session_id)

