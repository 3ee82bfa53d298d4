"""The versioned run record (``run.json``): the one log everything downstream reads.

Reports, baselines, comparison and gates read run records only (DESIGN.md §4). A record
holds, per suite: the suite and dataset sha256, solver and scorer arguments, per-case
inputs/outputs/scores/errors, metrics with 95% intervals, timings; and for the run: git
commit and dirty flag, prompt versions, model id and parameters, environment.

Inputs of sensitive cases (secrets, PII) are stored redacted or as a hash, never in clear
text (see ``suites.py``).

The shape of a record is typed in :mod:`evals.run_record` (published as
``evals/schema/run-record.schema.json``); :func:`load_record` checks every record against it.

Example:
    >>> try:
    ...     validate_record({"schema_version": 2}, "run.json")
    ... except RecordError as exc:
    ...     print(str(exc)[:56])
    run.json: field 'schema_version': is 2, this harness rea
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from evals.run_record import SCHEMA_VERSION
from evals.runner import RunConfig, SuiteResult

REPO_ROOT = Path(__file__).resolve().parent.parent
PROMPTS_DIR = REPO_ROOT / "pipeline" / "prompts"
_PACKAGES = ("numpy", "scipy", "hypothesis", "jinja2", "deepdiff", "boto3", "moto", "scikit-learn")


class RecordError(ValueError):
    """A run record or baseline file is unreadable or of an unknown schema (names the file)."""


def clean(value: Any) -> Any:
    """Make a details structure JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return clean(value.item())
    return value


def git_info(root: Path = REPO_ROOT) -> dict[str, Any]:
    """The commit and whether the tree has uncommitted changes (read-only git calls)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10, check=False).stdout.strip() or None
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True,
                                timeout=20, check=False).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def environment() -> dict[str, Any]:
    """Python, platform, CPU count and versions of the packages that shape results."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
    }


def prompt_versions(root: Path = PROMPTS_DIR) -> dict[str, list[str]]:
    """``{template_id: [versions]}`` of the prompt files in the tree."""
    out: dict[str, list[str]] = {}
    if not root.is_dir():
        return out
    for path in sorted(root.glob("*/*.json")):
        out.setdefault(path.parent.name, []).append(path.stem)
    return out


def suite_record(result: SuiteResult) -> dict[str, Any]:
    """The JSON form of one suite's results."""
    suite = result.suite
    dataset = None
    if suite.dataset is not None:
        try:
            rel = str(Path(suite.dataset).resolve().relative_to(REPO_ROOT))
        except ValueError:
            rel = str(suite.dataset)
        dataset = rel
    return {
        "name": suite.name,
        "description": suite.description,
        "components": list(suite.components),
        "suite_sha256": suite.definition_sha256(),
        "dataset": {"path": dataset, "sha256": result.dataset_sha256, "n_cases": len(result.cases),
                    "splits": list(suite.splits) if suite.splits else None},
        "solver": {"name": suite.solver.name, "params": clean(suite.solver.params),
                   "components": result.components if result.components is not None
                   else suite_components(suite)},
        "scorers": [s.describe() for s in suite.scorers],
        "metrics": {k: v.to_dict() for k, v in result.metrics.items()},
        "details": clean(result.details),
        "timings": result.timings,
        "n_errors": result.n_errors,
        "setup_error": result.setup_error,
        "cases": [c.to_dict() for c in result.cases],
    }


def suite_components(suite: Any) -> Any:
    """The real constructor arguments of the suite's components (None when not declared)."""
    if suite.solver.components is None:
        return None
    try:
        return clean(suite.solver.components())
    except Exception as exc:  # noqa: BLE001 - a component that cannot be built is recorded, not fatal
        return {"error": f"{type(exc).__name__}: {exc}"}


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique-enough id: ``20261115T120301Z-1a2b3c``."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{os.urandom(3).hex()}"


def build_record(results: Sequence[SuiteResult], config: RunConfig, *, run_id: str, started_at: datetime,
                 wall_s: float, model: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the run record of a whole run."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": started_at.isoformat(timespec="seconds"),
        "git": git_info(),
        "environment": environment(),
        "config": {"model": config.model, "record": config.record, "seed": config.seed},
        "model": model or {"id": config.model, "params": {}},
        "prompt_versions": prompt_versions(),
        "timings": {"wall_s": round(wall_s, 3),
                    "suites": {r.suite.name: r.timings for r in results}},
        "suites": {r.suite.name: suite_record(r) for r in results},
    }


def copy_latest(run_dir: Path, latest: Path) -> None:
    """Replace ``latest`` with a copy of ``run_dir`` (copied beside it, then swapped in)."""
    tmp = latest.with_name(f".{latest.name}.{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(run_dir, tmp)
    if latest.exists():
        shutil.rmtree(latest)
    os.replace(tmp, latest)


def write_json_atomic(data: Any, path: Path, *, indent: int | None = None) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace`` (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=indent, ensure_ascii=False, allow_nan=False,
                      separators=(",", ": ") if indent else (",", ":"))
            handle.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def validate_record(record: Any, path: Path | str) -> dict[str, Any]:
    """Check a record against the typed model (:mod:`evals.run_record`).

    Raises:
        RecordError: Naming the file and the field, e.g. ``run.json: field
            'suites.intent.cases[3].passed': expected a boolean, got str 'yes'``; a record of
            another schema version is named as such.
    """
    from evals.run_record import RecordShapeError, check_record

    try:
        check_record(record)
    except RecordShapeError as exc:
        hint = ("; regenerate it with `python -m evals --update-baseline` (a baseline) or rerun the eval"
                if exc.field == "schema_version" else
                "; see the schema in evals/schema/run-record.schema.json")
        raise RecordError(f"{path}: {exc}{hint}") from exc
    return record


def load_record(path: Path | str) -> dict[str, Any]:
    """Read and validate a run record."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            record = json.load(handle)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    except OSError as exc:
        raise RecordError(f"{path}: cannot read ({exc.strerror})") from exc
    return validate_record(record, path)
