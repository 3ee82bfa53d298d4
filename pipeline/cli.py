"""Batch CLI: ``python -m pipeline triage|review|ask``.

``triage`` reads JSONL ``{"id", "text"}`` and writes one line per input::

    {"id", "guardrail": {"action", "categories"}, "intent", "confidence",
     "needs_clarification", "escalate"}

(the intent is computed on the guardrail's redacted text, for every line, blocked or not).

``review`` reads ``{"id", "query", "response"}`` and writes::

    {"id", "guardrail": {"action", "categories"}, "quality": {"score", "passed", "issues"}}

where ``guardrail`` is the output guardrail's verdict on the response. Both read stdin and
write stdout unless ``--input``/``--output`` are given, and stream line by line. A
malformed line (bad UTF-8, bad JSON, missing or mistyped field) gets an error naming the
line number on stderr; the run continues and exits 1 at the end. Blank lines are not
records and are ignored. The output line shapes are a public contract.

``ask`` delegates to ``pipeline.local.ask.main`` (the local workflow), imported lazily.

Example:
    $ echo '{"id": "1", "text": "my ec2 instance refuses ssh"}' | python -m pipeline triage
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import IO, Any

EXIT_OK = 0
EXIT_BAD_LINES = 1


class LineError(ValueError):
    """A line of input is not a valid record; the message says why."""


Processor = Callable[[dict[str, Any]], dict[str, Any]]


def _field(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise LineError(
            f"field {name!r} must be a string" if name in record else f"missing field {name!r}"
        )
    return value


def _record_id(record: dict[str, Any]) -> str | int:
    value = record.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise LineError(
            "field 'id' must be a string or an integer" if "id" in record else "missing field 'id'"
        )
    return value


def make_triage() -> Processor:
    """Build the triage function (input guardrail + intent detector, offline NLP)."""
    from pipeline.handlers.composition import Settings, services

    offline = services(Settings())  # the Lambdas' object graph, on the offline defaults
    scan_input, detector = offline.input_guard, offline.detector

    def triage(record: dict[str, Any]) -> dict[str, Any]:
        record_id = _record_id(record)
        verdict = scan_input(_field(record, "text"))
        result = detector.detect(verdict.redacted_text)
        return {
            "id": record_id,
            "guardrail": verdict.summary(),
            "intent": result.intent,
            "confidence": round(result.confidence, 4),
            "needs_clarification": result.needs_clarification,
            "escalate": result.escalate,
        }

    return triage


def make_review() -> Processor:
    """Build the review function (output guardrail + quality validator, botocore catalogue)."""
    from pipeline.handlers.composition import Settings, services

    offline = services(Settings())
    # The validator's safety check scans the response with this same (memoised) guard,
    # so the verdict reported here is computed once per record.
    scan_input, scan_output, validator = offline.input_guard, offline.output_guard, offline.validator

    def review(record: dict[str, Any]) -> dict[str, Any]:
        record_id = _record_id(record)
        query, response = _field(record, "query"), _field(record, "response")
        verdict = scan_output(response)
        report = validator.validate(scan_input(query).redacted_text, response)
        return {
            "id": record_id,
            "guardrail": verdict.summary(),
            "quality": {
                "score": round(report.score, 4),
                "passed": report.passed,
                "issues": report.issues,
            },
        }

    return review


def parse_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any] | LineError]]:
    """``(line number, record or error)`` for every non-blank line, 1-based."""
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield number, LineError(f"not valid UTF-8 ({error.reason} at byte {error.start})")
            continue
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            yield number, LineError(f"not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(record, dict):
            yield number, LineError(f"expected a JSON object, got {type(record).__name__}")
            continue
        yield number, record


def run(
    process: Processor, lines: Iterable[bytes], out: IO[str], err: IO[str], *, command: str
) -> tuple[int, int]:
    """Process every line; returns ``(records written, lines failed)``."""
    written = failed = 0
    for number, item in parse_lines(lines):
        try:
            if isinstance(item, LineError):
                raise item
            result = process(item)
        except LineError as error:
            failed += 1
            err.write(f"{command}: line {number}: {error}\n")
            continue
        except Exception as error:  # noqa: BLE001 - errors are data: report the line, go on
            failed += 1
            err.write(f"{command}: line {number}: could not process ({type(error).__name__})\n")
            continue
        out.write(json.dumps(result, ensure_ascii=False, separators=(", ", ": ")) + "\n")
        out.flush()
        written += 1
    return written, failed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline", description="AWS support assistant tools."
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{triage,review,ask,serve}"
    )
    for name, help_text in (
        ("triage", "guardrail verdict and intent for JSONL {id, text}"),
        ("review", "output guardrail and quality for JSONL {id, query, response}"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--input", "-i", help="JSONL input file (default: stdin)")
        sub.add_argument("--output", "-o", help="JSONL output file (default: stdout)")
    commands.add_parser(
        "ask", help="run one query through the local workflow (see: ask --help)", add_help=False
    )
    commands.add_parser(
        "serve", help="serve the REST API locally (see: serve --help)", add_help=False
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m pipeline``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        try:
            from pipeline.local.server import main as serve_main
        except ModuleNotFoundError as error:
            sys.stderr.write(f"serve: the local server needs starlette and uvicorn ({error})\n")
            return 2
        return int(serve_main(argv[1:]) or 0)
    if argv and argv[0] == "ask":
        try:
            from pipeline.local.ask import main as ask_main
        except ModuleNotFoundError as error:
            if error.name != "pipeline.local.ask":
                raise
            sys.stderr.write(f"ask: the local workflow is not available ({error})\n")
            return 2
        return int(ask_main(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    build = make_triage if args.command == "triage" else make_review
    with ExitStack() as stack:
        lines = stack.enter_context(open(args.input, "rb")) if args.input else sys.stdin.buffer
        out = (
            stack.enter_context(open(args.output, "w", encoding="utf-8", newline="\n"))
            if args.output
            else sys.stdout
        )
        _, failed = run(build(), lines, out, sys.stderr, command=args.command)
    if failed:
        sys.stderr.write(f"{args.command}: {failed} line(s) failed\n")
        return EXIT_BAD_LINES
    return EXIT_OK
