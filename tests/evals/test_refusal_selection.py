"""Leave-one-batch-out fitting and selection of the refusal heads (evals.refusal_selection)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from evals.refusal_selection import (
    Candidate,
    Message,
    added_false_blocks,
    batch_of,
    batch_report,
    build_matrix,
    choose_all,
    fit,
    fit_fold_scores,
    fold_of,
    message_scores,
    summary,
    training_rows,
)
from pipeline.domain.textfeatures import BinaryHead


@pytest.mark.parametrize(("case_id", "batch", "fold"), [
    ("rt7-0001", "rt7", "rt7"), ("rt-0320", "rt", "rt"), ("st3-0283", "st3", "st*"),
    ("hn-0186", "hn", "v1+hn"), ("gin-credential_request-018", "gin", "v1+hn"),
])
def test_a_case_belongs_to_the_batch_of_its_id(case_id: str, batch: str, fold: str) -> None:
    assert batch_of(case_id) == batch
    assert fold_of(batch) == fold


def _message(passages: list[set[str]], category: str | None, batch: str, rule: bool = False,
             fold: bool = True) -> Message:
    return Message(tuple(frozenset(p) for p in passages), frozenset({category} if category else ()),
                   category is None, category is None, rule, batch if fold else None, batch if fold else "dev")


def _toy_corpus(seed: int = 3) -> list[Message]:
    """Three refusal batches of different authors: each says 'password' its own way; allowed
    messages talk about passwords policies. A held-out batch is only found through the words
    the batches share."""
    rng = random.Random(seed)
    filler = [f"w:f{i}" for i in range(30)]
    messages = []
    for b, own in enumerate(["w:gimme", "w:hand", "w:send"]):
        for _ in range(30):
            messages.append(_message([{own, "w:password", "w:colleague", *rng.sample(filler, 3)}], "credential_request", f"rt{b + 2}"))
            messages.append(_message([{"w:password", "w:policy", *rng.sample(filler, 3)}], None, f"rt{b + 2}"))
    for _ in range(20):  # dev: always trained on
        messages.append(_message([{"w:gimme", "w:password", "w:colleague"}], "credential_request", "dev", fold=False))
        messages.append(_message([{"w:password", "w:rotation", *rng.sample(filler, 2)}], None, "dev", fold=False))
    return messages


def test_every_held_out_message_is_scored_by_a_head_that_never_saw_its_batch() -> None:
    messages = _toy_corpus()
    matrix = build_matrix(messages)
    folds = sorted({m.fold for m in messages if m.fold})
    scores = fit_fold_scores(matrix, messages, "credential_request", Candidate(4.0, 0), folds,
                             min_df=1, seed=13, decimals=4)
    held = [i for i, m in enumerate(messages) if m.fold is not None]
    assert not np.isnan(scores[held]).any()
    assert np.isnan(scores[[i for i, m in enumerate(messages) if m.fold is None]]).all()
    # "w:send" is seen only in rt4: its positives score by the shared words alone, lower than
    # positives of rt2, whose "w:gimme" the other batches' dev cases teach
    rt2 = [scores[i] for i, m in enumerate(messages) if m.batch == "rt2" and not m.allowed]
    rt4 = [scores[i] for i, m in enumerate(messages) if m.batch == "rt4" and not m.allowed]
    assert np.mean(rt2) > np.mean(rt4)


def test_a_message_scores_its_best_passage_as_the_runtime_does() -> None:
    messages = [_message([{"w:a", "w:b", "w:c", "w:d"}, {"w:a", "w:b"}, {"w:c", "w:d"}], "credential_request", "rt2"),
                _message([{"w:a", "w:c"}], None, "rt2")]
    matrix = build_matrix(messages)
    rows, labels = training_rows(matrix, messages, "credential_request", np.ones(2, dtype=bool))
    assert list(labels) == [True, False]  # the positive's windows are not training rows
    fitted = fit(matrix, rows, labels, 4.0, 1, 13, 4)
    scores = message_scores(matrix, fitted, np.arange(matrix.rows.shape[0]), 2)
    weights = {matrix.vocabulary[i]: float(fitted.coef[i]) for i in np.flatnonzero(fitted.coef)}
    head = BinaryHead("credential_request", weights, fitted.bias, 1.0, 0.5, {})
    assert math.isclose(scores[0], max(head.score(p) for p in messages[0].passages), abs_tol=1e-9)
    assert math.isclose(scores[1], head.score(messages[1].passages[0]), abs_tol=1e-9)


def test_the_heads_together_stay_within_the_false_block_budget() -> None:
    rng = np.random.default_rng(5)
    messages = []
    scores = {"credential_request": [], "prompt_attack": []}
    for i in range(400):
        category = None if i % 2 else ("credential_request" if i % 4 == 0 else "prompt_attack")
        messages.append(_message([{"w:x"}], category, f"rt{i % 3 + 2}", rule=(i % 50 == 1)))
        for c in scores:
            scores[c].append(rng.normal(2.0 if category == c else 0.0, 1.0))
    held = choose_all(messages, {c: np.array(s) for c, s in scores.items()}, 0.02)
    assert added_false_blocks(messages, held) <= 0.02
    looser = choose_all(messages, {c: np.array(s) for c, s in scores.items()}, 0.10)
    assert all(looser[c].threshold <= held[c].threshold for c in held)
    report = batch_report(messages, held)
    assert set(report) == {"rt2", "rt3", "rt4"}
    total = summary(report, list(scores))
    assert total["allowed_added_false_block_rate"] <= 0.02
    assert 0.0 <= total["per_category"]["credential_request"]["mean_recall"] <= 1.0
