"""Import blind-written cases into a golden set, assigning their split by hash.

Usage::

    python -m evals.golden_import intent /path/to/cases.jsonl            # dry run: counts only
    python -m evals.golden_import intent /path/to/cases.jsonl --write    # append to golden_sets/intent.jsonl

Cases come from authors who saw only ``golden_sets/GUIDE.md``. Each line needs ``id``,
``input``, ``expected``, ``tags`` and ``source`` (``split`` is assigned here, never by
hand): a SHA-256 of the id picks the split, so nobody chooses which cases are blind.

* Sets whose cases fit a model (``intent``): 35% ``train``, 15% ``dev``, 50% ``blind``.
* Every other set: 50% ``dev``, 50% ``blind``.
* ``--training-batch``: a batch commissioned *as training data* (written blind, for fitting
  a model) goes to ``train`` whole. It never enters the blind split, and the blind split of
  the earlier batches is unchanged.

Every case is validated with the suite's own schema; a malformed line names file and line
and nothing is written. Cases whose input already exists in the set (exactly, after
whitespace folding) are skipped and counted. The file is rewritten atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.datasets import GOLDEN_DIR, GoldenSetError, case_from_dict, iter_cases

#: Split shares per kind of set, in order; the hash of the id falls into one bucket.
TRAINABLE_SHARES = (("train", 0.35), ("dev", 0.15), ("blind", 0.50))
EVAL_ONLY_SHARES = (("dev", 0.50), ("blind", 0.50))
TRAINABLE_SETS = frozenset({"intent"})


def assign_split(case_id: str, shares: Sequence[tuple[str, float]]) -> str:
    """The split of a case, from the SHA-256 of its id (stable, nobody's choice)."""
    point = int(hashlib.sha256(case_id.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    total = 0.0
    for split, share in shares:
        total += share
        if point <= total:
            return split
    return shares[-1][0]


def jsonl_line(row: dict[str, Any]) -> str:
    """One JSONL line, readable UTF-8, with the characters ``str.splitlines`` treats as line
    breaks (U+2028, U+2029, U+0085) escaped, so every tool sees one case per line."""
    text = json.dumps(row, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085") + "\n"


def _fold(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return " ".join(text.split()).lower()


TRAINING_BATCH_SHARES = (("train", 1.0),)


def load_incoming(path: Path, set_name: str, *, training_batch: bool = False) -> list[dict[str, Any]]:
    """Read and validate incoming cases; raises GoldenSetError naming file and line."""
    from evals.suites import get_suite

    suite = get_suite(set_name)
    if training_batch:
        shares = TRAINING_BATCH_SHARES
    else:
        shares = TRAINABLE_SHARES if set_name in TRAINABLE_SETS else EVAL_ONLY_SHARES
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise GoldenSetError(path, number, f"not valid JSON ({exc.msg})", "Write one JSON object per line.") from exc
            if not isinstance(data, dict) or not isinstance(data.get("id"), str):
                raise GoldenSetError(path, number, "expected a JSON object with a string 'id'",
                                     "Incoming cases need id, input, expected, tags and source.")
            data["split"] = assign_split(data["id"], shares)
            case = case_from_dict(data, path, number)  # the golden sets' own envelope checks
            problem = suite.validate(case) if suite.validate is not None else None
            if problem:
                raise GoldenSetError(path, number, f"case {data['id']!r}: {problem}",
                                     f"Fix the case to match the {set_name} suite's schema.")
            rows.append({k: data[k] for k in ("id", "input", "expected", "tags", "split", "source")})
    return rows


def merge(set_name: str, incoming: list[dict[str, Any]], *, golden_dir: Path = GOLDEN_DIR,
          write: bool = False) -> dict[str, Any]:
    """Append the new cases to ``golden_dir/<set>.jsonl``; returns counts."""
    target = golden_dir / f"{set_name}.jsonl"
    existing = list(iter_cases(target))
    ids = {c.id for c in existing}
    inputs = {_fold(c.input) for c in existing}
    added, dup_ids, dup_inputs = [], [], 0
    for row in incoming:
        if row["id"] in ids:
            dup_ids.append(row["id"])
            continue
        key = _fold(row["input"])
        if key in inputs:
            dup_inputs += 1
            continue
        ids.add(row["id"])
        inputs.add(key)
        added.append(row)
    if dup_ids:
        raise GoldenSetError(target, None, f"{len(dup_ids)} incoming id(s) already exist, e.g. {dup_ids[0]!r}",
                             "Prefix the incoming ids with the author's name.")
    if write and added:
        text = target.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(jsonl_line(r) for r in added)
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    return {"added": len(added), "duplicate_inputs_skipped": dup_inputs,
            "splits": dict(Counter(r["split"] for r in added)), "written": bool(write and added)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.golden_import", description=__doc__.split("\n\n")[0])
    parser.add_argument("set", help="golden set name, e.g. intent, guardrails_input, quality")
    parser.add_argument("incoming", type=Path, help="JSONL written by a blind author")
    parser.add_argument("--write", action="store_true", help="append to the golden set (default: dry run)")
    parser.add_argument("--training-batch", action="store_true",
                        help="the batch was commissioned as training data: every case goes to 'train'")
    args = parser.parse_args(argv)
    try:
        rows = load_incoming(args.incoming, args.set, training_batch=args.training_batch)
        counts = merge(args.set, rows, write=args.write)
    except (GoldenSetError, KeyError) as exc:
        print(f"golden_import: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
