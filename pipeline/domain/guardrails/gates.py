"""Literal gates derived from a rule's patterns (a prefilter, as in RE2's and Hyperscan's).

For a regular expression, :func:`required_literals` computes a set of lower-case strings
such that every match of the expression contains at least one of them (or None when no
such set is known). The engine checks a rule's gate before its anchor windows and
patterns: a text that contains none of the strings cannot match any pattern of the rule,
whatever the rule's detector does with the matches, so skipping it changes no verdict.
The catalogue's hand-written anchors stay (they place the windows); the gates are what
makes the candidate pass tight without anyone aligning them by hand.

The analysis walks Python's parse tree of the pattern:

* a literal is an *exact* set ``{"c"}``; a concatenation multiplies exact sets while they
  stay small; an alternation unites its branches' sets (if every branch has one);
* a repetition with a minimum of at least one requires its body; an optional part,
  a character class, ``\\s``/``\\w``/``.`` or a back-reference requires nothing;
* zero-width parts (``\\b``, ``^``, lookarounds) are the empty string: they neither add
  nor remove a requirement (a lookaround's own content is ignored, which is safe);
* of the required sets found along a concatenation, the most selective one wins (the
  longest shortest string, then the fewest strings).

Strings are lower-cased as :func:`~pipeline.domain.guardrails.engine.lowered_view` lowers
text (one character at a time, characters whose lower case is longer stay as they are).
"""

from __future__ import annotations

import re
from functools import lru_cache
from re import _constants as C  # noqa: N812 - the parser's opcodes
from re import _parser

MAX_EXACT = 64  # strings in an exact set before it is turned into a required set
MAX_LENGTH = 24  # longer strings are cut (any part of a required string is required)
MAX_CLASS = 6  # a character class with at most this many literal characters is exact

_Exact = frozenset[str]


class _Info:
    """What a node tells about its matches: an exact set, and/or a required set."""

    __slots__ = ("exact", "required")

    def __init__(self, exact: _Exact | None = None, required: _Exact | None = None) -> None:
        self.exact = exact
        self.required = required

    def best_required(self) -> _Exact | None:
        candidates = [s for s in (self.required, _as_required(self.exact)) if s]
        return max(candidates, key=_score) if candidates else None


def _lower(ch: str) -> str:
    low = ch.lower()
    return low if len(low) == 1 else ch


def _score(strings: _Exact) -> tuple[int, int]:
    return (min(len(s) for s in strings), -len(strings))


def _as_required(exact: _Exact | None) -> _Exact | None:
    if exact is None or not exact or any(not s for s in exact):
        return None  # an exact set containing "" requires nothing
    return frozenset(s[:MAX_LENGTH] for s in exact)


def _better(a: _Exact | None, b: _Exact | None) -> _Exact | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if _score(a) >= _score(b) else b


_EMPTY = _Info(exact=frozenset({""}))
_NOTHING = _Info()


def _sequence(items: list[tuple[int, object]]) -> _Info:
    exact: _Exact | None = frozenset({""})  # the exact set of the current unbroken run
    required: _Exact | None = None
    broken = False  # once broken, ``exact`` describes a suffix only, not the whole node
    for op, av in items:
        info = _node(op, av)
        required = _better(required, info.required)
        if exact is not None and info.exact is not None and len(exact) * len(info.exact) <= MAX_EXACT:
            exact = frozenset(a + b for a in exact for b in info.exact)
            if any(len(s) > MAX_LENGTH for s in exact):
                # Long enough: keep it as a requirement (cut to a prefix, which is required
                # too) and start a new exact run after it.
                required = _better(required, _as_required(exact))
                exact, broken = None, True
        else:
            required = _better(required, _as_required(exact))
            exact, broken = info.exact, True
    if broken:
        return _Info(required=_better(required, _as_required(exact)))
    return _Info(exact=exact, required=required)


def _alternation(branches: list[list[tuple[int, object]]]) -> _Info:
    infos = [_sequence(list(branch)) for branch in branches]
    if all(i.exact is not None for i in infos):
        union = frozenset().union(*(i.exact for i in infos if i.exact is not None))
        if len(union) <= MAX_EXACT:
            return _Info(exact=union)
    required: set[str] = set()
    for info in infos:
        best = info.best_required()
        if best is None:
            return _NOTHING
        required |= best
    return _Info(required=frozenset(required))


