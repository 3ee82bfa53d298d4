"""Leave-one-batch-out evaluation of the escalation decision over *every* message.

Usage::

    python -m evals.escalation_cv                       # every configuration of CONFIGS
    python -m evals.escalation_cv --config current --config oos+clinc --json /tmp/esc.json
    python -m evals.escalation_cv --shared-classifier      # the cheap screen (see below)

Why a sibling of :mod:`evals.intent_cv`: there the head is fitted inside each fold's full
training, so every head setting costs 15 classifier fits. Here each fold's classifier (no
head) is fitted once (cached on disk by content hash, ``--cache-dir``) and the detector it
makes decides every train, dev, held and CLINC message once; each head configuration then
costs only its own fits (the head and its five out-of-fold copies per fold), through the very
function training uses (:func:`evals.train_intent.fit_escalate_head`).

What is measured, per held batch and pooled over the 15 batches of the train split (the
blind split is never read; dev calibrates and thresholds as in training):

* escalation recall and false-escalation rate over **all** held messages, out_of_scope ones
  included (split by gold intent: ``gold_out_of_scope`` / ``other``), and how many of the
  false escalations only the head made;
* escalations of a fixed **held-out CLINC150 out-of-scope sample**: the 592 texts of
  ``golden_sets/out_of_scope.jsonl`` (CLINC ``val``: 3 per everyday intent, 10 per bank
  look-alike, + all of ``oos_val``). Training only ever samples CLINC ``train`` and
  ``oos_train`` (the classifier's out_of_scope examples and the head's CLINC negatives are
  the same list), and any held-out text whose lower-cased form is also a training text is
  dropped, so no text is on both sides. Counted once per fold model (15 x the sample);
* the fold classifiers' pooled held-out macro-F1 and ECE (no head setting changes them);
* for each configuration against ``current``, the per-batch paired difference of true and
  false escalations (mean, standard error over batches, batches up/down): a pooled gain
  smaller than ~2 standard errors is fold-to-fold noise.

Configurations tried (and why the shipped one is shipped): see the table in
``docs/escalation-head.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evals.datasets import GoldenCase, load_cases
from evals.intent_cv import Budget, Tally
from evals.lobo import add_json_option, held_batches, split_fold, write_json
from evals.train_heads import choose_threshold
from evals.train_intent import (
    CLINC_PATH,
    ESCALATE_HEAD,
    INTENT_SET,
    OUT_OF_SCOPE_SET,
    EscalateHeadSettings,
    TrainSettings,
    clinc_out_of_scope_sample,
    escalate_head_asked,
    expected_calibration_error,
    fit_escalate_head,
    macro_f1,
    train,
)
from pipeline.domain.intent import MODEL_PATH, IntentDetector, IntentModel, escalation_features
from pipeline.domain.textfeatures import BinaryHead
from pipeline.domain.textnorm import normalize


def fold_models(cases: Sequence[GoldenCase], *, settings: TrainSettings, extra: Sequence[str], nlp: Any,
                cache_dir: Path | None, batches: Sequence[str] | None = None,
                log: Any = sys.stderr) -> dict[str, dict[str, Any]]:
    """For every training batch (or those given, in that order), the classifier (no head)
    fitted without it: the part of a fold that no head setting changes, fitted once (cached
    on disk by content hash when asked)."""
    if batches is None:
        batches = held_batches(cases)
    models: dict[str, dict[str, Any]] = {}
    for name in batches:
        fold, _ = split_fold(cases, name)
        key = hashlib.sha256(json.dumps(
            [name, settings.to_dict(), [[c.id, c.input, c.expected, c.split] for c in fold], list(extra)],
            sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
        path = cache_dir / f"fold-{name}-{key}.json" if cache_dir is not None else None
        if path is not None and path.is_file():
            models[name] = json.loads(path.read_text(encoding="utf-8"))
            continue
        model = train(fold, settings=settings, extra_out_of_scope=extra, nlp=nlp, head_settings=None)
        if path is not None:
            path.write_text(json.dumps(model), encoding="utf-8")
        models[name] = model
        print(f"  fold without {name}: classifier fitted", file=log, flush=True)
    return models


@dataclass(frozen=True, slots=True)
class Decided:
    """What the detector without the head says about one message (all a head fit needs)."""

    intent: str
    escalate: bool
    confidence: float = 0.0


@dataclass
class Fold:
    """One held batch with everything no head setting changes, computed once."""

    name: str
    train_cases: list[GoldenCase]
    dev_cases: list[GoldenCase]
    held: list[GoldenCase]
    train_results: list[Decided]
    dev_results: list[Decided]
    held_results: list[Decided]
    clinc_results: list[Decided]


def _fold_cases(cases: Sequence[GoldenCase], name: str) -> tuple[list[GoldenCase], list[GoldenCase], list[GoldenCase]]:
    """The fold's train cases (its held batch left out), its dev cases and the held batch."""
    rest, held = split_fold(cases, name)
    return [c for c in rest if c.split == "train"], [c for c in rest if c.split == "dev"], held


