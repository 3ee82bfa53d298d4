"""Leave-one-batch-out fitting and selection of the input guardrail's refusal heads.

The refusal heads exist for text nobody here wrote. A dev split of a few hundred cases from
older authors did not predict how a retrained head does on the next batch of new authors
(two retrainings with more data scored lower on dev and were dropped; the fresh batches then
measured far below dev). This module measures what matters instead: **leave one batch out**.
The training cases are grouped by the batch they came in (id prefix ``rt``, ``rt2`` … ``rt7``,
the secrets batches ``st*``, the v1 and hard-negative sets); each held-out batch is scored by
heads fitted on every other batch plus dev, so every score is that of a head that never saw
the batch's author. Per held-out refusal batch it reports recall per category and the allowed
messages (hard negatives among them) the heads add as false blocks, at one threshold per head
chosen on the pooled held-out scores within a fixed false-block budget; settings (``c``,
passage window) are chosen by the mean recall over the held-out refusal batches.

Messages are scored **by passage** (:func:`pipeline.domain.guardrails.topic_model.passages`):
the whole message and its windows, taking the highest score, so a request inside a pasted log
or a long story is not diluted by the words around it. The heads are trained on whole
messages and on the windows of allowed messages (negatives), and thresholded on the held-out
messages' passage maxima, so the budget counts what the runtime blocks.

Training time only (numpy, scipy, scikit-learn); the runtime reads the JSON it writes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The batch a case came in: its id's prefix (``rt7-0001`` -> ``rt7``, ``gin-aws-003`` -> ``gin``).
_BATCH_RE = re.compile(r"^([a-z]+\d*)-")
#: Batches written to be refused (credential requests, roadmap questions, attacks): the
#: held-out batches whose recall chooses the settings.
REFUSAL_BATCH_RE = re.compile(r"^rt\d*$")


def batch_of(case_id: str) -> str:
    """The batch of a golden case, from its id."""
    found = _BATCH_RE.match(case_id)
    return found.group(1) if found else case_id


def fold_of(batch: str) -> str:
    """The fold a batch is held out in: each refusal batch alone; the secrets batches
    (``st*``) together and the v1 and hard-negative sets together (fewer fits: they hold no
    refusal to recall, only allowed messages for the budget)."""
    if REFUSAL_BATCH_RE.match(batch):
        return batch
    if re.match(r"^st\d*$", batch):
        return "st*"
    return "v1+hn"


@dataclass(frozen=True, slots=True)
class Message:
    """One message the heads learn from or are judged on.

    ``passages[0]`` is the whole message, the rest its windows. ``fold`` is None for
    messages always trained on (dev, generated negatives)."""

    passages: tuple[frozenset[str], ...]
    categories: frozenset[str]
    allowed: bool
    hard_negative: bool
    rule_fires: bool
    fold: str | None
    batch: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """The settings leave-one-batch-out compares."""

    c: float
    window: int
    #: ``latin`` or ``all`` (:data:`pipeline.domain.guardrails.topic_model.SCRIPTS`)
    scripts: str = "all"

    @property
    def label(self) -> str:
        return f"c={self.c:g} window={self.window} scripts={self.scripts}"


@dataclass(slots=True)
class Matrix:
    """Binary passage-by-feature matrix over one global vocabulary (built once per window)."""

    rows: Any  # scipy.sparse.csr_matrix of 0/1
    message_of_row: Any  # numpy int array: the message of each row
    whole_row: Any  # numpy bool array: the row is a message's whole text
    vocabulary: list[str] = field(default_factory=list)


def build_matrix(messages: Sequence[Message]) -> Matrix:
    import numpy as np
    from scipy.sparse import csr_matrix

    column: dict[str, int] = {}
    indptr, indices, owner, whole = [0], [], [], []
    for m, message in enumerate(messages):
        for p, features in enumerate(message.passages):
            indices.extend(column.setdefault(f, len(column)) for f in features)
            indptr.append(len(indices))
            owner.append(m)
            whole.append(p == 0)
    data = np.ones(len(indices), dtype=np.float64)
    rows = csr_matrix((data, np.array(indices, dtype=np.int64), np.array(indptr, dtype=np.int64)),
                      shape=(len(owner), len(column)))
    rows.sum_duplicates()
    vocabulary = [""] * len(column)
    for f, i in column.items():
        vocabulary[i] = f
    return Matrix(rows, np.array(owner), np.array(whole), vocabulary)


@dataclass(frozen=True, slots=True)
class Fitted:
    coef: Any  # numpy array over the global vocabulary (0 outside the fold's vocabulary)
    bias: float


def fit(matrix: Matrix, train_rows: Any, labels: Any, c: float, min_df: int, seed: int, decimals: int) -> Fitted:
    """L2 logistic regression on L2-normalised binary rows, as
    :func:`evals.train_heads.fit_weights` (vocabulary: features in ``min_df`` training rows;
    weights rounded to ``decimals``), on a row subset of a prebuilt matrix."""
    import numpy as np
    from scipy.sparse import diags
    from sklearn.linear_model import LogisticRegression

    x = matrix.rows[train_rows]
    keep = np.asarray(x.sum(axis=0)).ravel() >= min_df
    x = x[:, keep]
    present = np.asarray(x.sum(axis=1)).ravel()
    x = diags(1.0 / np.sqrt(np.maximum(present, 1.0))) @ x
    y = labels.astype(int)
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=seed)
    model.fit(x, y)
    coef = np.zeros(matrix.rows.shape[1])
    coef[np.flatnonzero(keep)] = np.round(model.coef_[0], decimals)
    return Fitted(coef, round(float(model.intercept_[0]), decimals))


def message_scores(matrix: Matrix, fitted: Fitted, rows: Any, n_messages: int) -> Any:
    """Per message, the highest raw score over its passages among ``rows`` (the runtime's
    ``bias + sum(w) / sqrt(n known)``; NaN when no passage has a known feature: a head never
    says yes then)."""
    import numpy as np

    x = matrix.rows[rows]
    known = np.asarray(x @ (fitted.coef != 0).astype(np.float64)).ravel()
    total = np.asarray(x @ fitted.coef).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(known > 0, fitted.bias + total / np.sqrt(known), -np.inf)
    best = np.full(n_messages, -np.inf)
    np.maximum.at(best, matrix.message_of_row[rows], score)
    return np.where(np.isfinite(best), best, np.nan)


def training_rows(matrix: Matrix, messages: Sequence[Message], category: str, include: Any) -> tuple[Any, Any]:
    """The rows a head fits on among the messages in ``include``: every whole message, and
    the windows of messages that are not of ``category`` (negatives); returns rows, labels."""
    import numpy as np

    positive = np.array([category in m.categories for m in messages])
    owner = matrix.message_of_row
    use = include[owner] & (matrix.whole_row | ~positive[owner])
    rows = np.flatnonzero(use)
    return rows, positive[owner[rows]]


def fit_fold_scores(matrix: Matrix, messages: Sequence[Message], category: str, candidate: Candidate,
                    folds: Sequence[str], *, min_df: int, seed: int, decimals: int) -> Any:
    """Every message of ``folds`` scored by a head fitted without its fold (NaN elsewhere)."""
    import numpy as np

    fold = np.array([m.fold or "" for m in messages])
    scores = np.full(len(messages), np.nan)
    for held in folds:
        rows, labels = training_rows(matrix, messages, category, fold != held)
        fitted = fit(matrix, rows, labels, candidate.c, min_df, seed, decimals)
        judged = np.flatnonzero((fold == held)[matrix.message_of_row])
        held_scores = message_scores(matrix, fitted, judged, len(messages))
        mask = fold == held
        scores[mask] = held_scores[mask]
    return scores


@dataclass(frozen=True, slots=True)
class HeldOut:
    """A category's held-out scores and the threshold chosen on them."""

    category: str
    scores: Any  # raw passage-max score per message (NaN: not held out, or nothing known)
    temperature: float
    threshold: float
    measured: Mapping[str, Any]


