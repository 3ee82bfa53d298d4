"""Leave-one-batch-out cross-validation of the intent model (classifier + ``escalate`` head).

Usage::

    python -m evals.intent_cv                       # the escalate head's budget sweep
    python -m evals.intent_cv --c 8 --c 16 --no-head --json /tmp/cv.json

Why by batch: the training split is a union of batches, each written by one author (a blind
helper with the guide, a public data set): ``et``, ``et2``, ``it2``, ``it3``, ``it4``, ``ia``,
``ea``, ``aws-docs``, ``intent-v1``. Random folds put sentences of the same author on both
sides and predict the seen splits; the number that matters is how the build does on text
*nobody here wrote*, i.e. a new author. Each fold fits on every other batch (the dev split
calibrates and thresholds, exactly as :func:`evals.train_intent.train` does) and scores the
held batch. The blind split is never read (``load_cases`` with train and dev only).

For the head, one training per fold serves every budget of the sweep: the threshold is the
only thing a budget changes, so the pool it is chosen on (dev + out-of-fold train) is kept
(``on_escalate_pool``) and each budget's threshold applied to the held batch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from evals.datasets import GoldenCase, load_cases
from evals.lobo import add_batch_option, add_json_option, held_batches, split_fold, write_json
from evals.lobo import batch_of as batch_of  # re-exported: its callers import it from here
from evals.train_heads import HeadSettings, choose_threshold
from evals.train_intent import (
    CLINC_PATH,
    ESCALATE_HEAD,
    INTENT_SET,
    EscalateHeadSettings,
    TrainSettings,
    clinc_out_of_scope_sample,
    expected_calibration_error,
    macro_f1,
    train,
)
from pipeline.domain.intent import (
    IntentDetector,
    IntentModel,
    escalation_features,
    extract_features,
)
from pipeline.domain.intent.escalation import not_a_current_incident
from pipeline.domain.textfeatures import BinaryHead
from pipeline.domain.textnorm import normalize


@dataclass(frozen=True, slots=True)
class Budget:
    """One operating point of the escalate head: a false-escalation budget and what it counts."""

    max_false_rate: float
    includes_rules: bool

    @property
    def label(self) -> str:
        return f"{self.max_false_rate * 100:.1f}% {'incl. rules' if self.includes_rules else 'added only'}"


DEFAULT_BUDGETS = tuple(
    Budget(rate, rules) for rules in (False, True) for rate in (0.01, 0.015, 0.02, 0.025, 0.03)
)


@dataclass
class Tally:
    """Counts pooled over held batches."""

    positives: int = 0
    negatives: int = 0
    true_positives: int = 0
    false_positives: int = 0

    def add(self, gold: Sequence[bool], decided: Sequence[bool]) -> None:
        for g, d in zip(gold, decided, strict=True):
            self.positives += g
            self.negatives += not g
            self.true_positives += g and d
            self.false_positives += d and not g

    def as_dict(self) -> dict[str, Any]:
        return {
            "recall": round(self.true_positives / self.positives, 4) if self.positives else None,
            "false_rate": round(self.false_positives / self.negatives, 4) if self.negatives else None,
            "positives": self.positives, "negatives": self.negatives,
            "true_positives": self.true_positives, "false_positives": self.false_positives,
        }


def held_batch_scores(model: dict[str, Any], held: Sequence[GoldenCase], nlp: Any) -> dict[str, Any]:
    """Per held case: the intent and confidence the runtime gives, whether the rules escalate,
    and the head's calibrated probability where the runtime asks the head (else None).
    Escalation is counted over every held message, out_of_scope ones included; for the
    budget sweep of head settings and the held-out CLINC sample see :mod:`evals.escalation_cv`."""
    without_head = {**model, "heads": {}}
    detector = IntentDetector(IntentModel.from_dict(without_head), nlp)
    head_data = model.get("heads", {}).get("escalate")
    head = BinaryHead.from_dict("escalate", head_data) if head_data else None
    rows = []
    for case in held:
        result = detector.detect(case.input)
        text = normalize(case.input).text
        probability = None
        asks_out_of_scope = bool(head_data and head_data.get("metadata", {}).get("asks_out_of_scope"))
        if head is not None and (asks_out_of_scope or result.intent != "out_of_scope") and not result.escalate \
                and not not_a_current_incident(text):
            features = escalation_features(text, extract_features(text))
            if any(f in head.weights for f in features):
                probability = head.probability(features)
        rows.append({"intent": result.intent, "confidence": result.confidence,
                     "rule_escalates": result.escalate, "head_probability": probability})
    return {"rows": rows}


def run(cases: Sequence[GoldenCase], *, settings: TrainSettings, head: EscalateHeadSettings | HeadSettings | None,
        budgets: Sequence[Budget], extra: Sequence[str], nlp: Any,
        batches: Sequence[str] | None = None, log: Any = sys.stderr) -> dict[str, Any]:
    """Leave-one-batch-out over the training batches; pooled and per-batch numbers."""
    held_out = held_batches(cases, only=batches)
    per_batch: dict[str, Any] = {}
    tallies = {b.label: Tally() for b in budgets}
    rules_only = Tally()
    gold_all: list[str] = []
    predicted_all: list[str] = []
    confidences: list[float] = []
    for name in held_out:
        fold, held = split_fold(cases, name)
        pool: dict[str, list[Any]] = {}

        def keep(probabilities: list[float], labels: list[bool], rule_fires: list[bool],
                 _pool: dict[str, list[Any]] = pool) -> None:
            _pool.update(p=probabilities, y=labels, r=rule_fires)

        model = train(fold, settings=settings, extra_out_of_scope=extra, nlp=nlp,
                      head_settings=head, on_escalate_pool=keep if head is not None else None)
        scored = held_batch_scores(model, held, nlp)["rows"]
        gold = [c.expected["intent"] for c in held]
        predicted = [r["intent"] for r in scored]
        gold_all += gold
        predicted_all += predicted
        confidences += [r["confidence"] for r in scored]
        escalate_gold = [bool(c.expected.get("escalate")) for c in held]
        rule_fires = [r["rule_escalates"] for r in scored]
        rules_only.add(escalate_gold, rule_fires)
        entry: dict[str, Any] = {"cases": len(held), "macro_f1": round(macro_f1(gold, predicted), 4),
                                 "accuracy": round(sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(held), 4),
                                 "escalation": {}}
        if head is not None:
            for budget in budgets:
                threshold, _ = choose_threshold(pool["p"], pool["y"], pool["r"], budget.max_false_rate,
                                                budget_includes_rules=budget.includes_rules)
                decided = [r["rule_escalates"] or (r["head_probability"] is not None
                                                    and r["head_probability"] >= threshold)
                           for r in scored]
                one = Tally()
                one.add(escalate_gold, decided)
                tallies[budget.label].add(escalate_gold, decided)
                entry["escalation"][budget.label] = {**one.as_dict(), "threshold": threshold}
        per_batch[name] = entry
        print(f"  held {name}: {len(held)} cases, macro-F1 {entry['macro_f1']}", file=log, flush=True)
    correct = [g == p for g, p in zip(gold_all, predicted_all, strict=True)]
    return {
        "settings": settings.to_dict(), "head": head.to_dict() if head else None,
        "pooled": {"cases": len(gold_all), "macro_f1": round(macro_f1(gold_all, predicted_all), 4),
                   "mean_batch_macro_f1": round(sum(e["macro_f1"] for e in per_batch.values()) / max(1, len(per_batch)), 4),
                   "accuracy": round(sum(correct) / max(1, len(correct)), 4),
                   "ece": round(expected_calibration_error(confidences, correct), 4),
                   "escalation_rules_only": rules_only.as_dict(),
                   "escalation": {label: t.as_dict() for label, t in tallies.items()}},
        "per_batch": per_batch,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, action="append", help="classifier C values to compare")
    parser.add_argument("--class-weight", default=None)
    parser.add_argument("--min-df", type=int, default=None)
    parser.add_argument("--head-c", type=float, default=None)
    parser.add_argument("--no-head", action="store_true", help="the classifier alone (no budget sweep)")
    add_batch_option(parser)
    add_json_option(parser)
    args = parser.parse_args(argv)

    from pipeline.adapters.local.offline_nlp import OfflineNlp

    cases = load_cases(INTENT_SET, splits=("train", "dev"))
    base = TrainSettings()
    if args.class_weight is not None:
        base = replace(base, class_weight=None if args.class_weight == "none" else args.class_weight)
    if args.min_df is not None:
        base = replace(base, min_df=args.min_df)
    extra = clinc_out_of_scope_sample(CLINC_PATH, base.clinc_per_intent, base.clinc_oos, base.seed,
                                      base.clinc_per_lookalike)
    head = None if args.no_head else (
        replace(ESCALATE_HEAD, head=replace(ESCALATE_HEAD.head, c=args.head_c)) if args.head_c else ESCALATE_HEAD)
    results = []
    for c in args.c or [base.c]:
        settings = replace(base, c=c)
        print(f"C={c} class_weight={settings.class_weight} min_df={settings.min_df}", file=sys.stderr)
        result = run(cases, settings=settings, head=head, budgets=DEFAULT_BUDGETS, extra=extra,
                     nlp=OfflineNlp(), batches=args.batch)
        results.append(result)
        pooled = result["pooled"]
        print(f"C={c}: pooled macro-F1 {pooled['macro_f1']}, mean batch macro-F1 "
              f"{pooled['mean_batch_macro_f1']}, ECE {pooled['ece']}, rules only {pooled['escalation_rules_only']}")
        for label, numbers in pooled["escalation"].items():
            print(f"  {label:>20}: recall {numbers['recall']}, false {numbers['false_rate']}")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
