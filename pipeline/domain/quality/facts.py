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
from typing import Any

from pipeline.domain.prefilter import RE2_AVAILABLE
from pipeline.domain.quality.catalogue import Rule, catalogue
from pipeline.domain.quality.parsing import ParsedResponse
from pipeline.domain.quality.scoring import Findings

FACTS: tuple[Rule, ...] = tuple(
    rule for rule_id, rule in sorted(catalogue().rules.items()) if rule_id.startswith("accuracy.fact.")
)
#: Values in code that the service rejects (a rate expression's unit, an Athena projection type).
CODE_VALUES: tuple[Rule, ...] = tuple(
    rule for rule_id, rule in sorted(catalogue().rules.items()) if rule_id.startswith("accuracy.code_value.")
)
#: Each rule's gate: RE2 syntax matching at least every text its pattern matches
#: (:func:`~pipeline.domain.guardrails.gates.re2_superset`), compiled on first use. A rule
#: whose required word occurs is searched with Python's engine only when its gate matches:
#: the patterns' bounded lazy prefixes (``[^.\n]{0,60}?`` before the subject) cost Python a
#: walk from every position, RE2 one linear pass. One RE2 *set* of all rules was tried
#: (round 5) and is slower: its DFA keeps growing over new answers.
_GATES: dict[int, Any] = {}
_NO_GATE = object()
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
    starts: list[int] = []
    offset = 0
    for _, line in parsed.prose:
        starts.append(offset)
        offset += len(line) + 1
    lowered = prose.lower()
    for index, rule in enumerate(FACTS):
        if rule.requires and not any(word in lowered for word in rule.requires):
            continue
        if not gate_allows(index, prose):
            continue
        wrong = violations(rule, prose)
        if wrong:
            index = bisect.bisect_right(starts, wrong[0].start()) - 1
            number = parsed.prose[index][0]
            claim = wrong[0].group(0).strip().replace("**", "")
            found.errors.append(f'line {number}: {rule.description} (the answer says "{claim[:70]}")')


def check_code_values(parsed: ParsedResponse, found: Findings) -> None:
    """Add a defect for each value rule a code block or inline code breaks (one per rule)."""
    pieces = [(b.start_line, b.text) for b in parsed.blocks if b.closed] + list(parsed.inline_code)
    for rule in CODE_VALUES:
        for number, text in pieces:
            if rule.requires and not any(word in text.lower() for word in rule.requires):
                continue
            wrong = violations(rule, text)
            if wrong:
                found.errors.append(f'line {number}: {rule.description} (the answer has "{wrong[0].group(0).strip()[:70]}")')
                break


def gate_allows(index: int, text: str) -> bool:
    """False only when ``FACTS[index]``'s pattern cannot match ``text`` (its RE2 superset
    does not); True without RE2, or when no superset exists."""
    gate = _GATES.get(index)
    if gate is None:
        gate = _GATES[index] = _compile_gate(FACTS[index])
    return gate is _NO_GATE or gate.search(text) is not None


def _compile_gate(rule: Rule) -> Any:
    if not RE2_AVAILABLE:
        return _NO_GATE
    import re2

    from pipeline.domain.guardrails.gates import re2_superset

    source = re2_superset(rule.regex)
    if source is None:
        return _NO_GATE
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(source, options)
    except re2.error:  # pragma: no cover - a superset RE2 rejects: search with Python always
        return _NO_GATE