def probabilities(scores: Any, temperature: float) -> Any:
    import numpy as np

    z = np.nan_to_num(scores / temperature, nan=-np.inf)
    return 1.0 / (1.0 + np.exp(-z))


def choose(messages: Sequence[Message], category: str, scores: Any, budget: float) -> HeldOut:
    """Temperature and threshold for one head from held-out scores: the lowest threshold at
    which the head adds at most ``budget`` false blocks of the held-out allowed messages the
    patterns do not already block (:func:`evals.train_heads.choose_threshold`)."""
    import numpy as np

    from evals.train_heads import choose_threshold, fit_binary_temperature

    judged = [i for i, m in enumerate(messages)
              if m.fold is not None and (category in m.categories or m.allowed)]
    labels = [category in messages[i].categories for i in judged]
    known = [i for i in judged if not np.isnan(scores[i])]
    temperature = fit_binary_temperature([float(scores[i]) for i in known],
                                         [category in messages[i].categories for i in known])
    probs = probabilities(scores, temperature)
    threshold, measured = choose_threshold([float(probs[i]) for i in judged], labels,
                                           [messages[i].rule_fires for i in judged], budget,
                                           budget_includes_rules=False)
    return HeldOut(category, scores, temperature, threshold,
                   {**measured, "pool": "leave-one-batch-out: train batches, each scored by heads fitted without it"})


