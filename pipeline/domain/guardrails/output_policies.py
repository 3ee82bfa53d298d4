"""Output-policy detectors: competitor disparagement needs a judging construction."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cache

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.engine import Hit, Window, finditer_windows


@cache
def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE)


def disparagement(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A negative claim about a provider; weak words ("slow", "bad") must be a judgement.

    "Azure's pricing is worse for X" is a claim; "slow queries in BigQuery can be tuned"
    is not about the provider.
    """
    negative = _compiled(rf"\b{spec.params['negative']}\b")
    weak = _compiled(spec.params["weak_negative"])
    judging = _compiled(spec.params["judging"])
    for match in finditer_windows(spec.patterns[0], text, windows):
        span = match.group()
        negatives = negative.findall(span)
        if negatives and all(weak.match(n) for n in negatives) and not judging.search(span):
            continue
        yield spec.rule_id, match.start(), match.end()


DETECTORS = {"output_policies.disparagement": disparagement}
