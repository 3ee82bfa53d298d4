"""The developer loop: run some cases of some suites (``--case``, ``--tag``, ``--split``,
``--limit``, ``--rerun-failed``).

A selection makes a run *partial*: its record carries a ``selection`` block, per-case
gates (zero tolerance, must-not-regress, max regressions) are decided on the cases that
ran, gates that need a whole suite (floors, metric comparisons, targets) are reported as
skipped, and the record can never become a baseline.

Blind-split cases are never selected: the developer loop is where people tune, and
``golden_sets/GUIDE.md`` keeps the blind split out of tuning. They are measured by whole
runs only (``python -m evals``), where the report shows seen vs blind.

Example:
    >>> from evals.datasets import GoldenCase
    >>> cases = [GoldenCase(f"c{i}", "x", {}, ("secret",) if i % 2 else (), "dev", "t") for i in range(6)]
    >>> [c.id for c in select_cases(cases, Selection(tags=("secret",), limit=2))]
    ['c1', 'c3']
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.runner import BLIND_SPLIT


class SelectionError(ValueError):
    """The selection cannot be made (unknown case id, blind split, nothing to rerun…)."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What to run. Empty means everything (a whole run)."""

    cases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    limit: int | None = None
    rerun_failed: str | None = None  # the run.json whose failed cases are rerun
    rerun_ids: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.cases or self.tags or self.splits or self.limit is not None or self.rerun_failed)

    def to_dict(self, selected: Mapping[str, int], available: Mapping[str, int]) -> dict[str, Any]:
        return {"cases": list(self.cases), "tags": list(self.tags), "splits": list(self.splits), "limit": self.limit,
                "rerun_failed": self.rerun_failed, "selected": dict(selected), "available": dict(available)}


def check(selection: Selection) -> None:
    """Refuse what the developer loop must not do, before anything is loaded."""
    if BLIND_SPLIT in selection.splits:
        raise SelectionError(f"--split {BLIND_SPLIT}: the blind split is never run on its own (it is not for "
                             "tuning; golden_sets/GUIDE.md §1); a whole run (no --case/--tag/--split/--limit) "
                             "measures it beside the seen splits")
    if selection.limit is not None and selection.limit < 1:
        raise SelectionError("--limit must be 1 or more")


def failed_case_ids(record: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Per suite, the cases of a run record that failed or regressed (``--rerun-failed``).

    A regressed case fails now, so failing cases cover regressions; the cases a gate
    named (zero tolerance, must-not-regress) are added in case a flag fired on a passing case.
    """
    ids: dict[str, set[str]] = {}
    for name, suite in record["suites"].items():
        found = {c["id"] for c in suite["cases"] if not c["passed"] or c.get("error")}
        ids[name] = found
    for gate in (record.get("verdict") or {}).get("gates", []):
        if not gate.get("passed") and not gate.get("skipped") and gate.get("suite") in ids:
            ids[gate["suite"]].update(gate.get("cases") or ())
    return {k: frozenset(v) for k, v in ids.items() if v}


def select_cases(cases: Sequence[Any], selection: Selection, suite: str = "") -> list[Any]:
    """The cases of one suite that the selection keeps, in dataset order."""
    if not selection.active:
        return list(cases)
    kept = []
    wanted = set(selection.cases)
    rerun = selection.rerun_ids.get(suite, frozenset()) if selection.rerun_failed else None
    for case in cases:
        if case.split == BLIND_SPLIT:
            continue
        if wanted and case.id not in wanted:
            continue
        if rerun is not None and case.id not in rerun:
            continue
        if selection.splits and case.split not in selection.splits:
            continue
        if selection.tags and not any(fnmatch.fnmatchcase(t, p) for t in case.tags for p in selection.tags):
            continue
        kept.append(case)
        if selection.limit is not None and len(kept) >= selection.limit:
            break
    return kept


def unknown_case_ids(selection: Selection, loaded: Mapping[str, Iterable[Any]]) -> list[str]:
    """``--case`` ids that no loaded suite has."""
    known = {c.id for cases in loaded.values() for c in cases}
    return [cid for cid in selection.cases if cid not in known]


def blind_case_ids(selection: Selection, loaded: Mapping[str, Iterable[Any]]) -> list[str]:
    """``--case`` ids of blind-split cases (refused: see the module docstring)."""
    wanted = set(selection.cases)
    return [c.id for cases in loaded.values() for c in cases if c.id in wanted and c.split == BLIND_SPLIT]


def restrict_baseline(base_suite: Mapping[str, Any] | None, ids: set[str]) -> dict[str, Any] | None:
    """The baseline of a partial run: only the selected cases, no suite-level metrics
    (a metric of the whole suite says nothing about a selection)."""
    if base_suite is None:
        return None
    return {**base_suite, "cases": [c for c in base_suite["cases"] if c["id"] in ids], "metrics": {}}


def rerun_source(report_dir: Path) -> Path:
    """The run ``--rerun-failed`` reads: ``<report-dir>/latest/run.json``."""
    return Path(report_dir) / "latest" / "run.json"
