"""The rule catalogue: versioned TOML files, validated on load.

Every rule is data: an id, a category, an action, a description, a reference to the
user-facing message, an *anchor* (a small regular expression over the lower-cased text
that every match of the rule contains: the engine's fast path), one or more patterns or
lexicons, and ``must_match`` / ``must_not_match`` examples that a parametrised test runs.
The code that interprets a rule (its *detector*) lives in the module of its family;
a rule names it. Adding a rule touches one file.

A catalogue file::

    version = 2
    family = "secrets"          # the detector module: secrets, pii, topics, prompt_attacks, output_policies
    stage = "secrets"           # when the rule runs: secrets, pii, intent, attack, weak_attack, output
    fold = true                 # optional: write rules in any script (see below)

    [[rules]]
    id = "aws_access_key.key_id"
    category = "aws_access_key"
    action = "block"
    message = "aws_access_key"  # a key of messages.toml
    description = "AKIA/ASIA/ABIA/ACCA/A3T access key ids"
    anchor = "akia|asia|abia|acca|a3t"
    window = [2, 40]            # characters kept before / after each anchor hit
    patterns = ['...']
    detector = "access_key"     # default "regex": every match is a finding
    must_match = ["..."]
    must_not_match = ["..."]
    params = { min_length = 20 }  # optional: read by the detector

A rule may name a *lexicon* (``catalogue/lexicons/<name>.toml``: a list of terms with their
aliases, e.g. the other cloud, hosting, CDN, storage and database providers) instead of
listing its words: ``<<lexicon:competitors>>`` in a pattern or a ``params`` string becomes
the case-sensitive alternation of every term and alias (longest first, spaces matching any
white space); in the anchor it becomes their lower-cased literals; ``<<lexicon:NAME:words>>``
becomes the terms as the learned output heads read a passage (lower-cased words joined by
single spaces, for their ``not_asked`` patterns). A provider is added to
every rule that uses the list by adding one entry to the lexicon.

Rules match the *matching view* of a text (:func:`pipeline.domain.textnorm.normalize`),
which drops accents and Japanese voicing marks ("パスワード" is seen as "ハスワート"), drops
Devanagari vowel signs and Arabic vowel marks, and maps Cyrillic look-alikes to Latin
letters. A file with ``fold = true`` is written in the natural script: every non-ASCII
literal of its anchors, patterns and exemptions is folded on load the same way
(:func:`fold_pattern`), so a rule reads as the language it matches.

Errors name the file and the rule (:class:`CatalogueError`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.domain.models import INPUT_CATEGORIES, OUTPUT_CATEGORIES, GuardrailAction
from pipeline.domain.textnorm import fold_char

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"
LEXICON_DIR = "lexicons"
LEXICON_KINDS = ("cloud", "hosting", "cdn", "storage", "database", "data", "devtools", "observability",
                 "messaging", "identity", "ai", "backup", "enterprise", "product", "generic")
# Characters an anchor literal escapes (no other escapes: RE2 and Python must read it alike).
_ANCHOR_SPECIAL = re.compile(r"[.^$*+?()\[\]{}|\\]")
_LEXICON_REF = re.compile(r"<<lexicon:([a-z_]+)(:words)?>>")
# A word of a term in the learned heads' view (output_model.words_of).
_TERM_WORD = re.compile(r"[^\W_]+")
# In an anchor: the literals of a frame file's slot (see frames.py).
_SLOT_REF = re.compile(r"<<slot:([a-z_]+)\.([a-z_]+)>>")
CATALOGUE_VERSION = 2
FAMILIES = ("secrets", "pii", "topics", "prompt_attacks", "output_policies")
STAGES = ("secrets", "pii", "intent", "attack", "weak_attack", "output")

_ALLOWED_KEYS = frozenset(
    {
        "id", "category", "action", "message", "description", "anchor", "window", "patterns",
        "flags", "group", "detector", "exempt", "exempt_unless", "requires", "params",
        "must_match", "must_not_match",
    }
)
_REQUIRED_KEYS = ("id", "category", "action", "message", "description", "anchor")
_FLAG_NAMES = {"i": re.IGNORECASE, "s": re.DOTALL, "m": re.MULTILINE, "x": re.VERBOSE}
# An anchor must be matchable in linear time by Python's engine and by RE2, with the same
# meaning in both: literals, character classes with explicit ranges, fixed or bounded
# counts. No lookaround, backreferences, unbounded repetition or Unicode-dependent classes.
_ANCHOR_FORBIDDEN = re.compile(r"\(\?[=!<P]|\\[1-9bBdDsSwW]")
_ANCHOR_UNBOUNDED = re.compile(r"(?<!\\)[*+]|\{\d*,\}")
_CHAR_CLASS = re.compile(r"\[(?:\\.|[^\]\\])*\]")


#: The keys of a rule that hold regular expressions over the matching view.
_FOLDED_KEYS = frozenset({"anchor", "patterns", "exempt", "exempt_unless"})


def _folded(value: Any) -> Any:
    if isinstance(value, str):
        return fold_pattern(value)
    if isinstance(value, list):
        return [fold_pattern(v) if isinstance(v, str) else v for v in value]
    return value


class CatalogueError(ValueError):
    """A catalogue file is malformed; the message names the file and the rule."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One entry of the guardrail catalogue (the public view of a rule).

    Attributes:
        category: Stable category id (from ``INPUT_CATEGORIES`` or ``OUTPUT_CATEGORIES``).
        rule_id: Stable id of the rule, carried by every :class:`Finding` it produces.
        action: What the pipeline does when the rule matches.
        message: The user-facing reply when this rule decides a block.
        description: What the rule matches, for the catalogue and the reports.
    """

    category: str
    rule_id: str
    action: GuardrailAction
    message: str
    description: str = ""


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the engine runs it: the public :class:`Rule` plus its matching data."""

    rule: Rule
    source: str
    family: str
    stage: str
    anchor: str
    before: int
    after: int
    patterns: tuple[re.Pattern[str], ...]
    group: int | str
    detector: str
    exempt: re.Pattern[str] | None
    exempt_unless: re.Pattern[str] | None
    requires: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    must_match: tuple[str, ...] = ()
    must_not_match: tuple[str, ...] = ()

    @property
    def rule_id(self) -> str:
        return self.rule.rule_id


