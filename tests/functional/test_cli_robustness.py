"""The batch CLI never crashes: hostile lines get one line-numbered error each, the run goes
on, and the exit code says whether lines were invalid (1) or something broke inside (3)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import cli

HOSTILE = [
    b'{"id": ' + b"7" * 5000 + b', "text": "huge id"}',  # int() digit limit
    b"[" * 100_000 + b"]" * 100_000,  # RecursionError in json
    b'{"id": "\\ud800", "text": "lone surrogate"}',  # UnicodeEncodeError on output
    b"null",
    b'{"id": "a", "id": "b", "text": "duplicate keys"}',
    b"\xff\xfe not utf-8",
]


def run_cli(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], input=stdin,
                          capture_output=True, timeout=300)


def test_hostile_lines_are_reported_and_the_run_continues() -> None:
    good = b'{"id": "ok", "text": "my ec2 instance will not start"}'
    data = b"\xef\xbb\xbf" + good + b"\n" + b"\n".join(HOSTILE) + b"\n" + good.replace(b'"ok"', b'"last"') \
        + b"\r" + good.replace(b'"ok"', b'"after-cr"') + b"\n"
    result = run_cli(data, "triage")
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    assert result.returncode == cli.EXIT_BAD_LINES
    ids = [json.loads(line)["id"] for line in result.stdout.decode().splitlines()]
    assert ids == ["ok", "last", "after-cr"]  # BOM skipped; bare \r separates records
    errors = [line for line in stderr.splitlines() if ": line " in line]
    assert [int(e.split(": line ")[1].split(":")[0]) for e in errors] == list(range(2, 2 + len(HOSTILE)))
    assert "got null" in stderr and "NoneType" not in stderr
    assert "duplicate key" in stderr and "surrogate" in stderr and "not valid UTF-8" in stderr


def test_an_internal_error_has_its_own_exit_code(monkeypatch) -> None:
    def broken(record: dict) -> dict:
        raise RuntimeError("boom")

    out, err = io.StringIO(), io.StringIO()
    written, failed, internal = cli.run(broken, [b'{"id": 1}\n', b"not json\n"], out, err, command="triage")
    assert (written, failed, internal) == (0, 1, 1)
    assert "line 1: internal error (RuntimeError)" in err.getvalue() and "boom" not in err.getvalue()
    monkeypatch.setattr(cli, "make_triage", lambda: broken)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"id": 1, "text": "x"}\n')))
    assert cli.main(["triage"]) == cli.EXIT_INTERNAL != cli.EXIT_BAD_LINES


def echo(record: dict) -> dict:
    return {"id": cli._record_id(record), "text": cli._field(record, "text")}


def is_record(index: int, line: bytes) -> bool:
    """Not blank (blank lines are not records); undecodable lines are records (errors)."""
    if index == 0 and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        return bool(line.decode("utf-8").strip())
    except UnicodeDecodeError:
        return True


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80) | st.sampled_from(HOSTILE[2:] + [b'{"id": 1, "text": "x"}']), max_size=12))
def test_arbitrary_bytes_give_one_output_or_one_error_per_line(chunks: list[bytes]) -> None:
    data = b"\n".join(chunks)
    physical = list(cli.physical_lines(io.BytesIO(data)))
    out, err = io.StringIO(), io.StringIO()
    written, failed, internal = cli.run(echo, io.BytesIO(data), out, err, command="triage")
    assert internal == 0
    assert written + failed == sum(1 for i, line in enumerate(physical) if is_record(i, line))
    assert len(out.getvalue().splitlines()) == written
    assert len(err.getvalue().splitlines()) == failed
    for line in out.getvalue().splitlines():
        json.loads(line)
