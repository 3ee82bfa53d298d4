"""From hits to findings and verdicts: overlaps, redaction, block messages."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

from pipeline.domain.guardrails.catalogue import Rule
from pipeline.domain.guardrails.engine import Hit
from pipeline.domain.models import SECRET_CATEGORIES, Finding, GuardrailAction, GuardrailVerdict
from pipeline.domain.textnorm import NormalizedText

BLOCK = GuardrailAction.BLOCK
REDACT = GuardrailAction.REDACT
ALLOW = GuardrailAction.ALLOW

# When two findings overlap, the more specific category wins (an AWS secret key inside
# ``aws_secret_access_key=…`` is not also a generic secret or a password). A generic secret
# and a password rank alike: a token in a password slot (``password = pypi-AgE…``,
# ``https://oauth2:glpat-…@host``, ``Authorization: Basic …``) is both, and GUIDE §3 lists
# every category present.
SPECIFICITY: dict[str, int] = {
    "private_key": 0,
    "aws_session_token": 1,
    "aws_secret_key": 2,
    "aws_access_key": 3,
    "generic_secret": 4,
    "password": 4,
    "pii": 6,
}
BLOCK_ORDER = (
    "private_key", "aws_session_token", "aws_secret_key", "aws_access_key", "generic_secret",
    "password", "credential_request", "prompt_attack", "future_features", "sensitive_data",
    "future_commitment", "competitor_disparagement",
)


def to_findings(hits: Iterable[Hit], view: NormalizedText, rules: dict[str, Rule],
                *, output: bool = False) -> list[Finding]:
    """Map hits on the normalised view to findings on the original text.

    With ``output=True`` secret and PII findings become ``sensitive_data`` findings.
    """
    findings: set[Finding] = set()
    for rule_id, start, end in hits:
        if end <= start:
            continue
        rule = rules[rule_id]
        orig_start, orig_end = view.original_span(start, end)
        findings.add(Finding(rule.category, rule.rule_id, orig_start, orig_end, rule.action))
    resolved = resolve_overlaps(sorted(findings, key=lambda f: (f.start, f.end, f.rule_id)))
    if not output:
        return resolved
    mapped = []
    for finding in resolved:
        out = rules["sensitive_data.secret" if finding.category in SECRET_CATEGORIES else "sensitive_data.pii"]
        mapped.append(Finding(out.category, out.rule_id, finding.start, finding.end, out.action))
    return mapped


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Drop a secret/PII finding that overlaps a kept, more specific one of another category.

    Findings are decided from the most specific category down, so the result does not
    depend on their order; each decision is a binary search (O(k log k) in all).
    """
    ranked = [f for f in findings if f.category in SPECIFICITY]
    if len(ranked) < 2:
        return findings
    ranked.sort(key=lambda f: (SPECIFICITY[f.category], f.start, f.end))
    dropped: set[Finding] = set()
    frozen_starts: list[int] = []  # kept findings of the levels already decided, by start
    frozen_max_end: list[int] = []  # running maximum of their ends
    level_kept: list[Finding] = []
    level = None
    for finding in ranked:
        rank = SPECIFICITY[finding.category]
        if rank != level:
            if level_kept:
                merged = sorted(
                    # A running maximum stands in for each frozen end: for any prefix of
                    # starts, the maximum end is unchanged.
                    list(zip(frozen_starts, frozen_max_end, strict=True))
                    + [(f.start, f.end) for f in level_kept]
                )
                frozen_starts, frozen_max_end = [], []
                best = -1
                for start, end in merged:
                    best = max(best, end)
                    frozen_starts.append(start)
                    frozen_max_end.append(best)
            level_kept = []
            level = rank
        count = bisect_left(frozen_starts, finding.end)
        if count and frozen_max_end[count - 1] > finding.start:
            dropped.add(finding)
        else:
            level_kept.append(finding)
    return [f for f in findings if f not in dropped]