@dataclass(frozen=True, slots=True)
class Lexicon:
    """A named list of terms (each a name and its aliases) that rules refer to.

    Attributes:
        name: The lexicon's name (its file name without ``.toml``).
        terms: Every name and alias, as written (case matters in patterns).
        kinds: The kind of each entry's terms, by term.
        not_followed_by: Words after which a term is not this lexicon's (the vendor "Elastic"
            is not "Elastic Beanstalk" or "Elastic IP", which are AWS products), by term.
        short_forms: Short forms that name the vendor only in a text that names it in full
            ("Atlas" once "MongoDB Atlas" has been written: alone, it is a common word), by
            the full term.
    """

    name: str
    terms: tuple[str, ...]
    kinds: dict[str, str] = field(default_factory=dict)
    not_followed_by: dict[str, tuple[str, ...]] = field(default_factory=dict)
    short_forms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def short_forms_named(self, text: str) -> tuple[str, ...]:
        """The short forms whose full term occurs in ``text`` (as written), in one pass."""
        if not self.short_forms:
            return ()
        found = {m.group() for m in _full_terms(self).finditer(text)}
        return tuple(sorted({short for full in found for short in self.short_forms.get(
            " ".join(full.split()), ())}))

    def pattern(self) -> str:
        """A case-sensitive alternation of the terms, longest first; a space matches any run of
        white space, so "Google  Cloud" across a line break is still the provider."""
        ordered = sorted(set(self.terms), key=lambda t: (-len(t), t))
        return "(?-i:" + "|".join(self._term_pattern(term) for term in ordered) + ")"

    def _term_pattern(self, term: str) -> str:
        source = r"\s+".join(re.escape(word) for word in term.split())
        following = self.not_followed_by.get(term)
        if following:
            source += r"(?!\s+(?:" + "|".join(re.escape(word) for word in following) + r")\b)"
        return source

    def words(self) -> str:
        """An alternation of the terms as the learned heads read a passage: lower-cased words
        joined by single spaces, punctuation dropped ("Bunny.net" is "bunny net")."""
        forms = {" ".join(_TERM_WORD.findall(t.lower())) for t in self.terms}
        ordered = sorted((f for f in forms if f), key=lambda f: (-len(f), f))
        return "(?:" + "|".join(re.escape(f) for f in ordered) + ")"

    def anchor(self) -> str:
        """The terms' lower-cased literals (an anchor: literals only, linear in any engine),
        without the terms that hold another term."""
        lowered = {t.lower() for t in self.terms}
        # A term holding a shorter term ("google cloud" holds "google") adds nothing to a
        # prefilter: every text it occurs in holds the shorter one.
        kept = [t for t in lowered if not any(o != t and o in t for o in lowered)]
        ordered = sorted(kept, key=lambda t: (-len(t), t))
        return "|".join(_ANCHOR_SPECIAL.sub(r"\\\g<0>", term) for term in ordered)


