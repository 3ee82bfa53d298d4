"""Human review of a run: export the cases that changed or failed, import the verdicts.

``python -m evals review-export RUN.json --out review.jsonl`` writes one JSON line per case
of the run that failed or changed against the baseline (``--against BASE.json`` or the
committed baselines)::

    {"set": "intent", "id": "intent-0042", "run_id": "…", "status": "regressed",
     "fields": ["intent"], "input": …, "expected": {…}, "got": {…},
     "label": "", "comment": ""}

Inputs are the record's safe form (secrets redacted). Blind-split cases are never exported
(golden_sets/GUIDE.md §1: nobody looks at them case by case); the command says how many
were left out.

A reviewer fills ``label`` for the cases they judged, by the guide:

- ``"expected"``: the golden label is right (the system is wrong);
- ``"got"``: the system's output is right for the listed ``fields``;
- an object ``{"field": value}``: the right label of some fields (e.g. ``{"intent": "billing_cost"}``);

and says why in ``comment`` (required with a label). ``python -m evals review-import
review.jsonl --reviewer NAME`` validates every line first (errors name the file and line and
nothing is written), then appends one adjudication per judged field to
``golden_sets/adjudications.jsonl`` with its provenance (reviewer, date, run id,
``"source": "review"``): through a temporary file and an atomic rename, never rewriting or
half-writing what is there. Lines left with an empty ``label`` are skipped.

Adjudications record decisions; they do not edit the golden sets. Changing a golden label
to the decision is a separate, deliberate edit that follows the guide (never to match code).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from evals import baseline as baseline_mod
from evals.agreement import ADJUDICATIONS_FILE
from evals.datasets import GOLDEN_DIR, iter_cases
from evals.exits import EXIT_BAD_INPUT, EXIT_OK, parse_args
from evals.record import REPO_ROOT, RecordError, load_record
from evals.runner import BLIND_SPLIT

EXPORT_STATUSES = ("regressed", "fixed", "changed", "new")
_REQUIRED = ("set", "id", "run_id", "fields", "expected", "label", "comment")


class ReviewError(ValueError):
    """A review file line is malformed; the message names the file and the line."""


def _golden_set(suite: Mapping[str, Any]) -> str | None:
    """The golden set a suite's cases come from (``golden_sets/<set>.jsonl``), if any."""
    path = (suite.get("dataset") or {}).get("path")
    if not path or not str(path).endswith(".jsonl"):
        return None
    return Path(path).stem


def differing_fields(expected: Any, got: Any) -> list[str]:
    """The expected fields the output disagrees with (all of them when that cannot be told)."""
    if not isinstance(expected, Mapping):
        return []
    if isinstance(got, Mapping):
        differ = [k for k, v in expected.items() if k in got and got[k] != v]
        if differ:
            return differ
    return list(expected)


