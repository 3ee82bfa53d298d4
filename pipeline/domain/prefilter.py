"""One RE2 pass tells which of many Python patterns can match a text (a prefilter).

Intent detection and the guardrails' contexts ask a few dozen yes/no questions of each
message (``pattern.search(text) is not None``): concepts, escalation triggers, catalogue
patterns. Each Python search walks the text once, most of them to say no. A
:class:`PatternGroup` compiles an RE2 *superset* of every member
(:func:`~pipeline.domain.guardrails.gates.re2_superset`: lookarounds dropped, classes widened,
so it matches at least every text the pattern matches) into RE2 sets (:class:`SplitSet`); one
linear pass per text gives the members that *can* match, and only those are searched by Python's engine.
A member whose superset did not match cannot match, so every answer is exactly Python's.

Without ``google-re2``, or when RE2 cannot build a superset (a back-reference) or its DFA
runs out of memory, every member is searched as before: the pure-Python path gives the same
answers by construction. A :class:`GatedPattern` is a drop-in for ``re.Pattern`` (``search``
is gated; everything else is the pattern's own).

Example:
    >>> group = PatternGroup()
    >>> refund = group.gate(re.compile(r"(?<!\\w)refund", re.IGNORECASE))
    >>> refund.search("I want a REFUND") is not None, refund.search("fund it") is None
    (True, True)
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterable
from typing import Any

try:  # pragma: no cover - exercised by whichever environment runs the tests
    import re2 as _re2
except ImportError:  # pragma: no cover
    _re2 = None

RE2_AVAILABLE = _re2 is not None
#: The RE2 DFA budget per set (RE2's default 8 MiB runs out on the larger groups).
RE2_MAX_MEM = 64 << 20
#: Patterns per RE2 set. One set of many patterns never warms up: its DFA states are
#: combinations of every member's states, the cache fills and is flushed again and again.
#: Measured on 600 golden texts, once warm: the guardrail's 297 anchors and gates in one set
#: 2.1-3.6 s, in sets of 16 0.3-0.4 s (one process, same texts; 64 MiB each either way).
SET_SIZE = 16


class SplitSet:
    """``re2.Set`` search over many patterns, in sets of at most :data:`SET_SIZE`.

    ``match(text)`` gives the indices (in the order added) of the patterns found in
    ``text``, or None when a set's DFA ran out of memory and could not tell (RE2 sets do not
    fall back): each set's last entry is the empty pattern, which matches every text, so its
    absence means "unknown".
    """

    def __init__(self, max_mem: int = RE2_MAX_MEM, size: int = SET_SIZE) -> None:
        assert _re2 is not None
        self._options = _re2.Options()
        self._options.max_mem = max_mem
        self._options.log_errors = False
        self._size = size
        self._sets: list[tuple[Any, int, int]] = []  # (set, index of its first pattern, its size)
        self._pending: list[str] = []
        self._count = 0

    def add(self, source: str) -> int:
        """Add a pattern (``re2.error`` when RE2 rejects it) and return its index."""
        _re2.compile(source, self._options)  # reject here, not when the set compiles
        self._pending.append(source)
        self._count += 1
        if len(self._pending) == self._size:
            self._flush()
        return self._count - 1

    def compile(self) -> SplitSet:
        if self._pending:
            self._flush()
        return self

    def _flush(self) -> None:
        rule_set = _re2.Set.SearchSet(self._options)
        for source in self._pending:
            rule_set.Add(source)
        rule_set.Add("")
        rule_set.Compile()
        self._sets.append((rule_set, self._count - len(self._pending), len(self._pending)))
        self._pending = []

    def match(self, text: str | bytes) -> list[int] | None:
        data = text.encode("utf-8") if isinstance(text, str) else text  # once, not per set
        found: list[int] = []
        for rule_set, first, sentinel in self._sets:
            matched = rule_set.Match(data) or ()
            if sentinel not in matched:
                return None
            found.extend(first + e for e in matched if e != sentinel)
        return found
#: Texts whose candidates are remembered (the same message is asked many questions).
CACHED_TEXTS = 8


class PatternGroup:
    """Patterns asked about the same texts; one RE2 set pass per text gates them all.

    Args:
        use_re2: Use RE2 (default: when importable). ``False`` searches every member.
    """

    def __init__(self, use_re2: bool | None = None) -> None:
        self.use_re2 = RE2_AVAILABLE if use_re2 is None else bool(use_re2) and RE2_AVAILABLE
        self.patterns: list[re.Pattern[str]] = []
        self._set: Any = None  # compiled on first use (after every member was added)
        self._entries: list[int] = []  # set entry -> member index
        self._always: frozenset[int] = frozenset()  # members without a superset
        self._cache: dict[str, frozenset[int] | None] = {}
        self._lock = threading.Lock()

    def gate(self, pattern: re.Pattern[str]) -> GatedPattern:
        """Add a member; its searches are gated once the group is first used."""
        with self._lock:
            self.patterns.append(pattern)
            self._set = None
            self._cache = {}
            return GatedPattern(self, len(self.patterns) - 1, pattern)

    def gate_all(self, patterns: Iterable[re.Pattern[str]]) -> list[GatedPattern]:
        return [self.gate(p) for p in patterns]

    def _compile(self) -> SplitSet:
        # imported here: the guardrails package imports this module (its contexts are gated)
        from pipeline.domain.guardrails.gates import re2_superset

        split = SplitSet()
        entries, always = [], set()
        for index, pattern in enumerate(self.patterns):
            source = re2_superset(pattern)
            if source is None:
                always.add(index)
                continue
            try:
                split.add(source)
            except _re2.error:  # pragma: no cover - a superset RE2 rejects: search it always
                always.add(index)
                continue
            entries.append(index)
        self._entries, self._always = entries, frozenset(always)
        return split.compile()

    def candidates(self, text: str) -> frozenset[int] | None:
        """The members that can match ``text``; None when every member can (no gating)."""
        if not self.use_re2:
            return None
        cache = self._cache
        found = cache.get(text, False)
        if found is not False:
            return found  # type: ignore[return-value]
        rule_set = self._set
        if rule_set is None:
            with self._lock:
                if self._set is None:
                    self._set = self._compile()
                rule_set = self._set
        matched = rule_set.match(text)
        if matched is None:
            result = None
        else:
            entries = self._entries
            result = self._always.union(entries[e] for e in matched)
        if len(cache) >= CACHED_TEXTS:
            cache.clear()
        cache[text] = result
        return result


class GatedPattern:
    """A member of a :class:`PatternGroup`: ``search`` skips texts its superset ruled out."""

    __slots__ = ("group", "index", "regex")

    def __init__(self, group: PatternGroup, index: int, regex: re.Pattern[str]) -> None:
        self.group = group
        self.index = index
        self.regex = regex

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        if pos == 0 and endpos >= len(string):
            possible = self.group.candidates(string)
            if possible is not None and self.index not in possible:
                return None
        return self.regex.search(string, pos, endpos)

    def __getattr__(self, name: str) -> Any:  # match, finditer, pattern, flags...
        return getattr(self.regex, name)

    def __repr__(self) -> str:
        return f"GatedPattern({self.regex!r})"
