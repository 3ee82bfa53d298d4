"""The typed run record: the shape of every ``run.json`` and baseline, as frozen dataclasses.

These classes are the single description of a run record. From them come:

- :func:`check_record`, which walks a loaded JSON record against the types and raises
  :class:`~evals.record.RecordError` naming the file and the field (``suites.intent.cases[3].passed:
  expected a boolean, got 'yes'``) before anything downstream reads it;
- :func:`parse_record`, the same walk returning :class:`RunRecord` objects;
- :func:`json_schema`, the published JSON Schema (draft 2020-12) committed as
  ``evals/schema/run-record.schema.json``. ``python -m evals.run_record --write`` regenerates
  it and a test fails when the committed file differs, so the schema cannot drift from the
  classes, and another test validates real records against it with ``jsonschema``.

Free-form parts (a case's ``input``/``expected``/``output``, a suite's ``details``, the
environment) are typed ``Any`` or ``dict[str, Any]``: their content belongs to the suite.

Example:
    >>> schema = json_schema()
    >>> schema["properties"]["schema_version"]["const"]
    1
    >>> sorted(schema["$defs"]["CaseRecord"]["required"])[:3]
    ['error', 'expected', 'flags']
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).resolve().parent / "schema" / "run-record.schema.json"
SCHEMA_ID = "urn:support-assistant:evals:run-record:1"


class RecordShapeError(ValueError):
    """A record does not match the typed model; ``field`` is the dotted path of the problem."""

    def __init__(self, field_path: str, problem: str) -> None:
        super().__init__(f"field '{field_path}': {problem}")
        self.field = field_path
        self.problem = problem


# ---------------------------------------------------------------------------
# The record
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricRecord:
    """A metric with its 95% interval (``evals.metrics.MetricValue.to_dict``); None = undefined."""

    value: float | None
    ci: list[float | None]
    n: int
    kind: str = "rate"
    higher_is_better: bool | None = True
    ci_method: str = "none"
    successes: int | None = None


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    """What one scorer said about one case."""

    value: float
    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """One case's outcome (``evals.runner.CaseResult.to_dict``). ``input`` is the safe form."""

    id: str
    input: Any
    expected: Any
    output: Any
    scores: dict[str, ScoreRecord]
    passed: bool
    error: str | None
    latency_ms: float
    tags: list[str]
    split: str
    flags: list[str]


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    path: str | None
    sha256: str | None
    n_cases: int
    splits: list[str] | None


@dataclass(frozen=True, slots=True)
class SolverRecord:
    name: str
    params: dict[str, Any]
    components: Any = None


@dataclass(frozen=True, slots=True)
class ScorerRecord:
    name: str
    args: dict[str, Any]
    required: bool = True


@dataclass(frozen=True, slots=True)
class SuiteRecord:
    """One suite of a run (``evals.record.suite_record``)."""

    name: str
    description: str
    components: list[str]
    suite_sha256: str
    dataset: DatasetRecord
    solver: SolverRecord
    scorers: list[ScorerRecord]
    metrics: dict[str, MetricRecord]
    details: dict[str, Any]
    timings: dict[str, float]
    n_errors: int
    setup_error: str | None
    cases: list[CaseRecord]


@dataclass(frozen=True, slots=True)
class GitRecord:
    commit: str | None
    dirty: bool | None


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """Run settings. Records written before a key existed simply lack it."""

    model: str
    record: bool
    seed: int
    backend: str | None = None
    epochs: int | None = None
    reducer: str | None = None
    budget_usd: float | None = None
    concurrency: int | None = None
    region: str | None = None
    jobs: int | None = None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """The model behind the run; ``usage`` (calls, tokens, cost) when it generated answers."""

    id: str
    params: dict[str, Any]
    backend: str | None = None
    usage: dict[str, Any] | None = None
    batch: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TimingsRecord:
    wall_s: float
    suites: dict[str, dict[str, float]]


@dataclass(frozen=True, slots=True)
class SelectionRecord:
    """How a developer-loop run was narrowed (``--case``/``--tag``/``--split``/``--limit``/
    ``--rerun-failed``). A record with a selection is partial: gates that need a whole
    suite were skipped and it is never a baseline."""

    cases: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    limit: int | None = None
    rerun_failed: str | None = None
    selected: dict[str, int] = field(default_factory=dict)
    available: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GateRecord:
    """One gate's outcome (``evals.gates.GateResult.to_dict``)."""

    name: str
    kind: str
    suite: str
    passed: bool
    detail: str
    metric: str | None = None
    value: float | None = None
    cases: list[str] = field(default_factory=list)
    skipped: bool = False
    p_value: float | None = None


