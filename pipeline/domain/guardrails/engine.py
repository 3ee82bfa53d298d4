"""The generic engine: one anchor pass over every rule, then precise checks in windows.

1. **Anchor pass.** Every rule has an anchor, a small regular expression over the
   lower-cased text that every match of the rule contains (checked by the catalogue
   tests on every example and on the golden corpus). With ``google-re2`` installed all
   anchors are compiled into RE2 sets (:class:`~pipeline.domain.prefilter.SplitSet`: a few
   small sets, which stay warm where one big one thrashes) and one linear-time pass per set
   tells which rules can match at all; without it each anchor is searched with Python's engine
   (anchors are restricted to literals, classes and bounded counts, so that is linear
   too). Both give the same set of candidate rules. Beside its anchor, a rule has a
   *gate* derived from its patterns by :mod:`.gates` (strings one of which every match
   contains, e.g. ``ignore|disregard|forget`` for a rule whose hand-written anchor is
   ``<|[|#|ignor|…``); the gates are entries of the same sets (the pure-Python
   path checks them with ``in``), and a rule is a candidate only when both occur.
2. **Windows.** For a candidate rule, the anchor hits are widened by the rule's
   ``window = [before, after]`` into candidate windows; overlapping windows merge up to
   :data:`MAX_WINDOW` characters, then a new window starts. The total length searched per
   rule is therefore linear in the text, whatever the input.
3. **Precise check.** The rule's detector runs its patterns only inside the windows
   (``pattern.finditer(text, lo, hi)``). A match found in a window that ends before the
   text does is confirmed by matching again from its start without the end bound, so
   lookaheads see the real text and a long token cut by a window is seen whole.

A topic or attack rule (stages ``intent``, ``attack``, ``weak_attack``) blocks a message as a
whole, so its detector stops after :data:`MAX_TOPIC_HITS` hits on both paths (a message
repeating "you are now" 8,000 times no longer costs 8,000 confirmations); secret and PII
rules report every span, since every span is redacted.

``gated=False`` skips steps 1 and 2 (every rule, the whole text): the tests use it as the
reference the fast path must agree with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.gates import re2_superset, rule_gate
from pipeline.domain.prefilter import SplitSet

try:  # pragma: no cover - exercised by whichever environment runs the tests
    import re2 as _re2
except ImportError:  # pragma: no cover
    _re2 = None

Hit = tuple[str, int, int]  # (rule_id, start, end) in the scanned view
Window = tuple[int, int]
MAX_WINDOW = 4096
# Texts this short are searched whole: windows would cost more than they save, and no
# pattern can spend more than a bounded amount of work on so few characters.
SHORT_TEXT = 512

RE2_AVAILABLE = _re2 is not None
# Each RE2 set's DFA budget: with RE2's default (8 MiB) a set of many anchors and gates
# runs out of DFA states and rebuilds its cache on every text (measured ~10x slower).
RE2_MAX_MEM = 64 << 20
#: Stages whose rules block a message as a whole (their spans are not sensitive data).
CAPPED_STAGES = frozenset({"intent", "attack", "weak_attack"})
MAX_TOPIC_HITS = 16


def lowered_view(text: str) -> str:
    """``text.lower()`` with the same length as ``text`` (offsets stay valid)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(ch if len(low := ch.lower()) != 1 else low for ch in text)


def windows_for(anchor: re.Pattern[str], lowered: str, before: int, after: int) -> list[Window]:
    """Candidate windows around the anchor hits, merged up to :data:`MAX_WINDOW`."""
    size = len(lowered)
    windows: list[Window] = []
    current_lo = current_hi = -1  # the window being grown (none yet)
    for match in anchor.finditer(lowered):
        start, end = match.span()
        lo = start - before if start > before else 0
        hi = end + after
        if hi > size:
            hi = size
        if current_hi >= 0 and lo <= current_hi and hi - current_lo <= MAX_WINDOW:
            if hi > current_hi:
                current_hi = hi
        else:
            if current_hi >= 0:
                windows.append((current_lo, current_hi))
            current_lo, current_hi = lo, hi
    if current_hi >= 0:
        windows.append((current_lo, current_hi))
    return windows


def finditer_windows(pattern: re.Pattern[str], text: str, windows: Sequence[Window]) -> Iterator[re.Match[str]]:
    """The matches of ``pattern`` inside ``windows`` (duplicates across windows removed)."""
    size = len(text)
    if len(windows) == 1 and windows[0] == (0, size):
        yield from pattern.finditer(text)
        return
    seen: set[tuple[int, int]] = set()
    for lo, hi in windows:
        for match in pattern.finditer(text, lo, hi):
            if hi < size:
                # Lookaheads and open-ended repetitions were cut by the window's end:
                # confirm the match on the whole text from the same start.
                whole = pattern.match(text, match.start())
                if whole is None:
                    continue
                match = whole
            span = match.span()
            if span not in seen:
                seen.add(span)
                yield match


