"""Leave-one-batch-out evaluation of the output guardrail (clause rules + learned heads).

Usage::

    python -m evals.output_heads_cv                         # the trainer's settings
    python -m evals.output_heads_cv --c 4 --c 16 --budget 0.01:0.04 --json /tmp/cv.json
    python -m evals.output_heads_cv --shipped               # the shipped output_model.json too

Why by batch: the train split of ``guardrails_output.jsonl`` is a union of batches, each the
whole answers one blind author wrote at one time (``ot``, ``ot2`` ... ``ot8``); a new author is
what a fresh batch measures. For each blind batch held out, the heads are fitted exactly as
:mod:`evals.train_output_heads` fits them on everything else (the excerpts, the other batches,
``gout``), their threshold chosen as the trainer chooses it (dev answers and the remaining
batches scored leave one batch out, inside the fold), and the held batch is scored by the
*full* output guardrail, :class:`pipeline.domain.guardrails.Scanner` with those heads: the
action accuracy, the recall of each category (the category is among the verdict's) and the
allowed answers blocked, per fold and pooled over folds (micro). One fit per fold serves every
budget: a budget only moves the thresholds. The blind split is never read.

Reference rows: ``rules only`` (no heads) and, with ``--shipped``, the shipped model file
scored on every batch (it saw the batches that were in train when it was fitted: only the
batches imported since are unseen for it).

Results, Dec 7 (``--shipped --budget 0.005:0.025 --budget 0.01:0.04 --budget 0.0025:0.015
--budget 0.01:0.025``, 2 shared cores at load 9-10, 65 min wall). Folds ``ot`` ... ``ot8``:
933 answers, 368 allowed; fc = future_commitment found / labelled, cd =
competitor_disparagement; "blocked" = allowed answers blocked (rules included); per batch:
action accuracy / allowed blocked. **Caveat**: the clause rules were written from the misses
of ``ot`` ... ``ot7``, so only the heads are held out here; ``ot8`` (imported last) is the one
batch new to the rules too, and reads like a fresh batch (0.71-0.78). ``ot8`` was taken back
out of the set for a session after this run and is in it again (with ``ot9``) since their import.

| configuration | accuracy | fc | cd | blocked | ot | ot2 | ot3 | ot4 | ot5 | ot6 | ot7 | ot8 |
|---|---|---|---|---|---|---|---|---|---|---|---|---|
| rules only | 0.926 | 177/211 | 150/184 | 6/368 | 1.0/0 | 1.0/0 | 0.88/0 | 0.88/1 | 0.94/0 | 0.98/0 | 0.92/0 | 0.71/5 |
| shipped ``output_model.json`` (saw ``ot``-``ot4``) | 0.954 | 191 | 164 | 8 | 1.0/0 | 1.0/0 | 0.94/0 | 0.93/1 | 0.98/2 | 1.0/0 | 0.97/0 | 0.75/5 |
| **C=8, budget 0.005:0.025 (trainer's, retrained with every batch)** | 0.952 | 193 | 161 | 8 | 1.0/0 | 1.0/0 | 0.92/0 | 0.93/1 | 0.98/2 | 0.99/0 | 0.96/0 | 0.77/5 |
| C=8, budget 0.01:0.04 | 0.951 | 199 | 161 | 13 | 1.0/0 | 0.99/1 | 0.92/0 | 0.92/3 | 0.97/3 | 0.99/0 | 0.97/0 | 0.78/6 |
| C=8, budget 0.01:0.025 (every fold as 0.01:0.04) | 0.951 | 199 | 161 | 13 | | | | | | | | |
| C=8, budget 0.0025:0.015 | 0.948 | 192 | 157 | 8 | 1.0/0 | 1.0/0 | 0.91/0 | 0.91/1 | 0.98/2 | 0.99/0 | 0.95/0 | 0.77/5 |
| C=16 (all budgets) | not finished: stopped after its first fold to give the C=8 run the CPU |

On the four batches the shipped heads never saw (``ot5``-``ot8``), shipped vs retrained:
fc 85/95 vs 88/95 (``ot8`` 16 → 20 of 25), cd 75/90 vs 73/90, allowed blocked 7 vs 7 of
158. Decision: nothing shipped. Retraining with every batch is even with the shipped heads
(accuracy 0.952 vs 0.954, blocked 8 vs 8; the shipped row is in-sample on ``ot``-``ot4``),
and the looser budget buys 6 commitments for 5 more false blocks: neither is "more recall at
no more false blocks" beyond fold-to-fold noise. Not tried this round (CPU): C, min_df,
excerpt passages and excerpt weighting, sentence-pair windows (earlier: same out-of-fold
recall at twice the cost, :func:`pipeline.domain.guardrails.output_model.passages`).

Refit, Dec 7 evening (every batch through ``ot12``; this module's full run did not fit the CPU
of a shared 2-core machine, so these are the trainer's own leave-one-batch-out measures, each
batch scored by heads fitted without it, against the shipped heads scored on the batches they
never saw). ``ot5`` ... ``ot12``: 195 commitments, 187 disparagements, 359 allowed answers.

| heads | rules | fc (rules / +head) | cd (rules / +head) | allowed blocked (rules / added by heads) |
|---|---|---|---|---|
| shipped (fitted on ``ot``-``ot4``) | round27 | 132 / 150 | 123 / 142 | 11 / 7 |
| refit | round27 | 132 / 152 | 123 / 142 | 11 / 5 |
| refit | + recovery times, assurances, metaphors, deflections | 139 / 162 | 132 / 137 | 8 / 3 |

The clause rules added in that round were written from ``ot9``-``ot12`` misses, so their gain
there is not held out. Shipped: the future_commitment head of the last row; the
competitor_disparagement head stays the one fitted on ``ot``-``ot4``: the middle row's is even
with it held out (142 of 187) but blocks a neutral comparison of the property test ("… although
Google Cloud has a comparable feature"), and the last row's was pushed to threshold 0.992 by
``ot5``'s one-false-block budget and lost 20 seen catches.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from evals.datasets import GoldenCase, load_cases
from evals.lobo import add_batch_option, add_json_option, held_batches, split_fold, write_json
from evals.train_heads import HeadSettings
from evals.train_output_heads import (
    EXCERPTS,
    MAX_BATCH_FALSE_RATE,
    OUTPUT_SET,
    SETTINGS,
    Document,
    Fit,
    batch_of,
    fit_category,
    fit_documents,
    load_documents,
    threshold_of,
)
from pipeline.domain.guardrails import Scanner
from pipeline.domain.guardrails.output_model import HEAD_RULES
from pipeline.domain.textfeatures import BinaryHead

#: The source of every case a blind author wrote (the batches held out).
BLIND_SOURCE = "blind helper"


@dataclass(frozen=True, slots=True)
class Budget:
    """A false-block budget: the share of the allowed answers (and of the excerpts) a head may
    add, and the share of any one batch's allowed documents."""

    max_false_rate: float
    max_batch_false_rate: float

    @property
    def label(self) -> str:
        return f"{self.max_false_rate:g}:{self.max_batch_false_rate:g}"

    @classmethod
    def parse(cls, text: str) -> Budget:
        pool, _, batch = text.partition(":")
        return cls(float(pool), float(batch) if batch else MAX_BATCH_FALSE_RATE)


