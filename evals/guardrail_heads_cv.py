"""Leave-one-batch-out evaluation of the input guardrail's learned refusal heads.

Usage::

    python -m evals.guardrail_heads_cv --jobs 2                 # shipped settings, budget sweep
    python -m evals.guardrail_heads_cv --c 8 --c 32 --json /tmp/cv.json
    python -m evals.guardrail_heads_cv --batch rt12 --batch rt13  # some folds only

Why by batch: the ``train`` split of ``golden_sets/guardrails_input.jsonl`` is a union of
batches, one author each. The refusal batches (``rt``, ``rt2`` … ``rt13``) were written
blind from the guide; the number that matters is how the heads do on a *new author's*
batch. Each fold fits the heads on everything else exactly as
:func:`evals.train_guardrail_heads.fit_heads` does (CLINC150 and intent negatives, dev +
out-of-fold threshold) and scores the held batch with the full scanner: the catalogue's
patterns, then each head where :meth:`Scanner.heads_not_asked` says the scanner asks it
(same features, same :meth:`BinaryHead.decide`). Reported per fold and pooled (micro) over
the held batches: recall per refusal category, allowed cases blocked (hard negatives), and
what the heads add to the patterns alone. The blind split is never read (train and dev only).

One fit per fold serves every operating point that only moves the threshold: the pool the
threshold is chosen on (dev, then the out-of-fold training cases) is kept
(``fit_heads(on_pool=…)``) and each :class:`Operating` point's threshold applied to the held
batch. Settings that change the fit (C) need a run each. Features and the patterns' verdicts
are computed once for all folds; ``--jobs`` fits folds in parallel (fork).

Every configuration tried and its pooled and per-fold numbers: README, "The refusal heads are
judged leave one batch out" (tried and not kept is a result: add rows there). A 13-fold run
fits 13 × 3 × 6 heads (about 25 CPU-minutes; on 2 busy cores, ~75 minutes with ``--jobs 2``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from evals.datasets import GoldenCase, load_cases
from evals.lobo import add_batch_option, add_json_option, held_batches, is_held, write_json
from evals.train_guardrail_heads import (
    CLINC_PATH,
    GUARDRAILS_SET,
    OOF_BY_BATCH,
    SETTINGS,
    TrainingData,
    batch_of,
    fit_heads,
    load_training_data,
)
from evals.train_heads import HeadSettings, choose_threshold
from pipeline.domain.guardrails import Scanner
from pipeline.domain.guardrails.topic_model import HEAD_RULES
from pipeline.domain.textfeatures import BinaryHead

CATEGORIES = tuple(HEAD_RULES)
#: The blind-written refusal batches: ``rt``, ``rt2`` … (the default folds).
REFUSAL_BATCH_PREFIX = "rt"


def is_refusal_batch(name: str) -> bool:
    return name.startswith(REFUSAL_BATCH_PREFIX) and name[len(REFUSAL_BATCH_PREFIX):].isdigit() \
        or name == REFUSAL_BATCH_PREFIX


@dataclass(frozen=True, slots=True)
class Operating:
    """How a head's threshold is chosen from its pool: a false-block budget, whether the
    patterns' false blocks count, and which part of the pool judges it."""

    max_false_rate: float
    includes_rules: bool = False
    dev_only: bool = False

    @property
    def label(self) -> str:
        return (f"{self.max_false_rate * 100:.1f}% {'incl. rules' if self.includes_rules else 'added'}"
                f"{' dev only' if self.dev_only else ''}")


SHIPPED = Operating(SETTINGS.max_false_rate, SETTINGS.budget_includes_rules)
DEFAULT_OPERATING = (
    SHIPPED,
    *(Operating(rate) for rate in (0.002, 0.004, 0.01, 0.015, 0.02)),
    Operating(SETTINGS.max_false_rate, dev_only=True),
    Operating(0.004, dev_only=True),
)


@dataclass(frozen=True, slots=True)
class HeldCase:
    """What the scanner knows of a held case without the heads."""

    expected: frozenset[str]  # expected refusal (head) categories
    allowed: bool  # expected action allow: a hard negative
    pattern_blocks: frozenset[str]  # categories the patterns block
    pattern_action: str
    not_asked: frozenset[str]
    features: frozenset[str]


def held_case(case: GoldenCase, features: set[str], patterns_only: Scanner, scanner: Scanner) -> HeldCase:
    verdict = patterns_only.scan_input(case.input)
    blocks = frozenset(f.category for f in verdict.findings if f.action.value == "block")
    expected = frozenset(c for c in (case.expected.get("categories") or ()) if c in HEAD_RULES)
    return HeldCase(expected, case.expected["action"] == "allow", blocks, verdict.action.value,
                    scanner.heads_not_asked(case.input), frozenset(features))


