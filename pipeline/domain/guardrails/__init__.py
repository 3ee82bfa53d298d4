"""Input and output guardrails: rule catalogues as data, a small engine, detector families.

Public API (others code against exactly this):

* :func:`scan_input` — secrets, PII, credential requests, questions about unreleased
  features and prompt attacks in a customer's message;
* :func:`scan_output` — sensitive data, future commitments and competitor disparagement
  in a model's answer;
* :func:`redact` — mask the spans of findings (overlaps allowed);
* :data:`RULES` — the catalogue: every rule's category, id, action and user-facing message.

Example:
    >>> verdict = scan_input("my key is AKIA" + "ZQ3DN6WLF7J4XPRT please help")
    >>> verdict.action.value, verdict.categories
    ('block', ('aws_access_key',))
    >>> "AKIAZQ3D" in verdict.redacted_text
    False

Layout: ``catalogue/*.toml`` holds the rules (id, category, action, message, anchor,
patterns or lexicons, examples that must and must not match), validated on load by
:mod:`.catalogue`; :mod:`.engine` runs them (one anchor pass, RE2 when available, then the
patterns inside bounded windows: linear time on any input); :mod:`.secrets`, :mod:`.pii`,
:mod:`.topics`, :mod:`.prompt_attacks` and :mod:`.output_policies` hold the detector code
rules refer to (:mod:`.clauses` splits whole answers into the sentences and clauses the output
rules judge); :mod:`.decoding` builds the base64 / ROT13 / leetspeak / reversed views
that are rescanned; :mod:`.closeup` closes up secrets written in pieces (equal groups, odd
separators, joined string literals) for a rescan by the secret rules; :mod:`.verdicts`
turns hits into findings and verdicts.

Every finding's span refers to the ORIGINAL text, so the redaction of the original text
removes exactly what was matched on the normalised view.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from pipeline.domain.guardrails import closeup, decoding
from pipeline.domain.guardrails import disparagement as _disparagement
from pipeline.domain.guardrails import output_policies as _output_policies
from pipeline.domain.guardrails import pii as _pii
from pipeline.domain.guardrails import prompt_attacks as _prompt_attacks
from pipeline.domain.guardrails import secrets as _secrets
from pipeline.domain.guardrails import topics as _topics
from pipeline.domain.guardrails.catalogue import Rule, RuleSpec, load_catalogue, load_messages
from pipeline.domain.guardrails.contexts import (
    carries_binary_payload,
    is_about_own_ai_app,
    is_about_own_credential_practice,
    is_about_published_information,
    is_own_plan,
    is_quoted_attack_question,
)
from pipeline.domain.guardrails.engine import Engine, Hit, lowered_view, regex_detector
from pipeline.domain.guardrails.frames import frame_file
from pipeline.domain.guardrails.output_model import HEAD_RULES as _OUTPUT_HEAD_RULES
from pipeline.domain.guardrails.output_model import NotAsked, learned_hits
from pipeline.domain.guardrails.secrets.values import sealed_regions
from pipeline.domain.guardrails.topic_model import learned_rule_ids
from pipeline.domain.guardrails.verdicts import blank, redact, to_findings, verdict
from pipeline.domain.models import (
    INPUT_CATEGORIES,
    OUTPUT_CATEGORIES,
    Finding,
    GuardrailAction,
    GuardrailVerdict,
)
from pipeline.domain.textfeatures import BinaryHead
from pipeline.domain.textnorm import NormalizedText, normalize

__all__ = ["RULES", "Rule", "redact", "scan_input", "scan_output"]

SPECS: tuple[RuleSpec, ...] = tuple(load_catalogue())
MESSAGES: dict[str, str] = load_messages()
RULES: tuple[Rule, ...] = tuple(spec.rule for spec in SPECS)
_RULE_BY_ID: dict[str, Rule] = {rule.rule_id: rule for rule in RULES}
_RULE_SPEC_BY_ID: dict[str, RuleSpec] = {spec.rule_id: spec for spec in SPECS}
#: Per output head, the passages it is not asked about (its learned rule's ``not_asked``).
OUTPUT_HEADS_NOT_ASKED: dict[str, NotAsked] = {
    head: NotAsked.from_spec(_RULE_SPEC_BY_ID[rule_id]) for head, rule_id in _OUTPUT_HEAD_RULES.items()
}
#: The categories of the catalogue's secret rules (family ``secrets``), derived, not listed.
_SECRET_CATEGORIES = frozenset(spec.rule.category for spec in SPECS if spec.family == "secrets")
#: Passwords found only in prose: the message may be someone guessing at an account's
#: password and asking for the real one, so the credential-request head is still asked.
_PROSE_PASSWORD_RULES = frozenset({"password.nearby_value", "password.prose", "password.prose_i18n", "password.named_value"})
assert {r.category for r in RULES} == set(INPUT_CATEGORIES) | set(OUTPUT_CATEGORIES)

DETECTORS = {
    "regex": regex_detector,
    **_secrets.DETECTORS,
    **_pii.DETECTORS,
    **_topics.DETECTORS,
    **_prompt_attacks.DETECTORS,
    **_output_policies.DETECTORS,
    **_disparagement.DETECTORS,
}
_ENGINE_SPECS = [spec for spec in SPECS if spec.detector != "derived"]


class Scanner:
    """Input and output scanning over one :class:`Engine` (RE2 or pure Python)."""

    def __init__(self, use_re2: bool | None = None, *, learned_heads: bool = True,
                 output_heads: bool = True, output_model: tuple[BinaryHead, ...] | None = None) -> None:
        self.engine = Engine(_ENGINE_SPECS, DETECTORS, use_re2=use_re2)
        # False only for training the heads (input refusals, output policies) against what
        # the patterns alone decide.
        self.learned_heads = learned_heads
        # The output guardrail's learned heads: on by default. Their thresholds are chosen
        # leave one batch out (each blind author's batch scored by heads that never saw it),
        # so they add few false blocks of allowed answers on a new author's text, and kinds
        # of passage the guide allows are not asked (catalogue: the learned rules' not_asked).
        # output_heads=False: the clause rules alone (kept for comparison).
        self.output_heads = output_heads
        # The output heads to judge with: None is the shipped output_model.json; a tuple is
        # heads fitted elsewhere (evals.output_heads_cv scores each held batch with the heads
        # fitted without it, through this same scanner).
        self.output_model = output_model
        stage = {name: [] for name in ("secrets", "pii", "intent", "attack", "weak_attack", "output")}
        pem = []
        for index, rule in enumerate(self.engine.rules):
            if rule.spec.rule.category == "private_key":
                pem.append(index)
            else:
                stage[rule.spec.stage].append(index)
        self.private_keys = pem
        self.stage = stage

    # -- stages -----------------------------------------------------------------------

    def _candidates(self, lowered: str, gated: bool) -> frozenset[int] | None:
        return self.engine.candidates(lowered) if gated else None

    def secrets_and_pii(self, text: str, lowered: str, gated: bool = True,
                        candidates: frozenset[int] | None = None, pii: bool = True,
                        odd: Sequence[int] = ()) -> list[Hit]:
        """Secret (and PII) hits; a private key's body is blanked before the other detectors.

        ``odd``: positions of odd separators inside tokens (no-break spaces, middle dots…),
        closed up with the other joints of split secrets (:mod:`.closeup`) for a rescan.
        """
        run = self.engine.run
        if gated and candidates is None:
            candidates = self.engine.candidates(lowered)
        hits = run(self.private_keys, text, lowered, candidates)
        if hits:
            text = blank(text, hits)
            lowered = lowered_view(text)
        hits.extend(run(self.stage["secrets"], text, lowered, candidates))
        if pii:
            hits.extend(run(self.stage["pii"], text, lowered, candidates))
        spaced = _collapse_spaced_runs(text)
        if spaced is not None:
            collapsed, offsets = spaced
            low = lowered_view(collapsed)
            found = run(self.stage["secrets"], collapsed, low, self._candidates(low, gated))
            hits.extend((rule_id, offsets[start], offsets[end - 1] + 1) for rule_id, start, end in found)
        joined = closeup.closed_up(text, odd)
        if joined is not None:
            view, offsets = joined
            low = lowered_view(view)
            found = run(self.stage["secrets"], view, low, self._candidates(low, gated))
            hits.extend((rule_id, offsets[start], offsets[end - 1] + 1) for rule_id, start, end in found)
        return _passwords_over_bare_keys(_unsealed(hits, text))

    def intent(self, text: str, lowered: str, candidates: frozenset[int] | None) -> list[Hit]:
        run = self.engine.run
        hits = run(self.stage["intent"], text, lowered, candidates)
        attacks = run(self.stage["attack"], text, lowered, candidates)
        if not attacks:
            attacks = run(self.stage["weak_attack"], text, lowered, candidates)
        hits.extend(attacks)
        return hits

    def decoded(self, text: str, lowered: str, gated: bool) -> list[Hit]:
        """Hits found in decoded views, reported on the encoded span (bounded, one level)."""
        hits: list[Hit] = []
        for start, end, plain, phrase in decoding.base64_views(text):
            low = lowered_view(plain)
            candidates = self._candidates(low, gated)
            found = self.secrets_and_pii(plain, low, gated, candidates, pii=False)
            if phrase:
                found += self.intent(plain, low, candidates)
            hits.extend((rule_id, start, end) for rule_id, _s, _e in found)
        for view in (decoding.rot13_view(lowered), decoding.leet_view(lowered), decoding.reversed_view(lowered)):
            if view is None:
                continue
            candidates = self._candidates(view, gated)
            found = self.intent(view, view, candidates)
            hits.extend((rule_id, 0, len(text)) for rule_id, _s, _e in found)
        return hits

    # -- scans ------------------------------------------------------------------------

    def _prepare(self, text: str, gated: bool) -> tuple[NormalizedText, str, frozenset[int] | None, list[Hit]]:
        """The matching view of a text, its candidate rules and the secret and PII hits
        (the part both directions share)."""
        view = normalize(text)
        lowered = lowered_view(view.text)
        candidates = self._candidates(lowered, gated)
        odd = closeup.odd_separator_positions(text, view.offsets)
        return view, lowered, candidates, self.secrets_and_pii(view.text, lowered, gated, candidates, odd=odd)

    def _input_hits(self, text: str, gated: bool) -> tuple[NormalizedText, str, list[Hit], bool]:
        """The pattern hits of a message (and whether it quotes an attack to ask about it)."""
        view, lowered, candidates, hits = self._prepare(text, gated)
        normalized = view.text
        hits.extend(self.intent(normalized, lowered, candidates))
        if not hits:
            hits = self.decoded(normalized, lowered, gated)
        elif not any(_RULE_BY_ID[rule_id].category in _SECRET_CATEGORIES for rule_id, _s, _e in hits):
            # No secret in the plain text but a request pattern fired: the encoded views may
            # still hold one ("echo $AWS_SECRET_ACCESS_KEY | base64" and its output pasted: the
            # command reads as a reveal, the output is the key, GUIDE §3.1 "base64-encoded").
            # Only their secrets are added: the message is blocked already.
            hits.extend(h for h in self.decoded(normalized, lowered, gated)
                        if _RULE_BY_ID[h[0]].category in _SECRET_CATEGORIES)
        quoted_attack = is_quoted_attack_question(lowered)
        if quoted_attack:
            # "users type 'ignore your instructions' into our bot: how do we block it?"
            hits = [h for h in hits if _RULE_BY_ID[h[0]].category != "prompt_attack"]
        return view, lowered, hits, quoted_attack

    def scan_input(self, text: str, gated: bool = True) -> GuardrailVerdict:
        view, lowered, hits, quoted_attack = self._input_hits(text, gated)
        learned = self._learned(lowered, hits, quoted_attack, view.text) if self.learned_heads else []
        if not hits and not learned:
            return GuardrailVerdict(GuardrailAction.ALLOW, (), text, None)
        findings = to_findings(hits, view, _RULE_BY_ID)
        findings.extend(Finding(r.category, r.rule_id, 0, 0, r.action) for r in learned)
        return verdict(text, findings, MESSAGES)

    def heads_not_asked(self, text: str, gated: bool = True) -> frozenset[str]:
        """The refusal categories :meth:`scan_input` does not ask the learned heads about for
        ``text`` (a pattern found it, or a context says it does not apply): what lets an
        evaluation score other heads exactly as the scanner would (``evals.guardrail_heads_cv``)."""
        _view, lowered, hits, quoted_attack = self._input_hits(text, gated)
        return frozenset(self._not_asked(lowered, hits, quoted_attack))

    @classmethod
    def _learned(cls, lowered: str, hits: list[Hit], quoted_attack: bool, cased: str) -> list[Rule]:
        """The learned refusal heads catch paraphrases no pattern lists; they are not asked
        about a category a pattern found, nor where a context says it does not apply. Their
        finding has an empty span: it blocks the message without masking its words. ``cased``:
        the matching view before lower-casing (it tells identifiers from words)."""
        skip = cls._not_asked(lowered, hits, quoted_attack)
        return [_RULE_BY_ID[rule_id] for rule_id in learned_rule_ids(lowered, frozenset(skip), cased)]

    @staticmethod
    def _not_asked(lowered: str, hits: list[Hit], quoted_attack: bool) -> set[str]:
        skip = {_RULE_BY_ID[rule_id].category for rule_id, _s, _e in hits}
        if quoted_attack or is_about_own_ai_app(lowered):
            skip.add("prompt_attack")  # quoted to ask how to defend, or their own AI app's prompt
        if carries_binary_payload(lowered):
            skip.add("prompt_attack")  # base64 of gzip / zip / images: data to decode, no encoded instructions
        if is_about_own_credential_practice(lowered):
            skip.add("credential_request")  # keeping their own credentials safe (GUIDE §3.3 allows it)
        if is_own_plan(lowered) or is_about_published_information(lowered):
            skip.add("future_features")  # the customer's own dates, or what AWS published
        if frame_file("credential_request").search("not_shared", lowered):
            # "give him access without sharing anyone's password": the head reads the
            # credential and the other person but not the refusal to hand it over; the
            # frames' own requests ("send me his password") are judged by the rules above.
            skip.add("credential_request")
        secret_rules = {rule_id for rule_id, _s, _e in hits if _RULE_BY_ID[rule_id].category in _SECRET_CATEGORIES}
        if secret_rules and not secret_rules <= _PROSE_PASSWORD_RULES:
            # A pasted secret blocks the message under its own category; the head reads the
            # key's surroundings (aws_access_key_id, password=) as talk about credentials.
            # A password named in prose ("is the root password 'Winter2023!'?") is often the
            # guess of someone asking for the real one: the head is still asked.
            skip.add("credential_request")
        return skip

    def scan_output(self, text: str, gated: bool = True) -> GuardrailVerdict:
        view, lowered, candidates, hits = self._prepare(text, gated)
        # In an answer, reserved telephone numbers, role mailboxes and example domains are
        # documentation examples, not personal data (GUIDE §3.2, §4).
        exceptions = _RULE_SPEC_BY_ID["sensitive_data.pii"]
        hits = [h for h in hits if not _output_policies.documentation_example(exceptions, h[0], view.text, h[1], h[2])
                and not _output_policies.not_a_written_value(h[0], view.text, h[1], h[2])]
        findings = to_findings(hits, view, _RULE_BY_ID, output=True)
        policy = self.engine.run(self.stage["output"], view.text, lowered, candidates)
        if self.learned_heads and self.output_heads:
            # The learned output heads judge each passage for a category no rule found.
            found = frozenset(_RULE_BY_ID[rule_id].category for rule_id, _s, _e in policy)
            policy.extend(learned_hits(lowered, found, OUTPUT_HEADS_NOT_ASKED, self.output_model))
        findings.extend(to_findings(policy, view, _RULE_BY_ID))
        findings.sort(key=lambda f: (f.start, f.end, f.rule_id))
        return verdict(text, findings, MESSAGES)


def _unsealed(hits: list[Hit], text: str) -> list[Hit]:
    """Drop the secret hits inside a SealedSecret's ``encryptedData`` (ciphertext sealed to the
    cluster's controller, :func:`.secrets.values.sealed_regions`); PII there is kept."""
    if not hits:
        return hits
    regions = sealed_regions(text)
    if not regions:
        return hits
    starts = [lo for lo, _hi in regions]
    reach = list(accumulate((hi for _lo, hi in regions), max))  # the furthest end so far

    def sealed(start: int, end: int) -> bool:
        before = bisect_right(starts, start) - 1
        return before >= 0 and reach[before] >= end

    return [h for h in hits if _RULE_BY_ID[h[0]].category not in _SECRET_CATEGORIES or not sealed(h[1], h[2])]