def _class(items: list[tuple[int, object]]) -> _Info:
    chars: set[str] = set()
    for op, av in items:
        if op is C.LITERAL:
            chars.add(_lower(chr(av)))  # type: ignore[arg-type]
        elif op is C.RANGE:
            lo, hi = av  # type: ignore[misc]
            if hi - lo + 1 > MAX_CLASS:
                return _NOTHING
            chars.update(_lower(chr(c)) for c in range(lo, hi + 1))
        else:  # NEGATE, CATEGORY (\d, \s, \w)
            return _NOTHING
        if len(chars) > MAX_CLASS:
            return _NOTHING
    return _Info(exact=frozenset(chars)) if chars else _NOTHING


def _node(op: object, av: object) -> _Info:
    if op is C.LITERAL:
        return _Info(exact=frozenset({_lower(chr(av))}))  # type: ignore[arg-type]
    if op is C.IN:
        return _class(av)  # type: ignore[arg-type]
    if op is C.SUBPATTERN:
        return _sequence(list(av[-1]))  # type: ignore[index]
    if op is C.BRANCH:
        return _alternation(av[1])  # type: ignore[index]
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _high, body = av  # type: ignore[misc]
        if low == 0:
            return _EMPTY if _sequence(list(body)).exact == frozenset({""}) else _Info()
        inner = _sequence(list(body))
        return _Info(required=inner.best_required())
    if op is C.ATOMIC_GROUP:
        return _sequence(list(av))  # type: ignore[arg-type]
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return _EMPTY
    return _NOTHING  # ANY, NOT_LITERAL, CATEGORY, GROUPREF, GROUPREF_EXISTS, ...


def _parse(source: str, flags: int) -> _parser.SubPattern:
    """Python's parse tree of a pattern.

    Not cached: a tree is hundreds of small objects (a tuple per literal character), and
    the trees of every pattern whose gate or RE2 rewrite was ever computed (~550 after a
    few hundred requests) made ~220,000 objects that stayed alive for the process's life,
    walked again by every full garbage collection. The gate and the rewrite, which are
    small, are cached instead; parsing a pattern again costs ~0.15 ms.
    """
    return _parser.parse(source, flags)