_FULL_TERMS: dict[int, tuple[Lexicon, re.Pattern[str]]] = {}


def _full_terms(lexicon: Lexicon) -> re.Pattern[str]:
    """The full terms that have short forms, as one alternation (built once per lexicon)."""
    entry = _FULL_TERMS.get(id(lexicon))
    if entry is None or entry[0] is not lexicon:
        ordered = sorted(lexicon.short_forms, key=lambda t: (-len(t), t))
        source = "|".join(r"\s+".join(re.escape(w) for w in t.split()) for t in ordered)
        entry = _FULL_TERMS[id(lexicon)] = (lexicon, re.compile(rf"(?<![A-Za-z0-9])(?:{source})(?![A-Za-z0-9])"))
    return entry[1]


def load_lexicons(directory: Path) -> dict[str, Lexicon]:
    """Every ``<directory>/lexicons/*.toml``, validated: terms are unique (case variants of a
    brand, "GitHub" and "Github", are separate terms: patterns match them as written)."""
    lexicons: dict[str, Lexicon] = {}
    for path in sorted((directory / LEXICON_DIR).glob("*.toml")):
        data = read_toml(path)
        if data.get("version") != CATALOGUE_VERSION:
            raise _fail(path, None, f"'version' must be {CATALOGUE_VERSION}, got {data.get('version')!r}")
        entries = data.get("terms")
        if not isinstance(entries, list) or not entries:
            raise _fail(path, None, "no [[terms]]")
        terms: list[str] = []
        kinds: dict[str, str] = {}
        not_followed_by: dict[str, tuple[str, ...]] = {}
        short_forms: dict[str, tuple[str, ...]] = {}
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            name = entry.get("name")
            where = name if isinstance(name, str) else f"#{index + 1}"
            unknown = set(entry) - {"name", "aliases", "kind", "not_followed_by", "short_forms"}
            if unknown:
                raise _fail(path, where, f"unknown keys {sorted(unknown)}")
            shorts = entry.get("short_forms", {})
            if not isinstance(shorts, dict) or not all(
                    isinstance(full, str) and isinstance(forms, list) and forms
                    and all(isinstance(f, str) and f.strip() for f in forms) for full, forms in shorts.items()):
                raise _fail(path, where, "'short_forms' must map a term to a list of short forms")
            for full, forms in shorts.items():
                if full != name and full not in entry.get("aliases", []):
                    raise _fail(path, where, f"short form of {full!r}, which is not a term of this entry")
                short_forms[full] = tuple(forms)
            following = entry.get("not_followed_by", [])
            if not isinstance(following, list) or not all(isinstance(w, str) and w for w in following):
                raise _fail(path, where, "'not_followed_by' must be a list of words")
            aliases = entry.get("aliases", [])
            if not isinstance(name, str) or not isinstance(aliases, list):
                raise _fail(path, where, "a term needs a 'name' string and an 'aliases' list")
            kind = entry.get("kind", "generic")
            if kind not in LEXICON_KINDS:
                raise _fail(path, where, f"kind {kind!r} is not one of {LEXICON_KINDS}")
            for term in (name, *aliases):
                if not isinstance(term, str) or not term.strip() or term != " ".join(term.split()):
                    raise _fail(path, where, f"term {term!r} must be a non-empty string without extra spaces")
                if term in seen:
                    raise _fail(path, where, f"duplicate term {term!r}")
                seen.add(term)
                terms.append(term)
                kinds[term] = kind
                if following:
                    not_followed_by[term] = tuple(following)
        lexicons[path.stem] = Lexicon(path.stem, tuple(terms), kinds, not_followed_by, short_forms)
    return lexicons


