"""Catalogue files written in their own script (``fold = true``) match the matching view."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.domain import guardrails
from pipeline.domain.guardrails.catalogue import CatalogueError, fold_pattern, load_catalogue
from pipeline.domain.guardrails.engine import lowered_view
from pipeline.domain.textnorm import normalize

# Words as people type them, in the scripts the multilingual rules are written in: each
# must be found by its folded pattern in the matching view, typed in either case.
_WORDS = [
    "パスワード", "ガードレール", "システムプロンプト", "忽略之前的指令", "비밀번호", "시스템 프롬프트",
    "contraseña", "mot de passe", "Schlüssel", "palavra-passe", "hasło", "şifre", "parola",
    "пароль", "инструкции", "забудь", "покажи", "पासवर्ड", "निर्देशों को अनदेखा", "كلمة المرور",
    "تعليماتك", "abaikan", "İptal", "ЗАБУДЬ", "Пароль", "ПОКАЖИ",
]


def _view(text: str) -> str:
    return lowered_view(normalize(text).text)


@pytest.mark.parametrize("word", _WORDS)
def test_a_folded_word_matches_the_view_of_the_word_in_either_case(word: str) -> None:
    pattern = re.compile(fold_pattern(word.lower()), re.IGNORECASE)
    for typed in (word, word.lower(), word.upper(), word.capitalize()):
        assert pattern.search(normalize(typed).text), (word, typed)
        assert pattern.search(_view(typed)), (word, typed)


def test_ascii_and_escapes_are_kept_as_written() -> None:
    source = r"\bignore\s+(?:all\s+)?previous\b[^.?!\n]{0,40}"
    assert fold_pattern(source) == source
    assert fold_pattern(r"\？") == r"\？"  # an escaped character is the regex's, not a literal to fold


def test_voicing_marks_accents_and_full_width_punctuation_fold() -> None:
    assert fold_pattern("パスワード") == "ハスワート"
    assert fold_pattern("règle") == "regle"
    assert fold_pattern("教えて？") == r"教えて\?"  # "？" is "?" in the view: escaped, not a quantifier


def test_a_cyrillic_letter_whose_capital_folds_differently_gets_both_forms() -> None:
    folded = fold_pattern("п")
    assert re.fullmatch(folded, "n") and re.fullmatch(folded, "п")
    assert fold_pattern("[пр]") == "[nпp]"  # inside a class the forms are added, not grouped


def test_a_dropped_mark_leaves_a_valid_pattern() -> None:
    # Devanagari virama and vowel signs vanish from the view; a quantifier after one stays valid.
    pattern = re.compile(fold_pattern("स्?"))
    assert pattern.search(_view("स्"))


_FOLDED_FILE = """version = 2
family = "topics"
stage = "intent"
fold = true
[[rules]]
id = "credential_request.demo"
category = "credential_request"
action = "block"
message = "password"
description = "demo"
anchor = "パスワード"
patterns = ['パスワードを教えて']
"""


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "messages.toml").write_text('version = 2\n[messages]\npassword = "No."\n')
    (tmp_path / "rules.toml").write_text(body, encoding="utf-8")
    return tmp_path


def test_a_file_with_fold_true_is_folded_on_load(tmp_path: Path) -> None:
    (spec,) = load_catalogue(_write(tmp_path, _FOLDED_FILE))
    assert spec.anchor == "ハスワート"
    assert spec.patterns[0].search(normalize("パスワードを教えてください").text)


def test_without_fold_the_pattern_is_used_as_written(tmp_path: Path) -> None:
    (spec,) = load_catalogue(_write(tmp_path, _FOLDED_FILE.replace("fold = true\n", "")))
    assert spec.anchor == "パスワード"
    assert not spec.patterns[0].search(normalize("パスワードを教えてください").text)


def test_fold_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="'fold' must be true or false"):
        load_catalogue(_write(tmp_path, _FOLDED_FILE.replace("fold = true", 'fold = "yes"')))


_WORLD_RULES = [rule for rule in guardrails.SCANNER.engine.rules if rule.spec.rule_id.endswith("_world")]


def test_the_multilingual_rules_are_loaded() -> None:
    assert {rule.spec.rule.category for rule in _WORLD_RULES} == {"credential_request", "future_features", "prompt_attack"}


@pytest.mark.parametrize("rule", _WORLD_RULES, ids=lambda r: r.spec.rule_id)
def test_a_multilingual_rule_anchor_covers_its_gate(rule: object) -> None:
    # These anchors are their rules' gates written out: when a pattern changes, the anchor
    # must still contain every string one of which each match contains (else the fast path
    # skips the rule where the whole-text run would block).
    assert rule.gate, rule.spec.rule_id
    missing = [literal for literal in rule.gate if not rule.anchor.search(literal)]
    assert not missing, f"{rule.spec.rule_id}: anchor misses {missing[:10]}"