def head_decisions(heads: Sequence[BinaryHead], case: HeldCase) -> frozenset[str]:
    """The categories the heads add for a case, as :meth:`Scanner.scan_input` decides them."""
    if not case.features:
        return frozenset()
    return frozenset(h.name for h in heads if h.name not in case.not_asked and h.decide(case.features))


@dataclass
class Counts:
    """Pooled counts of one operating point (over one or several held batches)."""

    positives: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    caught: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    caught_by_patterns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    allowed: int = 0
    blocked: int = 0
    blocked_by_patterns: int = 0

    def add(self, case: HeldCase, added: frozenset[str]) -> None:
        for c in case.expected:
            self.positives[c] += 1
            self.caught[c] += c in case.pattern_blocks or c in added
            self.caught_by_patterns[c] += c in case.pattern_blocks
        if case.allowed:
            self.allowed += 1
            self.blocked += case.pattern_action == "block" or bool(added)
            self.blocked_by_patterns += case.pattern_action == "block"

    def merge(self, other: Counts) -> None:
        for c in CATEGORIES:
            self.positives[c] += other.positives[c]
            self.caught[c] += other.caught[c]
            self.caught_by_patterns[c] += other.caught_by_patterns[c]
        self.allowed += other.allowed
        self.blocked += other.blocked
        self.blocked_by_patterns += other.blocked_by_patterns

    def as_dict(self) -> dict[str, Any]:
        def rate(n: int, d: int) -> float | None:
            return round(n / d, 4) if d else None

        total_pos, total_caught = sum(self.positives.values()), sum(self.caught.values())
        return {
            "recall": {c: rate(self.caught[c], self.positives[c]) for c in CATEGORIES},
            "recall_patterns_only": {c: rate(self.caught_by_patterns[c], self.positives[c]) for c in CATEGORIES},
            "recall_all": rate(total_caught, total_pos),
            "recall_all_patterns_only": rate(sum(self.caught_by_patterns.values()), total_pos),
            "hard_negatives_blocked": rate(self.blocked, self.allowed),
            "hard_negatives_blocked_patterns_only": rate(self.blocked_by_patterns, self.allowed),
            "positives": dict(self.positives), "caught": dict(self.caught),
            "allowed": self.allowed, "blocked": self.blocked, "blocked_by_patterns": self.blocked_by_patterns,
        }


def thresholds_for(pools: dict[str, tuple[list[float], list[bool], list[bool]]], dev_sizes: dict[str, int],
                   point: Operating) -> dict[str, float]:
    chosen = {}
    for category, (p, y, r) in pools.items():
        if point.dev_only:
            n = dev_sizes[category]
            p, y, r = p[:n], y[:n], r[:n]
        chosen[category], _ = choose_threshold(p, y, r, point.max_false_rate,
                                               budget_includes_rules=point.includes_rules)
    return chosen


# Set by ``run`` before folds are fitted (inherited by forked workers: featurised once).
_STATE: dict[str, Any] = {}


def _fold(name: str) -> tuple[str, dict[str, Counts], dict[str, dict[str, float]]]:
    data: TrainingData = _STATE["data"]
    settings: HeadSettings = _STATE["settings"]
    points: Sequence[Operating] = _STATE["points"]
    held: list[HeldCase] = _STATE["held"][name]
    pools: dict[str, tuple[list[float], list[bool], list[bool]]] = {}

    def keep(category: str, p: list[float], y: list[bool], r: list[bool]) -> None:
        pools[category] = (p, y, r)

    fitted = fit_heads(data, settings, leave_out=lambda c: is_held(c, name),
                       on_pool=keep, oof_by_batch=_STATE["oof_by_batch"])
    heads = {c: BinaryHead.from_dict(c, fitted[c]) for c in CATEGORIES}
    # The threshold the trainer ships must be the shipped operating point's (same pool, same rule).
    shipped = thresholds_for(pools, _STATE["dev_sizes"], replace(SHIPPED, max_false_rate=settings.max_false_rate,
                                                                 includes_rules=settings.budget_includes_rules))
    assert all(abs(shipped[c] - heads[c].threshold) < 1e-9 for c in CATEGORIES), (shipped, heads)
    counts: dict[str, Counts] = {}
    thresholds: dict[str, dict[str, float]] = {}
    for point in points:
        chosen = thresholds_for(pools, _STATE["dev_sizes"], point)
        bank = [replace(heads[c], threshold=chosen[c]) for c in CATEGORIES]
        tally = Counts()
        for case in held:
            tally.add(case, head_decisions(bank, case))
        counts[point.label] = tally
        thresholds[point.label] = chosen
    return name, counts, thresholds