def _passwords_over_bare_keys(hits: list[Hit]) -> list[Hit]:
    """Drop a bare 40-character "secret key" that a password rule reads, span for span, as the
    value of a password flag or field (``redis-cli -a '…'``, ``DB_PASSWORD=…``): with no key id
    and no key name it is a password of that length (GUIDE §3.1 ``password``). The password hit
    stays, so the value is still redacted."""
    passwords = {(start, end) for rule_id, start, end in hits if _RULE_BY_ID[rule_id].category == "password"}
    if not passwords:
        return hits
    return [h for h in hits if not (h[0] == "aws_secret_key.bare" and (h[1], h[2]) in passwords)]


# "A K I A 4 …", "P A S S W O R D", "p-a-s-s": runs of single characters separated by one
# separator. Separators are never run characters, so a failed attempt costs O(1) and the
# search is linear (a dash may be a separator but not a character).
_SPACED_RUN = re.compile(r"(?<![A-Za-z0-9])(?:[A-Za-z0-9/+=][ \t.\-_|]){5,}[A-Za-z0-9/+=](?![A-Za-z0-9])")


def _collapse_spaced_runs(text: str) -> tuple[str, list[int]] | None:
    """The text with every spaced run closed up, and its offset map; None without runs."""
    pieces: list[str] = []
    offsets: list[int] = []
    cursor = 0
    for run in _SPACED_RUN.finditer(text):
        start, end = run.span()
        pieces.append(text[cursor:start])
        offsets.extend(range(cursor, start))
        pieces.append(text[start:end:2])
        offsets.extend(range(start, end, 2))
        cursor = end
    if not pieces:
        return None
    pieces.append(text[cursor:])
    offsets.extend(range(cursor, len(text)))
    return "".join(pieces), offsets


