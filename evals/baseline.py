"""Committed baselines: one run record per suite in ``evals/baselines/<suite>.json``.

Only ``python -m evals --update-baseline`` writes them (atomically, through a temporary
file and ``os.replace``); everything else only reads them (DESIGN.md §4).

Example:
    >>> baseline_path("intent", Path("evals/baselines")).name
    'intent.json'
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evals.record import RecordError, load_record, write_json_atomic

BASELINE_DIR = Path(__file__).resolve().parent / "baselines"


def baseline_path(suite: str, directory: Path = BASELINE_DIR) -> Path:
    """Where the baseline of ``suite`` lives."""
    return Path(directory) / f"{suite}.json"


def load_baseline(suite: str, directory: Path = BASELINE_DIR) -> dict[str, Any] | None:
    """The baseline run record of ``suite``, or None when there is none yet.

    Raises:
        RecordError: The file exists but is unreadable, of another schema, or lacks the suite.
    """
    path = baseline_path(suite, directory)
    if not path.is_file():
        return None
    record = load_record(path)
    if suite not in record["suites"]:
        raise RecordError(f"{path}: key 'suites.{suite}' missing; the file is not this suite's baseline")
    return record


def baseline_suite(record: dict[str, Any] | None, suite: str) -> dict[str, Any] | None:
    """The suite part of a baseline record (None passes through)."""
    return None if record is None else record["suites"].get(suite)


def write_baselines(record: dict[str, Any], suites: Iterable[str], directory: Path = BASELINE_DIR) -> list[Path]:
    """Write one baseline file per suite from a run record; returns the paths written.

    Each file is a full run record (same envelope: run id, git, environment, model,
    prompt versions) holding that one suite.
    """
    envelope = {k: v for k, v in record.items() if k != "suites"}
    written = []
    for name in suites:
        if name not in record["suites"]:
            continue
        path = baseline_path(name, directory)
        write_json_atomic({**envelope, "suites": {name: record["suites"][name]}}, path, indent=1)
        written.append(path)
    return written


def flagged_cases(record: dict[str, Any] | None, suite: str) -> dict[str, set[str]]:
    """Zero-tolerance flag -> ids of the baseline's cases carrying it (the known defects)."""
    found: dict[str, set[str]] = {}
    for case in (baseline_suite(record, suite) or {}).get("cases", []):
        for flag in case.get("flags") or ():
            found.setdefault(flag, set()).add(case["id"])
    return found
