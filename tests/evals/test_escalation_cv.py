"""evals.escalation_cv: the CLINC held-out sample is disjoint from training, and the head
is asked about exactly the messages the runtime asks it about."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn")

from evals.escalation_cv import Decided, clinc_held_out_texts  # noqa: E402
from evals.train_intent import (  # noqa: E402
    CLINC_PATH,
    EscalateHeadSettings,
    TrainSettings,
    clinc_out_of_scope_sample,
    escalate_head_asked,
)
from pipeline.domain.intent.escalation import not_a_current_incident  # noqa: E402


def test_the_clinc_held_out_sample_shares_no_text_with_anything_training_reads() -> None:
    base = TrainSettings()
    training = clinc_out_of_scope_sample(CLINC_PATH, base.clinc_per_intent, base.clinc_oos, base.seed,
                                         base.clinc_per_lookalike)
    held_out = clinc_held_out_texts(training)
    assert len(held_out) > 500
    data = json.loads(CLINC_PATH.read_text(encoding="utf-8"))
    readable = {t.strip().lower() for t, _ in data["train"] + data["oos_train"]}
    # Training only ever samples CLINC train + oos_train; the held-out texts come from val.
    assert not {t.strip().lower() for t in held_out} & {t.strip().lower() for t in training}
    assert len({t.strip().lower() for t in held_out} & readable) <= 5  # CLINC's own few repeats


def test_the_head_is_asked_about_out_of_scope_only_when_its_settings_say_so() -> None:
    in_scope_only, everything = EscalateHeadSettings(), EscalateHeadSettings(asks_out_of_scope=True)
    text = "i want to speak to a real person about my pizza order"
    off_topic, aws = Decided("out_of_scope", False), Decided("general_support", False)
    assert not escalate_head_asked(text, off_topic, in_scope_only)
    assert escalate_head_asked(text, off_topic, everything)
    assert escalate_head_asked(text, aws, in_scope_only)
    assert not escalate_head_asked(text, Decided("general_support", True), everything)  # a rule decided
    hypothetical = "how do refunds work in general?"
    assert not_a_current_incident(hypothetical)
    assert not escalate_head_asked(hypothetical, aws, everything)
