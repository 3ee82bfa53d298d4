"""The handlers in a second process: the local engine's "Lambda sandbox" beside the engine.

A Python process uses one core at a time (one interpreter lock). In one process the local
server runs everything: HTTP, the Step Functions interpreter, the handlers and the emulated
DynamoDB/S3/Secrets Manager they call (~70 % of the CPU of a request, by a py-spy profile
under load). :class:`Sandbox` moves that part into a child process so that a second core
can run it while the engine's process serves HTTP and interprets the other executions:

* the child owns the data services the handlers use (moto's DynamoDB, S3 and Secrets
  Manager, created from the same template, with the same engine patches): one store, so
  nothing is split between processes and every write stays where every read goes;
* the engine's Lambda hook sends each invocation (module, handler, event bytes, the
  function's environment) over a pipe and waits for the payload, exactly what the
  in-process hook returns (errors as ``x-amz-function-error`` payloads);
* the engine's own reads and writes of those services (creating the state machine aside:
  Step Functions stays in the engine) go through :class:`RemoteClient`, a boto3 client
  whose calls run in the child.

Invocations still run one at a time, as in the in-process engine (one sandbox). The child
is started with ``spawn`` (no forked threads or locks) and stopped when the workflow
closes. Opt-in: ``LocalWorkflow(handler_process=True)``; tests that replace the model or
services in-process use the default.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from pipeline.local.template import REGION, FunctionSpec, LocalWorkflowError, StackTemplate

#: Seconds to wait for the child to create its resources and answer the first message.
START_TIMEOUT = 300.0


class RemoteClient:
    """A boto3 client of ``service`` whose calls run in the sandbox process.

    Errors come back as botocore's ``ClientError`` (same response and operation name), so
    callers that check ``error.response["Error"]["Code"]`` behave as with a local client.
    """

    def __init__(self, sandbox: Sandbox, service: str) -> None:
        self._sandbox = sandbox
        self._service = service

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(**kwargs: Any) -> Any:
            return self._sandbox.request(("client", self._service, method, kwargs))

        return call


class Sandbox:
    """The child process and the pipe to it (one request at a time)."""

    def __init__(self, template: StackTemplate) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._lock = threading.Lock()
        self._process = context.Process(target=_serve, args=(child, template), name="local-sandbox",
                                        daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(START_TIMEOUT):
            self.close()
            raise LocalWorkflowError("the handler process did not start")
        self._receive()  # ("ready",) or the setup error

    def _receive(self) -> Any:
        try:
            kind, value = self._conn.recv()
        except EOFError:
            raise LocalWorkflowError("the handler process ended unexpectedly") from None
        if kind == "ok":
            return value
        if kind == "client_error":
            from botocore.exceptions import ClientError

            response, operation = value
            raise ClientError(response, operation)
        raise LocalWorkflowError(f"handler process: {value}")

    def request(self, message: tuple[Any, ...]) -> Any:
        with self._lock:
            self._conn.send(message)
            return self._receive()

    def invoke(self, spec: FunctionSpec, body: bytes, env: dict[str, str]) -> tuple[bytes, str | None, float, str]:
        """``(payload, error name or None, handler seconds, captured stdout)``."""
        result: tuple[bytes, str | None, float, str] = self.request(("invoke", spec, body, env))
        return result

    def cpu_seconds(self) -> float:
        """CPU time the child process has used so far (all its threads)."""
        return float(self.request(("cpu",)))

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, BrokenPipeError), self._lock:
            self._conn.send(("stop",))
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()


# ---------------------------------------------------------------------------
# The child process
# ---------------------------------------------------------------------------


class _Context:
    """The bits of the Lambda context object handlers may read (as the engine's)."""

    def __init__(self, spec: FunctionSpec) -> None:
        import uuid

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


def _serve(conn: Connection, template: StackTemplate) -> None:
    """The child's loop: create the data services, then answer messages until ``stop``."""
    import gc

    from pipeline.local import engine
    from pipeline.local.workflow import _error_payload, _patched_env, create_data_resources

    with contextlib.ExitStack() as stack:
        try:
            for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                               "AWS_DEFAULT_REGION": REGION}.items():
                os.environ.setdefault(key, value)
            from moto import mock_aws

            stack.enter_context(mock_aws())
            engine.install_data_service_patches(stack)
            clients: dict[str, Any] = {}

            def client(service: str) -> Any:
                if service not in clients:
                    import boto3

                    clients[service] = boto3.client(service, region_name=REGION)
                return clients[service]

            create_data_resources(template, client)
            with contextlib.suppress(ImportError):
                from pipeline.handlers import composition

                composition.reset()
            gc.collect()
            gc.freeze()  # the startup heap (moto, botocore models) is never garbage
        except Exception as error:  # noqa: BLE001 - reported to the engine, which raises
            conn.send(("error", f"setup failed: {type(error).__name__}: {error}"))
            return
        conn.send(("ok", "ready"))
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            kind = message[0]
            if kind == "stop":
                return
            try:
                if kind == "invoke":
                    _, spec, body, env = message
                    conn.send(("ok", _invoke(spec, body, env, _patched_env, _error_payload)))
                elif kind == "client":
                    _, service, method, kwargs = message
                    conn.send(("ok", getattr(client(service), method)(**kwargs)))
                elif kind == "cpu":
                    conn.send(("ok", time.process_time()))
                else:
                    conn.send(("error", f"unknown message {kind!r}"))
            except Exception as error:  # noqa: BLE001 - every request gets an answer
                from botocore.exceptions import ClientError

                if isinstance(error, ClientError):
                    conn.send(("client_error", (error.response, error.operation_name)))
                else:
                    conn.send(("error", f"{type(error).__name__}: {error}"))


def _invoke(spec: FunctionSpec, body: bytes, env: dict[str, str], patched_env: Any,
            error_payload: Any) -> tuple[bytes, str | None, float, str]:
    """One handler call, as the engine's in-process hook makes it."""
    event = json.loads(body) if body else {}
    output = io.StringIO()
    with patched_env(env), contextlib.redirect_stdout(output):
        start = time.perf_counter()
        try:
            module = importlib.import_module(spec.module)
            result = getattr(module, spec.handler.rsplit(".", 1)[1])(event, _Context(spec))
            error = None
        except Exception as exc:  # noqa: BLE001 - reported to the state machine
            result, error = exc, type(exc).__name__
        elapsed = time.perf_counter() - start
    if error is not None:
        return error_payload(error, str(result), result), error, elapsed, output.getvalue()
    try:
        payload = json.dumps(result, default=str).encode("utf-8")
    except (TypeError, ValueError) as exc:
        trace = traceback.format_exception(exc)[-5:]
        payload = json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc),
                              "stackTrace": trace}).encode("utf-8")
        return payload, type(exc).__name__, elapsed, output.getvalue()
    return payload, None, elapsed, output.getvalue()
