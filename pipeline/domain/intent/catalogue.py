"""Loading the intent catalogues: lexicons and patterns are data, this is the engine.

``catalogue.toml`` holds the word lists and the precise rule patterns of intent
detection; ``escalation.toml`` the escalation triggers (golden_sets/GUIDE.md §2.3). Each
pattern has ``must_match`` / ``must_not_match`` examples checked by the tests. A malformed
file raises :class:`CatalogueError` naming the file and the entry, at import.

Example:
    >>> CATALOGUE.pattern("off_topic").search("what's the weather in paris") is not None
    True
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CATALOGUE_FILE = HERE / "catalogue.toml"
ESCALATION_FILE = HERE / "escalation.toml"


class CatalogueError(ValueError):
    """A catalogue file or entry is malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class PatternSpec:
    """One named regular expression with the examples that pin its behaviour."""

    name: str
    regex: re.Pattern[str]
    must_match: tuple[str, ...]
    must_not_match: tuple[str, ...]


def _strings(value: Any, where: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{path}: {where} must be a list of strings")
    return tuple(value)


def compile_pattern(name: str, entry: Any, path: Path) -> PatternSpec:
    """Compile one ``[patterns.<name>]`` table (``pattern`` or ``any_of`` + ``ignore_case``)."""
    if not isinstance(entry, dict):
        raise CatalogueError(f"{path}: patterns.{name} must be a table")
    if "pattern" in entry:
        source = entry["pattern"]
    elif "any_of" in entry:
        # Alternatives are written one per line for readability; word boundaries are added.
        source = r"(?<!\w)(?:" + "|".join(_strings(entry["any_of"], f"patterns.{name}.any_of", path)) + r")(?!\w)"
    else:
        raise CatalogueError(f"{path}: patterns.{name} needs 'pattern' or 'any_of'")
    if not isinstance(source, str) or not source:
        raise CatalogueError(f"{path}: patterns.{name}.pattern must be a non-empty string")
    flags = re.IGNORECASE if entry.get("ignore_case", True) else 0
    try:
        regex = re.compile(source, flags)
    except re.error as exc:
        raise CatalogueError(f"{path}: patterns.{name} does not compile: {exc}") from exc
    return PatternSpec(name, regex, _strings(entry.get("must_match", []), f"patterns.{name}.must_match", path),
                       _strings(entry.get("must_not_match", []), f"patterns.{name}.must_not_match", path))


def load_toml(path: Path, expected_format: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogueError(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path}: not valid TOML ({exc})") from exc
    if data.get("format") != expected_format:
        raise CatalogueError(f"{path}: format is {data.get('format')!r}, expected {expected_format!r}")
    return data


class IntentCatalogue:
    """Lexicons and named patterns of ``catalogue.toml``."""

    FORMAT = "intent-catalogue-v1"

    def __init__(self, path: Path = CATALOGUE_FILE) -> None:
        self.path = path
        data = load_toml(path, self.FORMAT)
        lexicons = data.get("lexicons")
        if not isinstance(lexicons, dict):
            raise CatalogueError(f"{path}: [lexicons] table missing")
        self._lexicons = lexicons
        patterns = data.get("patterns")
        if not isinstance(patterns, dict) or not patterns:
            raise CatalogueError(f"{path}: [patterns] table missing")
        self.patterns = {name: compile_pattern(name, entry, path) for name, entry in patterns.items()}

    def pattern(self, name: str) -> re.Pattern[str]:
        try:
            return self.patterns[name].regex
        except KeyError:
            raise CatalogueError(f"{self.path}: no pattern {name!r}") from None

    def words(self, name: str) -> frozenset[str]:
        return frozenset(_strings(self._lexicons.get(name), f"lexicons.{name}", self.path))

    @cached_property
    def topics(self) -> dict[str, tuple[str, ...]]:
        topics = self._lexicons.get("topic")
        if not isinstance(topics, dict):
            raise CatalogueError(f"{self.path}: [lexicons.topic] table missing")
        return {intent: _strings(terms, f"lexicons.topic.{intent}", self.path) for intent, terms in topics.items()}


CATALOGUE = IntentCatalogue()
