"""Batch CLI: ``python -m pipeline triage|review|ask|serve|prompts``.

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

``ask`` delegates to ``pipeline.local.ask.main`` (the local workflow), imported lazily;
``prompts`` to ``pipeline.prompt_registry.main`` (publish, list, promote, rollback).

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
EXIT_BAD_LINES = 1  # some input lines were invalid (each reported with its number)
EXIT_USAGE = 2  # bad arguments (argparse)
EXIT_INTERNAL = 3  # a line could not be processed because of an internal error


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


def physical_lines(stream: Iterable[bytes]) -> Iterator[bytes]:
    """Lines split on ``\n``, ``\r\n`` and a bare ``\r`` (which would otherwise merge two
    records), without their terminators."""
    for chunk in stream:
        body = chunk[:-1] if chunk.endswith(b"\n") else chunk
        if body.endswith(b"\r"):
            body = body[:-1]
        yield from body.split(b"\r")


_JSON_TYPE_NAMES = {
    type(None): "null", bool: "a boolean", int: "a number", float: "a number",
    str: "a string", list: "an array",
}


def _decode_record(text: str) -> dict[str, Any]:
    from pipeline.domain.api_contract import ContractError, strict_json

    try:
        record = strict_json(text)
    except ContractError as error:
        message = error.message
        if error.code == "duplicate_key":
            message = f"duplicate key {message.rsplit(':', 1)[0]!r}"
        elif message.startswith("not valid JSON (") and " at line 1 column " in message:
            message = message.replace(" at line 1 column ", " at column ")  # one line per record
        raise LineError(message) from None
    if not isinstance(record, dict):
        kind = _JSON_TYPE_NAMES.get(type(record), "a value")
        raise LineError(f"expected a JSON object, got {kind}")
    return record


def parse_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any] | LineError]]:
    """``(line number, record or error)`` for every non-blank line, 1-based.

    Never raises on content: invalid UTF-8, lone surrogates, duplicate keys, 100,000-deep
    nesting and 5,000-digit numbers each become a :class:`LineError` for their line only;
    a UTF-8 byte order mark at the start of the input is skipped.
    """
    for number, raw in enumerate(physical_lines(lines), start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a byte order mark is not part of the first record
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            yield number, LineError(f"not valid UTF-8 ({error.reason} at byte {error.start})")
            continue
        if not text.strip():
            continue
        try:
            yield number, _decode_record(text)
        except LineError as error:
            yield number, error


def run(
    process: Processor, lines: Iterable[bytes], out: IO[str], err: IO[str], *, command: str
) -> tuple[int, int, int]:
    """Process every line; returns ``(records written, invalid lines, internal errors)``."""
    written = failed = internal = 0
    for number, item in parse_lines(lines):
        try:
            if isinstance(item, LineError):
                raise item
            result = process(item)
            line = json.dumps(result, ensure_ascii=False, separators=(", ", ": ")) + "\n"
            line.encode("utf-8")  # a lone surrogate fails here, not halfway through a write
        except LineError as error:
            failed += 1
            err.write(f"{command}: line {number}: {error}\n")
            continue
        except Exception as error:  # noqa: BLE001 - errors are data: report the line, go on
            internal += 1
            err.write(f"{command}: line {number}: internal error ({type(error).__name__})\n")
            continue
        out.write(line)
        out.flush()
        written += 1
    return written, failed, internal


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline", description="AWS support assistant tools."
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{triage,review,ask,serve,prompts}"
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
    commands.add_parser(
        "prompts",
        help="prompt registry: publish|list|promote|rollback (see: prompts --help)",
        add_help=False,
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
    if argv and argv[0] == "prompts":
        from pipeline.prompt_registry import main as prompts_main

        return prompts_main(argv[1:])
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
        _, failed, internal = run(build(), lines, out, sys.stderr, command=args.command)
    if internal:
        sys.stderr.write(f"{args.command}: {internal} line(s) hit an internal error\n")
    if failed:
        sys.stderr.write(f"{args.command}: {failed} line(s) failed\n")
    return EXIT_INTERNAL if internal else EXIT_BAD_LINES if failed else EXIT_OK
