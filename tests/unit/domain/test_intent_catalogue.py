"""The intent catalogues are data: every pattern and trigger keeps the examples it carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.domain.intent.catalogue import CATALOGUE, CatalogueError, IntentCatalogue
from pipeline.domain.intent.escalation import SIGNALS, TRIGGER_IDS, TRIGGERS, load_triggers
from pipeline.domain.intent.gazetteer import find_products, load_gazetteer

PATTERN_EXAMPLES = [(name, text, True) for name, spec in CATALOGUE.patterns.items() for text in spec.must_match] + [
    (name, text, False) for name, spec in CATALOGUE.patterns.items() for text in spec.must_not_match]
TRIGGER_EXAMPLES = [(t.id, text, True) for t in (*TRIGGERS, *SIGNALS.values()) for text in t.must_match] + [
    (t.id, text, False) for t in (*TRIGGERS, *SIGNALS.values()) for text in t.must_not_match]


@pytest.mark.parametrize(("name", "text", "matches"), PATTERN_EXAMPLES)
def test_pattern_examples(name: str, text: str, matches: bool) -> None:
    assert bool(CATALOGUE.pattern(name).search(text)) is matches


@pytest.mark.parametrize(("trigger", "text", "fires"), TRIGGER_EXAMPLES)
def test_trigger_examples(trigger: str, text: str, fires: bool) -> None:
    found = next(t for t in (*TRIGGERS, *SIGNALS.values()) if t.id == trigger)
    assert found.fires(text) is fires


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


@pytest.mark.parametrize(("text", "service"), [
    ("what is amazon macie?", "macie2"),
    ("can i customize amazon forecast algorithms?", "forecast"),
    ("my ec2 instance will not start", "ec2"),
    ("msk brokers keep restarting", "kafka"),
])
def test_gazetteer_finds_products(text: str, service: str) -> None:
    assert service in [h.service for h in find_products(text)]


@pytest.mark.parametrize("text", ["what's the weather forecast for tomorrow", "I used glue to fix my shoe",
                                  "how do I sort with a lambda in python", "the health inspector came"])
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
