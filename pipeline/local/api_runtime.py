"""The REST API's routes over the local engine, without any HTTP: what the server and
``python -m pipeline ask`` share.

:class:`LocalApi` owns a :class:`~pipeline.local.workflow.LocalWorkflow` (the synthesized
state machine on moto, the real handlers in-process) and answers the four routes of
``api/openapi.yaml`` the way the deployed API does:

* ``POST /query`` → :class:`~pipeline.domain.query_api.QueryApi` (strict parsing, session
  ownership, Idempotency-Key) → an execution of the state machine;
* ``POST /feedback`` → the ``feedback_api`` Lambda with a proxy event (it checks the token);
* ``GET /sessions/{id}`` → token check here (IAM does it in AWS) → the ``sessions_api`` Lambda;
* ``GET /health`` → ``{"status": "ok"}`` (a mock integration in AWS).

Every answer is ``(status, JSON body)``. Executions are admitted through
:class:`~pipeline.local.engine.FifoSlots`: a few run at once, the others wait in arrival
order for a bounded time, and beyond that the answer is 503 ``service_unavailable`` (the
server adds ``Retry-After``). The session key is one local file shared by this
process and the handlers' environment (``SESSION_KEY_FILE``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.domain.api_contract import ContractError, check_session_id, error_body
from pipeline.local.engine import AdmissionRefused, FifoSlots
from pipeline.local.workflow import DEFAULT_OUTDIR, LocalWorkflow, LocalWorkflowError

DEFAULT_KEY_FILE = Path(__file__).resolve().parents[2] / ".cache" / "session.key"
#: Executions that run at once. They share one interpreter (one core's worth of Python):
#: more of them only interleave, each finishing later, and their threads contend for the GIL.
DEFAULT_MAX_IN_FLIGHT = 4
#: Requests that may wait for a slot, and how long (well under the state machine's timeout,
#: so overload is answered 503 + Retry-After at once instead of 504 after half a minute).
DEFAULT_MAX_WAITING = 128
DEFAULT_ADMISSION_WAIT = 10.0


class LocalApi:
    """The four routes over one LocalWorkflow. Use as a context manager."""

    def __init__(
        self,
        *,
        outdir: str | Path = DEFAULT_OUTDIR,
        key_file: str | Path = DEFAULT_KEY_FILE,
        state_file: str | Path | None = None,
        workflow: LocalWorkflow | None = None,
        timeout: float = 60.0,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_waiting: int = DEFAULT_MAX_WAITING,
        admission_wait: float = DEFAULT_ADMISSION_WAIT,
        session_limit: int | None = None,
        session_window_seconds: int | None = None,
    ) -> None:
        self.key_file = Path(key_file)
        # The deployed stack limits requests per session (SESSION_THROTTLE_LIMIT per
        # SESSION_THROTTLE_WINDOW_SECONDS, 30 per 60 s there). Locally the limit is opt-in, from
        # the arguments or the same environment variables: load and concurrency runs put
        # 50 requests on one session on purpose.
        # Read and bounded as the deployed handler's settings are (composition.env_number).
        from pipeline.handlers.composition import env_number

        self.session_limit = (session_limit if session_limit is not None
                              else env_number(os.environ, "SESSION_THROTTLE_LIMIT", None, int, 1, 100_000))
        self.session_window_seconds = (session_window_seconds if session_window_seconds is not None
                                       else env_number(os.environ, "SESSION_THROTTLE_WINDOW_SECONDS", 60, int, 1, 86_400))
        # The handlers check tokens with the same key file as this process (not the stack's
        # Secrets Manager secret, which LocalWorkflow fills with a random value).
        key_env = {"SESSION_KEY_FILE": str(self.key_file), "SESSION_KEY_SECRET_ARN": ""}
        # Like the deployed API (StartSyncExecution of an Express machine), nothing of an
        # ended execution is kept once its answer is read (see LocalWorkflow's argument).
        self.workflow = workflow or LocalWorkflow(outdir=outdir, state_file=state_file, env=key_env,
                                                  retain_executions=False)
        if workflow is not None:
            for name, value in key_env.items():
                workflow.extra_env.setdefault(name, value)
        self.timeout = timeout
        self.admission = FifoSlots(max_in_flight, max_waiting)
        self.admission_wait = admission_wait
        #: Requests answered 503 because no execution slot was free in time (backpressure).
        self.refused = 0
        self.last_run: Any = None  # the last RunResult (``ask`` prints its path and timings)

    def __enter__(self) -> LocalApi:
        from pipeline.adapters.local.clock import SystemClock
        from pipeline.adapters.local.idempotency import InMemoryIdempotencyStore
        from pipeline.adapters.local.session_key import KeyFileSessionKey
        from pipeline.domain.query_api import QueryApi
        from pipeline.domain.sessions import SessionAuthority

        self.workflow.__enter__()
        self.authority = SessionAuthority(
            KeyFileSessionKey(self.key_file), has_turns=self.workflow.session_has_turns
        )
        self.idempotency = InMemoryIdempotencyStore()
        throttle = None
        if self.session_limit:
            from pipeline.adapters.local.session_throttle import InMemorySessionThrottle

            throttle = InMemorySessionThrottle(limit=self.session_limit, window_seconds=self.session_window_seconds)
        self.query_api = QueryApi(self._run, self.authority, self.idempotency, SystemClock(), throttle=throttle)
        return self

    def __exit__(self, *exc: object) -> None:
        self.workflow.__exit__(*exc)

    # -- routes ---------------------------------------------------------------------------

    def query(self, body: bytes | str, headers: Mapping[str, str], request_id: str) -> tuple[int, dict[str, Any]]:
        return self.query_api.handle(body, headers, request_id)

    def feedback(self, body: bytes | str, headers: Mapping[str, str], request_id: str) -> tuple[int, dict[str, Any]]:
        import base64

        raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
        # Bytes travel base64-encoded, as API Gateway sends binary bodies: the handler sees
        # exactly what the client sent (a BOM, invalid UTF-8) and rejects it itself.
        event = self._proxy_event("POST", "/feedback", headers, request_id, body=base64.b64encode(raw).decode("ascii"))
        event["isBase64Encoded"] = True
        return self._proxy("feedback_api", event, request_id)

    def session(
        self, session_id: str, headers: Mapping[str, str], request_id: str, limit: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        token = {k.lower(): v for k, v in headers.items()}.get("x-session-token")
        try:
            check_session_id(session_id)
            self.authority.authorize(session_id, token)
        except ContractError as error:
            return error.status, error_body(error.code, error.message, request_id)
        event = self._proxy_event("GET", f"/sessions/{session_id}", headers, request_id)
        event["pathParameters"] = {"session_id": session_id}
        event["queryStringParameters"] = {"limit": limit} if limit is not None else None
        return self._proxy("sessions_api", event, request_id)

    @staticmethod
    def health() -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok"}

    # -- plumbing -------------------------------------------------------------------------

    def _run(self, workflow_input: dict[str, Any], execution_name: str) -> dict[str, Any]:
        try:
            self.admission.acquire(self.admission_wait)
        except AdmissionRefused:
            self.refused += 1
            # Raised before anything ran: QueryApi releases the Idempotency-Key, and the
            # client retries after Retry-After (the server adds it to every 503).
            raise ContractError(503, "service_unavailable",
                                "the assistant is at capacity; retry after the Retry-After delay") from None
        try:
            run = self.workflow.execute(workflow_input, name=execution_name, timeout=self.timeout)
            self.last_run = run
        except LocalWorkflowError:
            return {"status": "TIMED_OUT", "output": None}
        except Exception as error:  # noqa: BLE001 - ExecutionAlreadyExists and engine faults
            if "ExecutionAlreadyExists" in type(error).__name__ + str(error):
                return {"status": "FAILED", "output": None}
            raise
        finally:
            self.admission.release()
        return {"status": run.status, "output": run.output}

    @staticmethod
    def _proxy_event(
        method: str, path: str, headers: Mapping[str, str], request_id: str, body: str | None = None
    ) -> dict[str, Any]:
        return {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers),
            "queryStringParameters": None,
            "pathParameters": None,
            "requestContext": {"requestId": request_id, "httpMethod": method, "path": path},
            "body": body,
            "isBase64Encoded": False,
        }

    def _proxy(self, function: str, event: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
        try:
            reply = self.workflow.invoke_function(function, event)
            return int(reply["statusCode"]), json.loads(reply["body"])
        except (LocalWorkflowError, KeyError, ValueError, TypeError):
            return 500, error_body("internal_error", "an internal error occurred", request_id)