def _expand(path: Path, rule_id: str, value: Any, lexicons: dict[str, Lexicon], anchor: bool = False) -> Any:
    """``value`` with every ``<<lexicon:NAME>>`` replaced (strings, lists and tables, recursively)."""
    if isinstance(value, list):
        return [_expand(path, rule_id, v, lexicons) for v in value]
    if isinstance(value, dict):
        return {k: _expand(path, rule_id, v, lexicons) for k, v in value.items()}
    if anchor and isinstance(value, str) and "<<slot:" in value:
        value = _SLOT_REF.sub(lambda m: _slot_anchor(path, rule_id, m.group(1), m.group(2)), value)
    if not isinstance(value, str) or "<<lexicon:" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        lexicon = lexicons.get(match.group(1))
        if lexicon is None:
            raise _fail(path, rule_id, f"no lexicon {match.group(1)!r} in {LEXICON_DIR}/")
        if match.group(2):
            return lexicon.words()
        return lexicon.anchor() if anchor else lexicon.pattern()

    return _LEXICON_REF.sub(replace, value)


def _slot_anchor(path: Path, rule_id: str, name: str, slot: str) -> str:
    """The anchor of a frame file's slot, ``<<slot:NAME.SLOT>>`` (frames.py; imported here
    on use: frames reads this module's folding)."""
    from pipeline.domain.guardrails.frames import frame_file

    frames = frame_file(name, str(path.parent))
    if slot not in frames.literals:
        raise _fail(path, rule_id, f"frame file {name!r} has no slot {slot!r}")
    return frames.anchor(slot)


def _fail(path: Path, rule: str | None, problem: str) -> CatalogueError:
    where = f"{path.name}" + (f", rule {rule!r}" if rule else "")
    return CatalogueError(f"{where}: {problem}")


def _flags(path: Path, rule_id: str, value: Any) -> int:
    if not isinstance(value, str) or any(ch not in _FLAG_NAMES for ch in value):
        raise _fail(path, rule_id, f"'flags' must be a string of {sorted(_FLAG_NAMES)}, got {value!r}")
    flags = 0
    for ch in value:
        flags |= _FLAG_NAMES[ch]
    return flags


def _compile(path: Path, rule_id: str, name: str, source: Any, flags: int) -> re.Pattern[str]:
    if not isinstance(source, str) or not source:
        raise _fail(path, rule_id, f"{name} must be a non-empty string")
    try:
        return re.compile(source, flags)
    except re.error as exc:
        raise _fail(path, rule_id, f"{name} does not compile: {exc}") from exc


def _strings(path: Path, rule_id: str, name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, rule_id, f"'{name}' must be a list of strings")
    return tuple(value)


def _view_forms(char: str) -> list[str]:
    """How ``char`` (in either case) can appear in the lower-cased matching view.

    Cyrillic capitals without a Latin look-alike stay Cyrillic while their small letters
    may be mapped ("П" is seen as "п", "п" as "n"), so a letter can have two forms.
    """
    forms: list[str] = []
    for variant in (char, char.lower(), char.upper()):
        if len(variant) != 1:
            continue
        folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in fold_char(variant))
        if folded not in forms:
            forms.append(folded)
    return forms