def added_false_blocks(messages: Sequence[Message], held: Mapping[str, HeldOut]) -> float:
    """The share of held-out allowed messages (not blocked by the patterns) that any head blocks."""
    import numpy as np

    allowed = np.array([m.allowed and m.fold is not None for m in messages])
    free = allowed & ~np.array([m.rule_fires for m in messages])
    yes = np.zeros(len(messages), dtype=bool)
    for h in held.values():
        yes |= probabilities(h.scores, h.temperature) >= h.threshold
    return float((yes & free).sum() / max(int(allowed.sum()), 1))


def choose_all(messages: Sequence[Message], scores: Mapping[str, Any], budget: float, steps: int = 40) -> dict[str, HeldOut]:
    """Thresholds for every head such that, together, the heads add at most ``budget`` false
    blocks of the held-out allowed messages: each head gets the same share ``b`` of it, the
    largest ``b`` (of ``steps`` tried, from ``budget`` down) whose union stays within."""
    chosen: dict[str, HeldOut] = {}
    for k in range(steps, 0, -1):
        share = budget * k / steps
        chosen = {c: choose(messages, c, s, share) for c, s in scores.items()}
        if added_false_blocks(messages, chosen) <= budget + 1e-12:
            return {c: _with_budget(h, share, budget) for c, h in chosen.items()}
    return {c: _with_budget(h, budget / steps, budget) for c, h in chosen.items()}


def _with_budget(held: HeldOut, share: float, budget: float) -> HeldOut:
    return HeldOut(held.category, held.scores, held.temperature, held.threshold,
                   {**held.measured, "head_budget": round(share, 6), "heads_budget": budget})


