"""Redaction masks the whole token a secret finding sits in, and nothing past it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain.guardrails import Scanner
from pipeline.domain.guardrails.verdicts import redact
from pipeline.domain.models import Finding, GuardrailAction

BLOCK = GuardrailAction.BLOCK


def test_a_finding_cut_short_inside_a_token_masks_the_rest_of_the_token() -> None:
    # a rule's value cap (or a key-shaped slice of a longer token) ends mid-token
    token = "eyJhbGciOi" + "Jx" * 300 + ".eyJzdWIiOi" + "Ab9_-" * 60 + ".sig_" + "Q" * 80
    text = f"token: {token}\nnext: line"
    start = text.index(token)
    finding = Finding("generic_secret", "generic_secret.assignment", start, start + 200, BLOCK)
    assert redact(text, [finding]) == "token: [REDACTED:generic_secret]\nnext: line"


def test_widening_keeps_the_name_the_sentence_stop_and_pii_spans() -> None:
    text = "set password=hunter2Xyz9. Mail jane.doe@corp.io."
    value = text.index("hunter2")
    email = text.index("jane")
    findings = [Finding("password", "password.assignment", value, value + 4, BLOCK),
                Finding("pii", "pii.email", email, email + 4, GuardrailAction.REDACT)]
    assert redact(text, findings) == "set password=[REDACTED:password]. Mail [REDACTED:pii].doe@corp.io."


def test_a_long_service_account_token_after_token_colon_is_redacted_whole() -> None:
    jwt = ("eyJhbGciOiJSUzI1NiIsImtpZCI6IjRfN0dxb2x" + "x" * 40 + ".eyJhdWQiOlsiaHR0cHM6Ly9rdWJlcm5ldGVz"
           + "aW8iOnsibmFtZXNwYWNlIjoiY2kifX0" * 12 + ".r3ZgJmyumPqHEni_iRf8vCIHoQJZ3YPilIkC4Xw0" * 6)
    text = f"users:\n- name: ci\n  user:\n    token: {jwt}\ncontexts: []"
    verdict = Scanner().scan_input(text)
    assert verdict.action is BLOCK
    assert len(jwt) > 700
    for piece in (jwt[:40], jwt[300:340], jwt[-40:]):
        assert piece not in verdict.redacted_text
    assert verdict.redacted_text.endswith("\ncontexts: []")


def _reference(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Each span widened on its own (quadratic), then merged: what the one pass must equal."""
    tail = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-.~%")
    head = tail - {"="}
    out = []
    for start, end in spans:
        s, e = start, end
        if text[start] in head:
            while s > 0 and text[s - 1] in head:
                s -= 1
        if text[end - 1] in tail:
            while e < len(text) and text[e] in tail:
                e += 1
            while e > end and text[e - 1] == ".":
                e -= 1
        out.append((s, e))
    merged: list[list[int]] = []
    for s, e in sorted(out):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ak9=-_. :/\n", min_size=1, max_size=300), data=st.data())
def test_the_one_pass_widening_equals_widening_each_span_alone(text: str, data: st.DataObject) -> None:
    starts = data.draw(st.lists(st.integers(0, len(text) - 1), max_size=6))
    spans = [(s, data.draw(st.integers(s + 1, len(text)))) for s in starts]
    findings = [Finding("generic_secret", "generic_secret.assignment", s, e, BLOCK) for s, e in spans]
    expected_pieces = []
    cursor = 0
    for s, e in _reference(text, spans):
        expected_pieces += [text[cursor:s], "[REDACTED:generic_secret]"]
        cursor = e
    assert redact(text, findings) == "".join(expected_pieces) + text[cursor:]
