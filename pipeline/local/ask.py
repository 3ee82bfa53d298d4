"""``python -m pipeline ask "query" [--session-id S] [--json] [--reset]``.

Runs one query through the synthesized workflow on moto (see :mod:`pipeline.local.workflow`)
and prints the answer, the path of states, intent, guardrail verdict, quality score and
timings. The template is synthesized into ``cdk.out/`` on first use (or when ``stack/`` or
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

from pipeline.local.workflow import DEFAULT_OUTDIR, STATE_DIR, LocalWorkflowError, RunResult

STATE_FILE = STATE_DIR / "state.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline ask",
        description="Ask the assistant one question through the local (moto) workflow.",
    )
    parser.add_argument("query", help="the customer's question")
    parser.add_argument("--session-id", help="continue a conversation ([A-Za-z0-9-]{8,64})")
    parser.add_argument("--user-id", help="optional user id (populates UserIdIndex)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--outdir", default=str(DEFAULT_OUTDIR), help="cloud assembly folder [cdk.out]")
    parser.add_argument("--state-file", default=str(STATE_FILE), help="local conversation state")
    parser.add_argument("--no-state", action="store_true", help="do not load or save local state")
    parser.add_argument("--reset", action="store_true", help="delete the local state first")
    return parser


def summary(run: RunResult, setup_seconds: float = 0.0, synthesized: bool = False) -> dict:
    """The JSON the command prints (also what ``--json`` returns)."""
    out = run.output or {}
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
    print(f"path:       {' -> '.join(data['path'])}")
    if data["errors"]:
        print(f"errors:     {', '.join(data['errors'])}")
    t = data["timings_ms"]
    print(f"timings:    total {t['total']} ms = handlers {t['handlers']} ms + engine {t['engine']} ms"
          f" (setup {t['setup']} ms{', synthesized the stack' if data['synthesized'] else ''})")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipeline.local.workflow import LocalWorkflow

    state_file = None if args.no_state else Path(args.state_file)
    if args.reset and state_file and state_file.exists():
        state_file.unlink()
    try:
        with LocalWorkflow(outdir=args.outdir, state_file=state_file) as workflow:
            run = workflow.run(args.query, session_id=args.session_id, user_id=args.user_id)
            data = summary(run, workflow.setup_seconds, workflow.synthesized)
    except LocalWorkflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_human(data)
    return 0 if run.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
