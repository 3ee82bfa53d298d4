"""The intent catalogues are data: every pattern and trigger keeps the examples it carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain.intent.catalogue import CATALOGUE, CatalogueError, IntentCatalogue
from pipeline.domain.intent.escalation import (
    FRAMINGS,
    SIGNALS,
    TRIGGER_IDS,
    TRIGGERS,
    escalation_reasons,
    load_triggers,
    not_a_current_incident,
)
from pipeline.domain.intent.gazetteer import find_products, load_gazetteer
from pipeline.domain.textnorm import normalize

PATTERN_EXAMPLES = [(name, text, True) for name, spec in CATALOGUE.patterns.items() for text in spec.must_match] + [
    (name, text, False) for name, spec in CATALOGUE.patterns.items() for text in spec.must_not_match]
_ESCALATION_ENTRIES = (*TRIGGERS, *SIGNALS.values(), *FRAMINGS.values())
TRIGGER_EXAMPLES = [(t.id, text, True) for t in _ESCALATION_ENTRIES for text in t.must_match] + [
    (t.id, text, False) for t in _ESCALATION_ENTRIES for text in t.must_not_match]


@pytest.mark.parametrize(("name", "text", "matches"), PATTERN_EXAMPLES)
def test_pattern_examples(name: str, text: str, matches: bool) -> None:
    assert bool(CATALOGUE.pattern(name).search(text)) is matches


@pytest.mark.parametrize(("trigger", "text", "fires"), TRIGGER_EXAMPLES)
def test_trigger_examples(trigger: str, text: str, fires: bool) -> None:
    found = next(t for t in _ESCALATION_ENTRIES if t.id == trigger)
    # The detector asks the triggers about the normalised view ("が" is "か" there).
    assert found.fires(normalize(text).text) is fires


def test_every_trigger_has_examples_both_ways() -> None:
    assert {t.id for t in TRIGGERS} == set(TRIGGER_IDS)
    for trigger in TRIGGERS:
        assert trigger.must_match and trigger.must_not_match, trigger.id


def test_a_malformed_catalogue_names_the_file_and_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "catalogue.toml"
    bad.write_text('format = "intent-catalogue-v1"\n[lexicons]\n[patterns.broken]\npattern = "(unclosed"\n')
    with pytest.raises(CatalogueError, match=r"catalogue.toml: patterns.broken does not compile"):
        IntentCatalogue(bad)
    missing = tmp_path / "escalation.toml"
    missing.write_text('format = "escalation-catalogue-v1"\n[[trigger]]\nid = "threat_to_leave"\nany_of = ["x"]\n')
    with pytest.raises(CatalogueError, match="no trigger for"):
        load_triggers(missing)


def test_every_framing_has_examples_both_ways_and_silences_the_triggers_that_name_it() -> None:
    assert set(FRAMINGS) == {"hypothetical", "general_question", "hearsay", "past_resolved", "false_alarm",
                             "requirement"}
    for framing in FRAMINGS.values():
        assert framing.must_match and framing.must_not_match, framing.id
    # The same subject escalates when it is happening now and not when it is asked about.
    assert escalation_reasons("We want a refund for the double charge on our invoice.") == ("billing_dispute",)
    assert escalation_reasons("How do refunds work at AWS in general, for a double charge?") == ()
    assert escalation_reasons("Our account was hacked, there are IAM users nobody created.") == ("account_compromise",)
    assert escalation_reasons("Our account was hacked two years ago; it's resolved since. Which SCPs help?") == ()
    assert escalation_reasons("I want to talk to a person about the role.") == ("explicit_human_request",)
    assert escalation_reasons("We need a person with admin rights to approve the role.") == ()


def test_not_a_current_incident_is_any_framing() -> None:
    assert not_a_current_incident("What happens if our production database goes down during a sale?")
    assert not_a_current_incident("Mein Chef meint, AWS erstattet Ausfälle automatisch. Stimmt das?")
    assert not not_a_current_incident("Production is down and customers cannot pay, call me now.")


def test_a_trigger_naming_an_unknown_framing_is_an_error(tmp_path: Path) -> None:
    source = (Path(__file__).resolve().parents[3] / "pipeline/domain/intent/escalation.toml").read_text(encoding="utf-8")
    bad = tmp_path / "escalation.toml"
    bad.write_text(source.replace('not_when = ["hypothetical"', 'not_when = ["someday"', 1), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"not_when must list framings"):
        load_triggers(bad)


@pytest.mark.parametrize(("text", "service"), [
    ("what is amazon macie?", "macie2"),
    ("can i customize amazon forecast algorithms?", "forecast"),
    ("my ec2 instance will not start", "ec2"),
    ("msk brokers keep restarting", "kafka"),
    ("we send alerts through aws chatbot to slack", "chatbot"),
])
def test_gazetteer_finds_products(text: str, service: str) -> None:
    assert service in [h.service for h in find_products(text)]


@pytest.mark.parametrize("text", ["what's the weather forecast for tomorrow", "I used glue to fix my shoe",
                                  "how do I sort with a lambda in python", "the health inspector came",
                                  "oh great, another chatbot. tell me a joke then", "our Grafana dashboards are blank",
                                  "SSO login through Okta fails", "mounted /dev/sdb on the NAS"])
def test_weak_names_need_amazon_or_aws(text: str) -> None:
    assert find_products(text) == ()


def test_gazetteer_is_built_from_botocore_with_owner_intents() -> None:
    gazetteer = load_gazetteer()
    assert "botocore" in gazetteer.source
    assert len(gazetteer.intents) > 400
    assert gazetteer.intents["ec2"] == "ec2_troubleshooting" and gazetteer.intents["macie2"] == "general_support"


def test_the_shipped_gazetteer_is_what_the_build_script_writes(tmp_path: Path) -> None:
    """The data file is reproducible from botocore + wordfreq (the train group installs both)."""
    pytest.importorskip("wordfreq")
    import botocore

    from evals.build_gazetteer import OUTPUT, main

    shipped = OUTPUT.read_text(encoding="utf-8")
    if f"botocore {botocore.__version__} " not in shipped:
        pytest.skip("the shipped gazetteer was built from another botocore version")
    assert main(["--output", str(tmp_path / "g.json")]) == 0
    assert (tmp_path / "g.json").read_text(encoding="utf-8") == shipped
