"""How binary heads are fitted, calibrated and thresholded (evals.train_heads)."""

from __future__ import annotations

import math
import random

from evals.train_heads import HeadSettings, choose_threshold, fit_binary_temperature, train_head
from pipeline.domain.textfeatures import BinaryHead


def test_the_threshold_keeps_combined_false_positives_inside_the_budget() -> None:
    rng = random.Random(3)
    labels = [True] * 50 + [False] * 200
    probabilities = [rng.uniform(0.4, 1.0) if y else rng.uniform(0.0, 0.7) for y in labels]
    rules = [i % 10 == 0 for i in range(250)]  # a rule firing on some of each
    for budget in (0.0, 0.02, 0.1):
        threshold, measured = choose_threshold(probabilities, labels, rules, budget)
        false = sum(1 for p, y, r in zip(probabilities, labels, rules, strict=True) if not y and (r or p >= threshold))
        rule_false = sum(1 for y, r in zip(labels, rules, strict=True) if r and not y)
        assert false / 200 <= max(budget, rule_false / 200) + 1e-9
        assert measured["dev_false_rate_combined"] == round(false / 200, 4)
    loose, _ = choose_threshold(probabilities, labels, rules, 0.1)
    tight, _ = choose_threshold(probabilities, labels, rules, 0.0)
    assert loose <= tight  # a bigger budget never raises the threshold


def test_temperature_fit_lowers_the_log_loss_of_overconfident_scores() -> None:
    rng = random.Random(5)
    labels = [rng.random() < 0.5 for _ in range(400)]
    # scores 10x too large: right most of the time but far too sure
    scores = [(1 if y else -1) * 10 * rng.uniform(0.1, 1.0) * (1 if rng.random() < 0.8 else -1) for y in labels]

    def loss(t: float) -> float:
        return sum(math.log1p(math.exp(-s / t if y else s / t)) for s, y in zip(scores, labels, strict=True))

    t = fit_binary_temperature(scores, labels)
    assert t > 2.0
    assert loss(t) < loss(1.0)


def _toy_features(word: str, n: int) -> set[str]:
    return {f"w:{word}", f"w:noise{n % 7}", f"w:filler{n % 3}"}


def _toy_problem() -> dict[str, list]:
    """A separable toy: "human" positives, "lambda" negatives, 80 train and 40 dev messages."""
    return {
        "train_features": [_toy_features("human", n) for n in range(40)] + [_toy_features("lambda", n) for n in range(40)],
        "train_labels": [True] * 40 + [False] * 40,
        "dev_features": [_toy_features("human", n) for n in range(10)] + [_toy_features("lambda", n) for n in range(30)],
        "dev_labels": [True] * 10 + [False] * 30,
    }


def test_train_head_learns_a_separable_toy_problem_and_loads_at_runtime() -> None:
    data = train_head("toy", **_toy_problem(), dev_rule_fires=[False] * 40, settings=HeadSettings(max_false_rate=0.0))
    head = BinaryHead.from_dict("toy", data)
    assert data["metadata"]["dev"]["dev_recall_combined"] == 1.0
    assert data["metadata"]["dev"]["dev_false_rate_combined"] == 0.0
    assert head.decide(_toy_features("human", 99)) and not head.decide(_toy_features("lambda", 99))


def test_out_of_fold_scores_come_from_models_that_never_saw_the_case() -> None:
    # Each positive is a feature of its own: the model fitted on everything knows it, a
    # model fitted without the case's fold has never seen it (so it cannot say yes).
    from evals.train_heads import fit_weights, out_of_fold_scores

    train = [{f"w:unique{n}"} for n in range(20)] + [{"w:other", f"w:neg{n % 5}"} for n in range(20)]
    labels = [True] * 20 + [False] * 20
    settings = HeadSettings(min_df=1)
    weights, _ = fit_weights(train, labels, settings)
    assert all(f"w:unique{n}" in weights for n in range(20))  # in sample: every case known
    oof = out_of_fold_scores("toy", train, labels, list(range(40)), settings, folds=5)
    assert [known for _, known in oof[:20]] == [False] * 20  # out of fold: none of them
    assert all(known for _, known in oof[20:])  # "w:other" is in every fold's training


