"""``python -m pipeline ask`` validates like POST /query, before the local engine starts."""

from __future__ import annotations

import subprocess
import sys

import pytest


def ask(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline", "ask", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("",), None, "validation_error: query: must be 1 to 4000 characters (got 0)"),
        (("x" * 4001,), None, "validation_error: query: must be 1 to 4000 characters (got 4001)"),
        (("hi", "--session-id", "bad id!"), None, "validation_error: session_id: must be 8-64"),
        (("hi", "--session-id", "../../etc/passwd"), None, "validation_error: session_id"),
        (("--file", "-"), "   \n", "validation_error: query: must not be only whitespace"),
        (("--file", "-"), "y" * 4001, "validation_error: query: must be 1 to 4000 characters"),
        (("hi", "--file", "-"), "hi", "validation_error: query: give the query or --file"),
        ((), None, "validation_error: query: is required"),
        (("hi", "--idempotency-key", "bad key"), None, "validation_error: Idempotency-Key"),
    ],
)
def test_invalid_input_exits_2_with_the_api_error(args: tuple[str, ...], stdin: str | None,
                                                  message: str) -> None:
    result = ask(*args, stdin=stdin)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
