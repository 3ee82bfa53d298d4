"""The rule catalogue: every rule's own examples, and clear errors for malformed files."""

from __future__ import annotations

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
