"""Well-known AWS facts that answers get wrong (``catalogue/facts.toml``), part of ``accuracy``.

A fact rule matches a claim. With ``allowed`` values, the claimed value (named group ``n``,
or another named group in a second wording) is checked against them; without, the claim is
wrong as stated unless its clause denies it before the match ("VPC peering is *not*
transitive"; a leading "No," answers the question and denies nothing).

A rule's ``near`` patterns must each occur close to the claim (from :data:`NEAR_BEFORE`
characters before it to :data:`NEAR_AFTER` after, lines included): answers state a value in
a bullet or a table row and name its subject in the line or heading above ("SQS message
retention" … "- **Maximum:** 7 days"), or in another language.
"""

from __future__ import annotations

import bisect
import re

from pipeline.domain.prefilter import PatternGroup
from pipeline.domain.quality.catalogue import Rule, catalogue
from pipeline.domain.quality.parsing import ParsedResponse
from pipeline.domain.quality.scoring import Findings

FACTS: tuple[Rule, ...] = tuple(
    rule for rule_id, rule in sorted(catalogue().rules.items()) if rule_id.startswith("accuracy.fact.")
)
#: One RE2 pass over the prose names the rules whose pattern can match it (a superset of each
#: pattern: see :mod:`pipeline.domain.prefilter`); the others cannot match and are not
#: searched. An answer usually leaves none of the ~300 rules: without the gate each rule whose
#: required word occurs walked the prose with Python's engine (~2.5 ms of CPU per answer).
_GATE = PatternGroup()
for _rule in FACTS:
    _GATE.gate(_rule.regex)  # member i is FACTS[i]
_DENIAL = re.compile(
    r"\b(?:not|never|no\s+longer|isn'?t|aren'?t|wasn'?t|doesn'?t|don'?t|cannot|can'?t|myth|misconception|"
    r"wrong(?:ly)?|contrary|unlike|nicht|kein\w*|pas|jamais|no(?!\s*,))\b",
    re.IGNORECASE,
)
#: Where the clause of a claim starts: a denial before a colon or semicolon belongs to another
#: clause ("No downtime is needed: EC2 can change the type of a running instance live").
NEAR_BEFORE = 300
NEAR_AFTER = 120
_SENTENCE_START = re.compile(r"(?:[.!?:;]\s+|\n)(?=[^.!?:;\n]*$)")


def violations(rule: Rule, text: str) -> list[re.Match[str]]:
    """The claims in ``text`` that contradict the fact ``rule`` states."""
    wrong = []
    for match in rule.regex.finditer(text):
        if rule.near:
            around = text[max(0, match.start() - NEAR_BEFORE) : match.end() + NEAR_AFTER]
            if not all(near.search(around) for near in rule.near):
                continue
        if rule.allowed:
            value = next((v for v in match.groupdict().values() if v), "")
            if re.sub(r"[\s,]", "", value).lower() in rule.allowed:
                continue
        else:
            window = text[max(0, match.start() - 400) : match.start()]
            start = _SENTENCE_START.search(window)
            if _DENIAL.search(window[start.end() if start else 0 :]):
                continue
        wrong.append(match)
    return wrong


def check_facts(parsed: ParsedResponse, found: Findings) -> None:
    """Add a defect for each wrong fact in the prose (one per fact).

    Each rule searches the prose once (claims never span lines: the patterns stop at a
    line break), and a match's offset gives its line number.
    """
    prose = parsed.prose_text
    possible = _GATE.candidates(prose)
    rules = FACTS if possible is None else [FACTS[index] for index in sorted(possible)]
    if not rules:
        return
    starts: list[int] = []
    offset = 0
    for _, line in parsed.prose:
        starts.append(offset)
        offset += len(line) + 1
    lowered = prose.lower()
    for rule in rules:
        if rule.requires and not any(word in lowered for word in rule.requires):
            continue
        wrong = violations(rule, prose)
        if wrong:
            index = bisect.bisect_right(starts, wrong[0].start()) - 1
            number = parsed.prose[index][0]
            claim = wrong[0].group(0).strip().replace("**", "")
            found.errors.append(f'line {number}: {rule.description} (the answer says "{claim[:70]}")')
