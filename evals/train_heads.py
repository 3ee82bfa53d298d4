"""Fit small binary heads (logistic regression over sparse binary features) for the runtime.

Shared by ``evals.train_intent`` (the ``escalate`` head shipped inside the intent model)
and ``evals.train_guardrail_heads`` (the learned ``credential_request``,
``future_features`` and ``prompt_attack`` heads of the input guardrail). The runtime side
is :class:`pipeline.domain.textfeatures.BinaryHead`.

How a head is made, always the same way:

1. **Fit** on the ``train`` split only: an L2 logistic regression on L2-normalised binary
   feature vectors (scikit-learn, training time only), weights rounded for a stable file.
2. **Calibrate** on ``dev``: one temperature minimising the log-loss of the rounded
   runtime scores.
3. **Choose the threshold** on ``dev``: the head is combined with precise rules by OR, so
   the threshold is the lowest probability at which the *combined* decision keeps false
   positives on dev within ``max_false_rate`` (most recall inside the budget). The blind
   split is never read.

Optionally (``cross_fit``), calibration and threshold also read **out-of-fold** scores of
chosen training cases: each of ``folds`` models is fitted without one fold and scores it, so
every such case is scored by a model that never saw it. A false-rate budget of 0.7% judged
on a few hundred dev negatives moves by one message; judged on the dev split plus the
out-of-fold training cases (thousands), the threshold stops jumping between retrainings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.domain.textfeatures import BinaryHead


@dataclass(frozen=True, slots=True)
class HeadSettings:
    """Every knob of a head; written into the model file."""

    c: float = 4.0
    min_df: int = 2
    class_weight: str = "balanced"
    max_false_rate: float = 0.02
    #: True: the budget covers rules and head together; False: only what the head adds
    #: (for rules whose own false positives are another problem to fix).
    budget_includes_rules: bool = True
    weight_decimals: int = 4
    seed: int = 13

    def to_dict(self) -> dict[str, Any]:
        return {"c": self.c, "min_df": self.min_df, "class_weight": self.class_weight,
                "max_false_rate": self.max_false_rate,
                "budget_includes_rules": self.budget_includes_rules, "weight_decimals": self.weight_decimals,
                "seed": self.seed, "solver": "lbfgs"}


def fit_weights(feature_sets: Sequence[set[str]], labels: Sequence[bool],
                settings: HeadSettings) -> tuple[dict[str, float], float]:
    """Logistic-regression weights (rounded, zero weights dropped) and bias."""
    import numpy as np  # training time only
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    frequency: dict[str, int] = {}
    for features in feature_sets:
        for f in features:
            frequency[f] = frequency.get(f, 0) + 1
    vocabulary = sorted(f for f, n in frequency.items() if n >= settings.min_df)
    column = {f: i for i, f in enumerate(vocabulary)}
    rows, cols, values = [], [], []
    for r, features in enumerate(feature_sets):
        present = sorted(column[f] for f in features if f in column)
        if present:
            rows.extend([r] * len(present))
            cols.extend(present)
            values.extend([1.0 / math.sqrt(len(present))] * len(present))
    x = csr_matrix((values, (rows, cols)), shape=(len(feature_sets), len(vocabulary)), dtype=np.float64)
    y = np.array([int(bool(v)) for v in labels])
    if y.min() == y.max():
        raise ValueError("a head needs positive and negative training examples")
    model = LogisticRegression(C=settings.c, class_weight=settings.class_weight, max_iter=3000,
                               random_state=settings.seed)
    model.fit(x, y)
    d = settings.weight_decimals
    weights = {f: round(float(model.coef_[0, i]), d) for f, i in column.items()}
    return {f: w for f, w in weights.items() if w != 0.0}, round(float(model.intercept_[0]), d)


def fit_binary_temperature(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The temperature minimising the log-loss of ``sigmoid(score / T)`` (golden-section on log T)."""
    if not scores or len(set(labels)) < 2:
        return 1.0

    def loss(log_t: float) -> float:
        t = math.exp(log_t)
        total = 0.0
        for s, y in zip(scores, labels, strict=True):
            z = s / t
            # log(1 + e^-z) for y, log(1 + e^z) otherwise, computed stably
            m = -z if y else z
            total += max(m, 0.0) + math.log1p(math.exp(-abs(m)))
        return total / len(scores)

    return minimise_temperature(loss)


