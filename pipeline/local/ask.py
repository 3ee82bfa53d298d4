"""``python -m pipeline ask "query" [--session-id S --session-token T] [--json] [--reset]``.

Runs one query through the synthesized workflow on moto (see :mod:`pipeline.local.workflow`)
and prints the answer, the path of states, intent, guardrail verdict, quality score and
timings. It is an entry point of the API like any other: the query goes through the same
validation, session ownership and errors as ``POST /query`` (api/openapi.yaml), via
:class:`~pipeline.local.api_runtime.LocalApi`. Invalid input exits 2 with
``error: <code>: <message>`` on stderr. ``--file PATH`` (``-`` for stdin) reads the query
from a file, so a pasted secret stays out of the shell history and nox's echoed command. The template is synthesized into ``cdk.out/`` on first use (or when ``stack/`` or
``pipeline/`` changed) and reused after that.

Conversations across calls: moto's state lives in one process, so after every call the
Conversations and Feedback items are saved to ``.cache/local-workflow/state.json`` and
loaded by the next call. Several calls with the same ``--session-id`` therefore form one
conversation. ``--reset`` clears that state; ``--no-state`` runs without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.domain.api_contract import ContractError, check_idempotency_key, query_request_from
from pipeline.local.workflow import DEFAULT_OUTDIR, STATE_DIR, LocalWorkflowError, RunResult

STATE_FILE = STATE_DIR / "state.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline ask",
        description="Ask the assistant one question through the local (moto) workflow.",
    )
    parser.add_argument("query", nargs="?", help="the customer's question (1-4000 characters)")
    parser.add_argument("--file", "-f", help="read the query from this file ('-' = stdin)")
    parser.add_argument("--session-id", help="continue a conversation ([A-Za-z0-9-]{8,64})")
    parser.add_argument("--session-token",
                        help="the session's token (printed by the first answer; or $SESSION_TOKEN)")
    parser.add_argument("--idempotency-key", help="as the Idempotency-Key header of POST /query")
    parser.add_argument("--user-id", help="optional user id (populates UserIdIndex)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--outdir", default=str(DEFAULT_OUTDIR), help="cloud assembly folder [cdk.out]")
    parser.add_argument("--state-file", default=str(STATE_FILE), help="local conversation state")
    parser.add_argument("--no-state", action="store_true", help="do not load or save local state")
    parser.add_argument("--reset", action="store_true", help="delete the local state first")
    return parser


def summary(run: RunResult, setup_seconds: float = 0.0, synthesized: bool = False,
            response: dict | None = None) -> dict:
    """The JSON the command prints (also what ``--json`` returns)."""
    out = response if response is not None else (run.output or {})
    return {
        "status": run.status,
        "response": out,
        "path": run.path,
        "errors": run.errors,
        "timings_ms": {
            "total": round(run.total_seconds * 1000, 1),
            "handlers": round(run.handler_seconds * 1000, 1),
            "engine": round(run.engine_seconds * 1000, 1),
            "setup": round(setup_seconds * 1000, 1),
            "per_handler": [
                {"handler": c.handler, "ms": round(c.seconds * 1000, 1), "error": c.error}
                for c in run.calls
            ],
        },
        "synthesized": synthesized,
    }


def _print_human(data: dict) -> None:
    out = data["response"]
    print(out.get("response", "(no response)"))
    print()
    print(f"type:       {out.get('response_type')}   status: {data['status']}")
    intent = out.get("intent")
    conf = out.get("confidence")
    print(f"intent:     {intent}" + (f" ({conf:.2f})" if isinstance(conf, int | float) else ""))
    guard = out.get("guardrail") or {}
    cats = ", ".join(guard.get("categories") or []) or "-"
    print(f"guardrail:  {guard.get('action')} [{cats}]")
    score = out.get("quality_score")
    print(f"quality:    {score if score is not None else '-'}")
    tpl = out.get("template") or {}
    if tpl:
        print(f"template:   {tpl.get('id')}@{tpl.get('version')}")
    print(f"session:    {out.get('session_id')}   interaction: {out.get('interaction_id')}")
    if out.get("session_token"):
        print(f"token:      {out.get('session_token')}  (pass --session-token to continue)")
    print(f"path:       {' -> '.join(data['path'])}")
    if data["errors"]:
        print(f"errors:     {', '.join(data['errors'])}")
    t = data["timings_ms"]
    print(f"timings:    total {t['total']} ms = handlers {t['handlers']} ms + engine {t['engine']} ms"
          f" (setup {t['setup']} ms{', synthesized the stack' if data['synthesized'] else ''})")


def _read_query(args: argparse.Namespace) -> str:
    if args.file is not None and args.query is not None:
        raise ContractError(400, "validation_error", "query: give the query or --file, not both", "query")
    if args.file is None:
        if args.query is None:
            raise ContractError(400, "validation_error", "query: is required (or --file)", "query")
        return str(args.query)
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        return raw.decode("utf-8").removesuffix("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(400, "validation_error", f"query: cannot read {args.file} ({exc})", "query") from None


def main(argv: Sequence[str] | None = None) -> int:
    import os

    args = _parser().parse_args(argv)
    token = args.session_token or os.environ.get("SESSION_TOKEN") or None
    body: dict = {}
    try:
        body["query"] = _read_query(args)
        if args.session_id is not None:
            body["session_id"] = args.session_id
        if args.user_id is not None:
            body["user_id"] = args.user_id
        query_request_from(body)  # fail fast, before the local engine starts
        check_idempotency_key(args.idempotency_key)
    except ContractError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    from pipeline.local.api_runtime import LocalApi

    state_file = None if args.no_state else Path(args.state_file)
    if args.reset and state_file and state_file.exists():
        state_file.unlink()
    headers = {}
    if token:
        headers["X-Session-Token"] = token
    if args.idempotency_key:
        headers["Idempotency-Key"] = args.idempotency_key
    try:
        with LocalApi(outdir=args.outdir, state_file=state_file) as api:
            status, reply = api.query(json.dumps(body), headers, "cli-" + os.urandom(8).hex())
            run = api.last_run
            setup, synthesized = api.workflow.setup_seconds, api.workflow.synthesized
    except LocalWorkflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if status != 200 or run is None:
        error = reply.get("error", {})
        print(f"error: {error.get('code')}: {error.get('message')}", file=sys.stderr)
        return 2 if status < 500 else 1
    data = summary(run, setup, synthesized, response=reply)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_human(data)
    return 0 if run.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
