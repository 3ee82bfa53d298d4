"""``tone`` (GUIDE.md §5): no blame, condescension, sarcasm, dismissiveness or slang; empathy when upset.

**Upset users.** The answer must acknowledge the situation ("sorry", "I understand",
"frustrating" …) when the query shows frustration (words such as "ridiculous",
"unacceptable", "infuriating", "URGENT", several words in capitals), or when
``sentiment`` is ``NEGATIVE`` and the query has a milder sign ("still", "again",
"urgent", "!"). A plain error report, or excitement ("recreated!!"), is not by itself upset.
"""

from __future__ import annotations

import re

from pipeline.domain.models import QualityCheckResult
from pipeline.domain.prefilter import PatternGroup
from pipeline.domain.quality.catalogue import catalogue
from pipeline.domain.quality.parsing import WORD, parse_response
from pipeline.domain.quality.scoring import Findings

_CATALOGUE = catalogue()
#: One RE2 pass per text says which of the tone patterns can match; only those are
#: searched by Python's engine (the same matches: :mod:`pipeline.domain.prefilter`).
_GROUP = PatternGroup()
_OFFENCES = tuple(
    (_GROUP.gate(_CATALOGUE.regex(f"tone.{name}")), label)
    for name, label in (
        ("blame", "blames the user"),
        ("condescending", "talks down to the user"),
        ("sarcasm", "is sarcastic"),
        ("dismissive", "is dismissive"),
        ("condescending_i18n", "talks down to the user"),
        ("lecturing", "lectures or blames the user"),
        ("hindsight", "blames the user in hindsight"),
        ("hindsight_you", "blames the user in hindsight"),
        ("obvious_to_you", "talks down to the user"),
        ("obvious_to_you_i18n", "talks down to the user"),
    )
)
_SLANG = _GROUP.gate(_CATALOGUE.regex("tone.slang"))
_EMPATHY = _GROUP.gate(_CATALOGUE.regex("tone.empathy"))
_UPSET_STRONG = _GROUP.gate(_CATALOGUE.regex("tone.upset_strong"))
_UPSET_WEAK = _GROUP.gate(_CATALOGUE.regex("tone.upset_weak"))
_SHOUTED_WORD = _CATALOGUE.regex("tone.shouted_word")
_ACRONYMS = _CATALOGUE.words("acronyms")
# Bounded spans: an unclosed "[" or "{" must not make every later position scan to the end.
#: Pasted terminal sessions and code ("$ lsblk" and its NAME MAJ:MIN … header) are not shouting.
_PASTED_OUTPUT = re.compile(r"```[^`]{0,5000}```|^\$ [^\n]*(?:\n(?!\s*\n)[^\n]*){0,40}", re.MULTILINE)
_NOT_SHOUTING = re.compile(r"`[^`\n]{0,300}`|\[[^\[\]\n]{0,300}\]|\{[^{}\n]{0,300}\}|\*\*[^*\n]{0,300}\*\*")
#: Capitals that name values, not emphasis: an enumeration of capitalised tokens (``ABORTED,
#: FAILED, RUNNING``, ``DEBUG/INFO/WARN``, ``INFO or WARN``, ``A, AAAA, TXT``), an abbreviation defined in
#: parentheses (``CREATE TABLE AS SELECT (CTAS)``) and a quoted value (``"NXDOMAIN"``).
_VALUE_CAPITALS = re.compile(
    r"\b[A-Z][A-Za-z0-9_.-]*(?:(?:[ \t]*[,/|][ \t]*(?:(?:or|and|y|o|e|ou|et|und|oder)[ \t]+)?"
    r"|[ \t]+(?:or|and|y|o|e|ou|et|und|oder)[ \t]+)[A-Z][A-Za-z0-9_.-]*\b)+"
    r"|\([A-Z][A-Z0-9]{1,11}s?\)|\"[A-Z][A-Z0-9_]{1,30}\"|'[A-Z][A-Z0-9_]{1,30}'"
)


def check_tone(query: str, response: str, sentiment: str | None) -> QualityCheckResult:
    """Score ``tone`` (only the prose of the answer is judged, not its code)."""
    found = Findings()
    prose = parse_response(response).prose_text if "```" in response else response
    for pattern, label in _OFFENCES:
        match = pattern.search(prose)
        if match:
            found.errors.append(f'the answer {label}: "{match.group(0).strip()}"')
    slang = _SLANG.search(prose)
    if slang:
        found.errors.append(f'unprofessional wording: "{slang.group(0)}"')
    shouted = sorted(_shouted(_NOT_SHOUTING.sub(" ", _VALUE_CAPITALS.sub(" ", prose))))
    if len(shouted) >= 3:
        shouted = sorted(set(shouted) - _code_words(query, response))
    if len(shouted) >= 3:
        found.errors.append(f"the answer shouts in capitals ({', '.join(shouted[:3])})")
    if prose.count("!") >= 4:
        found.warnings.append("too many exclamation marks for a support answer")
    if user_upset(query, sentiment) and not _EMPATHY.search(prose):
        found.errors.append("the user is upset, but the answer does not acknowledge it (no empathy)")
    return found.result("tone")


def _shouted(text: str) -> set[str]:
    return {
        w for w in _SHOUTED_WORD.findall(text)
        if w not in _ACRONYMS and not any(ch.isdigit() for ch in w) and "_" not in w
    }


def _code_words(query: str, response: str) -> set[str]:
    """Capitalised words the answer uses in its code (``INSERT INTO`` in a SQL block) or the
    customer wrote: keywords, states and values, not shouting."""
    parsed = parse_response(response)
    code = " ".join([b.text for b in parsed.blocks] + [c for _, c in parsed.inline_code])
    return set(_SHOUTED_WORD.findall(code)) | set(_SHOUTED_WORD.findall(query))


def user_upset(query: str, sentiment: str | None) -> bool:
    """The query shows frustration (strong words, shouting, or negative sentiment with a mild sign)."""
    if _UPSET_STRONG.search(query):
        return True
    shouted = _shouted(_PASTED_OUTPUT.sub(" ", query))
    if len(shouted) >= 3 or (len(shouted) == 2 and len(shouted) * 4 >= len(WORD.findall(query))):
        return True
    return (sentiment or "").upper() == "NEGATIVE" and bool(_UPSET_WEAK.search(query))