@dataclass(frozen=True, slots=True)
class FitConfig:
    """What a fit depends on (a budget does not: it only moves the thresholds)."""

    settings: HeadSettings
    excerpt_passages: bool = False

    @property
    def label(self) -> str:
        s = self.settings
        return f"C={s.c:g} min_df={s.min_df}" + (" excerpt-passages" if self.excerpt_passages else "")


@dataclass
class Tally:
    """The full guardrail's verdicts on held answers, against their labels (pooled by ``add``)."""

    cases: int = 0
    correct: int = 0
    allowed: int = 0
    allowed_blocked: int = 0
    positives: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)

    def record(self, expected: dict[str, Any], action: str, categories: Iterable[str]) -> None:
        self.cases += 1
        self.correct += action == expected["action"]
        if expected["action"] == "allow":
            self.allowed += 1
            self.allowed_blocked += action == "block"
        got = set(categories)
        for category in expected.get("categories") or ():
            self.positives[category] = self.positives.get(category, 0) + 1
            self.found[category] = self.found.get(category, 0) + (category in got)

    def add(self, other: Tally) -> None:
        self.cases += other.cases
        self.correct += other.correct
        self.allowed += other.allowed
        self.allowed_blocked += other.allowed_blocked
        for category, n in other.positives.items():
            self.positives[category] = self.positives.get(category, 0) + n
            self.found[category] = self.found.get(category, 0) + other.found.get(category, 0)

    def as_dict(self) -> dict[str, Any]:
        def rate(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None
        return {
            "cases": self.cases, "action_accuracy": rate(self.correct, self.cases),
            "allowed": self.allowed, "allowed_blocked": self.allowed_blocked,
            "allowed_blocked_rate": rate(self.allowed_blocked, self.allowed),
            "recall": {c: rate(self.found.get(c, 0), n) for c, n in sorted(self.positives.items())},
            "found": {c: f"{self.found.get(c, 0)}/{n}" for c, n in sorted(self.positives.items())},
        }


def blind_batches(cases: Sequence[GoldenCase], only: Sequence[str] | None = None) -> list[str]:
    """The train batches written by blind authors (whole answers), in id order (of those,
    only the ones in ``only`` when given)."""
    return held_batches(cases, batch_of, held=lambda c: c.source.startswith(BLIND_SOURCE), only=only)


def score_cases(scanner: Scanner, cases: Sequence[GoldenCase], heads: tuple[BinaryHead, ...] | None) -> Tally:
    """The tally of ``scanner`` with ``heads`` (None: the shipped ones) on ``cases``."""
    scanner.output_model = heads
    tally = Tally()
    for case in cases:
        verdict = scanner.scan_output(case.input)
        tally.record(case.expected, verdict.action.value, verdict.categories)
    return tally


class RememberedFits:
    """:func:`fit_documents`, remembered by the train batches seen: the fit without batches
    {B, X} is the same whether B is the fold held out and X the batch held out inside it, or
    the other way round."""

    def __init__(self) -> None:
        self.fits: dict[tuple[Any, ...], tuple[dict[str, float], float]] = {}

    def __call__(self, documents: Sequence[Document], category: str, settings: HeadSettings,
                 excerpt_passages: bool = False) -> tuple[dict[str, float], float]:
        seen = frozenset(d.batch for d in documents if d.split == "train")
        key = (seen, category, settings, excerpt_passages)
        if key not in self.fits:
            self.fits[key] = fit_documents(documents, category, settings, excerpt_passages)
        return self.fits[key]


def fold_heads(documents: Sequence[Document], config: FitConfig, budgets: Sequence[Budget],
               fit: Fit = fit_documents) -> dict[str, tuple[BinaryHead, ...]]:
    """Per budget label, the heads fitted on ``documents`` and thresholded as the trainer does."""
    fitted = [fit_category(documents, category, config.settings, config.excerpt_passages, fit)
              for category in HEAD_RULES]
    by_budget = {}
    for budget in budgets:
        heads = []
        for f in fitted:
            threshold, _ = threshold_of(f, budget.max_false_rate, budget.max_batch_false_rate)
            heads.append(BinaryHead(f.category, f.weights, f.bias, f.temperature, threshold, {}))
        by_budget[budget.label] = tuple(sorted(heads, key=lambda h: h.name))
    return by_budget


def run(cases: Sequence[GoldenCase], documents: Sequence[Document], configs: Sequence[FitConfig],
        budgets: Sequence[Budget], *, shipped: bool = False, batches: Sequence[str] | None = None,
        log: Any = sys.stderr) -> dict[str, Any]:
    """Leave one blind batch out: per fold and pooled tallies of every row (rules only,
    shipped heads if asked, and every fit configuration under every budget)."""
    scanner = Scanner()
    fit = RememberedFits()
    held_out = blind_batches(cases, only=batches)
    rows: dict[str, dict[str, Tally]] = {}

    def keep(row: str, batch: str, tally: Tally) -> None:
        rows.setdefault(row, {})[batch] = tally

    for batch in held_out:
        _, held = split_fold(cases, batch, batch_of)
        scanner.output_heads = False  # the clause rules alone
        keep("rules only", batch, score_cases(scanner, held, None))
        scanner.output_heads = True
        if shipped:
            keep("shipped output_model.json", batch, score_cases(scanner, held, None))
        rest = [d for d in documents if d.batch != batch]
        for config in configs:
            for label, heads in fold_heads(rest, config, budgets, fit).items():
                keep(f"{config.label} budget {label}", batch, score_cases(scanner, held, heads))
        print(f"  held {batch}: {len(held)} answers", file=log, flush=True)
        for row, per_batch in rows.items():
            numbers = per_batch[batch].as_dict()
            print(f"    {row}: accuracy {numbers['action_accuracy']}, found {numbers['found']}, "
                  f"allowed blocked {numbers['allowed_blocked']}/{numbers['allowed']}", file=log, flush=True)
    scanner.output_model = None
    result: dict[str, Any] = {}
    for row, per_batch in rows.items():
        pooled = Tally()
        for tally in per_batch.values():
            pooled.add(tally)
        result[row] = {"pooled": pooled.as_dict(), "per_batch": {b: t.as_dict() for b, t in per_batch.items()}}
    return result


def format_table(result: dict[str, Any], categories: Sequence[str] = ("future_commitment", "competitor_disparagement",
                                                                     "sensitive_data")) -> str:
    """One line per row: pooled accuracy, recall per category, allowed answers blocked; then
    per batch accuracy and blocked allowed."""
    lines = []
    for row, entry in result.items():
        p = entry["pooled"]
        recalls = " ".join(f"{c[:4]} {p['found'].get(c, '-')}" for c in categories)
        per = " ".join(f"{b} {t['action_accuracy']}/{t['allowed_blocked']}" for b, t in entry["per_batch"].items())
        lines.append(f"{row:<40} acc {p['action_accuracy']} {recalls} blocked {p['allowed_blocked']}/{p['allowed']}"
                     f" | {per}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, action="append", help=f"head C values to compare (default {SETTINGS.c:g})")
    parser.add_argument("--min-df", type=int, default=SETTINGS.min_df)
    parser.add_argument("--excerpt-passages", action="store_true")
    parser.add_argument("--budget", action="append", type=Budget.parse,
                        help="max_false_rate[:max_batch_false_rate] (default the trainer's)")
    parser.add_argument("--shipped", action="store_true", help="score the shipped output_model.json too")
    add_batch_option(parser)
    add_json_option(parser)
    args = parser.parse_args(argv)
    budgets = args.budget or [Budget(SETTINGS.max_false_rate, MAX_BATCH_FALSE_RATE)]
    configs = [FitConfig(replace(SETTINGS, c=c, min_df=args.min_df), args.excerpt_passages)
               for c in args.c or [SETTINGS.c]]
    try:
        documents = load_documents(Scanner(learned_heads=False), EXCERPTS, OUTPUT_SET)
    except FileNotFoundError as exc:
        print(f"output_heads_cv: {exc}", file=sys.stderr)
        return 2
    cases = load_cases(OUTPUT_SET, splits=("train", "dev"))
    result = run(cases, documents, configs, budgets, shipped=args.shipped, batches=args.batch)
    print(format_table(result))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
