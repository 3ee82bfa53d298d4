"""Blind relabelling agreement: Cohen's kappa per golden set and field.

A second labeller relabels cases from ``golden_sets/GUIDE.md`` alone, without seeing the
labels (``golden_sets/relabels/<set>.jsonl``: ``{"id", "expected"}`` per line). This module
compares the two, per field, and writes ``golden_sets/agreement.json``, which the eval
report shows. Each disagreement is adjudicated by the guide and recorded in
``golden_sets/adjudications.jsonl`` (``{"set", "id", "field", "label_a", "label_b",
"decision", "reason"}``); the committed golden label is the decision.

Usage::

    python -m evals.agreement             # recompute agreement.json from the relabel files
    python -m evals.agreement --pending   # list disagreements not adjudicated yet (JSONL)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from evals.datasets import GOLDEN_DIR, GoldenSetError, iter_cases
from evals.metrics import cohen_kappa

RELABEL_DIR = GOLDEN_DIR / "relabels"
AGREEMENT_FILE = GOLDEN_DIR / "agreement.json"
ADJUDICATIONS_FILE = GOLDEN_DIR / "adjudications.jsonl"


def _categories(exp: dict[str, Any]) -> str:
    return ",".join(sorted(exp.get("categories") or ())) or "-"


#: Per set, the fields compared: name -> function of the ``expected`` dict.
FIELDS: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
    "intent": {
        "intent": lambda e: e.get("intent"),
        "needs_clarification": lambda e: bool(e.get("needs_clarification")),
        "escalate": lambda e: bool(e.get("escalate")),
    },
    "guardrails_input": {"action": lambda e: e.get("action"), "categories": _categories},
    "guardrails_output": {"action": lambda e: e.get("action"), "categories": _categories},
    "quality": {
        "passed": lambda e: bool(e.get("passed")),
        "defects": lambda e: ",".join(sorted(e.get("defects") or ())) or "-",
    },
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                try:
                    rows.append(json.loads(raw))
                except json.JSONDecodeError as exc:
                    raise GoldenSetError(path, number, f"not valid JSON ({exc.msg})", "One JSON object per line.") from exc
    return rows


def compare(set_name: str, golden: dict[str, dict[str, Any]], relabels: Iterable[dict[str, Any]],
            adjudicated: set[tuple[str, str]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Kappa and raw agreement per field; the disagreements.

    ``golden`` maps id -> (first) label as authored; relabels of unknown ids are ignored.
    """
    fields = FIELDS[set_name]
    pairs = [(r["id"], golden[r["id"]], r["expected"]) for r in relabels if r["id"] in golden]
    result: dict[str, Any] = {}
    disagreements = []
    for field, get in fields.items():
        a = [get(g) for _, g, _ in pairs]
        b = [get(x) for _, _, x in pairs]
        n = len(pairs)
        agree = sum(x == y for x, y in zip(a, b, strict=True))
        diffs = [(cid, x, y) for (cid, _, _), x, y in zip(pairs, a, b, strict=True) if x != y]
        result[field] = {
            "kappa": round(cohen_kappa(a, b), 4) if n else None,
            "agreement": round(agree / n, 4) if n else None,
            "n": n,
            "disagreements": len(diffs),
            "adjudicated": sum(1 for cid, _, _ in diffs if (cid, field) in adjudicated),
        }
        disagreements.extend({"set": set_name, "id": cid, "field": field, "label_a": x, "label_b": y}
                             for cid, x, y in diffs)
    return result, disagreements


def compute(golden_dir: Path = GOLDEN_DIR) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Agreement for every set that has a relabel file; the pending disagreements."""
    relabel_dir = golden_dir / "relabels"
    adjudications = read_jsonl(golden_dir / "adjudications.jsonl") if (golden_dir / "adjudications.jsonl").is_file() else []
    adjudicated = {(a["id"], a["field"]) for a in adjudications}
    sets: dict[str, Any] = {}
    pending: list[dict[str, Any]] = []
    for set_name in FIELDS:
        path = relabel_dir / f"{set_name}.jsonl"
        if not path.is_file():
            continue
        # Agreement is measured against the label as the first author wrote it: an
        # adjudicated label that later changed would otherwise agree by construction.
        # The first record naming the authored label wins: later ones (human review imports,
        # ``python -m evals review-import``) are appended and must not shadow it.
        authored: dict[str, dict[str, Any]] = {}
        for a in adjudications:
            if a["set"] == set_name and isinstance(a.get("authored"), dict):
                authored.setdefault(a["id"], a)
        golden = {c.id: c.expected for c in iter_cases(golden_dir / f"{set_name}.jsonl")}
        first = {cid: _authored_label(set_name, cid, exp, authored) for cid, exp in golden.items()}
        result, diffs = compare(set_name, first, read_jsonl(path), adjudicated)
        sets[set_name] = result
        pending.extend(d for d in diffs if (d["id"], d["field"]) not in adjudicated)
    return {"sets": sets, "method": "Cohen's kappa between the authored label and a blind relabel "
                                    "(second labeller saw only golden_sets/GUIDE.md)"}, pending


def _authored_label(set_name: str, case_id: str, expected: dict[str, Any],
                    adjudications: dict[str, dict[str, Any]]) -> dict[str, Any]:
    record = adjudications.get(case_id)
    if record and isinstance(record.get("authored"), dict):
        return record["authored"]
    return expected


def load_agreement(path: Path = AGREEMENT_FILE) -> dict[str, Any]:
    """The committed agreement (κ per set and field) for the report, or {} when absent.

    Raises:
        GoldenSetError: The file is not valid JSON (naming it and how to fix it).
    """
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise GoldenSetError(path, None, f"not valid JSON ({exc.msg})",
                             "Regenerate it with `python -m evals.agreement`.") from exc


def write_atomic(data: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", action="store_true", help="print disagreements not adjudicated yet")
    args = parser.parse_args(argv)
    try:
        agreement, pending = compute()
    except GoldenSetError as exc:
        print(f"agreement: {exc}", file=sys.stderr)
        return 2
    if args.pending:
        for d in pending:
            print(json.dumps(d, ensure_ascii=False))
        return 0
    write_atomic(agreement, AGREEMENT_FILE)
    for name, fields in agreement["sets"].items():
        print(name, {f: (v["kappa"], v["n"], v["disagreements"]) for f, v in fields.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
