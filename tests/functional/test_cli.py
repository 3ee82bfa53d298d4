"""``python -m pipeline triage|review`` in a subprocess: line shapes, errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pipeline.domain.guardrails")
pytest.importorskip("pipeline.adapters.local.offline_nlp")

ROOT = Path(__file__).resolve().parents[2]
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzREALKEY"


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_triage_writes_one_line_per_input_and_reports_malformed_lines() -> None:
    lines = [
        json.dumps({"id": "a", "text": "my ec2 instance refuses ssh, connection timed out"}),
        "{not json",
        json.dumps({"id": "b", "text": f"aws_secret_access_key = {SECRET} why AccessDenied on s3"}),
        "",
        json.dumps({"id": "c"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": 7, "text": "what's a good pasta recipe"}),
    ]
    result = run_cli("triage", stdin="\n".join(lines) + "\n")
    assert result.returncode == 1
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in outputs] == ["a", "b", 7]
    for output in outputs:
        assert list(output) == [
            "id",
            "guardrail",
            "intent",
            "confidence",
            "needs_clarification",
            "escalate",
        ]
        assert set(output["guardrail"]) == {"action", "categories"}
        assert 0.0 <= output["confidence"] <= 1.0
    assert (
        outputs[1]["guardrail"]["action"] == "block"
        and "aws_secret_key" in outputs[1]["guardrail"]["categories"]
    )
    assert outputs[1]["intent"]  # computed on the redacted text, blocked or not
    assert "line 2:" in result.stderr and "line 5:" in result.stderr and "line 6:" in result.stderr
    assert (
        "'text'" in result.stderr and "line 4" not in result.stderr
    )  # blank lines are not records
    assert SECRET not in result.stdout + result.stderr


def test_review_files_in_and_out(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps(
            {
                "id": "r1",
                "query": "how do I list my s3 buckets",
                "response": "Run this command:\n\n```bash\naws s3 ls\n```\n\nIt lists every bucket in your account.",
            }
        )
        + "\n"
        + json.dumps({"id": "r2", "query": "x"})
        + "\n",
        encoding="utf-8",
    )
    target = tmp_path / "out.jsonl"
    result = run_cli("review", "--input", str(source), "--output", str(target))
    assert result.returncode == 1 and "line 2:" in result.stderr and "'response'" in result.stderr
    [output] = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert list(output) == ["id", "guardrail", "quality"] and output["id"] == "r1"
    assert list(output["quality"]) == ["score", "passed", "issues"]
    assert all(set(issue) == {"check", "message"} for issue in output["quality"]["issues"])


def test_clean_input_exits_zero() -> None:
    result = run_cli(
        "triage", stdin=json.dumps({"id": "1", "text": "lambda timeout after 3 seconds"}) + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_invalid_utf8_is_reported_by_line(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_bytes(b'{"id": "1", "text": "ok"}\n{"id": "2", "text": "\xff\xfe"}\n')
    result = run_cli("triage", "--input", str(source))
    assert result.returncode == 1 and "line 2: not valid UTF-8" in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_usage_error_without_a_command() -> None:
    assert run_cli().returncode == 2


def test_ask_is_registered_and_delegates_to_the_local_workflow() -> None:
    result = run_cli("--help")
    assert "ask" in result.stdout