def test_out_of_fold_scores_by_group_come_from_models_that_never_saw_the_author() -> None:
    # Every case of an author carries that author's word only (authors 0-3 positive, 4-7
    # negative). Interleaved folds leave the author's other cases in training (the word is
    # known); folds by group fit without the whole author (never known). Ungrouped items
    # (generated negatives) are always trained on.
    from evals.train_heads import out_of_fold_scores

    train = [{f"w:author{n % 8}"} for n in range(40)] + [{"w:lambda"}] * 5 + [{"w:human"}] * 5
    labels = [n % 8 < 4 for n in range(40)] + [False] * 5 + [True] * 5
    groups = [f"a{n % 8}" for n in range(40)] + [None] * 10
    settings = HeadSettings(min_df=1)
    indices = list(range(40))
    interleaved = out_of_fold_scores("toy", train, labels, indices, settings, folds=5)
    grouped = out_of_fold_scores("toy", train, labels, indices, settings, folds=5, groups=groups)
    assert all(known for _, known in interleaved)
    assert not any(known for _, known in grouped)


def test_cross_fit_judges_the_threshold_on_dev_and_out_of_fold_cases() -> None:
    from evals.train_heads import CrossFit

    data = train_head("toy", **_toy_problem(), dev_rule_fires=[False] * 40, settings=HeadSettings(max_false_rate=0.0),
                      cross_fit=CrossFit(indices=list(range(80)), rule_fires=[False] * 80))
    measured = data["metadata"]["dev"]
    assert measured["dev_negatives"] == 30 + 40 and measured["dev_positives"] == 10 + 40
    assert measured["cross_fit_cases"] == 80 and measured["dev_false_rate_at_threshold"] == 0.0
    assert measured["dev_recall_at_threshold"] == 1.0


def test_cross_fit_cases_the_runtime_never_asks_do_not_spend_the_budget() -> None:
    from evals.train_heads import CrossFit

    # Training negatives that look exactly like positives ("human" words, label False): scored
    # out of fold they would be false positives, unless the runtime never asks the head about
    # them (the escalate head is silent on hypothetical and past framings).
    problem = _toy_problem()
    problem["train_features"] += [_toy_features("human", n) for n in range(40, 60)]
    problem["train_labels"] += [False] * 20
    indices = list(range(100))
    asked_everywhere = train_head("toy", **problem, dev_rule_fires=[False] * 40,
                                  settings=HeadSettings(max_false_rate=0.0),
                                  cross_fit=CrossFit(indices=indices, rule_fires=[False] * 100))
    not_asked_about_lookalikes = train_head(
        "toy", **problem, dev_rule_fires=[False] * 40, settings=HeadSettings(max_false_rate=0.0),
        cross_fit=CrossFit(indices=indices, rule_fires=[False] * 100, applies=[True] * 80 + [False] * 20))
    assert not_asked_about_lookalikes["threshold"] < asked_everywhere["threshold"]
    assert not_asked_about_lookalikes["metadata"]["dev"]["dev_recall_at_threshold"] == 1.0


def test_an_added_only_budget_leaves_the_rules_false_positives_out() -> None:
    labels = [True] * 10 + [False] * 100
    probabilities = [0.9] * 10 + [0.6] * 3 + [0.1] * 97
    rules = [False] * 10 + [False] * 3 + [True] * 3 + [False] * 94  # the rules: 3 false positives
    combined, _ = choose_threshold(probabilities, labels, rules, 0.03)
    added_only, _ = choose_threshold(probabilities, labels, rules, 0.03, budget_includes_rules=False)
    assert combined > 0.6  # the rules already spent the 3%: the head may add nothing
    assert added_only <= 0.6  # the head's own 3 false positives fit the 3% it is given