def required_literals(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Lower-case strings one of which every match of ``pattern`` contains, or None."""
    return _required_literals(pattern.pattern, pattern.flags)


@lru_cache(maxsize=4096)
def _required_literals(source: str, flags: int) -> frozenset[str] | None:
    return _sequence(list(_parse(source, flags))).best_required()


def rule_gate(patterns: tuple[re.Pattern[str], ...]) -> frozenset[str] | None:
    """The gate of a rule: every hit comes from a match of one of its patterns."""
    gate: set[str] = set()
    for pattern in patterns:
        literals = required_literals(pattern)
        if literals is None:
            return None
        gate |= literals
    return frozenset(gate) if gate else None


# --- RE2 supersets ------------------------------------------------------------------------
# A rule's patterns rewritten for RE2 so that every text a pattern matches, the rewrite
# matches too (a *superset*): lookarounds, ``\b`` and ``^``/``$`` are dropped (each only
# removes matches), Unicode classes are widened where RE2's are ASCII-only, and counts
# RE2 refuses (> 1000) are opened. With RE2 installed, the engine runs a candidate
# rule's rewrite first (linear, in C) and skips the rule when it does not match; the
# pure-Python path has no such step, and the fast-path tests check both agree.

_MAX_COUNT = 4  # larger counts are relaxed (see _emit); RE2 itself refuses counts over 1000
# Python's Unicode classes, widened to "the ASCII part, or any non-ASCII character": a
# superset that keeps RE2's program small (Unicode property tables made it ~300,000
# instructions and ran the DFA out of memory). RE2's own \s, \w, \d are ASCII only.
_NON_ASCII = r"\x{80}-\x{10ffff}"
_SPACE_WIDE = r"\t\n\x0b\f\r \x1c-\x1f" + _NON_ASCII
_SPACE_ASCII = r"\t\n\f\r "  # contained in Python's \s: safe to exclude in a negated class
_WORD_WIDE = "A-Za-z0-9_" + _NON_ASCII
_WORD_ASCII = "A-Za-z0-9_"
_DIGIT_WIDE = "0-9" + _NON_ASCII


class _NoSuperset(Exception):
    """The pattern uses something with no RE2 superset here (a back-reference)."""


def _char(code: int) -> str:
    return f"\\x{{{code:x}}}"


# Python's IGNORECASE also pairs i/ı/İ, s/ſ and k/K (Kelvin), which RE2's case folding does
# not: a literal or a class that may match one of them gets the others too (a superset).
_EQUIVALENTS = {"i": "\u0131\u0130", "s": "\u017f", "k": "\u212a"}
_EXTRA_CLASS = "".join(_char(ord(ch)) for chars in _EQUIVALENTS.values() for ch in chars)


def _literal(code: int) -> str:
    extra = _EQUIVALENTS.get(chr(code).lower())
    if extra is None:
        return _char(code)
    return "[" + _char(code) + "".join(_char(ord(ch)) for ch in extra) + "]"


def _class_items(items: list[tuple[object, object]], negated: bool) -> str:
    parts = []
    for op, av in items:
        if op is C.LITERAL:
            parts.append(_char(av))  # type: ignore[arg-type]
        elif op is C.RANGE:
            lo, hi = av  # type: ignore[misc]
            parts.append(f"{_char(lo)}-{_char(hi)}")
        elif op is C.CATEGORY:
            # In a negated class the excluded set must not grow: use the narrow forms.
            name = str(av)
            if name.endswith("CATEGORY_DIGIT"):
                parts.append("0-9" if negated else _DIGIT_WIDE)
            elif name.endswith("CATEGORY_SPACE"):
                parts.append(_SPACE_ASCII if negated else _SPACE_WIDE)
            elif name.endswith("CATEGORY_WORD"):
                parts.append(_WORD_ASCII if negated else _WORD_WIDE)
            else:  # \D, \S, \W inside a class: anything
                raise _NoClass
        else:
            raise _NoSuperset(f"class item {op}")
    return "".join(parts)


class _NoClass(Exception):
    """A class item too wide to express: the class becomes "any character" (or nothing)."""


def _re2_class(items: list[tuple[object, object]]) -> str:
    negated = bool(items) and items[0][0] is C.NEGATE
    body = items[1:] if negated else items
    try:
        inner = _class_items(body, negated)
    except _NoClass:
        return "(?s:.)"  # too wide to write: any character (a superset either way)
    if not inner:
        return "(?s:.)" if negated else "[^\\x{0}-\\x{10ffff}]"
    return f"[^{inner}]" if negated else f"[{inner}{_EXTRA_CLASS}]"


def _re2_category(av: object) -> str:
    name = str(av)
    if name.endswith("CATEGORY_DIGIT"):
        return f"[{_DIGIT_WIDE}]"
    if name.endswith("CATEGORY_SPACE"):
        return f"[{_SPACE_WIDE}]"
    if name.endswith("CATEGORY_WORD"):
        return f"[{_WORD_WIDE}]"
    return "(?s:.)"  # \D, \S, \W: anything (a superset)


def _emit(items: list[tuple[object, object]]) -> str:
    out = []
    for op, av in items:
        if op is C.LITERAL:
            out.append(_literal(av))  # type: ignore[arg-type]
        elif op is C.NOT_LITERAL:
            out.append(f"[^{_char(av)}]")  # type: ignore[arg-type]
        elif op is C.ANY:
            out.append(".")  # the DOTALL flag, when set, is carried by the group flags
        elif op is C.IN:
            out.append(_re2_class(av))  # type: ignore[arg-type]
        elif op is C.CATEGORY:
            out.append(_re2_category(av))
        elif op is C.BRANCH:
            out.append("(?:" + "|".join(_emit(list(b)) for b in av[1]) + ")")  # type: ignore[index]
        elif op is C.SUBPATTERN:
            _group, add, remove, body = av  # type: ignore[misc]
            flags = _flag_letters(add) + ("-" + _flag_letters(remove) if _flag_letters(remove) else "")
            out.append(f"(?{flags}:" + _emit(list(body)) + ")" if flags else "(?:" + _emit(list(body)) + ")")
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, body = av  # type: ignore[misc]
            # Counted repetitions multiply DFA states (a set of rules with "{1,200}" values
            # needed ~200 MB of DFA cache): fewer required and unbounded repeats only widen.
            low = min(low, _MAX_COUNT)
            upper = "" if high is C.MAXREPEAT or high > _MAX_COUNT else str(high)
            out.append("(?:" + _emit(list(body)) + f"){{{low},{upper}}}")
        elif op is C.ATOMIC_GROUP:
            out.append("(?:" + _emit(list(av)) + ")")  # type: ignore[arg-type]
        elif op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue  # zero-width: dropping it only adds matches
        else:
            raise _NoSuperset(str(op))
    return "".join(out)


def _flag_letters(flags: int) -> str:
    return ("i" if flags & re.IGNORECASE else "") + ("s" if flags & re.DOTALL else "")


def re2_superset(pattern: re.Pattern[str]) -> str | None:
    """RE2 syntax matching at least every text ``pattern`` matches, or None."""
    return _re2_superset(pattern.pattern, pattern.flags)


@lru_cache(maxsize=4096)
def _re2_superset(source: str, flags: int) -> str | None:
    try:
        body = _emit(list(_parse(source, flags)))
    except _NoSuperset:
        return None
    letters = _flag_letters(flags)
    return f"(?{letters}:{body})" if letters else body
