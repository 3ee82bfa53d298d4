"""The quality catalogue: rules and lexicons as versioned TOML files, validated on load.

A rule is a regular expression the checks use, with an id (``<check>.<name>``), a
description, optional flags and examples that must and must not match (a parametrised
test runs every example)::

    version = 1

    [[rules]]
    id = "tone.blame"
    description = "blames the user"
    flags = "i"                 # i: ignore case, m: multi-line
    pattern = '''\\byour fault\\b'''
    near = ['...']             # facts only: patterns that must occur near a match
    must_match = ["This is your fault."]
    must_not_match = ["It is not your fault."]

``lexicons.toml`` holds the word lists (``[lexicons.<name>]`` with ``description`` and
``words``, whitespace-separated), ``synonym_groups`` and ``service_aliases``. The code that
interprets a rule lives in the module of its check; adding a word or a phrase touches one
file. Errors name the file and the rule (:class:`CatalogueError`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.domain.models import QUALITY_CHECKS

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
CATALOGUE_VERSION = 1
#: Rule files and the check their rules belong to (a rule id starts with its check).
RULE_FILES = (
    ("completeness", "completeness"),
    ("structure", "structure"),
    ("accuracy", "accuracy"),
    ("facts", "accuracy"),
    ("tone", "tone"),
    ("safety", "safety"),
    ("relevance", "relevance"),
)
_RULE_KEYS = frozenset(
    {"id", "description", "flags", "pattern", "must_match", "must_not_match", "allowed", "source", "requires", "near"}
)
_REQUIRED_RULE_KEYS = ("id", "description", "pattern", "must_match", "must_not_match")
_FLAG_NAMES = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
_ID = re.compile(r"[a-z]+(?:\.[a-z0-9_]+)+")


class CatalogueError(ValueError):
    """A catalogue file is malformed; the message names the file and the rule."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One pattern of a quality check, with the examples that pin down what it means."""

    id: str
    check: str
    description: str
    regex: re.Pattern[str]
    must_match: tuple[str, ...]
    must_not_match: tuple[str, ...]
    #: For a fact with a value: the values (group ``n``, commas removed) that are right.
    allowed: tuple[str, ...] = ()
    source: str = ""
    #: Lower-case words one of which every match contains: a cheap test before the pattern.
    requires: tuple[str, ...] = ()
    #: Patterns (same flags) that must each occur near a match (``facts.NEAR_BEFORE`` characters
    #: before it to ``facts.NEAR_AFTER`` after): the subject a claim leaves to its context
    #: ("- **Maximum:** 7 days" under a paragraph about SQS message retention).
    near: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True, slots=True)
class QualityCatalogue:
    """Every rule by id, every lexicon by name, the synonym groups and service aliases."""

    rules: Mapping[str, Rule]
    lexicons: Mapping[str, frozenset[str]]
    synonym_groups: tuple[tuple[str, ...], ...]
    service_aliases: Mapping[str, tuple[str, ...]]

    def regex(self, rule_id: str) -> re.Pattern[str]:
        """The compiled pattern of a rule; KeyError names the missing rule."""
        try:
            return self.rules[rule_id].regex
        except KeyError:
            raise KeyError(f"no quality rule {rule_id!r} in {CATALOGUE_DIR}") from None

    def words(self, name: str) -> frozenset[str]:
        """A lexicon (a set of words); KeyError names the missing lexicon."""
        try:
            return self.lexicons[name]
        except KeyError:
            raise KeyError(f"no quality lexicon {name!r} in {CATALOGUE_DIR / 'lexicons.toml'}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{path}: {exc}") from exc
    if data.get("version") != CATALOGUE_VERSION:
        raise CatalogueError(f"{path}: version must be {CATALOGUE_VERSION}, got {data.get('version')!r}")
    return data


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise CatalogueError(f"{where}: {key!r} must be a non-empty list of non-empty strings")
    return tuple(value)