def _decide_all(detector: IntentDetector, texts: Sequence[str]) -> list[Decided]:
    out = []
    for text in texts:
        r = detector.detect(text)
        out.append(Decided(r.intent, r.escalate, r.confidence))
    return out


def prepare_folds(cases: Sequence[GoldenCase], models: dict[str, dict[str, Any]], clinc_held_out: Sequence[str],
                  nlp: Any, log: Any = sys.stderr) -> list[Fold]:
    """Per fold: the detector without a head on the fold's train and dev cases (what the head
    is fitted and thresholded against), on the held batch and on the CLINC held-out texts."""
    folds = []
    for name, model in models.items():
        detector = IntentDetector(IntentModel.from_dict({**model, "heads": {}}), nlp)
        train_cases, dev_cases, held = _fold_cases(cases, name)
        folds.append(Fold(name, train_cases, dev_cases, held,
                          _decide_all(detector, [c.input for c in train_cases]),
                          _decide_all(detector, [c.input for c in dev_cases]),
                          _decide_all(detector, [c.input for c in held]),
                          _decide_all(detector, clinc_held_out)))
        print(f"  fold {name}: {len(held)} held cases decided", file=log, flush=True)
    return folds


def shared_classifier_folds(cases: Sequence[GoldenCase], model: dict[str, Any], clinc_held_out: Sequence[str],
                            nlp: Any) -> list[Fold]:
    """The cheap approximation (``--shared-classifier``): every fold uses one classifier (the
    shipped one, heads removed), so each message is decided once, not once per fold. Only the
    head is held out: the classifier saw the held batch, so its out_of_scope calls on it (which
    gate a head not asked about out_of_scope) are better than a new author would get. Used to
    screen head settings; the full folds (:func:`fold_models`) check the screen."""
    detector = IntentDetector(IntentModel.from_dict({**model, "heads": {}}), nlp)
    decided = dict(zip((c.id for c in cases), _decide_all(detector, [c.input for c in cases]), strict=True))
    clinc_results = _decide_all(detector, clinc_held_out)
    folds = []
    for name in held_batches(cases):
        train_cases, dev_cases, held = _fold_cases(cases, name)
        folds.append(Fold(name, train_cases, dev_cases, held, [decided[c.id] for c in train_cases],
                          [decided[c.id] for c in dev_cases], [decided[c.id] for c in held], clinc_results))
    return folds


def clinc_held_out_texts(train_texts: Sequence[str]) -> list[str]:
    """The fixed CLINC150 out-of-scope sample no training reads: ``golden_sets/out_of_scope.jsonl``
    (CLINC ``val`` + ``oos_val``, 592 texts; training samples ``train`` + ``oos_train`` only),
    minus any text whose lower-cased form is also a training text (CLINC repeats a few)."""
    seen = {t.strip().lower() for t in train_texts}
    texts = [c.input for c in load_cases(OUT_OF_SCOPE_SET, splits=("dev",))]
    return [t for t in texts if t.strip().lower() not in seen]


