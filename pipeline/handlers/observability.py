"""The handlers' runtime: the shared Powertools logger and tracer, and the decorator every
Lambda handler wears (correlation id, cold-start tracing, a local context for tests).

Split out of :mod:`pipeline.handlers.composition` (which re-exports these names, so a
handler imports one module); kept free of the services so importing it stays cheap.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

_logger: Any = None
_tracer: Any = None
_instrument_lock = threading.Lock()

#: Where each kind of event carries the API request id (JMESPath), so one correlation id
#: follows a query from API Gateway through every workflow step. The workflow input holds
#: ``request_id`` ($context.requestId); the three generation tasks receive it under ``state``.
WORKFLOW_CORRELATION = "request_id || state.request_id"
API_CORRELATION = "requestContext.requestId"  # = powertools correlation_paths.API_GATEWAY_REST


def logger() -> Any:
    """The shared Powertools logger. Never log query or comment text: lengths and ids only."""
    global _logger
    if _logger is None:
        from aws_lambda_powertools.logging import Logger

        _logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "support-assistant")
    return _logger


#: What the tracer patches: botocore only (every boto3 call is a subsegment). ``patch_all``
#: would also import and patch requests, httplib, sqlite3, pymongo… that no handler uses.
TRACED_MODULES = ("botocore",)


def tracer() -> Any:
    """The shared Powertools tracer (X-Ray): patches botocore, so every AWS call is a subsegment.

    Outside Lambda (tests, local runs) Powertools disables it by itself. Building it imports
    aws-xray-sdk (and, outside Lambda, botocore for the sampling client): ~0.4 s, which is why
    :func:`lambda_handler` builds it on a handler's first invocation, not at import.
    """
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "support-assistant",
                         auto_patch=False)
        _tracer.patch(modules=TRACED_MODULES)  # a no-op when Powertools disabled the tracer
    return _tracer


class _LocalContext:
    """The Lambda context attributes Powertools reads, for calls without a real context."""

    function_name = "local"
    function_version = "$LATEST"
    memory_limit_in_mb = 0
    invoked_function_arn = "local"

    def __init__(self) -> None:
        import uuid

        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 0


def lambda_handler(correlation_id_path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a handler the way Powertools is meant to be used: ``inject_lambda_context``
    (cold start, function and request ids in every log line, the API request id as the
    correlation id) and ``capture_lambda_handler`` (an X-Ray subsegment per invocation,
    annotated with the correlation id; responses are not captured: they hold answer text).
    """
    import functools

    def instrument(handler: Callable[..., Any]) -> Callable[..., Any]:
        log, trace = logger(), tracer()

        def annotated(event: Any, context: Any) -> Any:
            correlation = log.get_correlation_id()
            if not correlation:  # e.g. the scheduled event: the Lambda request id instead
                correlation = getattr(context, "aws_request_id", None)
                log.set_correlation_id(correlation)
            trace.put_annotation(key="correlation_id", value=str(correlation))
            return handler(event, context)

        traced = trace.capture_lambda_handler(annotated, capture_response=False)
        return log.inject_lambda_context(traced, correlation_id_path=correlation_id_path, clear_state=True)

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        # The logger and tracer wrap the handler on its first invocation, not at import:
        # importing a handler module then costs no aws-xray-sdk import (the tracer's), and
        # the first call pays it once (the cold-start benchmark measures import + first call).
        instrumented: list[Callable[..., Any]] = []

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            if not instrumented:
                with _instrument_lock:
                    if not instrumented:
                        instrumented.append(instrument(handler))
            return instrumented[0](event, context if context is not None else _LocalContext())

        return wrapper

    return decorate


