"""Concept lexicons (pipeline/domain/intent/concepts.toml) and the learned escalate head."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain.intent import MODEL_FORMAT, IntentDetector, IntentModel, load_intent_model
from pipeline.domain.intent.concepts import (
    CONCEPTS,
    ConceptsError,
    concept_features,
    concept_names,
    load_concepts,
)
from pipeline.domain.models import NlpAnalysis
from pipeline.domain.textfeatures import BinaryHead


@pytest.mark.parametrize("concept", CONCEPTS, ids=lambda c: c.name)
def test_every_concept_matches_its_examples_and_not_its_counter_examples(concept) -> None:
    assert concept.must_match and concept.must_not_match
    for text in concept.must_match:
        assert concept.name in concept_names(text), text
    for text in concept.must_not_match:
        assert concept.name not in concept_names(text), text


def test_concept_features_name_each_concept_and_each_pair() -> None:
    features = concept_features("Can someone call me? Our production checkout is down")
    assert {"k:person", "k:contact", "k:production", "k:down"} <= features
    assert "k2:contact+person" in features and "k2:down+production" in features


def test_the_same_meaning_in_two_languages_shares_its_concept_pair() -> None:
    english = concept_features("can somebody phone me")
    german = concept_features("kann mich jemand anrufen")
    japanese = concept_features("誰か電話してください")
    assert "k2:contact+person" in english & german & japanese


def test_stems_start_words_and_do_not_match_inside_them() -> None:
    assert "person" not in concept_names("the mansion is big")  # stems start words
    assert "person" in concept_names("I need a technician")  # ...and have a free end
    assert "bot" not in concept_names("both subnets")  # a short stem is a whole word
    assert "production" not in concept_names("a product question")  # so is a listed `words` entry
    assert "production" in concept_names("prod is down")


def test_a_concept_without_terms_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('format = "concepts-v1"\n[concept.empty]\nstems = []\n', encoding="utf-8")
    with pytest.raises(ConceptsError, match="empty"):
        load_concepts(path)


class _Nlp:
    def analyze(self, text: str) -> NlpAnalysis:
        return NlpAnalysis(sentiment="NEUTRAL")


def _with_head(model: IntentModel, head: BinaryHead | None) -> IntentModel:
    return IntentModel(model.classes, model.weights, model.bias, model.temperature, model.rule_confidence,
                       model.metadata, {} if head is None else {"escalate": head})


def test_the_shipped_model_has_an_escalate_head_chosen_on_dev() -> None:
    head = load_intent_model().heads["escalate"]
    dev = head.metadata["dev"]
    assert 0.0 < head.threshold < 1.0
    settings = head.metadata["settings"]
    if settings.get("budget_includes_rules", True):
        assert dev["dev_false_rate_combined"] <= settings["max_false_rate"] + 1e-9
    else:  # the head's budget counts only the false escalations it adds to the rules' own
        assert dev["dev_false_rate_combined"] - dev["dev_false_rate_rules_only"] <= settings["max_false_rate"] + 1e-9
    assert dev["dev_recall_combined"] >= dev["dev_recall_rules_only"]


def test_the_head_escalates_what_no_trigger_lists_and_says_so() -> None:
    model = load_intent_model()
    text = "ik wil met iemand bellen over mijn lambda"  # no trigger phrase in this wording
    toy = BinaryHead("escalate", {"k2:contact+person": 6.0}, -3.0, 1.0, 0.5, {})
    without = IntentDetector(_with_head(model, None), _Nlp()).detect(text)
    with_head = IntentDetector(_with_head(model, toy), _Nlp()).detect(text)
    assert not without.escalate
    assert with_head.escalate and "learned_escalation" in with_head.reasons


def test_the_head_never_escalates_an_out_of_scope_message() -> None:
    model = load_intent_model()
    toy = BinaryHead("escalate", {"k:person": 6.0, "w:pizza": 6.0}, -3.0, 1.0, 0.5, {})
    result = IntentDetector(_with_head(model, toy), _Nlp()).detect("what is the best pizza topping for someone who hates cheese")
    assert result.intent == "out_of_scope"
    assert not result.escalate


def test_a_head_fitted_with_out_of_scope_messages_is_asked_about_them_too() -> None:
    """The model file says whether its head was fitted and thresholded with out_of_scope
    messages in its population (evals.escalation_cv); only then is it asked about them."""
    model = load_intent_model()
    text = "what is the best pizza topping for someone who hates cheese"
    asked = _with_head(model, BinaryHead("escalate", {"w:pizza": 6.0}, -3.0, 1.0, 0.5, {"asks_out_of_scope": True}))
    data_model = _with_head(model, BinaryHead("escalate", {"w:pizza": 6.0}, -3.0, 1.0, 0.5, {"asks_out_of_scope": False}))
    not_asked = IntentDetector(data_model, _Nlp()).detect(text)
    result = IntentDetector(asked, _Nlp()).detect(text)
    assert not_asked.intent == result.intent == "out_of_scope"
    assert not not_asked.escalate
    assert result.escalate and "learned_escalation" in result.reasons
    # The flag travels in the model file, inside the head's metadata.
    head = {"bias": -3.0, "temperature": 1.0, "threshold": 0.5, "weights": {"w:pizza": 6.0},
            "metadata": {"asks_out_of_scope": True}}
    shipped = load_intent_model()
    for flag in (True, False):
        head["metadata"] = {"asks_out_of_scope": flag}
        raw = {"format": MODEL_FORMAT, "classes": list(shipped.classes),
               "weights": {k: list(v) for k, v in list(shipped.weights.items())[:5]},
               "bias": list(shipped.bias), "calibration": {"temperature": 1.0}, "heads": {"escalate": head}}
        assert IntentModel.from_dict(raw).escalate_head_asks_out_of_scope is flag