def export_rows(record: Mapping[str, Any], comparisons: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The review lines of a run, and how many blind cases were left out."""
    rows: list[dict[str, Any]] = []
    blind_left_out = 0
    for name, suite in record["suites"].items():
        set_name = _golden_set(suite)
        if set_name is None:
            continue  # generated cases (robustness) have no golden label to adjudicate
        comp = comparisons.get(name)
        status = {c.id: c.status for c in (comp.changes if comp else ()) if c.status in EXPORT_STATUSES}
        for case in suite["cases"]:
            why = status.get(case["id"]) or ("failing" if not case["passed"] else None)
            if why is None:
                continue
            if case.get("split") == BLIND_SPLIT:
                blind_left_out += 1
                continue
            rows.append({"set": set_name, "id": case["id"], "run_id": record["run_id"], "status": why,
                         "split": case.get("split"), "fields": differing_fields(case["expected"], case["output"]),
                         "input": case["input"], "expected": case["expected"], "got": case["output"],
                         "label": "", "comment": ""})
    return rows, blind_left_out


def _write_atomic_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _golden_index(set_name: str, golden_dir: Path) -> dict[str, tuple[str, Any]]:
    """``{id: (split, expected)}`` of a golden set (to check that a reviewed case exists)."""
    return {c.id: (c.split, c.expected) for c in iter_cases(golden_dir / f"{set_name}.jsonl")}


def parse_review(path: Path, golden_dir: Path = GOLDEN_DIR) -> tuple[list[dict[str, Any]], int]:
    """Validate a review file; returns the judged lines and how many were left unlabelled.

    Raises:
        ReviewError: At the first bad line, naming the file, the line and the field.
    """
    judged: list[dict[str, Any]] = []
    skipped = 0
    seen: set[tuple[str, str]] = set()
    indexes: dict[str, dict[str, tuple[str, Any]]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReviewError(f"{path}: cannot read ({exc.strerror})") from exc
    for number, raw in enumerate(lines, start=1):
        where = f"{path}:{number}"
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ReviewError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from exc
        if not isinstance(row, dict):
            raise ReviewError(f"{where}: expected a JSON object")
        missing = [k for k in _REQUIRED if k not in row]
        if missing:
            raise ReviewError(f"{where}: field '{missing[0]}' missing (export the file with "
                              "`python -m evals review-export` and fill only 'label' and 'comment')")
        label, comment = row["label"], row["comment"]
        if label in ("", None):
            skipped += 1
            continue
        if not isinstance(comment, str) or not comment.strip():
            raise ReviewError(f"{where}: field 'comment': say why (the guide section) for label {label!r}")
        set_name, case_id = row["set"], row["id"]
        if not isinstance(set_name, str) or not (golden_dir / f"{set_name}.jsonl").is_file():
            raise ReviewError(f"{where}: field 'set': no golden set {set_name!r} in {golden_dir}")
        if set_name not in indexes:
            indexes[set_name] = _golden_index(set_name, golden_dir)
        if case_id not in indexes[set_name]:
            raise ReviewError(f"{where}: field 'id': no case {case_id!r} in golden set {set_name!r}")
        split, expected = indexes[set_name][case_id]
        if split == BLIND_SPLIT:
            raise ReviewError(f"{where}: field 'id': {case_id!r} is a blind-split case; blind cases are not "
                              "reviewed case by case (golden_sets/GUIDE.md §1)")
        if (set_name, case_id) in seen:
            raise ReviewError(f"{where}: field 'id': case {case_id!r} of {set_name!r} appears twice in the file")
        seen.add((set_name, case_id))
        fields = row["fields"]
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ReviewError(f"{where}: field 'fields': must be a list of expected field names")
        got = row.get("got")
        if label == "expected":
            decisions = {f: expected.get(f) for f in fields}
        elif label == "got":
            if not isinstance(got, Mapping) or any(f not in got for f in fields):
                raise ReviewError(f"{where}: field 'label': 'got' needs an output with every listed field "
                                  f"({', '.join(fields)}); give the right labels as an object instead")
            decisions = {f: got[f] for f in fields}
        elif isinstance(label, dict) and label:
            unknown = [f for f in label if not isinstance(expected, Mapping) or f not in expected]
            if unknown:
                raise ReviewError(f"{where}: field 'label.{unknown[0]}': not a field of the case's expected "
                                  f"label ({', '.join(expected) if isinstance(expected, Mapping) else 'none'})")
            decisions = dict(label)
        else:
            raise ReviewError(f"{where}: field 'label': must be \"expected\", \"got\", an object of corrected "
                              f"fields, or empty to skip; got {label!r}")
        judged.append({"line": number, "set": set_name, "id": case_id, "run_id": row["run_id"],
                       "expected": expected, "got": got, "decisions": decisions, "comment": comment.strip()})
    return judged, skipped


def adjudications(judged: Sequence[Mapping[str, Any]], *, reviewer: str, date: str) -> list[dict[str, Any]]:
    """One adjudication per judged field, in the format of ``golden_sets/adjudications.jsonl``."""
    out = []
    for row in judged:
        expected, got = row["expected"], row["got"]
        for field, decision in row["decisions"].items():
            out.append({
                "set": row["set"], "id": row["id"], "field": field,
                "label_a": expected.get(field) if isinstance(expected, Mapping) else expected,
                "label_b": got.get(field) if isinstance(got, Mapping) else got,
                "decision": decision, "reason": row["comment"], "authored": expected,
                "adjudicator": reviewer, "source": "review", "date": date, "run_id": row["run_id"],
            })
    return out


def append_atomic(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Append JSON lines to ``path`` by writing old + new to a temporary file and renaming it."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    new = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    _write_atomic_text(old + new, path)


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def export_main(argv: Sequence[str] | None, *, out: TextIO, err: TextIO) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals review-export",
                                     description="Write the failed or changed cases of a run for human review.")
    parser.add_argument("run", type=Path, metavar="RUN.json")
    parser.add_argument("--out", type=Path, required=True, help="the review file to write (JSON lines)")
    parser.add_argument("--against", type=Path, metavar="BASE.json", help="what 'changed' is measured against "
                                                                         "(default: the committed baselines)")
    parser.add_argument("--baseline-dir", type=Path, default=baseline_mod.BASELINE_DIR)
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    from evals.report_cmd import comparisons_for

    try:
        record = load_record(args.run)
        against = load_record(args.against) if args.against else None
        comparisons, _ = comparisons_for(record, against, args.baseline_dir, 0.05)
    except RecordError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    rows, blind = export_rows(record, comparisons)
    _write_atomic_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), args.out)
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    print(f"{len(rows):,} case(s) to review written to {_rel(args.out)} ("
          + ", ".join(f"{n:,} {s}" for s, n in sorted(by_status.items())) + ")"
          + (f"; {blind:,} blind-split case(s) left out (never reviewed case by case)" if blind else ""), file=out)
    print("fill 'label' (\"expected\", \"got\" or {\"field\": value}) and 'comment' by golden_sets/GUIDE.md, then "
          f"python -m evals review-import {_rel(args.out)} --reviewer NAME", file=out)
    return EXIT_OK


def import_main(argv: Sequence[str] | None, *, out: TextIO, err: TextIO) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals review-import",
                                     description="Append the judged cases of a review file as adjudications.")
    parser.add_argument("review", type=Path, metavar="review.jsonl")
    parser.add_argument("--reviewer", required=True, help="who judged the cases (recorded with each adjudication)")
    parser.add_argument("--adjudications", type=Path, default=ADJUDICATIONS_FILE,
                        help="the file appended to (default golden_sets/adjudications.jsonl)")
    parser.add_argument("--golden-dir", type=Path, default=GOLDEN_DIR)
    parser.add_argument("--date", default=None, help="the review date (default: today, UTC)")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if not args.reviewer.strip():
        print("error: --reviewer must name who judged the cases", file=err)
        return EXIT_BAD_INPUT
    try:
        judged, skipped = parse_review(args.review, args.golden_dir)
    except ReviewError as exc:
        print(f"error: {exc}; nothing was written", file=err)
        return EXIT_BAD_INPUT
    date = args.date or datetime.now(UTC).date().isoformat()
    rows = adjudications(judged, reviewer=args.reviewer.strip(), date=date)
    if rows:
        append_atomic(rows, args.adjudications)
    print(f"{len(rows):,} adjudication(s) from {len(judged):,} judged case(s) appended to {_rel(args.adjudications)}"
          f" (reviewer {args.reviewer.strip()}, {date}); {skipped:,} line(s) without a label skipped", file=out)
    return EXIT_OK