def fold_pattern(source: str) -> str:
    """``source`` with every non-ASCII literal replaced by its form(s) in the matching view.

    ASCII (the regular-expression syntax, escapes included) is kept as written. Outside a
    character class a literal becomes its folded form, a group of alternatives when it has
    two, or an empty group when the view drops it (a vowel sign); inside a class each
    one-character form is added.
    """
    if source.isascii():
        return source
    out: list[str] = []
    in_class = escaped = False
    for char in source:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char.isascii():
            if char == "[" and not in_class:
                in_class = True
            elif char == "]" and in_class and out[-1] != "[" and out[-2:] != ["[", "^"]:
                in_class = False
            out.append(char)
        elif in_class:
            out.extend(re.escape(form) for form in _view_forms(char) if len(form) == 1)
        else:
            forms = _view_forms(char)
            if len(forms) == 1 and len(forms[0]) == 1:
                out.append(re.escape(forms[0]))
            else:
                out.append("(?:" + "|".join(re.escape(form) for form in forms) + ")")
    return "".join(out)


def check_anchor(source: str) -> str | None:
    """Why ``source`` cannot be an anchor, or None when it can."""
    bad = _ANCHOR_FORBIDDEN.search(source) or _ANCHOR_UNBOUNDED.search(_CHAR_CLASS.sub("C", source))
    if bad:
        return f"anchor uses {bad.group()!r} (anchors must be linear and RE2-compatible)"
    if source != source.lower() and "\\" not in source:
        return "anchor must be lower-case (it is matched against the lower-cased text)"
    try:
        re.compile(source)
    except re.error as exc:
        return f"anchor does not compile: {exc}"
    return None


def load_messages(path: Path | None = None) -> dict[str, str]:
    """The user-facing messages, by key."""
    path = path or CATALOGUE_DIR / "messages.toml"
    data = read_toml(path)
    messages = data.get("messages")
    if not isinstance(messages, dict) or not all(isinstance(v, str) and v for v in messages.values()):
        raise _fail(path, None, "'messages' must be a table of non-empty strings")
    return {key: " ".join(value.split()) for key, value in messages.items()}


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file of the catalogue directory; a syntax error names the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, None, f"not valid TOML: {exc}") from exc