def run(cases: Sequence[GoldenCase], *, settings: HeadSettings = SETTINGS,
        points: Sequence[Operating] = DEFAULT_OPERATING, negatives: Sequence[str] | None = None,
        batches: Sequence[str] | None = None, jobs: int = 1, data: TrainingData | None = None,
        oof_by_batch: bool = OOF_BY_BATCH, fold_log: str | None = None,
        log: Any = sys.stderr, is_held_batch: Callable[[str], bool] = is_refusal_batch) -> dict[str, Any]:
    """Leave each held batch out in turn; per-fold and pooled numbers for every operating point."""
    train = [c for c in cases if c.split == "train"]
    dev = [c for c in cases if c.split == "dev"]
    names = held_batches(train, held=lambda c: is_held_batch(batch_of(c.id)), only=batches or None)
    if data is None:
        data = load_training_data(train, dev, negatives)
    patterns_only, scanner = Scanner(learned_heads=False), Scanner()
    held = {name: [held_case(c, data.train_features[i], patterns_only, scanner)
                   for i, c in enumerate(data.train) if batch_of(c.id) == name] for name in names}
    dev_sizes = {cat: sum(1 for c in dev if cat in (c.expected.get("categories") or ()) or c.expected["action"] == "allow")
                 for cat in CATEGORIES}
    _STATE.update(data=data, settings=settings, points=list(points), held=held, dev_sizes=dev_sizes,
                  oof_by_batch=oof_by_batch)
    results = []

    def done(result: tuple[str, dict[str, Counts], dict[str, dict[str, float]]]) -> None:
        name, counts, thresholds = result
        results.append(result)
        shipped = counts[points[0].label].as_dict()
        print(f"  held {name}: recall {shipped['recall']}, hard negatives blocked "
              f"{shipped['blocked']}/{shipped['allowed']}", file=log, flush=True)
        if fold_log is not None:  # each fold as it ends: a long run's finished folds are kept
            with open(fold_log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"fold": name, "settings": settings.to_dict(), "oof_by_batch": oof_by_batch,
                                         "counts": {k: c.as_dict() for k, c in counts.items()},
                                         "thresholds": thresholds}) + "\n")

    if jobs > 1 and len(names) > 1:
        with multiprocessing.get_context("fork").Pool(min(jobs, len(names))) as pool:
            for result in pool.imap_unordered(_fold, names):
                done(result)
    else:
        for name in names:
            done(_fold(name))
    pooled = {p.label: Counts() for p in points}
    per_fold: dict[str, Any] = {}
    for name, counts, thresholds in sorted(results):
        per_fold[name] = {label: {**c.as_dict(), "thresholds": thresholds[label]} for label, c in counts.items()}
        for label, c in counts.items():
            pooled[label].merge(c)
    return {"settings": settings.to_dict(), "oof_by_batch": oof_by_batch, "folds": names,
            "pooled": {label: c.as_dict() for label, c in pooled.items()}, "per_fold": per_fold}


def summary_line(label: str, numbers: dict[str, Any]) -> str:
    r = numbers["recall"]
    return (f"{label:>24}: credential {r['credential_request']}  future {r['future_features']}  "
            f"attack {r['prompt_attack']}  all {numbers['recall_all']}  hard negatives blocked "
            f"{numbers['blocked']}/{numbers['allowed']} = {numbers['hard_negatives_blocked']} "
            f"(patterns only {numbers['recall_all_patterns_only']}, "
            f"{numbers['blocked_by_patterns']}/{numbers['allowed']})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, action="append", help="head C values to compare (one LOBO run each)")
    add_batch_option(parser)
    parser.add_argument("--jobs", type=int, default=1, help="folds fitted in parallel")
    parser.add_argument("--oof-by-batch", choices=("yes", "no"), default="yes" if OOF_BY_BATCH else "no",
                        help="out-of-fold threshold folds hold whole batches (authors)")
    add_json_option(parser)
    parser.add_argument("--fold-log", default=None, help="append each fold's numbers here as it ends (JSON lines)")
    parser.add_argument("--cache", default=None,
                        help="featurised training data: read if present, else written (same golden set only)")
    args = parser.parse_args(argv)
    if not CLINC_PATH.is_file():
        print(f"guardrail_heads_cv: CLINC150 not found at {CLINC_PATH} (restore it with git)", file=sys.stderr)
        return 2
    cases = load_cases(GUARDRAILS_SET, splits=("train", "dev"))  # never the blind split
    if args.cache and os.path.exists(args.cache):
        with open(args.cache, "rb") as handle:
            data = pickle.load(handle)  # noqa: S301 - a file this command wrote
    else:
        data = load_training_data([c for c in cases if c.split == "train"], [c for c in cases if c.split == "dev"])
        if args.cache:
            with open(args.cache, "wb") as handle:
                pickle.dump(data, handle)
    results = []
    for c in args.c or [SETTINGS.c]:
        settings = replace(SETTINGS, c=c)
        print(f"C={c}", file=sys.stderr, flush=True)
        result = run(cases, settings=settings, batches=args.batch, jobs=args.jobs, data=data,
                     oof_by_batch=args.oof_by_batch == "yes", fold_log=args.fold_log)
        results.append(result)
        for label, numbers in result["pooled"].items():
            print(f"C={c} " + summary_line(label, numbers))
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