@dataclass(frozen=True, slots=True)
class VerdictRecord:
    passed: bool
    gates: list[GateRecord]
    targets: list[GateRecord] = field(default_factory=list)
    comparison: dict[str, Any] = field(default_factory=dict)
    alpha: float | None = None  # the significance level of the paired tests (gates.toml [settings])


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The whole ``run.json``."""

    schema_version: Literal[1]
    run_id: str
    created_at: str
    git: GitRecord
    environment: dict[str, Any]
    config: ConfigRecord
    model: ModelRecord
    prompt_versions: dict[str, list[str]]
    timings: TimingsRecord
    suites: dict[str, SuiteRecord]
    verdict: VerdictRecord | None = None
    agreement: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    stopped: str | None = None
    selection: SelectionRecord | None = None
    ab_arm: dict[str, Any] | None = None


# ---------------------------------------------------------------------------
# Walking the types: checking, parsing and the JSON Schema come from one place
# ---------------------------------------------------------------------------

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, vars(sys.modules[__name__]))
    return _HINTS[cls]


def _fields(cls: type) -> list[tuple[str, Any, bool]]:
    """``(name, type, required)`` for each field of a record dataclass."""
    hints = _hints(cls)
    return [(f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(cls)]


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:39] + '…'}"


def _walk(tp: Any, value: Any, where: str, build: bool) -> Any:
    """Check ``value`` against ``tp``; returns the typed value when ``build``."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _walk(option, value, where, build)
            except RecordShapeError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise RecordShapeError(where, f"expected {_type_name(tp)}, got {_describe(value)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise RecordShapeError(where, f"expected {' or '.join(map(repr, typing.get_args(tp)))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise RecordShapeError(where, f"expected an array, got {_describe(value)}")
        (item,) = typing.get_args(tp)
        if item is Any:
            return value
        out = [_walk(item, v, f"{where}[{i}]", build) for i, v in enumerate(value)]
        return out if build else value
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordShapeError(where, f"expected an object, got {_describe(value)}")
        _key, item = typing.get_args(tp)
        if item is Any:
            return value
        out = {k: _walk(item, v, f"{where}.{k}", build) for k, v in value.items()}
        return out if build else value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RecordShapeError(where, f"expected an object ({tp.__name__}), got {_describe(value)}")
        fields = _fields(tp)
        names = {n for n, _, _ in fields}
        extra = sorted(set(value) - names)
        if extra:
            raise RecordShapeError(f"{where}.{extra[0]}".lstrip("."),
                                   f"unknown field in {tp.__name__}; known: {', '.join(sorted(names))}")
        kwargs = {}
        for name, ftp, required in fields:
            path = f"{where}.{name}".lstrip(".")
            if name not in value:
                if required:
                    raise RecordShapeError(path, "missing")
                continue
            kwargs[name] = _walk(ftp, value[name], path, build)
        return tp(**kwargs) if build else value
    if tp is bool:
        if not isinstance(value, bool):
            raise RecordShapeError(where, f"expected a boolean, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordShapeError(where, f"expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecordShapeError(where, f"expected a number, got {_describe(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise RecordShapeError(where, f"expected a string, got {_describe(value)}")
        return value
    raise TypeError(f"run_record: unsupported type {tp!r} at {where}")  # a programming error, not bad data


def _type_name(tp: Any) -> str:
    schema = _schema(tp, {})
    return json.dumps(schema.get("type") or schema.get("$ref") or schema)


def check_record(data: Any) -> None:
    """Raise :class:`RecordShapeError` at the first field that does not match :class:`RunRecord`.

    ``schema_version`` is checked first, so a record of another version is named as such
    rather than by whichever field changed shape.
    """
    if not isinstance(data, dict):
        raise RecordShapeError("(top level)", f"expected an object, got {_describe(data)}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise RecordShapeError("schema_version", f"is {data.get('schema_version')!r}, this harness reads "
                                                 f"{SCHEMA_VERSION}")
    _walk(RunRecord, data, "", False)


def parse_record(data: Any) -> RunRecord:
    """The typed form of a loaded record (checked as :func:`check_record` does)."""
    check_record(data)
    return _walk(RunRecord, data, "", True)


# ---------------------------------------------------------------------------
# JSON Schema
# ---------------------------------------------------------------------------


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is Any:
        return {}
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [_schema(o, defs) for o in typing.get_args(tp)]
        simple = [o.get("type") for o in options]
        if all(isinstance(t, str) for t in simple) and len(options) == len(simple):
            return {"type": simple}
        return {"anyOf": options}
    if origin is Literal:
        (only,) = typing.get_args(tp)
        return {"const": only}
    if origin is list:
        (item,) = typing.get_args(tp)
        return {"type": "array", "items": _schema(item, defs)} if item is not Any else {"type": "array"}
    if origin is dict:
        _key, item = typing.get_args(tp)
        return ({"type": "object", "additionalProperties": _schema(item, defs)} if item is not Any
                else {"type": "object"})
    if tp is type(None):
        return {"type": "null"}
    if dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder: recursion guard
            props = {n: _schema(ftp, defs) for n, ftp, _ in _fields(tp)}
            doc = " ".join((tp.__doc__ or "").split())
            defs[name] = {"type": "object", **({"description": doc} if doc else {}), "properties": props,
                          "required": [n for n, _, req in _fields(tp) if req], "additionalProperties": False}
        return {"$ref": f"#/$defs/{name}"}
    return {"type": {bool: "boolean", int: "integer", float: "number", str: "string"}[tp]}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a run record, generated from :class:`RunRecord`."""
    defs: dict[str, Any] = {}
    _schema(RunRecord, defs)
    root = defs.pop("RunRecord")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "Eval run record (run.json, evals/baselines/*.json)", **root,
            "$defs": dict(sorted(defs.items()))}


def schema_text() -> str:
    """The committed file's exact text."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m evals.run_record [--write|--check]``: write or check the committed schema."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--write"]:
        SCHEMA_FILE.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
        print(f"written: {SCHEMA_FILE}")
        return 0
    if args in ([], ["--check"]):
        current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.is_file() else ""
        if current != schema_text():
            print(f"{SCHEMA_FILE} is out of date: run `python -m evals.run_record --write`")
            return 1
        print(f"{SCHEMA_FILE} is up to date")
        return 0
    print("usage: python -m evals.run_record [--write|--check]")
    return 2


def as_mapping(record: RunRecord | Mapping[str, Any]) -> Mapping[str, Any]:
    """A typed record back to its JSON form (dataclasses to dicts)."""
    return dataclasses.asdict(record) if dataclasses.is_dataclass(record) else record  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