def search_windows(pattern: re.Pattern[str], text: str, windows: Sequence[Window]) -> re.Match[str] | None:
    """The first match of ``pattern`` inside ``windows``, or None."""
    return next(finditer_windows(pattern, text, windows), None)


Detector = Callable[[RuleSpec, str, Sequence[Window]], Iterable[Hit]]


def regex_detector(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """The default detector: every match of every pattern is a finding (span: ``group``)."""
    rule_id, group = spec.rule_id, spec.group
    whole = len(windows) == 1 and windows[0] == (0, len(text))
    for pattern in spec.patterns:
        for match in pattern.finditer(text) if whole else finditer_windows(pattern, text, windows):
            start, end = match.span(group)
            if end > start:
                yield rule_id, start, end


regex_detector.uniform_patterns = True  # type: ignore[attr-defined]


@dataclass
class CompiledRule:
    spec: RuleSpec
    anchor: re.Pattern[str]
    detector: Detector
    #: Lower-case strings one of which every match of the rule's patterns contains
    #: (derived from the patterns by :mod:`.gates`; None when nothing is known).
    gate: tuple[str, ...] | None = None
    #: With RE2: the :class:`RuleSupersets` of its patterns, compiled on first use
    #: (compiling all at import would add ~0.1 s of cold start). A pattern whose superset
    #: does not match the text cannot match it. ``False``: no RE2; ``None``: not yet.
    supersets: Any = False
    #: The anchor compiled by RE2 for the windows (same leftmost-first matches as ``anchor``:
    #: anchors are literals, classes and bounded counts), or None without RE2.
    window_anchor: Any = None

    def gate_regex(self) -> str | None:
        return None if self.gate is None else "|".join(re.escape(s) for s in self.gate)


class RuleSupersets:
    """RE2 sets of a rule's pattern supersets: which patterns can match a text.

    When a set's DFA runs out of memory it cannot tell (:class:`SplitSet` returns None), and
    every pattern stays live.
    """

    def __init__(self, patterns: Sequence[re.Pattern[str]], options: Any) -> None:
        assert _re2 is not None
        self.size = len(patterns)
        self.always: list[int] = []  # patterns without a superset: always live
        self.entries: list[int] = []  # set entry -> pattern index
        split = SplitSet(options.max_mem)
        for index, pattern in enumerate(patterns):
            source = re2_superset(pattern)
            if source is None:
                self.always.append(index)
                continue
            try:
                split.add(source)
            except _re2.error:  # pragma: no cover - every catalogue pattern compiles (tested)
                self.always.append(index)
                continue
            self.entries.append(index)
        self.set = split.compile()

    def live(self, text: str | bytes) -> list[int]:
        """Indices of the patterns that can match ``text`` (or its UTF-8 bytes), in pattern order."""
        found = self.set.match(text)
        if found is None:
            return list(range(self.size))  # a DFA gave up: assume every pattern can match
        entries = self.entries
        live = [entries[e] for e in found] + self.always
        live.sort()
        return live


def gate_open(gate: tuple[str, ...] | None, lowered: str) -> bool:
    """The pure-Python gate check (``map`` keeps the loop in C)."""
    return gate is None or any(map(lowered.__contains__, gate))


class Engine:
    """Runs a list of rules over texts: anchor pass, windows, detectors.

    Args:
        specs: The rules, in catalogue order.
        detectors: Detector functions by name (``"family.name"`` or a plain name).
        use_re2: Use ``re2.Set`` for the anchor pass (default: when importable).
    """

    def __init__(self, specs: Sequence[RuleSpec], detectors: dict[str, Detector],
                 use_re2: bool | None = None) -> None:
        self.rules: list[CompiledRule] = []
        for spec in specs:
            name = spec.detector if spec.detector == "regex" else f"{spec.family}.{spec.detector}"
            if name not in detectors:
                raise ValueError(f"{spec.source}, rule {spec.rule_id!r}: unknown detector {spec.detector!r}")
            gate = rule_gate(spec.patterns)
            self.rules.append(CompiledRule(spec, re.compile(spec.anchor), detectors[name],
                                           None if gate is None else tuple(sorted(gate))))
        self.index = {rule.spec.rule_id: i for i, rule in enumerate(self.rules)}
        self.use_re2 = RE2_AVAILABLE if use_re2 is None else use_re2 and RE2_AVAILABLE
        self._set = None
        self._encoded: tuple[str, bytes] = ("", b"")
        # Set entry -> (rule index, is the anchor). A rule is a candidate when its anchor
        # and its gate (if any) both occur: each is necessary for a match, so is both.
        self._entries: list[tuple[int, bool]] = []
        self._needs = [1 if rule.gate is None else 2 for rule in self.rules]
        if self.use_re2:
            assert _re2 is not None
            split = SplitSet(RE2_MAX_MEM)
            for index, rule in enumerate(self.rules):
                split.add(rule.spec.anchor)
                self._entries.append((index, True))
                gate = rule.gate_regex()
                if gate is not None:
                    split.add(gate)
                    self._entries.append((index, False))
            self._set = split.compile()
            self._superset_options = _re2.Options()
            self._superset_options.log_errors = False
            for rule in self.rules:
                try:
                    rule.window_anchor = _re2.compile(rule.spec.anchor)
                except _re2.error:  # pragma: no cover - every anchor compiles in RE2 (tested)
                    rule.window_anchor = None
                # compiled by _supersets() on first use; a rule whose detector reads its
                # params instead of patterns (output clause rules) has nothing to filter on
                rule.supersets = None if rule.spec.patterns else False

    def _utf8(self, text: str) -> bytes:
        """``text`` in UTF-8 for the RE2 sets, encoded once per text (the last one is kept:
        the stages of one scan ask about the same text; RE2 encodes a ``str`` on every call)."""
        last = self._encoded
        if last[0] is text:
            return last[1]
        encoded = text.encode("utf-8")
        self._encoded = (text, encoded)
        return encoded

    def _supersets(self, rule: CompiledRule) -> RuleSupersets:
        rule.supersets = RuleSupersets(rule.spec.patterns, self._superset_options)
        return rule.supersets

    def candidates(self, lowered: str) -> frozenset[int]:
        """Indices of the rules whose anchor and gate occur in ``lowered`` (one pass per RE2 set)."""
        found = self._set.match(self._utf8(lowered)) if self._set is not None else None
        if found is not None:
            counts = [0] * len(self.rules)
            entries = self._entries
            for entry in found:
                counts[entries[entry][0]] += 1
            needs = self._needs
            return frozenset(i for i, n in enumerate(counts) if n and n == needs[i])
        return frozenset(
            i for i, rule in enumerate(self.rules)
            if gate_open(rule.gate, lowered) and rule.anchor.search(lowered)
        )

    def run(self, indices: Iterable[int], text: str, lowered: str,
            candidates: frozenset[int] | None) -> list[Hit]:
        """Hits of the rules ``indices`` (``candidates=None``: ungated reference path)."""
        hits: list[Hit] = []
        full = [(0, len(text))]
        # Rules sharing an anchor and a window (the frame rules of one slot) share their windows.
        shared: dict[tuple[str, int, int], list[Window]] = {}
        if candidates is not None:
            # Only the candidates, in the order given (one intersection in C instead of a
            # membership test per rule: most rules are not candidates of most texts).
            indices = sorted(candidates.intersection(indices)) if candidates else ()
        for i in indices:
            rule = self.rules[i]
            spec = rule.spec
            if spec.requires and not all(word in lowered for word in spec.requires):
                continue
            if candidates is not None and rule.supersets is not False:
                supersets = rule.supersets if rule.supersets is not None else self._supersets(rule)
                live = supersets.live(self._utf8(text))
                if not live:
                    continue
                if len(live) < len(spec.patterns) and getattr(rule.detector, "uniform_patterns", False):
                    # The detector treats every pattern alike: run only those that can match.
                    spec = replace(spec, patterns=tuple(spec.patterns[k] for k in live))
            if candidates is None or len(text) <= SHORT_TEXT or getattr(rule.detector, "whole_text", False):
                # (a detector that reads the whole text, finding its own anchor hits or running
                # its own linear passes, gets no windows: computing them would be one more
                # anchor pass for nothing)
                windows = full
            else:
                key = (spec.anchor, spec.before, spec.after)
                windows = shared.get(key)
                if windows is None:
                    anchor = rule.window_anchor if rule.window_anchor is not None else rule.anchor
                    windows = shared[key] = windows_for(anchor, lowered, spec.before, spec.after)
                if not windows:
                    continue
            if spec.stage in CAPPED_STAGES:
                # A topic or attack rule blocks the whole message: its first hits decide,
                # and a text repeating the phrase 10,000 times costs no more than a few.
                found = list(islice(rule.detector(spec, text, windows), MAX_TOPIC_HITS))
            else:
                found = list(rule.detector(spec, text, windows))
            if found and spec.exempt is not None and spec.exempt.search(text) and not (
                spec.exempt_unless is not None and spec.exempt_unless.search(text)
            ):
                continue
            hits.extend(found)
        return hits
