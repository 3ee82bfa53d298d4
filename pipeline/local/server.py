"""The local REST API server: ``python -m pipeline serve`` / ``nox -s serve``.

A Starlette app served by uvicorn (see README "Design notes" for the choice). It adds only
HTTP concerns: request ids, JSON access logs, body limits and media types, JSON errors for
unknown routes and methods, ``/openapi.json`` and ``/docs``. Everything else is
:class:`~pipeline.local.api_runtime.LocalApi`: the synthesized state machine on the local
engine and the real Lambda handlers, through the composition root. Blocking work runs in
Starlette's thread pool, so concurrent clients are served concurrently.

Example:
    $ python -m pipeline serve --port 8000
    $ curl -s localhost:8000/health
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from pipeline.domain.api_contract import MAX_BODY_BYTES, ContractError, error_body

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "api" / "openapi.yaml"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
access_log = logging.getLogger("support_assistant.access")


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = getattr(record, "fields", None) or {"message": record.getMessage()}
        return json.dumps(
            {"ts": round(record.created, 3), "level": record.levelname.lower(), **data},
            ensure_ascii=True,  # control characters and newlines cannot forge a log line
            separators=(",", ":"),
        )


def configure_logging(stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_JsonLines())
    # Access lines, and the local engine's failed handler invocations (function, error name).
    for log in (access_log, logging.getLogger("support_assistant.workflow")):
        log.handlers[:] = [handler]
        log.setLevel(logging.INFO)
        log.propagate = False


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))


#: Seconds a client should wait before retrying a 429 or 503 (one execution's worth of queue).
RETRY_AFTER_SECONDS = 1


def _retry_headers(status: int) -> dict[str, str] | None:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if status in (429, 503) else None


def _error(status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = {**(_retry_headers(status) or {}), **(headers or {})} or None
    return JSONResponse(error_body(code, message, request_id), status_code=status, headers=headers)


def _request_id(request: Request) -> str:
    return str(request.state.request_id)


async def _read_body(request: Request) -> bytes:
    """The body, refusing more than MAX_BODY_BYTES (413) and non-JSON media types (415)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise ContractError(415, "unsupported_media_type", "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise ContractError(413, "payload_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ContractError(413, "payload_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _headers(request: Request) -> dict[str, str]:
    keep = ("x-session-token", "idempotency-key", "content-type")
    return {name: request.headers[name] for name in keep if name in request.headers}


def create_app(api_factory: Callable[[], Any] | None = None, *, freeze_startup_heap: bool = False) -> Starlette:
    """The ASGI app. ``api_factory`` builds the LocalApi (tests inject one).

    ``freeze_startup_heap`` (long-running servers: ``serve``, ``load``): once the workflow is
    set up, move everything allocated so far (the template, botocore's models, moto's
    backends, the handlers' catalogues) out of the garbage collector's view
    (``gc.freeze()``). It stays alive for the server's life anyway, and every full
    collection would otherwise walk it again: ~0.25 s pauses of every request in flight.
    """
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from pipeline.local.api_runtime import LocalApi

        api = (api_factory or LocalApi)()
        state["api"] = await run_in_threadpool(api.__enter__)
        if freeze_startup_heap:
            gc.collect()
            gc.freeze()
        # Every request waiting for an execution slot holds a worker thread: size the pool
        # so that the admission queue, not the thread pool, is where requests wait (a
        # request queued for a thread would never be refused with 503).
        admission = getattr(state["api"], "admission", None)
        if admission is not None:
            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = max(limiter.total_tokens, admission.capacity + admission.max_waiting + 8)
        try:
            yield
        finally:
            await run_in_threadpool(api.__exit__, None, None, None)

    def api() -> Any:
        return state["api"]

    async def json_route(request: Request, call: Callable[..., tuple[int, dict[str, Any]]], *args: Any) -> Response:
        try:
            status, payload = await run_in_threadpool(call, *args)
        except ContractError as error:
            return _error(error.status, error.code, error.message, _request_id(request))
        return JSONResponse(payload, status_code=status, headers=_retry_headers(status))

    async def query(request: Request) -> Response:
        try:
            body = await _read_body(request)
        except ContractError as error:
            return _error(error.status, error.code, error.message, _request_id(request))
        return await json_route(request, api().query, body, _headers(request), _request_id(request))

    async def feedback(request: Request) -> Response:
        try:
            body = await _read_body(request)
        except ContractError as error:
            return _error(error.status, error.code, error.message, _request_id(request))
        return await json_route(request, api().feedback, body, _headers(request), _request_id(request))

    async def session(request: Request) -> Response:
        limit = request.query_params.get("limit")
        return await json_route(
            request, api().session, request.path_params["session_id"], _headers(request),
            _request_id(request), limit,
        )

    async def health(request: Request) -> Response:
        status, payload = api().health()
        return JSONResponse(payload, status_code=status)

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page(openapi_document()))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        rid = _request_id(request)
        if exc.status_code == 405:
            allow = (exc.headers or {}).get("Allow", "")
            return _error(405, "method_not_allowed", f"{request.method} is not allowed here", rid, {"Allow": allow})
        if exc.status_code == 404:
            return _error(404, "not_found", "no such route", rid)
        return _error(exc.status_code, "validation_error", "the request is invalid", rid)

    async def internal_error(request: Request, exc: Exception) -> Response:
        access_log.error("unhandled", extra={"fields": {
            "type": "error", "request_id": _request_id(request), "error_type": type(exc).__name__}})
        return _error(500, "internal_error", "an internal error occurred", _request_id(request))

    routes = [
        Route("/query", query, methods=["POST"]),
        Route("/feedback", feedback, methods=["POST"]),
        Route("/sessions/{session_id:str}", session, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.add_middleware(_AccessLog)
    return app


class _AccessLog:
    """Pure ASGI middleware: a request id for every request and one JSON access-log line."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = supplied if _CLIENT_REQUEST_ID.fullmatch(supplied) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client") or ("-", 0)
            access_log.info("access", extra={"fields": {
                "type": "access",
                "request_id": request_id,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status["code"],
                "duration_ms": round((time.perf_counter() - start) * 1000, 1),
                "client": client[0],
            }})


def docs_page(document: dict[str, Any]) -> str:
    """A self-contained HTML page (no network resources) describing the document."""
    from html import escape

    rows = []
    for path, methods in document.get("paths", {}).items():
        for method, operation in methods.items():
            codes = ", ".join(sorted(operation.get("responses", {})))
            rows.append(
                f"<tr><td><code>{escape(method.upper())}</code></td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(operation.get('summary', ''))}</td><td>{escape(codes)}</td></tr>"
            )
    schemas = escape(json.dumps(document.get("components", {}).get("schemas", {}), indent=2))
    info = document.get("info", {})
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{escape(info.get('title', 'API'))}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td,th{padding:4px 10px;text-align:left;border-bottom:1px solid #ddd}</style></head><body>"
        f"<h1>{escape(info.get('title', 'API'))} <small>{escape(info.get('version', ''))}</small></h1>"
        f"<pre>{escape(info.get('description', ''))}</pre>"
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p>"
        "<table><tr><th>method</th><th>path</th><th>summary</th><th>responses</th></tr>"
        + "".join(rows)
        + f"</table><h2>Schemas</h2><pre>{schemas}</pre></body></html>"
    )


def start_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0,
                    graceful_timeout: int = 30) -> tuple[Any, threading.Thread, str]:
    """Serve ``app`` with uvicorn in a thread (tests, ``nox -s load``): ``(server, thread, url)``.

    Port 0 picks a free ephemeral port. Stop with ``server.should_exit = True`` and join.
    """
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=graceful_timeout)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the local server did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://{host}:{bound}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline serve",
        description="Serve the REST API locally (the synthesized workflow on the local engine).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind [127.0.0.1]")
    parser.add_argument("--port", type=int, default=8000, help="TCP port [8000]")
    parser.add_argument("--graceful-timeout", type=float, default=30.0,
                        help="seconds in-flight requests get to finish on shutdown [30]")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    args = _parser().parse_args(argv)
    configure_logging()
    access_log.info("starting", extra={"fields": {"type": "server", "host": args.host, "port": args.port}})
    uvicorn.run(
        create_app(freeze_startup_heap=True),
        host=args.host,
        port=args.port,
        access_log=False,  # our middleware writes JSON access lines with request ids
        log_level="warning",
        timeout_graceful_shutdown=int(args.graceful_timeout),
    )
    return 0
