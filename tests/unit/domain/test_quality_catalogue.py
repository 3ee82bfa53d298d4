"""The quality catalogue: every rule's examples, and the loader's validation errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.domain.quality.catalogue import (
    CATALOGUE_DIR,
    CatalogueError,
    catalogue,
    load_catalogue,
)
from pipeline.domain.quality.facts import violations

RULES = sorted(catalogue().rules.values(), key=lambda r: r.id)
PACKAGE_SOURCE = "\n".join(p.read_text() for p in CATALOGUE_DIR.parent.glob("*.py"))


def _flags(rule, text: str) -> bool:
    # A fact rule flags a claim that contradicts it; any other rule flags what it matches.
    if rule.id.startswith(("accuracy.fact.", "accuracy.code_value.")):
        return bool(violations(rule, text))
    return bool(rule.regex.search(text))


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_examples(rule):
    if rule.requires:  # the cheap test must never skip a text the pattern would flag
        assert all(any(w in text.lower() for w in rule.requires) for text in rule.must_match), rule.requires
    missed = [text for text in rule.must_match if not _flags(rule, text)]
    wrong = [text for text in rule.must_not_match if _flags(rule, text)]
    assert not missed, f"{rule.id} should match {missed}"
    assert not wrong, f"{rule.id} should not match {wrong}"


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_every_rule_is_used_by_a_check(rule):
    # Ask/answer pairs are looked up by kind (f"completeness.ask.{kind}").
    used = rule.id in PACKAGE_SOURCE or rule.id.rsplit(".", 1)[0] + ".{kind}" in PACKAGE_SOURCE
    name = rule.id.split(".", 1)[1]
    used = used or f'"{name}"' in PACKAGE_SOURCE or f"{rule.check}.{{name}}" in PACKAGE_SOURCE
    used = used or (rule.id.startswith("accuracy.fact.") and '"accuracy.fact."' in PACKAGE_SOURCE)
    used = used or (rule.id.startswith("accuracy.code_value.") and '"accuracy.code_value."' in PACKAGE_SOURCE)
    # Confusion pairs are found by prefix (relevance.CONFUSIONS).
    used = used or (rule.id.startswith(("relevance.asked.", "relevance.instead."))
                    and '"relevance.asked."' in PACKAGE_SOURCE and "relevance.instead.{name}" in PACKAGE_SOURCE)
    assert used, f"{rule.id} is in the catalogue but no check reads it"


def test_lexicons_are_loaded():
    cat = catalogue()
    assert "aws" in cat.words("stopwords")
    assert "AWS" in cat.words("acronyms")
    assert cat.service_aliases["S3"][0] == "bucket"
    with pytest.raises(KeyError, match="no quality lexicon"):
        cat.words("nope")
    with pytest.raises(KeyError, match="no quality rule"):
        cat.regex("tone.nope")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "catalogue"
    shutil.copytree(CATALOGUE_DIR, target)
    return target


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("tone.toml", "version = 1", "version = 7", "version must be 1"),
        ("tone.toml", "id = 'tone.blame'", "id = 'accuracy.blame'", "id starting with 'tone.'"),
        ("tone.toml", "id = 'tone.sarcasm'", "id = 'tone.blame'", "defined twice"),
        ("tone.toml", "description = 'blames the user'", "descripton = 'x'", "unknown key"),
        ("structure.toml", "pattern = '^\\s{0,3}#{1,6}[^#\\s!]'", "pattern = '(unclosed'", "does not compile"),
        ("tone.toml", "flags = 'i'", "flags = 'q'", "unknown flag"),
        ("lexicons.toml", "[lexicons.acronyms]\ndescription", "[lexicons.acronyms]\nnote", "needs 'description'"),
    ],
)
def test_loader_names_the_file_and_rule(copy, file, old, new, message):
    path = copy / file
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(CatalogueError, match=message) as error:
        load_catalogue(copy)
    assert file in str(error.value)


def test_rule_without_examples_is_rejected(copy):
    path = copy / "tone.toml"
    text = path.read_text()
    start = text.index("must_not_match = [")
    end = text.index("]", start)
    path.write_text(text[:start] + "must_not_match = [" + text[end:])
    with pytest.raises(CatalogueError, match="must_not_match"):
        load_catalogue(copy)