SCANNER = Scanner()
_PURE_PYTHON: Scanner | None = None


def pure_python_scanner() -> Scanner:
    """A scanner that never uses RE2 (the fallback path; tests compare the two)."""
    global _PURE_PYTHON
    if _PURE_PYTHON is None:
        _PURE_PYTHON = Scanner(use_re2=False)
    return _PURE_PYTHON


def scan_input(text: str) -> GuardrailVerdict:
    """Scan a customer's message.

    Args:
        text: The message as the customer typed it.

    Returns:
        A verdict whose categories come from ``INPUT_CATEGORIES``: ``block`` when any
        blocking rule matched (secrets, credential requests, future features, prompt
        attacks), else ``redact`` when only PII matched, else ``allow``.
        ``redacted_text`` masks every finding and is always safe to store.

    Example:
        >>> scan_input("How do I rotate my access keys?").action.value
        'allow'
        >>> scan_input("card 4111 1111 1111 1111 was charged twice").action.value
        'redact'
    """
    return SCANNER.scan_input(text)


def scan_output(text: str) -> GuardrailVerdict:
    """Scan a model's answer before it reaches the customer.

    Args:
        text: The drafted answer.

    Returns:
        A verdict whose categories come from ``OUTPUT_CATEGORIES``: ``sensitive_data``
        (secrets block, PII is redacted; account ids, ARNs, request ids and the documented
        example keys pass), ``future_commitment`` and ``competitor_disparagement`` (block).

    Example:
        >>> scan_output("Lambda will be released in Q3 next year with Rust support.").action.value
        'block'
    """
    return SCANNER.scan_output(text)


def _scan_input(text: str, gated: bool) -> GuardrailVerdict:
    """``scan_input`` with the fast path (``gated``) or every rule on the whole text."""
    return SCANNER.scan_input(text, gated)


def _scan_output(text: str, gated: bool) -> GuardrailVerdict:
    """``scan_output`` with the fast path (``gated``) or every rule on the whole text."""
    return SCANNER.scan_output(text, gated)
