"""Prompt-attack detectors: the weak-signal combination rule and frames (:mod:`.frames`:
system-prompt extraction as per-language lexicons); strong rules are pure data."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.engine import Hit, Window, search_windows
from pipeline.domain.guardrails.frames import frame_detector


def combined(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """``min_signals`` distinct weak signals together (each alone is common in honest text)."""
    spans = []
    for pattern in spec.patterns:
        match = search_windows(pattern, text, windows)
        if match is not None:
            spans.append(match.span())
    if len(spans) >= int(spec.params.get("min_signals", 3)):
        for start, end in spans:
            yield spec.rule_id, start, end


combined.uniform_patterns = True  # type: ignore[attr-defined]  # a pattern that cannot match adds no signal

DETECTORS = {"prompt_attacks.combined": combined, "prompt_attacks.frame": frame_detector}