def load_file(path: Path, messages: dict[str, str], lexicons: dict[str, Lexicon] | None = None) -> list[RuleSpec]:
    """Load and validate one catalogue file (``lexicons``: the ones its rules may name)."""
    data = read_toml(path)
    if data.get("version") != CATALOGUE_VERSION:
        raise _fail(path, None, f"'version' must be {CATALOGUE_VERSION}, got {data.get('version')!r}")
    family, stage = data.get("family"), data.get("stage")
    if family not in FAMILIES:
        raise _fail(path, None, f"'family' must be one of {FAMILIES}, got {family!r}")
    if stage not in STAGES:
        raise _fail(path, None, f"'stage' must be one of {STAGES}, got {stage!r}")
    fold = data.get("fold", False)
    if not isinstance(fold, bool):
        raise _fail(path, None, f"'fold' must be true or false, got {fold!r}")
    defaults = data.get("defaults", {})
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise _fail(path, None, "no [[rules]]")
    categories = set(INPUT_CATEGORIES) | set(OUTPUT_CATEGORIES)
    specs = []
    for index, raw in enumerate(rules):
        entry = {**defaults, **raw}
        rule_id = entry.get("id") if isinstance(entry.get("id"), str) else f"#{index + 1}"
        for key in ("patterns", "exempt", "exempt_unless", "params"):
            if key in entry:
                entry[key] = _expand(path, rule_id, entry[key], lexicons or {})
        if "anchor" in entry:
            entry["anchor"] = _expand(path, rule_id, entry["anchor"], lexicons or {}, anchor=True)
        unknown = set(entry) - _ALLOWED_KEYS
        if unknown:
            raise _fail(path, rule_id, f"unknown keys {sorted(unknown)}")
        for key in _REQUIRED_KEYS:
            if key not in entry:
                raise _fail(path, rule_id, f"missing {key!r}")
        if not re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", rule_id):
            raise _fail(path, rule_id, "id must look like '<category>.<name>'")
        category = entry["category"]
        if category not in categories or not rule_id.startswith(category + "."):
            raise _fail(path, rule_id, f"category {category!r} is unknown or is not the id's prefix")
        try:
            action = GuardrailAction(entry["action"])
        except ValueError as exc:
            raise _fail(path, rule_id, f"action {entry['action']!r} is not one of allow/redact/block") from exc
        if entry["message"] not in messages:
            raise _fail(path, rule_id, f"message {entry['message']!r} is not in messages.toml")
        if fold:
            entry = {key: _folded(entry[key]) if key in _FOLDED_KEYS else value for key, value in entry.items()}
        problem = check_anchor(entry["anchor"]) if isinstance(entry["anchor"], str) else "anchor must be a string"
        if problem:
            raise _fail(path, rule_id, problem)
        window = entry.get("window", [0, 200])
        if (not isinstance(window, list) or len(window) != 2
                or not all(isinstance(w, int) and 0 <= w <= 50_000 for w in window)):
            raise _fail(path, rule_id, "'window' must be [before, after] with 0 <= n <= 50000")
        flags = _flags(path, rule_id, entry.get("flags", "i"))
        patterns = tuple(
            _compile(path, rule_id, f"patterns[{i}]", p, flags)
            for i, p in enumerate(_strings(path, rule_id, "patterns", entry.get("patterns", [])))
        )
        detector = entry.get("detector", "regex")
        if detector == "regex" and not patterns:
            raise _fail(path, rule_id, "a 'regex' rule needs at least one pattern")
        group = entry.get("group", 0)
        if not isinstance(group, (int, str)):
            raise _fail(path, rule_id, "'group' must be a group number or name")
        for i, pattern in enumerate(patterns):
            if isinstance(group, str) and group not in pattern.groupindex:
                raise _fail(path, rule_id, f"patterns[{i}] has no group {group!r}")
            if isinstance(group, int) and group > pattern.groups:
                raise _fail(path, rule_id, f"patterns[{i}] has no group {group}")
        exempt = entry.get("exempt")
        exempt_unless = entry.get("exempt_unless")
        params = entry.get("params", {})
        if not isinstance(params, dict):
            raise _fail(path, rule_id, "'params' must be a table")
        specs.append(
            RuleSpec(
                rule=Rule(category, rule_id, action, messages[entry["message"]], entry["description"]),
                source=path.name,
                family=family,
                stage=stage,
                anchor=entry["anchor"],
                before=window[0],
                after=window[1],
                patterns=patterns,
                group=group,
                detector=detector,
                exempt=None if exempt is None else _compile(path, rule_id, "exempt", exempt, flags),
                exempt_unless=(
                    None if exempt_unless is None
                    else _compile(path, rule_id, "exempt_unless", exempt_unless, flags)
                ),
                requires=_strings(path, rule_id, "requires", entry.get("requires", [])),
                params=params,
                must_match=_strings(path, rule_id, "must_match", entry.get("must_match", [])),
                must_not_match=_strings(path, rule_id, "must_not_match", entry.get("must_not_match", [])),
            )
        )
    return specs


def load_catalogue(directory: Path | None = None) -> list[RuleSpec]:
    """Every rule of every catalogue file, in file then rule order; ids are unique."""
    directory = directory or CATALOGUE_DIR
    messages = load_messages(directory / "messages.toml")
    lexicons = load_lexicons(directory)
    specs: list[RuleSpec] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name == "messages.toml":
            continue
        for spec in load_file(path, messages, lexicons):
            if spec.rule_id in seen:
                raise _fail(path, spec.rule_id, f"duplicate id (also in {seen[spec.rule_id]})")
            seen[spec.rule_id] = path.name
            specs.append(spec)
    return specs
