"""Leave-one-batch-out cross-validation helpers (evals.intent_cv) and the threshold pool
:func:`evals.train_heads.train_head` hands to it."""

from __future__ import annotations

from evals.intent_cv import Budget, Tally, batch_of
from evals.train_heads import HeadSettings, choose_threshold, train_head
from tests.evals.test_train_heads import _toy_problem


def test_a_case_belongs_to_the_batch_its_id_names() -> None:
    assert batch_of("it3-0042") == "it3"
    assert batch_of("et2-0001") == "et2"
    assert batch_of("intent-v1-0868") == "intent-v1"
    assert batch_of("aws-docs-0213") == "aws-docs"
    assert batch_of("ia-12") == "ia"
    assert batch_of("it3-0042") != batch_of("it2-0042")


def test_the_tally_pools_recall_and_false_rate_over_batches() -> None:
    tally = Tally()
    tally.add([True, True, False, False], [True, False, True, False])
    tally.add([True, False], [True, False])
    numbers = tally.as_dict()
    assert (numbers["positives"], numbers["negatives"]) == (3, 3)
    assert numbers["recall"] == round(2 / 3, 4)
    assert numbers["false_rate"] == round(1 / 3, 4)
    assert Tally().as_dict()["recall"] is None  # no positives: no recall, not a perfect one


def test_budget_labels_say_what_the_budget_counts() -> None:
    assert Budget(0.01, False).label == "1.0% added only"
    assert Budget(0.025, True).label == "2.5% incl. rules"


def test_the_pool_handed_out_gives_the_threshold_the_head_ships_with() -> None:
    pools = []
    settings = HeadSettings(max_false_rate=0.05)
    data = train_head("toy", **_toy_problem(), dev_rule_fires=[False] * 40, settings=settings,
                      on_pool=lambda p, y, r: pools.append((p, y, r)))
    assert len(pools) == 1
    probabilities, labels, rule_fires = pools[0]
    assert len(probabilities) == len(labels) == len(rule_fires) == 40
    threshold, _ = choose_threshold(probabilities, labels, rule_fires, settings.max_false_rate,
                                    budget_includes_rules=settings.budget_includes_rules)
    assert threshold == data["threshold"]