@dataclass(frozen=True, slots=True)
class Config:
    """One head configuration of the sweep (its budget is swept separately)."""

    name: str
    settings: EscalateHeadSettings


def _head_probabilities(head_data: dict[str, Any], texts: Sequence[str]) -> list[float | None]:
    head = BinaryHead.from_dict("escalate", head_data)
    out: list[float | None] = []
    for text in texts:
        features = escalation_features(normalize(text).text)
        out.append(head.probability(features) if any(f in head.weights for f in features) else None)
    return out


def evaluate_fold(config: Config, fold: Fold, budgets: Sequence[Budget], clinc_texts: Sequence[str],
                  clinc_held_out: Sequence[str]) -> dict[str, Any]:
    """One head fit on a fold; every budget's threshold chosen on the fold's pool and applied to
    the held batch (every message, out_of_scope included) and to the CLINC held-out texts.
    Raw counts per budget (:func:`aggregate` pools them)."""
    settings = config.settings
    pool: dict[str, list[Any]] = {}

    def keep(p: list[float], y: list[bool], r: list[bool]) -> None:
        pool.update(p=p, y=y, r=r)

    head_data = fit_escalate_head(fold.train_cases, fold.dev_cases, train_results=fold.train_results,
                                  dev_results=fold.dev_results, settings=settings,
                                  clinc_texts=clinc_texts, on_pool=keep)
    held_p = _head_probabilities(head_data, [c.input for c in fold.held])
    clinc_p = _head_probabilities(head_data, clinc_held_out)
    held_asked = [escalate_head_asked(c.input, r, settings) for c, r in zip(fold.held, fold.held_results, strict=True)]
    clinc_asked = [escalate_head_asked(t, r, settings) for t, r in zip(clinc_held_out, fold.clinc_results, strict=True)]
    gold = [bool(c.expected.get("escalate")) for c in fold.held]
    gold_oos = [c.expected["intent"] == "out_of_scope" for c in fold.held]
    out: dict[str, Any] = {}
    for budget in budgets:
        threshold, _ = choose_threshold(pool["p"], pool["y"], pool["r"], budget.max_false_rate,
                                        budget_includes_rules=budget.includes_rules)
        by_head = [a and p is not None and p >= threshold for a, p in zip(held_asked, held_p, strict=True)]
        decided = [r.escalate or h for r, h in zip(fold.held_results, by_head, strict=True)]
        tallies = {"all": Tally(), "gold_out_of_scope": Tally(), "other": Tally()}
        tallies["all"].add(gold, decided)
        tallies["gold_out_of_scope"].add([g for g, o in zip(gold, gold_oos, strict=True) if o],
                                         [d for d, o in zip(decided, gold_oos, strict=True) if o])
        tallies["other"].add([g for g, o in zip(gold, gold_oos, strict=True) if not o],
                             [d for d, o in zip(decided, gold_oos, strict=True) if not o])
        clinc_by_head = [a and p is not None and p >= threshold for a, p in zip(clinc_asked, clinc_p, strict=True)]
        out[budget.label] = {
            **{k: t.as_dict() for k, t in tallies.items()},
            "head_false_positives": sum(1 for h, r, g in zip(by_head, fold.held_results, gold, strict=True)
                                        if h and not r.escalate and not g),
            "clinc_escalated": sum(1 for r, h in zip(fold.clinc_results, clinc_by_head, strict=True) if r.escalate or h),
            "clinc_messages": len(clinc_held_out), "threshold": threshold,
        }
    return out


_COUNTS = ("positives", "negatives", "true_positives", "false_positives")


