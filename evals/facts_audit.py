"""Precision and recall of each fact rule (``catalogue/facts.toml``) on seen text only.

``python -m evals.facts_audit [--since REF] [--show N]`` runs every ``accuracy.fact.*`` rule
the way the accuracy check does (``facts.check_facts``: the prose of a parsed answer, the
rule's ``requires`` words, then its claims) over:

- the seen quality cases (splits train/dev/test; the blind split is never read): per rule,
  how many answers without an ``accuracy`` defect it flags (each one is a false flag; most
  are labelled ``passed=true``) and how many answers with an ``accuracy`` defect it flags;
- text that must not be flagged unless it really states a wrong fact: every knowledge
  article the offline model answers from (``pipeline/knowledge/``), the answers stored in
  the conversations baseline and the seen ``guardrails_output`` texts;
- with ``--api-docs``, the documentation strings of every AWS API in botocore's service
  models (about 300,000 texts written by AWS, ~40 s): a rule that flags one of them is
  most likely too loose.

``--since REF`` marks the rules that are not in ``facts.toml`` at git ref ``REF`` (new rules).
The report is printed; nothing is written.
"""

from __future__ import annotations

import argparse
import html
import itertools
import json
import re
import subprocess
import tomllib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from evals.datasets import GOLDEN_DIR
from pipeline.domain.quality.facts import FACTS, violations
from pipeline.domain.quality.parsing import parse_response
from pipeline.domain.quality.quantities import (
    prose_for_quantities,
    quantity_table,
    wrong_quantities,
)

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = ROOT / "pipeline" / "knowledge"
CONVERSATIONS_BASELINE = ROOT / "evals" / "baselines" / "conversations.json"
FACTS_FILE = "pipeline/domain/quality/catalogue/facts.toml"
QUANTITIES_FILE = "pipeline/domain/quality/catalogue/quantities.toml"
SEEN = ("train", "dev", "test")


