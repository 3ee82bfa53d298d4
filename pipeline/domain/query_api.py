"""``POST /query`` in front of the workflow: validation, ownership and idempotency.

The workflow itself is injected (``run_workflow(workflow_input, execution_name)``): the
local server passes the synthesized state machine on the local engine. This service adds
what the state machine cannot do itself:

1. the body is parsed strictly (:mod:`pipeline.domain.api_contract`);
2. a request naming a session must carry its ``X-Session-Token`` (403 / 404 otherwise,
   before anything is read or written); a request without one gets a new server-issued
   session and its token;
3. with an ``Idempotency-Key`` the key is claimed with a conditional write: one request
   runs the workflow, a retry (while it runs or after) waits for and returns the same
   answer. The interaction id is derived from the key, so even a
   retry that reached the workflow would find its turn already stored (CaptureUserQuery
   is idempotent per interaction) and append no second one. The execution name is the
   interaction id plus a per-attempt suffix. The stored answer holds no session token: a
   replay signs it again (a bearer token never rests in the idempotency store);
4. with a ``throttle`` (optional), a request that continues a session and would run the
   workflow counts against the session's limit: over it, 429 ``throttled`` (a replay of a
   finished request is not counted).

Example:
    >>> api = QueryApi(run_workflow, authority, InMemoryIdempotencyStore(), clock)  # doctest: +SKIP
    >>> status, body = api.handle(b'{"query": "hi"}', {}, "req-1")                   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.domain.api_contract import (
    ContractError,
    check_idempotency_key,
    error_body,
    parse_query_request,
)
from pipeline.domain.sessions import SessionAuthority
from pipeline.ports import Clock, IdempotencyStore, SessionThrottle

#: ``run_workflow(input, execution_name) -> {"status": "SUCCEEDED"|…, "output": {...}}``
WorkflowRunner = Callable[[dict[str, Any], str], Mapping[str, Any]]

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6b3c7a52-5f0e-4d55-9a3e-3f1d3f2c9b10")


class QueryApi:
    def __init__(
        self,
        run_workflow: WorkflowRunner,
        authority: SessionAuthority,
        idempotency: IdempotencyStore,
        clock: Clock,
        *,
        wait_seconds: float = 120.0,
        poll_seconds: float = 0.02,
        sleep: Callable[[float], None] = time.sleep,
        throttle: SessionThrottle | None = None,
    ) -> None:
        self._run = run_workflow
        self._throttle = throttle
        self._authority = authority
        self._idempotency = idempotency
        self._clock = clock
        self._wait_seconds = wait_seconds
        self._poll = poll_seconds
        self._sleep = sleep

    def handle(
        self, body: bytes | str, headers: Mapping[str, str], request_id: str
    ) -> tuple[int, dict[str, Any]]:
        """``(status, JSON body)`` for one request; headers are matched case-insensitively."""
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            return self._handle(body, lowered, request_id)
        except ContractError as error:
            return error.status, error_body(error.code, error.message, request_id)

    def _handle(
        self, body: bytes | str, headers: Mapping[str, str], request_id: str
    ) -> tuple[int, dict[str, Any]]:
        request = parse_query_request(body)
        key = check_idempotency_key(headers.get("idempotency-key"))
        token = headers.get("x-session-token")
        if request.session_id is not None:
            self._authority.authorize(request.session_id, token)
        if key is None:
            return self._execute(request.query, request.session_id, request.user_id, None, request_id)

        scope = f"{request.session_id or 'new'}:{key}"
        fingerprint = hashlib.sha256(
            json.dumps([request.query, request.session_id, request.user_id]).encode("utf-8")
        ).hexdigest()
        existing = self._idempotency.claim(scope, fingerprint, self._clock.now().isoformat())
        if existing is not None:
            return self._replay(scope, fingerprint, existing, request_id)
        try:
            status, payload = self._execute(
                request.query, request.session_id, request.user_id, scope, request_id
            )
        except BaseException:
            self._idempotency.release(scope)
            raise
        if status == 200:
            self._idempotency.complete(
                scope, {k: v for k, v in payload.items() if k != "session_token"}
            )
        else:
            self._idempotency.release(scope)  # a failed request may be retried for real
        return status, payload

    def _replay(
        self, scope: str, fingerprint: str, record: Mapping[str, Any], request_id: str
    ) -> tuple[int, dict[str, Any]]:
        if record.get("fingerprint") != fingerprint:
            raise ContractError(
                409, "idempotency_conflict", "Idempotency-Key was used with a different request"
            )
        deadline = time.monotonic() + self._wait_seconds
        current: Mapping[str, Any] | None = record
        while current is not None and current.get("status") != "done":
            if time.monotonic() > deadline:
                raise ContractError(
                    409, "idempotency_conflict", "the first request with this Idempotency-Key is still running"
                )
            self._sleep(self._poll)
            current = self._idempotency.get(scope)
        if current is None:
            # The first request failed and released the key: this retry may run it.
            raise ContractError(
                503, "service_unavailable", "the first request with this Idempotency-Key failed; retry"
            )
        response = dict(current["response"])  # type: ignore[arg-type]
        if isinstance(response.get("session_id"), str):
            response["session_token"] = self._authority.token_for(response["session_id"])
        return 200, response

    def _execute(
        self,
        query: str,
        session_id: str | None,
        user_id: str | None,
        scope: str | None,
        request_id: str,
    ) -> tuple[int, dict[str, Any]]:
        if session_id is None:
            session_id, token = self._authority.new_session()
        else:
            if self._throttle is not None and not self._throttle.allow(session_id):
                raise ContractError(
                    429, "throttled", "too many requests for this session; retry later"
                )
            token = self._authority.token_for(session_id)
        interaction_id = (
            str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, scope)) if scope else str(uuid.uuid4())
        )
        workflow_input = {
            "query": query,
            "session_id": session_id,
            "interaction_id": interaction_id,
            "user_id": user_id,
            "request_id": request_id,
        }
        # The execution name starts with the interaction id (so executions of one key are
        # easy to find) and is unique per attempt: a retry after a failed first attempt must
        # be able to start again, and execution names cannot be reused.
        result = self._run(workflow_input, f"{interaction_id}-{uuid.uuid4().hex[:8]}")
        status = result.get("status")
        output = result.get("output")
        if status == "SUCCEEDED" and isinstance(output, dict):
            return 200, {**output, "session_token": token}
        if status == "TIMED_OUT":
            return 504, error_body(
                "workflow_timed_out", "The assistant did not answer in time. Please retry.", request_id
            )
        return 500, error_body(
            "workflow_failed", "The assistant failed to answer. Please retry.", request_id
        )
