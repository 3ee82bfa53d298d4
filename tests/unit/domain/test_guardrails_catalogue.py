"""The rule catalogue: every rule's own examples, and clear errors for malformed files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.domain import guardrails
from pipeline.domain.guardrails.catalogue import (
    CATALOGUE_DIR,
    CatalogueError,
    load_catalogue,
)
from pipeline.domain.guardrails.engine import lowered_view
from pipeline.domain.textnorm import normalize

_ENGINE = guardrails.SCANNER.engine
_RULES = [rule.spec for rule in _ENGINE.rules]


def _rule_hits(rule_id: str, text: str, gated: bool = True) -> list[tuple[str, int, int]]:
    """Hits of one rule on the normalised text (and on its closed-up spaced runs)."""
    view = normalize(text).text
    lowered = lowered_view(view)
    index = _ENGINE.index[rule_id]
    candidates = _ENGINE.candidates(lowered) if gated else None
    return _ENGINE.run([index], view, lowered, candidates)


def _examples(kind: str) -> list[tuple[str, str]]:
    return [(spec.rule_id, text) for spec in _RULES for text in getattr(spec, kind)]


def test_every_engine_rule_has_examples_both_ways() -> None:
    missing = [s.rule_id for s in _RULES if not s.must_match or not s.must_not_match]
    assert not missing, f"rules without must_match/must_not_match examples: {missing}"


@pytest.mark.parametrize(("rule_id", "text"), _examples("must_match"))
def test_rule_matches_its_positive_examples(rule_id: str, text: str) -> None:
    hits = _rule_hits(rule_id, text)
    assert hits, f"{rule_id} should match {text!r}"
    # The anchor is a necessary condition: the fast path finds what the full run finds.
    assert hits == _rule_hits(rule_id, text, gated=False)


@pytest.mark.parametrize(("rule_id", "text"), _examples("must_not_match"))
def test_rule_ignores_its_negative_examples(rule_id: str, text: str) -> None:
    assert not _rule_hits(rule_id, text, gated=False), f"{rule_id} should not match {text!r}"


def test_catalogue_files_ship_with_the_package() -> None:
    names = {p.name for p in CATALOGUE_DIR.glob("*.toml")}
    assert {"messages.toml", "secrets.toml", "pii.toml", "credential_request.toml",
            "future_features.toml", "prompt_attacks.toml", "output_policies.toml"} <= names


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "messages.toml").write_text('version = 2\n[messages]\npassword = "Change it."\n')
    (tmp_path / "rules.toml").write_text(body)
    return tmp_path


_GOOD = """version = 2
family = "secrets"
stage = "secrets"
[[rules]]
id = "password.demo"
category = "password"
action = "block"
message = "password"
description = "demo"
anchor = "pass"
patterns = ['pass(?P<v>\\\\w+)']
"""


def test_a_valid_file_loads(tmp_path: Path) -> None:
    specs = load_catalogue(_write(tmp_path, _GOOD))
    assert [s.rule_id for s in specs] == ["password.demo"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("anchor = \"pass\"", "anchor = \"pass+\""), "anchor uses"),
        (("patterns = ['pass(?P<v>\\\\w+)']", "patterns = ['pass(']"), "patterns[0] does not compile"),
        (("action = \"block\"", "action = \"explode\""), "is not one of allow/redact/block"),
        (("message = \"password\"", "message = \"nope\""), "is not in messages.toml"),
        (("category = \"password\"", "category = \"weather\""), "is unknown"),
        (("description = \"demo\"", "description = \"demo\"\ncolour = 1"), "unknown keys"),
        (("version = 2", "version = 1"), "'version' must be 2"),
    ],
)
def test_errors_name_the_file_and_the_rule(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    body = _GOOD.replace(*change)
    with pytest.raises(CatalogueError) as error:
        load_catalogue(_write(tmp_path, body))
    message = str(error.value)
    assert "rules.toml" in message and expected in message
    if "version" not in expected:
        assert "password.demo" in message


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, _GOOD)
    (tmp_path / "more.toml").write_text(_GOOD)
    with pytest.raises(CatalogueError, match="duplicate id"):
        load_catalogue(tmp_path)


# --- lexicons -------------------------------------------------------------------------------

_LEXICON = """version = 2
[[terms]]
name = "Acme Cloud"
aliases = ["AcmeDB", "Acme"]
kind = "cloud"
not_followed_by = ["Beanstalk"]
"""


def _with_lexicon(tmp_path: Path, body: str, lexicon: str = _LEXICON) -> Path:
    _write(tmp_path, body)
    (tmp_path / "lexicons").mkdir()
    (tmp_path / "lexicons" / "vendors.toml").write_text(lexicon)
    return tmp_path


def test_a_lexicon_expands_in_patterns_case_sensitively_and_in_the_anchor(tmp_path: Path) -> None:
    body = _GOOD.replace('anchor = "pass"', 'anchor = "<<lexicon:vendors>>"').replace(
        "patterns = ['pass(?P<v>\\\\w+)']", "patterns = ['\\b<<lexicon:vendors>>\\b']")
    (spec,) = load_catalogue(_with_lexicon(tmp_path, body))
    pattern = spec.patterns[0]  # flags "i" by default: the lexicon part stays case-sensitive
    assert pattern.search("we moved off Acme Cloud last year")
    assert pattern.search("AcmeDB is the store")
    assert pattern.search("Acme\n  Cloud across a line break")
    assert not pattern.search("the acme of the design")
    assert not pattern.search("Acme Beanstalk is a name the lexicon excludes")
    # anchor: lower-cased literals, and a term holding a shorter one adds nothing
    assert set(spec.anchor.split("|")) == {"acme"}


def test_an_unknown_lexicon_is_an_error_naming_the_rule(tmp_path: Path) -> None:
    body = _GOOD.replace("patterns = ['pass(?P<v>\\\\w+)']", "patterns = ['<<lexicon:nope>>']")
    with pytest.raises(CatalogueError, match="password.demo.*no lexicon 'nope'"):
        load_catalogue(_with_lexicon(tmp_path, body))


@pytest.mark.parametrize(
    ("lexicon", "expected"),
    [
        (_LEXICON.replace('kind = "cloud"', 'kind = "weather"'), "kind 'weather'"),
        (_LEXICON.replace('"AcmeDB", "Acme"', '"Acme", "Acme"'), "duplicate term"),
        (_LEXICON.replace('kind = "cloud"', 'kind = "cloud"\ncolour = 1'), "unknown keys"),
        (_LEXICON.replace('"AcmeDB"', '"Acme  DB"'), "without extra spaces"),
        (_LEXICON + 'short_forms = { "Other Cloud" = ["Other"] }\n', "not a term of this entry"),
        (_LEXICON + 'short_forms = { "AcmeDB" = [] }\n', "'short_forms' must map"),
    ],
)
def test_malformed_lexicons_are_refused(tmp_path: Path, lexicon: str, expected: str) -> None:
    with pytest.raises(CatalogueError, match=expected):
        load_catalogue(_with_lexicon(tmp_path, _GOOD, lexicon))


def test_a_short_form_names_the_vendor_only_in_a_text_that_names_it_in_full(tmp_path: Path) -> None:
    from pipeline.domain.guardrails.catalogue import load_lexicons

    _with_lexicon(tmp_path, _GOOD, _LEXICON + 'short_forms = { "AcmeDB" = ["DB"] }\n')
    lexicon = load_lexicons(tmp_path)["vendors"]
    assert lexicon.short_forms_named("We moved off AcmeDB. DB was slow.") == ("DB",)
    assert lexicon.short_forms_named("Size the DB instance first.") == ()
    assert lexicon.short_forms_named("MyAcmeDB is ours") == ()


def test_the_competitor_lexicon_names_other_providers_only() -> None:
    from pipeline.domain.guardrails.catalogue import load_lexicons

    lexicon = load_lexicons(CATALOGUE_DIR)["competitors"]
    assert len(set(lexicon.kinds.values())) >= 8 and len(lexicon.terms) >= 150
    assert not [t for t in lexicon.terms if "aws" in t.lower() or "amazon" in t.lower()]
    pattern = re.compile(rf"\b{lexicon.pattern()}\b")
    for aws_product in ("Elastic Beanstalk", "Elastic IP", "Elastic Load Balancing", "Elastic Disaster Recovery",
                        "Backup Vault", "an oracle of truth"):
        assert not pattern.search(aws_product), aws_product
    for provider in ("Hetzner", "IONOS", "Wasabi", "Backblaze B2", "Cloudflare R2", "Google Cloud", "Fly.io",
                     "Elastic's hosted service", "DigitalOcean", "OVHcloud"):
        assert pattern.search(provider), provider


# Long enough that the engine searches windows around the anchor hits instead of the whole
# text, and free of every anchor: a rule whose match starts before its anchor by more than
# its window's ``before`` is found by the whole-text path only (a fast-path miss).
_PADDING = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12


@pytest.mark.parametrize(("rule_id", "text"), _examples("must_match"))
def test_rule_matches_its_positive_examples_inside_a_long_text(rule_id: str, text: str) -> None:
    padded = f"{_PADDING}\n{text}\n{_PADDING}"
    assert _rule_hits(rule_id, padded), f"{rule_id}: the windowed fast path misses {text!r} inside a long text"
