"""Golden sets: one case per JSONL line, validated on load.

Every case has ``id``, ``input``, ``expected``, ``tags``, ``split`` and ``source``
(DESIGN.md §4). A malformed line raises :class:`GoldenSetError` naming the file and the
line, and saying how to fix it; nothing is silently skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden_sets"
#: ``blind`` (v2) is written after golden_sets/GUIDE.md by authors who never saw the code,
#: frozen, and never used to fit rules, thresholds or the classifier.
SPLITS = ("train", "dev", "test", "blind")
REQUIRED_FIELDS = ("id", "input", "expected", "tags", "split", "source")


class GoldenSetError(ValueError):
    """A golden-set file or line is malformed. The message names file, line and fix."""

    def __init__(self, path: Path | str, line: int | None, problem: str, fix: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}. {fix}")
        self.path = str(path)
        self.line = line
        self.problem = problem


@dataclass(frozen=True, slots=True)
class GoldenCase:
    id: str
    input: Any
    expected: Any
    tags: tuple[str, ...]
    split: str
    source: str
    line: int = 0  # 1-based line in the file, for error messages and reports


def parse_case(raw: str, path: Path | str, line: int) -> GoldenCase:
    """Parse and validate one JSONL line."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise GoldenSetError(path, line, f"not valid JSON ({exc.msg} at column {exc.colno})",
                             "Write one JSON object per line.") from exc
    if not isinstance(data, dict):
        raise GoldenSetError(path, line, f"expected a JSON object, got {type(data).__name__}",
                             "Write one JSON object per line.")
    return case_from_dict(data, path, line)


def case_from_dict(data: dict[str, Any], path: Path | str, line: int) -> GoldenCase:
    """Validate the envelope of one case (a parsed JSONL object) and build it."""
    missing = [f for f in REQUIRED_FIELDS if f not in data]
    if missing:
        raise GoldenSetError(path, line, f"missing field(s) {', '.join(missing)}",
                             f"Every case needs {', '.join(REQUIRED_FIELDS)}.")
    if not isinstance(data["id"], str) or not data["id"]:
        raise GoldenSetError(path, line, "field 'id' must be a non-empty string", "Give the case a unique id.")
    if data["split"] not in SPLITS:
        raise GoldenSetError(path, line, f"field 'split' is {data['split']!r}",
                             f"Use one of {', '.join(SPLITS)}.")
    if not isinstance(data["tags"], list) or not all(isinstance(t, str) for t in data["tags"]):
        raise GoldenSetError(path, line, "field 'tags' must be a list of strings", 'Use e.g. "tags": ["hard_negative"].')
    if not isinstance(data["source"], str) or not data["source"]:
        raise GoldenSetError(path, line, "field 'source' must be a non-empty string",
                             "Name who wrote the case, or the public data set and its licence.")
    return GoldenCase(
        id=data["id"], input=data["input"], expected=data["expected"], tags=tuple(data["tags"]),
        split=data["split"], source=data["source"], line=line,
    )


def iter_cases(path: Path | str) -> Iterator[GoldenCase]:
    """Yield validated cases from a JSONL file; blank lines are allowed, duplicates are not."""
    path = Path(path)
    if not path.is_file():
        raise GoldenSetError(path, None, "file not found", "Check the suite name and the golden_sets/ directory.")
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            case = parse_case(raw, path, number)
            if case.id in seen:
                raise GoldenSetError(path, number, f"duplicate id {case.id!r} (first on line {seen[case.id]})",
                                     "Give every case a unique id.")
            seen[case.id] = number
            yield case


def load_cases(path: Path | str, *, splits: tuple[str, ...] | None = None) -> list[GoldenCase]:
    """All cases of a file, optionally only those of the given splits."""
    cases = list(iter_cases(path))
    return [c for c in cases if splits is None or c.split in splits]


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