def minimise_temperature(loss: Callable[[float], float]) -> float:
    """The temperature in [0.05, 20] minimising ``loss(log T)`` (golden-section search on
    log T, 80 steps, rounded to 6 decimals): the calibration step of every model here."""
    low, high = math.log(0.05), math.log(20.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = loss(a), loss(b)
    for _ in range(80):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = loss(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = loss(b)
    return round(math.exp((low + high) / 2), 6)


def choose_threshold(probabilities: Sequence[float], labels: Sequence[bool], rule_fires: Sequence[bool],
                     max_false_rate: float, *, budget_includes_rules: bool = True) -> tuple[float, dict[str, Any]]:
    """The lowest threshold whose combined decision (rule OR head) stays inside the budget
    (or, with ``budget_includes_rules=False``, whose *added* false positives do).

    Returns the threshold and the dev measurement at it (recall, false rate, counts).
    Candidate thresholds are the dev probabilities themselves (and 0.5 as a floor for
    the search, so that an unusable head never says yes to everything).
    """
    negatives = sum(1 for y in labels if not y)
    positives = len(labels) - negatives
    rule_false = sum(1 for y, r in zip(labels, rule_fires, strict=True) if r and not y)
    counted_rule_false = rule_false if budget_includes_rules else 0
    best = 0.999
    candidates = sorted({round(p, 6) for p in probabilities if p < 0.999} | {0.999}, reverse=True)
    for t in candidates:
        false = counted_rule_false + sum(1 for p, y, r in zip(probabilities, labels, rule_fires, strict=True)
                                         if not y and not r and p >= t)
        if negatives and false / negatives > max_false_rate:
            break
        best = t
    best = max(best, 0.05)
    decided = [r or p >= best for p, r in zip(probabilities, rule_fires, strict=True)]
    tp = sum(1 for d, y in zip(decided, labels, strict=True) if d and y)
    fp = sum(1 for d, y in zip(decided, labels, strict=True) if d and not y)
    rule_tp = sum(1 for r, y in zip(rule_fires, labels, strict=True) if r and y)
    return best, {
        "dev_positives": positives, "dev_negatives": negatives,
        "dev_recall_rules_only": round(rule_tp / positives, 4) if positives else None,
        "dev_recall_combined": round(tp / positives, 4) if positives else None,
        "dev_false_rate_rules_only": round(rule_false / negatives, 4) if negatives else None,
        "dev_false_rate_combined": round(fp / negatives, 4) if negatives else None,
    }


@dataclass(frozen=True, slots=True)
class CrossFit:
    """Training cases that also judge calibration and threshold, scored out of fold.

    ``indices`` point into the training lists; ``labels`` are the cases' true labels for
    the threshold (the training label, or only the cases that count for the budget) and
    ``rule_fires`` whether the precise rules already decide them."""

    indices: Sequence[int]
    rule_fires: Sequence[bool]
    folds: int = 5
    #: Per case, whether the runtime asks the head at all (None: always); a case the
    #: runtime never asks cannot be a false positive of the head.
    applies: Sequence[bool] | None = None
    #: Per *training item* (all of them, not only ``indices``): the batch (author) it comes
    #: from, or None for items always trained on (generated negatives). When given, folds
    #: hold whole batches: each case is scored by a model that saw nothing of its author,
    #: as a new author's text will be (None: folds interleave cases, authors on both sides).
    groups: Sequence[str | None] | None = None


def out_of_fold_scores(name: str, train_features: Sequence[set[str]], train_labels: Sequence[bool],
                       indices: Sequence[int], settings: HeadSettings, folds: int,
                       groups: Sequence[str | None] | None = None) -> list[tuple[float, bool]]:
    """The raw score of each ``indices`` case by a model fitted without its fold, and whether
    that model knows any of its features (a text it does not know is never a yes at runtime).

    ``groups`` (one per training item): folds hold whole groups, and a fold's model is
    fitted without every item of its groups (see :attr:`CrossFit.groups`)."""
    order = sorted(indices)
    if groups is None:
        fold_of = {i: k % folds for k, i in enumerate(order)}
    else:
        fold_of_group = {g: k % folds for k, g in enumerate(sorted({groups[i] for i in order if groups[i] is not None}))}
        fold_of = {i: fold_of_group[groups[i]] if groups[i] is not None else k % folds for k, i in enumerate(order)}
    scores: dict[int, tuple[float, bool]] = {}
    for fold in range(folds):
        held = {i for i in order if fold_of[i] == fold}
        if groups is None:
            keep = [j for j in range(len(train_features)) if j not in held]
        else:
            left_out = {g for g, f in fold_of_group.items() if f == fold}
            keep = [j for j in range(len(train_features)) if j not in held and groups[j] not in left_out]
        weights, bias = fit_weights([train_features[j] for j in keep], [train_labels[j] for j in keep], settings)
        probe = BinaryHead(name, weights, bias, 1.0, 0.5, {})
        for i in held:
            scores[i] = (probe.score(train_features[i]), any(x in weights for x in train_features[i]))
    return [scores[i] for i in indices]


def grouped_fold_heads(name: str, train_features: Sequence[set[str]], train_labels: Sequence[bool],
                       groups: Sequence[str | None], settings: HeadSettings, folds: int) -> dict[str, BinaryHead]:
    """For every group (a document whose passages are all training items), the head fitted
    without the fold holding it: each document is scored by a model that saw none of its
    passages. Items whose group is None (generated negatives) are always trained on."""
    order = sorted({g for g in groups if g is not None})
    fold_of = {g: k % folds for k, g in enumerate(order)}
    by_group: dict[str, BinaryHead] = {}
    for fold in range(folds):
        keep = [j for j, g in enumerate(groups) if g is None or fold_of[g] != fold]
        weights, bias = fit_weights([train_features[j] for j in keep], [train_labels[j] for j in keep], settings)
        probe = BinaryHead(name, weights, bias, 1.0, 0.5, {})
        by_group.update({g: probe for g in order if fold_of[g] == fold})
    return by_group


def train_head(name: str, *, train_features: Sequence[set[str]], train_labels: Sequence[bool],
               dev_features: Sequence[set[str]], dev_labels: Sequence[bool], dev_rule_fires: Sequence[bool],
               dev_applies: Sequence[bool] | None = None,
               settings: HeadSettings = HeadSettings(), notes: dict[str, Any] | None = None,
               cross_fit: CrossFit | None = None,
               on_pool: Callable[[list[float], list[bool], list[bool]], None] | None = None) -> dict[str, Any]:
    """Fit, calibrate and threshold one head; the JSON structure ``BinaryHead.from_dict`` loads.

    ``on_pool``, when given, receives the pool the threshold is chosen on (calibrated
    probabilities, labels, rule fires: dev, then the out-of-fold training cases), so a
    cross-validation can sweep budgets without refitting (:mod:`evals.intent_cv`)."""
    weights, bias = fit_weights(train_features, train_labels, settings)
    probe = BinaryHead(name, weights, bias, 1.0, 0.5, {})
    # A text with no known feature is never a yes at runtime (BinaryHead.decide).
    applies = list(dev_applies) if dev_applies is not None else [True] * len(dev_features)
    scored = [(probe.score(f), any(x in weights for x in f)) for f in dev_features]
    labels, rule_fires = list(dev_labels), list(dev_rule_fires)
    if cross_fit is not None:
        scored += out_of_fold_scores(name, train_features, train_labels, cross_fit.indices, settings, cross_fit.folds,
                                     cross_fit.groups)
        labels += [bool(train_labels[i]) for i in cross_fit.indices]
        rule_fires += list(cross_fit.rule_fires)
        applies += list(cross_fit.applies) if cross_fit.applies is not None else [True] * len(cross_fit.indices)
    temperature = fit_binary_temperature([s for s, _ in scored], labels)
    calibrated = BinaryHead(name, weights, bias, temperature, 0.5, {})
    probabilities = [calibrated.probability_of_score(s) if a and known else 0.0
                     for (s, known), a in zip(scored, applies, strict=True)]
    if on_pool is not None:
        on_pool(list(probabilities), list(labels), list(rule_fires))
    threshold, measured = choose_threshold(probabilities, labels, rule_fires, settings.max_false_rate,
                                           budget_includes_rules=settings.budget_includes_rules)
    if cross_fit is not None:
        dev_only, dev_measured = choose_threshold(probabilities[: len(dev_labels)], dev_labels, dev_rule_fires,
                                                  settings.max_false_rate,
                                                  budget_includes_rules=settings.budget_includes_rules)
        at = [p >= threshold or r for p, r in zip(probabilities[: len(dev_labels)], dev_rule_fires, strict=True)]
        pos = sum(map(bool, dev_labels))
        neg = len(dev_labels) - pos
        measured = {**measured, "pool": "dev + out-of-fold train", "cross_fit_cases": len(cross_fit.indices),
                    "dev_recall_at_threshold": round(sum(1 for d, y in zip(at, dev_labels, strict=True) if d and y) / pos, 4) if pos else None,
                    "dev_false_rate_at_threshold": round(sum(1 for d, y in zip(at, dev_labels, strict=True) if d and not y) / neg, 4) if neg else None,
                    "dev_only_threshold": dev_only, "dev_only_recall": dev_measured["dev_recall_combined"]}
    return {
        "bias": bias,
        "temperature": temperature,
        "threshold": threshold,
        "weights": dict(sorted(weights.items())),
        "metadata": {
            "train_cases": len(train_labels), "train_positives": sum(map(bool, train_labels)),
            "features": len(weights), "settings": settings.to_dict(), "dev": measured, **(notes or {}),
        },
    }


FeatureFn = Callable[[str], set[str]]
