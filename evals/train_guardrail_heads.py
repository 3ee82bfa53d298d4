"""Train the input guardrail's learned refusal heads and write ``topic_model.json``.

Usage::

    python -m evals.train_guardrail_heads            # writes pipeline/domain/guardrails/topic_model.json
    python -m evals.train_guardrail_heads --output /tmp/heads.json

One binary head each for ``credential_request``, ``future_features`` and ``prompt_attack``
(see :mod:`evals.train_heads` for how a head is fitted, calibrated and thresholded):

* **train**: ``golden_sets/guardrails_input.jsonl`` split ``train`` (v1 train and the
  blind-written training batches), plus negatives: a fixed-seed sample of CLINC150
  ``train`` queries (everyday text; committed under ``evals/data/clinc150``, CC BY 3.0) and
  the intent set's ``train`` messages that the patterns allow (ordinary AWS questions), and
  short windows cut from those (a head reads messages of ``MIN_WORDS`` words or more).
* **dev** and **out of fold**: split ``dev`` and, scored by models fitted without them
  (5 folds, each holding whole batches: :data:`OOF_BY_BATCH`), the ``train`` split's positives
  and allowed messages. The threshold of each head is the lowest at which the head adds
  at most ``max_false_rate`` false blocks of the dev messages labelled ``allow`` (on top of
  the catalogue's patterns, whose own false blocks are measured and reported); cases
  labelled with another blocking category do not count either way.
* The blind split is never read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evals.datasets import GOLDEN_DIR, GoldenCase, load_cases
from evals.lobo import batch_of
from evals.train_heads import CrossFit, HeadSettings, train_head
from evals.train_intent import CLINC_PATH, INTENT_SET
from pipeline.domain.guardrails import Scanner
from pipeline.domain.guardrails.engine import lowered_view
from pipeline.domain.guardrails.topic_model import (
    FORMAT,
    HEAD_RULES,
    MIN_WORDS,
    MODEL_PATH,
    topic_features,
)
from pipeline.domain.textnorm import normalize

GUARDRAILS_SET = GOLDEN_DIR / "guardrails_input.jsonl"
#: Each head may add at most 1% false blocks of allowed dev messages (GUIDE target for hard
#: negatives: 1%); the patterns' own false blocks are counted, reported and fixed separately.
SETTINGS = HeadSettings(c=32.0, max_false_rate=0.007, budget_includes_rules=False)
CLINC_NEGATIVES = 600
#: Short windows (4-7 words, the shortest the heads judge: topic_model.MIN_WORDS) cut from
#: the negatives. A head's score is normalised by the square root of the number of features
#: present, so a short text is judged on a handful of features; without short benign texts
#: in training, word salad such as "the rds and it password" blocked (property tests).
FRAGMENT_NEGATIVES = 1500
#: Word salad: words drawn at random from three negatives, 4-40 of them. Any mix of words
#: from allowed messages is allowed; without these a less regularised head blocked salads of
#: benign AWS words ("fine ec2 rds why cloudformation ... it ec2 the is the").
SALAD_NEGATIVES = 1500
SEED = 13
#: Out-of-fold scoring of the training split's cases for calibration and threshold.
FOLDS = 5
#: Whether those folds hold whole batches (one author each) instead of interleaved cases: a
#: threshold judged on cases whose authors the model was fitted on let a new author's allowed
#: messages be blocked 2-3x the budget (README, "The refusal heads are judged leave one batch out").
OOF_BY_BATCH = True


def _features(text: str) -> set[str]:
    cased = normalize(text).text
    return topic_features(lowered_view(cased), cased)


def clinc_negatives(path: Path, n: int, seed: int) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    texts = sorted({t for t, _ in data["train"]} | {t for t, _ in data["oos_train"]})
    return random.Random(seed).sample(texts, min(n, len(texts)))


def fragment_negatives(texts: Sequence[str], n: int, seed: int) -> list[str]:
    """``n`` windows of 4 to 7 consecutive words cut from ``texts`` (fixed seed)."""
    rng = random.Random(seed)
    split = [t.split() for t in texts if t.split()]
    fragments = []
    for _ in range(n):
        words = rng.choice(split)
        size = min(len(words), rng.randint(MIN_WORDS, MIN_WORDS + 3))
        start = rng.randrange(len(words) - size + 1)
        fragments.append(" ".join(words[start : start + size]))
    return fragments


def salad_negatives(texts: Sequence[str], n: int, seed: int) -> list[str]:
    """``n`` random mixes of 4 to 40 words drawn from three of ``texts`` (fixed seed)."""
    rng = random.Random(seed)
    split = [t.split() for t in texts if t.split()]
    salads = []
    for _ in range(n):
        pool = [w for words in rng.sample(split, 3) for w in words]
        salads.append(" ".join(rng.choice(pool) for _ in range(rng.randint(MIN_WORDS, 40))))
    return salads


@dataclass
class TrainingData:
    """Everything the heads are fitted and thresholded on, featurised once.

    Built by :func:`load_training_data`; :func:`fit_heads` fits on a part of it (leave one
    batch out: :mod:`evals.guardrail_heads_cv` fits 13 times on one instance)."""

    train: list[GoldenCase]
    dev: list[GoldenCase]
    negatives: list[str]
    aws_questions: int
    train_features: list[set[str]]  # train cases, then negatives
    dev_features: list[set[str]]
    #: Whether the catalogue's patterns alone block each train / dev case.
    train_fires: list[bool]
    dev_fires: list[bool]


def load_training_data(train: Sequence[GoldenCase], dev: Sequence[GoldenCase],
                       negatives: Sequence[str] | None = None) -> TrainingData:
    """Featurise ``train``, ``dev`` and the extra negatives (by default :func:`default_negatives`)."""
    patterns_only = Scanner(learned_heads=False)
    aws_questions = 0
    if negatives is None:
        negatives, aws_questions = default_negatives(patterns_only)
    features = [_features(c.input) for c in train] + [_features(t) for t in negatives]
    return TrainingData(
        train=list(train), dev=list(dev), negatives=list(negatives), aws_questions=aws_questions,
        train_features=features, dev_features=[_features(c.input) for c in dev],
        train_fires=[patterns_only.scan_input(c.input, False).action.value == "block" for c in train],
        dev_fires=[patterns_only.scan_input(c.input, False).action.value == "block" for c in dev],
    )


def default_negatives(patterns_only: Scanner) -> tuple[list[str], int]:
    """CLINC150 queries, the intent set's allowed train messages, windows and salads of those
    (and how many intent messages were taken)."""
    negatives = clinc_negatives(CLINC_PATH, CLINC_NEGATIVES, SEED)
    # Ordinary AWS questions: the intent set's train split, less any message the patterns
    # block (a question about an unreleased feature may sit there labelled only by intent).
    aws_questions = [c.input for c in load_cases(INTENT_SET, splits=("train",))
                     if patterns_only.scan_input(c.input).action.value == "allow"]
    negatives += aws_questions
    negatives += fragment_negatives(negatives, FRAGMENT_NEGATIVES, SEED) + salad_negatives(negatives, SALAD_NEGATIVES, SEED)
    return negatives, len(aws_questions)


def fit_heads(data: TrainingData, settings: HeadSettings = SETTINGS, *,
              leave_out: Callable[[GoldenCase], bool] | None = None, oof_by_batch: bool = OOF_BY_BATCH,
              on_pool: Callable[[str, list[float], list[bool], list[bool]], None] | None = None) -> dict[str, Any]:
    """One head per refusal category, the structure ``topic_model.json`` holds under ``heads``.

    ``leave_out``: train and dev cases to ignore entirely (a batch held out).
    ``oof_by_batch``: the out-of-fold folds hold whole batches (authors). ``on_pool``
    receives, per head, the pool its threshold is chosen on (see :func:`train_head`)."""
    keep_train = [i for i, c in enumerate(data.train) if leave_out is None or not leave_out(c)]
    keep_dev = [i for i, c in enumerate(data.dev) if leave_out is None or not leave_out(c)]
    train = [data.train[i] for i in keep_train]
    train_fires = [data.train_fires[i] for i in keep_train]
    train_features = [data.train_features[i] for i in keep_train] + data.train_features[len(data.train):]
    dev = [data.dev[i] for i in keep_dev]
    dev_features = {c.id: data.dev_features[i] for i, c in zip(keep_dev, dev, strict=True)}
    dev_fires = {c.id: data.dev_fires[i] for i, c in zip(keep_dev, dev, strict=True)}
    negatives = data.negatives
    # Messages the heads abstain on (too short: topic_model.MIN_WORDS) teach them nothing.
    kept = [i for i, f in enumerate(train_features) if f]
    # The training split's own cases judge the threshold too, scored out of fold
    # (train_heads.CrossFit): the dev split alone holds a few hundred allowed messages.
    position = {i: k for k, i in enumerate(kept)}
    batches = [batch_of(c.id) for c in train] + [None] * len(negatives)
    groups = [batches[i] for i in kept] if oof_by_batch else None
    heads = {}
    for category in HEAD_RULES:
        cats = [set(c.expected.get("categories") or ()) for c in train]
        labels = [category in s for s in cats] + [False] * len(negatives)
        labels = [labels[i] for i in kept]
        # Dev: the head's positives, and the messages that must be allowed (a message blocked
        # for a secret is blocked whatever the head says, so it tells nothing about the budget).
        chosen = [c for c in dev if category in (c.expected.get("categories") or ()) or c.expected["action"] == "allow"]
        judged = [i for i, c in enumerate(train) if i in position
                  and (category in cats[i] or c.expected["action"] == "allow")]
        heads[category] = train_head(
            category,
            train_features=[train_features[i] for i in kept],
            train_labels=labels,
            dev_features=[dev_features[c.id] for c in chosen],
            dev_labels=[category in (c.expected.get("categories") or ()) for c in chosen],
            dev_rule_fires=[dev_fires[c.id] for c in chosen],
            settings=settings,
            cross_fit=CrossFit(
                indices=[position[i] for i in judged],
                rule_fires=[train_fires[i] for i in judged],
                folds=FOLDS,
                groups=groups,
            ),
            notes={"combined_with": "the catalogue's patterns, by OR",
                   "extra_negatives": f"{CLINC_NEGATIVES} CLINC150 train/oos_train queries (CC BY 3.0), seed {SEED}; "
                                      f"{data.aws_questions} intent train-split messages the patterns allow; "
                                      f"{FRAGMENT_NEGATIVES} 4-7 word windows of those and {SALAD_NEGATIVES} word salads from them, seed {SEED}"},
            on_pool=None if on_pool is None else (lambda p, y, r, _c=category: on_pool(_c, p, y, r)),
        )
    return heads


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=MODEL_PATH)
    parser.add_argument("--exclude", default="",
                        help="comma-separated case-id prefixes left out of training and dev (e.g. rt11-): "
                             "score the heads on a batch they never saw (all batches in turn: "
                             "python -m evals.guardrail_heads_cv)")
    parser.add_argument("--c", type=float, default=SETTINGS.c,
                        help=f"inverse L2 strength (default {SETTINGS.c}); compare choices with evals.guardrail_heads_cv")
    args = parser.parse_args(argv)
    settings = replace(SETTINGS, c=args.c)
    excluded = tuple(p for p in args.exclude.split(",") if p)
    if not CLINC_PATH.is_file():
        print(f"train_guardrail_heads: CLINC150 not found at {CLINC_PATH} (restore it with git)", file=sys.stderr)
        return 2
    train = [c for c in load_cases(GUARDRAILS_SET, splits=("train",)) if not c.id.startswith(excluded or ("\0",))]
    dev = [c for c in load_cases(GUARDRAILS_SET, splits=("dev",)) if not c.id.startswith(excluded or ("\0",))]
    heads = fit_heads(load_training_data(train, dev), settings)
    data = {"format": FORMAT, "heads": heads}
    args.output.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
    load_heads_check = json.loads(args.output.read_text(encoding="utf-8"))
    for name, head in load_heads_check["heads"].items():
        print(f"{name}: threshold {head['threshold']}, T {head['temperature']}, dev {head['metadata']['dev']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