def _rule(raw: Any, path: Path, check: str) -> Rule:
    if not isinstance(raw, dict):
        raise CatalogueError(f"{path}: every [[rules]] entry must be a table")
    rule_id = raw.get("id")
    where = f"{path}: rule {rule_id!r}"
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise CatalogueError(f"{where}: 'id' must look like '<check>.<name>'")
    if rule_id.split(".", 1)[0] != check:
        raise CatalogueError(f"{where}: a rule in {path.name} must have an id starting with '{check}.'")
    allowed = raw.get("allowed", [])
    if not isinstance(allowed, list) or not all(isinstance(a, str) and a for a in allowed):
        raise CatalogueError(f"{where}: 'allowed' must be a list of strings")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    missing = [k for k in _REQUIRED_RULE_KEYS if k not in raw]
    if missing:
        raise CatalogueError(f"{where}: missing key(s) {', '.join(missing)}")
    flags = 0
    for letter in raw.get("flags", ""):
        if letter not in _FLAG_NAMES:
            raise CatalogueError(f"{where}: unknown flag {letter!r} (use {''.join(_FLAG_NAMES)})")
        flags |= _FLAG_NAMES[letter]
    if not isinstance(raw["description"], str) or not raw["description"].strip():
        raise CatalogueError(f"{where}: 'description' must be a non-empty string")
    try:
        regex = re.compile(raw["pattern"], flags)
    except (re.error, TypeError) as exc:
        raise CatalogueError(f"{where}: pattern does not compile ({exc})") from exc
    requires = raw.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) and r == r.lower() and r for r in requires):
        raise CatalogueError(f"{where}: 'requires' must be a list of lower-case strings")
    near = raw.get("near", [])
    if not isinstance(near, list) or not all(isinstance(n, str) and n for n in near):
        raise CatalogueError(f"{where}: 'near' must be a list of patterns")
    try:
        near_regexes = tuple(re.compile(n, flags) for n in near)
    except re.error as exc:
        raise CatalogueError(f"{where}: a 'near' pattern does not compile ({exc})") from exc
    if allowed and "n" not in regex.groupindex:
        raise CatalogueError(f"{where}: a rule with 'allowed' values needs a named group (?P<n>…)")
    return Rule(
        rule_id,
        check,
        raw["description"],
        regex,
        _strings(raw["must_match"], where, "must_match"),
        _strings(raw["must_not_match"], where, "must_not_match"),
        tuple(allowed),
        str(raw.get("source", "")),
        tuple(requires),
        near_regexes,
    )


def load_catalogue(directory: Path = CATALOGUE_DIR) -> QualityCatalogue:
    """Read and validate every catalogue file in ``directory``."""
    rules: dict[str, Rule] = {}
    for name, check in RULE_FILES:
        if check not in QUALITY_CHECKS:
            raise CatalogueError(f"{check!r} is not a quality check")
        path = directory / f"{name}.toml"
        data = _read(path)
        entries = data.get("rules")
        if not isinstance(entries, list) or not entries:
            raise CatalogueError(f"{path}: needs at least one [[rules]] entry")
        for raw in entries:
            rule = _rule(raw, path, check)
            if rule.id in rules:
                raise CatalogueError(f"{path}: rule {rule.id!r} is defined twice")
            rules[rule.id] = rule
    path = directory / "lexicons.toml"
    data = _read(path)
    lexicons: dict[str, frozenset[str]] = {}
    for name, entry in (data.get("lexicons") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("words"), str) or not entry.get("description"):
            raise CatalogueError(f"{path}: lexicon {name!r} needs 'description' and 'words' (a string)")
        words = frozenset(entry["words"].split())
        if not words:
            raise CatalogueError(f"{path}: lexicon {name!r} is empty")
        lexicons[name] = words
    groups = data.get("synonym_groups")
    if not isinstance(groups, list) or not all(isinstance(g, list) and len(g) >= 2 for g in groups):
        raise CatalogueError(f"{path}: 'synonym_groups' must be a list of lists of two or more stems")
    aliases = data.get("service_aliases")
    if not isinstance(aliases, dict) or not all(
        isinstance(v, list) and v and all(isinstance(a, str) and a == a.lower() for a in v) for v in aliases.values()
    ):
        raise CatalogueError(f"{path}: 'service_aliases' maps a service to a list of lower-case words")
    return QualityCatalogue(
        rules,
        lexicons,
        tuple(tuple(str(s) for s in g) for g in groups),
        {str(k): tuple(v) for k, v in aliases.items()},
    )


@cache
def catalogue() -> QualityCatalogue:
    """The shipped catalogue, loaded once per process."""
    return load_catalogue()