def aggregate(config: Config, per_fold: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pool the per-fold counts of :func:`evaluate_fold` (fold name -> budget label -> counts)."""
    result: dict[str, Any] = {"config": config.name, "settings": config.settings.to_dict(), "budgets": {}}
    labels = next(iter(per_fold.values())).keys() if per_fold else ()
    for label in labels:
        pooled: dict[str, Any] = {}
        for part in ("all", "gold_out_of_scope", "other"):
            tally = Tally()
            for numbers in per_fold.values():
                for key in _COUNTS:
                    setattr(tally, key, getattr(tally, key) + numbers[label][part][key])
            pooled[part] = tally.as_dict()
        for key in ("head_false_positives", "clinc_escalated", "clinc_messages"):
            pooled[key] = sum(numbers[label][key] for numbers in per_fold.values())
        pooled["clinc_rate"] = round(pooled["clinc_escalated"] / max(1, pooled["clinc_messages"]), 4)
        pooled["per_batch"] = {name: {**numbers[label]["all"], "threshold": numbers[label]["threshold"],
                                      "clinc_escalated": numbers[label]["clinc_escalated"]}
                               for name, numbers in sorted(per_fold.items())}
        result["budgets"][label] = pooled
    return result


def evaluate_config(config: Config, folds: Sequence[Fold], budgets: Sequence[Budget],
                    clinc_texts: Sequence[str], clinc_held_out: Sequence[str],
                    log: Any = sys.stderr) -> dict[str, Any]:
    """:func:`evaluate_fold` on every fold, pooled."""
    per_fold = {}
    for fold in folds:
        per_fold[fold.name] = evaluate_fold(config, fold, budgets, clinc_texts, clinc_held_out)
        print(f"  {config.name}: fold {fold.name} done", file=log, flush=True)
    return aggregate(config, per_fold)


def classifier_scores(folds: Sequence[Fold]) -> dict[str, Any]:
    """Held-out macro-F1 and ECE of the fold classifiers (no head setting changes them)."""
    gold, predicted, confidences = [], [], []
    per_batch = {}
    for fold in folds:
        g = [c.expected["intent"] for c in fold.held]
        p = [r.intent for r in fold.held_results]
        per_batch[fold.name] = round(macro_f1(g, p), 4)
        gold += g
        predicted += p
        confidences += [r.confidence for r in fold.held_results]
    correct = [a == b for a, b in zip(gold, predicted, strict=True)]
    return {"cases": len(gold), "macro_f1": round(macro_f1(gold, predicted), 4),
            "mean_batch_macro_f1": round(sum(per_batch.values()) / max(1, len(per_batch)), 4),
            "ece": round(expected_calibration_error(confidences, correct), 4), "per_batch": per_batch}


def paired_difference(result: dict[str, Any], reference: dict[str, Any], label: str,
                      reference_label: str) -> dict[str, Any]:
    """Per held batch, true and false escalations of ``result`` minus ``reference``: the
    fold-to-fold spread says whether a pooled difference is more than noise."""
    a, b = result["budgets"][label]["per_batch"], reference["budgets"][reference_label]["per_batch"]
    tp = [a[k]["true_positives"] - b[k]["true_positives"] for k in a]
    fp = [a[k]["false_positives"] - b[k]["false_positives"] for k in a]

    def spread(values: list[int]) -> dict[str, Any]:
        n = len(values)
        mean = sum(values) / n
        sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
        return {"total": sum(values), "mean": round(mean, 2), "se": round(sd / n ** 0.5, 2),
                "batches_up": sum(v > 0 for v in values), "batches_down": sum(v < 0 for v in values)}

    return {"true_positives": spread(tp), "false_positives": spread(fp)}


#: Budgets swept for every configuration (one fit serves them all: only the threshold moves).
BUDGETS = (
    *(Budget(rate, False) for rate in (0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02)),
    *(Budget(rate, True) for rate in (0.02, 0.025, 0.03)),
)

_HEAD = ESCALATE_HEAD.head
#: Every configuration tried (results in docs/escalation-head.md).
CONFIGS = {
    "current": Config("current", ESCALATE_HEAD),
    "oos": Config("oos", EscalateHeadSettings(head=_HEAD, asks_out_of_scope=True)),
    "oos+clinc500": Config("oos+clinc500", EscalateHeadSettings(head=_HEAD, asks_out_of_scope=True, clinc_negatives=500)),
    "oos+clinc": Config("oos+clinc", EscalateHeadSettings(head=_HEAD, asks_out_of_scope=True, clinc_negatives=5000)),
    "oos+clinc C2": Config("oos+clinc C2", EscalateHeadSettings(head=replace(_HEAD, c=2.0), asks_out_of_scope=True, clinc_negatives=5000)),
    "oos+clinc C8": Config("oos+clinc C8", EscalateHeadSettings(head=replace(_HEAD, c=8.0), asks_out_of_scope=True, clinc_negatives=5000)),
    "oos+clinc unweighted": Config("oos+clinc unweighted", EscalateHeadSettings(head=replace(_HEAD, class_weight=None), asks_out_of_scope=True, clinc_negatives=5000)),
    "current+clinc": Config("current+clinc", EscalateHeadSettings(head=_HEAD, asks_out_of_scope=False, clinc_negatives=5000)),
}


def _line(name: str, label: str, numbers: dict[str, Any]) -> str:
    a, o = numbers["all"], numbers["gold_out_of_scope"]
    return (f"{name:>22} | {label:>18} | recall {a['recall']:.3f} ({a['true_positives']}/{a['positives']}) | "
            f"false {a['false_rate']:.4f} ({a['false_positives']}/{a['negatives']}, head {numbers['head_false_positives']}) | "
            f"oos recall {o['true_positives']}/{o['positives']} false {o['false_positives']}/{o['negatives']} | "
            f"CLINC {numbers['clinc_escalated']}/{numbers['clinc_messages']} ({numbers['clinc_rate'] * 100:.2f}%)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", choices=sorted(CONFIGS), help="configurations to run")
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep the fold classifiers here")
    add_json_option(parser)
    parser.add_argument("--shared-classifier", action="store_true",
                        help="screen: the shipped classifier decides every fold (only the head is held out)")
    args = parser.parse_args(argv)

    from pipeline.adapters.local.offline_nlp import OfflineNlp

    nlp = OfflineNlp()
    cases = load_cases(INTENT_SET, splits=("train", "dev"))
    base = TrainSettings()
    extra = clinc_out_of_scope_sample(CLINC_PATH, base.clinc_per_intent, base.clinc_oos, base.seed,
                                      base.clinc_per_lookalike)
    clinc_held_out = clinc_held_out_texts(extra)
    if args.cache_dir is not None:
        args.cache_dir.mkdir(parents=True, exist_ok=True)
    if args.shared_classifier:
        folds = shared_classifier_folds(cases, json.loads(MODEL_PATH.read_text(encoding="utf-8")),
                                        clinc_held_out, nlp)
    else:
        models = fold_models(cases, settings=base, extra=extra, nlp=nlp, cache_dir=args.cache_dir)
        folds = prepare_folds(cases, models, clinc_held_out, nlp)
    classifier = classifier_scores(folds)
    which = "shared, saw every batch: not a held-out number" if args.shared_classifier else "held out"
    print(f"classifier ({which}): macro-F1 {classifier['macro_f1']}, mean batch {classifier['mean_batch_macro_f1']}, "
          f"ECE {classifier['ece']}; CLINC held-out texts {len(clinc_held_out)}", flush=True)
    names = args.config or list(CONFIGS)
    results = {}
    for name in names:
        results[name] = evaluate_config(CONFIGS[name], folds, BUDGETS, extra, clinc_held_out)
        for label, numbers in results[name]["budgets"].items():
            print(_line(name, label, numbers), flush=True)
    reference = results.get("current")
    reference_label = Budget(ESCALATE_HEAD.head.max_false_rate, ESCALATE_HEAD.head.budget_includes_rules).label
    if reference is not None:
        for result in results.values():
            for label in result["budgets"]:
                result["budgets"][label]["versus_current"] = paired_difference(result, reference, label, reference_label)
    write_json(args.json, {"classifier": classifier, "clinc_held_out": len(clinc_held_out), "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
