"""One RE2 pass tells which of many Python patterns can match a text (a prefilter).

Intent detection and the guardrails' contexts ask a few dozen yes/no questions of each
message (``pattern.search(text) is not None``): concepts, escalation triggers, catalogue
patterns. Each Python search walks the text once, most of them to say no. A
:class:`PatternGroup` compiles an RE2 *superset* of every member
(:func:`~pipeline.domain.guardrails.gates.re2_superset`: lookarounds dropped, classes widened,
so it matches at least every text the pattern matches) into one ``re2.Set``; one linear pass
per text gives the members that *can* match, and only those are searched by Python's engine.
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
#: The RE2 DFA budget per group (RE2's default 8 MiB runs out on the larger groups).
RE2_MAX_MEM = 64 << 20
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
        self._sentinel = -1
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

    def _compile(self) -> Any:
        # imported here: the guardrails package imports this module (its contexts are gated)
        from pipeline.domain.guardrails.gates import re2_superset

        assert _re2 is not None
        options = _re2.Options()
        options.max_mem = RE2_MAX_MEM
        options.log_errors = False
        rule_set = _re2.Set.SearchSet(options)
        entries, always = [], set()
        for index, pattern in enumerate(self.patterns):
            source = re2_superset(pattern)
            if source is None:
                always.add(index)
                continue
            try:
                rule_set.Add(source)
            except _re2.error:  # pragma: no cover - a superset RE2 rejects: search it always
                always.add(index)
                continue
            entries.append(index)
        # The empty pattern matches every text: when it is missing from a result, the DFA
        # ran out of memory and reported nothing (RE2 sets do not fall back).
        self._sentinel = len(entries)
        rule_set.Add("")
        rule_set.Compile()
        self._entries, self._always = entries, frozenset(always)
        return rule_set

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
        matched = rule_set.Match(text) or ()
        sentinel = self._sentinel
        if sentinel not in matched:
            result = None
        else:
            entries = self._entries
            result = self._always.union(entries[e] for e in matched if e != sentinel)
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