def batch_report(messages: Sequence[Message], held: Mapping[str, HeldOut]) -> dict[str, dict[str, Any]]:
    """Per held-out batch: recall per category (patterns OR head at its threshold; the head
    alone) and the allowed messages / hard negatives blocked (patterns, and what the heads add)."""
    report: dict[str, dict[str, Any]] = {}
    yes = {c: probabilities(h.scores, h.temperature) >= h.threshold for c, h in held.items()}
    for batch in sorted({m.batch for m in messages if m.fold is not None}):
        idx = [i for i, m in enumerate(messages) if m.batch == batch]
        row: dict[str, Any] = {"cases": len(idx)}
        for category in held:
            pos = [i for i in idx if category in messages[i].categories]
            if pos:
                row[category] = {"n": len(pos),
                                 "recall": round(sum(messages[i].rule_fires or bool(yes[category][i]) for i in pos) / len(pos), 4),
                                 "head_alone": round(sum(bool(yes[category][i]) for i in pos) / len(pos), 4)}
        allowed = [i for i in idx if messages[i].allowed]
        hard = [i for i in allowed if messages[i].hard_negative]
        added = {i for i in allowed if not messages[i].rule_fires and any(yes[c][i] for c in held)}
        row["allowed"] = len(allowed)
        row["allowed_blocked_by_patterns"] = sum(messages[i].rule_fires for i in allowed)
        row["allowed_blocked_added_by_heads"] = len(added)
        row["hard_negatives"] = len(hard)
        row["hard_negatives_blocked_added_by_heads"] = len(added & set(hard))
        report[batch] = row
    return report


def summary(report: Mapping[str, Mapping[str, Any]], categories: Sequence[str]) -> dict[str, Any]:
    """Mean recall per category over the held-out refusal batches, and the false blocks the
    heads add over all held-out batches: the numbers settings are chosen by."""
    refusal = {b: r for b, r in report.items() if REFUSAL_BATCH_RE.match(b)}
    means = {}
    for category in categories:
        values = [r[category]["recall"] for r in refusal.values() if category in r]
        alone = [r[category]["head_alone"] for r in refusal.values() if category in r]
        means[category] = {"mean_recall": round(sum(values) / len(values), 4) if values else None,
                           "mean_head_alone": round(sum(alone) / len(alone), 4) if alone else None}
    allowed = sum(r["allowed"] for r in report.values())
    added = sum(r["allowed_blocked_added_by_heads"] for r in report.values())
    hard = sum(r["hard_negatives"] for r in report.values())
    hard_added = sum(r["hard_negatives_blocked_added_by_heads"] for r in report.values())
    recalls = [m["mean_recall"] for m in means.values() if m["mean_recall"] is not None]
    return {"per_category": means,
            "mean_recall": round(sum(recalls) / len(recalls), 4) if recalls else None,
            "allowed_added_false_block_rate": round(added / allowed, 4) if allowed else None,
            "hard_negative_added_false_block_rate": round(hard_added / hard, 4) if hard else None,
            "allowed": allowed, "hard_negatives": hard}


def format_report(label: str, report: Mapping[str, Mapping[str, Any]], total: Mapping[str, Any],
                  categories: Sequence[str]) -> str:
    short = {"credential_request": "cred", "future_features": "future", "prompt_attack": "attack"}
    lines = [f"leave-one-batch-out, {label}"]
    for batch, row in report.items():
        parts = [f"{short.get(c, c)} {row[c]['recall']:.3f} (head {row[c]['head_alone']:.3f}, n={row[c]['n']})"
                 for c in categories if c in row]
        lines.append(f"  {batch:7} {'; '.join(parts) or '-':70} allowed +{row['allowed_blocked_added_by_heads']}/"
                     f"{row['allowed']} (hard negatives +{row['hard_negatives_blocked_added_by_heads']}/{row['hard_negatives']}; "
                     f"patterns {row['allowed_blocked_by_patterns']})")
    means = "; ".join(f"{short.get(c, c)} {v['mean_recall']}" for c, v in total["per_category"].items())
    lines.append(f"  mean over refusal batches: {means}; overall {total['mean_recall']}; heads add "
                 f"{total['allowed_added_false_block_rate']} of allowed, {total['hard_negative_added_false_block_rate']} of hard negatives")
    return "\n".join(lines)


def weights_of(fitted: Fitted, matrix: Matrix) -> dict[str, float]:
    import numpy as np

    return {matrix.vocabulary[i]: float(fitted.coef[i]) for i in np.flatnonzero(fitted.coef)}


def nan_safe(value: float) -> float | None:
    return None if math.isnan(value) else value
