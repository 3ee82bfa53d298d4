"""Whether an answer that failed quality can still be given to the customer.

The validator's verdict (``passed``) says whether an answer is good enough to stop
regenerating. When the regenerations are used up, a failed answer is still delivered
(``response_type: "answer"``) unless it is *unusable*, in which case the workflow replaces
it with the fallback reply. Unusable means the customer could not act on it at all:

* ``empty``: no letter or digit (an empty or whitespace-only text, bare punctuation);
* ``garbage``: control characters or U+FFFD replacement characters (binary or mis-decoded
  output: no written answer contains them), or degenerate repetition (at least
  :data:`MIN_WORDS_FOR_REPETITION` words of which under :data:`MIN_DISTINCT_WORD_SHARE` are
  distinct: a generation loop or placeholder filler such as "lorem ipsum dolor " × 40);
* ``unsafe``: the safety check failed outright (a destructive or insecure instruction).

Lesser defects (a truncated sentence, an invalid CLI flag, a missing step) leave an answer
usable: the customer still gets it, and its quality score records the defect. So does a
failed relevance check: on follow-up turns ("and the other one?") the question shares few
terms with a good answer, and replacing those answers failed the conversations suite's dev
gate (dev turn pass rate 0.78 < 0.80), so relevance alone never disqualifies.
"""

from __future__ import annotations

import re

from pipeline.domain.models import QualityReport
from pipeline.domain.quality.scoring import HARD_FAIL_LEVEL

#: C0 controls except tab, newline and carriage return; DEL; C1 controls; U+FFFD.
_GARBAGE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_WORD = re.compile(r"\w+")
#: The checks whose outright failure (score below HARD_FAIL_LEVEL) makes an answer unusable.
_DISQUALIFYING_CHECKS = {"safety": "unsafe"}
MIN_WORDS_FOR_REPETITION = 40
MIN_DISTINCT_WORD_SHARE = 0.1

UNUSABLE_REASONS = ("empty", "garbage", "unsafe")


def _degenerate(text: str) -> bool:
    words = _WORD.findall(text.lower())
    return len(words) >= MIN_WORDS_FOR_REPETITION and len(set(words)) < MIN_DISTINCT_WORD_SHARE * len(words)


def unusable_reasons(text: str, report: QualityReport) -> tuple[str, ...]:
    """Why ``text`` cannot be delivered (in :data:`UNUSABLE_REASONS` order); empty when it
    can. A passing report is always usable."""
    if report.passed:
        return ()
    reasons: list[str] = []
    if not any(ch.isalnum() for ch in text):
        reasons.append("empty")
    if _GARBAGE.search(text) or _degenerate(text):
        reasons.append("garbage")
    for check in report.checks:
        reason = _DISQUALIFYING_CHECKS.get(check.check)
        if reason is not None and check.score < HARD_FAIL_LEVEL:
            reasons.append(reason)
    return tuple(r for r in UNUSABLE_REASONS if r in reasons)