def redact(text: str, findings: Sequence[Finding]) -> str:
    """Mask the spans of ``findings`` in ``text``.

    Overlapping or adjacent spans are merged into one mask labelled with the most specific
    category among them, so no part of any matched span survives. A mask holding a secret
    that starts or ends inside a token (a rule's value cap, a key-shaped slice of a longer
    token) is widened to the whole token: the rest of a token is as secret as the part a
    rule matched.

    Args:
        text: The original text the findings were computed on.
        findings: Findings whose ``start``/``end`` index into ``text``.

    Returns:
        The text with each (merged) span replaced by ``[REDACTED:<category>]``.

    Example:
        >>> f = Finding("pii", "pii.email", 8, 20, GuardrailAction.REDACT)
        >>> redact("mail me jane@corp.io now", [f])
        'mail me [REDACTED:pii] now'
    """
    spans = sorted(
        ((max(0, f.start), min(len(text), f.end), f.category) for f in findings if f.end > f.start),
        key=lambda s: (s[0], -s[1]),
    )
    if not spans:
        return text
    pieces = []
    cursor = 0
    for start, end, category in _merge(_widen_secrets(text, _merge(spans))):
        pieces.append(text[cursor:start])
        pieces.append(f"[REDACTED:{category}]")
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _merge(spans: Sequence[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping or touching spans (sorted by start) as one, with the most specific category."""
    merged: list[list] = []
    for start, end, category in spans:
        if merged and start <= merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if SPECIFICITY.get(category, 99) < SPECIFICITY.get(last[2], 99):
                last[2] = category
        else:
            merged.append([start, end, category])
    return [(start, end, category) for start, end, category in merged]


#: Characters a key, token or encoded value is written with.
_TOKEN_TAIL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-.~%")
#: Leftwards '=' is not part of the value: ``password=[REDACTED:password]`` keeps its name.
_TOKEN_HEAD = _TOKEN_TAIL - {"="}


def _widen_secrets(text: str, merged: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Widen each merged mask holding a secret (not only PII) to the token it sits in.

    Linear: a mask widens leftwards no further than the previous mask's (widened) end and
    rightwards no further than the next mask's start (the two then merge, and the next
    mask's own end decides how far the token goes on), so each character is looked at once.
    """
    widened = []
    reached = 0
    for index, (start, end, category) in enumerate(merged):
        if category in SECRET_CATEGORIES:
            limit = merged[index + 1][0] if index + 1 < len(merged) else len(text)
            if text[start] in _TOKEN_HEAD:
                while start > reached and text[start - 1] in _TOKEN_HEAD:
                    start -= 1
            if text[end - 1] in _TOKEN_TAIL:
                matched_end = end
                while end < limit and text[end] in _TOKEN_TAIL:
                    end += 1
                if end == len(text) or text[end] not in _TOKEN_TAIL:  # else it runs on into the next mask
                    while end > matched_end and text[end - 1] == ".":  # a sentence's full stop
                        end -= 1
        widened.append((start, end, category))
        reached = end
    return widened


def verdict(text: str, findings: list[Finding], messages: dict[str, str]) -> GuardrailVerdict:
    """The verdict for ``findings``: block > redact > allow, with the user message."""
    if not findings:
        return GuardrailVerdict(ALLOW, (), text, None)
    redacted = redact(text, findings)
    categories = {f.category for f in findings if f.action is BLOCK}
    if categories:
        secrets = [c for c in BLOCK_ORDER if c in categories and c in SECRET_CATEGORIES]
        if secrets:
            message = " ".join(messages[c] for c in secrets)
        else:
            message = messages[next(c for c in BLOCK_ORDER if c in categories)]
        return GuardrailVerdict(BLOCK, tuple(findings), redacted, message)
    return GuardrailVerdict(REDACT, tuple(findings), redacted, None)


def blank(text: str, hits: Sequence[Hit]) -> str:
    """``text`` with the spans of ``hits`` replaced by spaces (offsets unchanged)."""
    pieces = []
    cursor = 0
    for _rule, start, end in sorted(hits, key=lambda h: h[1]):
        if start >= cursor:
            pieces.append(text[cursor:start])
        elif end <= cursor:
            continue
        pieces.append(" " * (end - max(start, cursor)))
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)