def _seen(name: str) -> Iterator[dict]:
    with (GOLDEN_DIR / f"{name}.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            case = json.loads(line)
            if case["split"] in SEEN:  # the blind split is never read
                yield case


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def other_texts() -> Iterator[tuple[str, str]]:
    """(where, text) for every text no fact rule may flag unless it states a wrong fact."""
    for path in sorted(KNOWLEDGE_DIR.glob("*.json")):
        yield f"knowledge/{path.name}", "\n".join(_strings(json.loads(path.read_text(encoding="utf-8"))))
    baseline = json.loads(CONVERSATIONS_BASELINE.read_text(encoding="utf-8"))
    for case in baseline["suites"]["conversations"]["cases"]:
        if case.get("split") not in SEEN:
            continue
        for number, turn in enumerate((case.get("output") or {}).get("turns", []), start=1):
            yield f"conversations/{case['id']}#{number}", turn.get("response") or ""
    for case in _seen("guardrails_output"):
        yield f"guardrails_output/{case['id']}", "\n".join(_strings(case["input"]))


_TAG = re.compile(r"<[^>]+>")


def api_doc_texts() -> Iterator[tuple[str, str]]:
    """(service, text) for every documentation string in botocore's service models."""
    import botocore.session  # only this option needs it

    session = botocore.session.get_session()
    loader = session.get_component("data_loader")

    def walk(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "documentation" and isinstance(value, str):
                    text = value.replace("</p>", "\n").replace("<li>", "\n")
                    yield re.sub(r"[ \t]+", " ", html.unescape(_TAG.sub(" ", text)))
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    for service in session.get_available_services():
        for text in walk(loader.load_service_model(service, "service-2")):
            yield f"api-docs/{service}", text


def flagged(text: str) -> dict[str, str]:
    """Rule id -> the first claim it flags in ``text`` (as ``check_facts`` reads it)."""
    prose = parse_response(text).prose_text
    lowered = prose.lower()
    found = {}
    for rule in FACTS:
        if rule.requires and not any(word in lowered for word in rule.requires):
            continue
        wrong = violations(rule, prose)
        if wrong:
            found[rule.id] = wrong[0].group(0).strip()[:90]
    for _, entry, claim in wrong_quantities(prose_for_quantities(parse_response(text).prose)):
        found.setdefault(f"quantity.{entry.id}", claim.text)
    return found


def _all_ids() -> list[str]:
    """Every fact rule id and every quantity (``quantity.<id>``) the audit reports on."""
    return [r.id for r in FACTS] + [f"quantity.{q.id}" for q in quantity_table().quantities]


def _rule_ids_at(ref: str) -> set[str]:
    raw = subprocess.run(["git", "show", f"{ref}:{FACTS_FILE}"], cwd=ROOT, capture_output=True, text=True, check=True)
    ids = {rule["id"] for rule in tomllib.loads(raw.stdout)["rules"]}
    quantities = subprocess.run(["git", "show", f"{ref}:{QUANTITIES_FILE}"], cwd=ROOT, capture_output=True, text=True)
    if quantities.returncode == 0:
        ids |= {f"quantity.{q['id']}" for q in tomllib.loads(quantities.stdout).get("quantity", [])}
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", help="git ref: mark rules added since it")
    parser.add_argument("--show", type=int, default=3, help="examples to print per rule and kind")
    parser.add_argument("--api-docs", action="store_true", help="also scan botocore's API documentation")
    args = parser.parse_args(argv)
    old = _rule_ids_at(args.since) if args.since else None
    false_flags: dict[str, list[str]] = defaultdict(list)
    hits: dict[str, list[str]] = defaultdict(list)
    other: dict[str, list[str]] = defaultdict(list)
    labelled_accuracy = 0
    caught_by = {"all": set(), "new": set()}
    for case in _seen("quality"):
        expected = case["expected"]
        has_accuracy = "accuracy" in expected["defects"]
        labelled_accuracy += has_accuracy
        for rule_id, claim in flagged(case["input"]["response"]).items():
            note = f"{case['id']} ({case['split']}): {claim}"
            if expected["passed"]:
                false_flags[rule_id].append(note)
            elif has_accuracy:
                hits[rule_id].append(note)
                caught_by["all"].add(case["id"])
                if old is not None and rule_id not in old:
                    caught_by["new"].add(case["id"])
            else:  # failed for another reason: a flag here is a false accuracy defect
                false_flags[rule_id].append(note + " [labelled failed, not accuracy]")
    texts = other_texts()
    if args.api_docs:
        texts = itertools.chain(texts, api_doc_texts())
    for where, text in texts:
        for rule_id, claim in flagged(text).items():
            other[rule_id].append(f"{where}: {claim}")
    all_ids = _all_ids()
    new_ids = [rule_id for rule_id in all_ids if old is not None and rule_id not in old]
    print(f"{len(all_ids)} fact rules and quantities" + (f", {len(new_ids)} new since {args.since}" if old is not None else ""))
    print(f"seen quality cases with an accuracy defect: {labelled_accuracy}; flagged by any fact rule: "
          f"{len(caught_by['all'])}" + (f", by a new rule: {len(caught_by['new'])}" if old is not None else ""))
    print(f"{'rule':55} {'new':>3} {'no-accuracy flagged':>19} {'accuracy flagged':>16} {'other texts':>11}")
    for rule_id in all_ids:
        row = (len(false_flags[rule_id]), len(hits[rule_id]), len(other[rule_id]))
        is_new = old is not None and rule_id not in old
        if any(row) or is_new:
            print(f"{rule_id:55} {'*' if is_new else '':>3} {row[0]:>19} {row[1]:>16} {row[2]:>11}")
    for title, table in (("FALSE FLAGS (no accuracy defect)", false_flags), ("OTHER TEXTS", other), ("ACCURACY HITS", hits)):
        shown = [(k, v) for k, v in sorted(table.items()) if v]
        if shown:
            print(f"\n{title}")
        for rule_id, notes in shown:
            for note in notes[: args.show]:
                print(f"  {rule_id}: {note}")
    print(f"\nnew rules flagging answers without an accuracy defect: {sum(1 for r in new_ids if false_flags[r])}; "
          f"flagging other texts: {sum(1 for r in new_ids if other[r])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
