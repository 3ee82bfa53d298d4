"""AWS access key ids, secret access keys and session tokens, whole, split, grouped or after
their name; and private key blocks (PEM). What a pattern cannot say lives here: the AWS
documentation examples, masks, entropy, the context before a bare 40-character token, and
joining a key that a person or a chat client cut into pieces."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.common import HEX, entropy
from pipeline.domain.guardrails.engine import Hit, Window, finditer_windows
from pipeline.domain.guardrails.secrets.values import MASKED_RUN

_DOC_EXAMPLE_SECRETS = frozenset(
    {
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
    }
)


def access_key(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        key = match.group()
        if key.upper().endswith("EXAMPLE"):
            continue  # AKIAIOSFODNN7EXAMPLE and friends: AWS documentation examples
        if MASKED_RUN.search(key[4:]):
            continue  # AKIAXXXXXXXXXXXXXXXX: masked by the customer, as the guide allows
        # A lower/mixed-case key is an evasion attempt, but "asiapacificregion..." is
        # prose: demand the digits every real (base32) key body is likely to contain.
        if not key.isupper() and sum(ch.isdigit() for ch in key[4:]) < 2:
            continue
        yield spec.rule_id, match.start(), match.end()


def access_key_split(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        if len(match.group(1)) + len(match.group(2)) == 20 and not match.group(2).endswith("EXAMPLE"):
            yield spec.rule_id, match.start(), match.end()


# Separators people and chat clients put inside keys: spaces, dashes, dots, middle dots,
# pipes, line breaks, shell line continuations, and string concatenation ("AKIA" + "…",
# 'AKIA' '…', "AKIA" . "…").
# A shell line continuation (a backslash ending the line) counts as a line break.
_GROUP_SEP = re.compile(r"""(?:["'`]?[ \t]*[+.&]?[ \t]*(?:\\n|\\?\r?\n)?[ \t]*["'`]|[ \t\-_.·|:\u2028\u2029/]{1,3}|\\?\r?\n[ \t]*|\\n)""")


def _join_groups(text: str, start: int, prefix_len: int, total: int, alphabet: str,
                 limit: int = 160) -> tuple[str, int, int] | None:
    """Join the pieces of a grouped token that starts at ``start``.

    Returns (joined, end, pieces) when exactly ``total`` token characters, in at least two
    pieces separated by separator runs, end at a token boundary; else None.
    """
    position = start + prefix_len
    collected = [text[start:position]]
    count = prefix_len
    pieces = 1
    stop = min(len(text), start + limit)
    lengths = [prefix_len]
    while count < total and position < stop:
        sep = _GROUP_SEP.match(text, position, stop)
        if sep and sep.end() > position:
            position = sep.end()
            pieces += 1
            lengths.append(0)
        run_start = position
        while position < stop and text[position] in alphabet and count < total:
            position += 1
            count += 1
        if position == run_start:
            return None
        collected.append(text[run_start:position])
        lengths[-1] += position - run_start
    if count != total or pieces < 2:
        return None
    if position < len(text) and text[position] in alphabet:
        return None
    return "".join(collected), position, pieces


_BASE32ISH = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def access_key_grouped(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """"AKIA ZQ3D N6WL …", "AKIA-ZQ3D-…", "AKIAZQ3D N6WLF7J4 XPRT", '"AKIA" + "ZQ3D…"'."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        start = match.start()
        joined = _join_groups(text, start, len(match.group()), 20, _BASE32ISH)
        if joined is None:
            continue
        key, end, _pieces = joined
        if key.endswith("EXAMPLE") or not any(ch.isdigit() for ch in key[4:]):
            continue
        yield spec.rule_id, start, end


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
_SECRET_KEY_CONTEXT = re.compile(r"secret|aws_sk|\bsk\b", re.I)
_GENERIC_TOKEN_CONTEXT = re.compile(r"token|api[_\-]?key|bearer|authorization|auth\b|client[_\-]?secret", re.I)
_DATA_CONTEXT = re.compile(r"user_?data|base64|fn::base64|certificate|-----begin (?!.*private)", re.I)


def _looks_random_40(token: str) -> bool:
    has_upper = any(ch.isupper() for ch in token)
    has_lower = any(ch.islower() for ch in token)
    # A slash alone is not enough: "role/AmazonBedrockExecutionRoleForAgents" is 40 characters
    # of words; a random key without a digit or "+" happens once in ~2,000.
    has_digit_or_symbol = any(ch.isdigit() or ch == "+" for ch in token)
    return has_upper and has_lower and has_digit_or_symbol and entropy(token) >= 4.2


def _decodes_to_text(token: str) -> bool:
    """A base64 run that decodes to printable ASCII is data (user data, a script), not a key."""
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(raw) and all(32 <= byte < 127 or byte in (9, 10, 13) for byte in raw)


def _dotted_segment(text: str, start: int, end: int) -> bool:
    """The token is glued by a dot, dash or underscore to more token characters: a segment
    of a JWT ("a.b.c"), of a base64url value ("SHA256:Qk-uQOVp…", an ssh-keygen fingerprint)
    or of a prefixed token ("qk_live_2kaM…"), not a 40-character key ended by a full stop.
    An AWS secret key has no ``-`` or ``_`` in its alphabet; grouped keys ("…-…-…") are
    joined by the grouped rules, which check the whole."""
    glued_before = text[start - 1 : start] in "._-" and start >= 2 and text[start - 2 : start - 1].isalnum()
    glued_after = text[end : end + 1] in "._-" and text[end + 1 : end + 2].isalnum()
    return glued_before or glued_after


#: An access key id shortly before a 40-character token: the token is its secret key.
_KEY_ID_BEFORE = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")


def _secret_key_kind(text: str, match: re.Match[str]) -> str | None:
    token = match.group()
    if token in _DOC_EXAMPLE_SECRETS or token.endswith("EXAMPLEKEY") or HEX.fullmatch(token):
        return None
    start, end = match.span()
    before = text[max(0, start - 60) : start]
    if _dotted_segment(text, start, end):
        return None  # a segment of a JWT or another dotted token, not an AWS secret
    if _SECRET_KEY_CONTEXT.search(before):
        if entropy(token) >= 3.5 and not token.isalpha():
            return "assignment"
        return None
    if _GENERIC_TOKEN_CONTEXT.search(before):
        return None  # "x-api-key: …", "auth_token: …": the generic-secret rules own these
    if _looks_random_40(token) and not _decodes_to_text(token):
        if _DATA_CONTEXT.search(text[max(0, start - 200) : start]) and not _KEY_ID_BEFORE.search(before + " "):
            # a line of base64 data (EC2 user data, a certificate); not the second half of a
            # key pair ("new BasicAWSCredentials("AKIA…", "…")" after a sentence naming a certificate)
            return None
        return "bare"
    return None


def secret_key_assignment(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        if _secret_key_kind(text, match) == "assignment":
            yield spec.rule_id, match.start(), match.end()


def secret_key_bare(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        if _secret_key_kind(text, match) == "bare":
            yield spec.rule_id, match.start(), match.end()


def secret_key_split(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        joined = match.group(1) + match.group(2)
        if len(joined) == 40 and "EXAMPLE" not in joined and entropy(joined) >= 3.5:
            yield spec.rule_id, match.start(1), match.end(2)


def secret_key_grouped(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A secret key after its name, written in groups or with a separator inside."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        start = match.start("value")
        joined = _join_groups(text, start, 0, 40, _B64)
        if joined is None:
            continue
        key, end, _pieces = joined
        if "EXAMPLE" in key or not _looks_random_40(key):
            continue
        if text[end : end + 1] == "_":
            continue  # the last piece is the start of the next key name ("…\nSENTRY_AUTH_TOKEN = …")
        if _ARN_BEFORE.search(text, max(0, start - 80), start):
            continue  # "secret:app/db-x1" inside a Secrets Manager ARN: a name, never key material
        yield spec.rule_id, start, end


#: The value starts inside an ARN ("arn:aws:secretsmanager:…:secret:" just before it).
_ARN_BEFORE = re.compile(r"arn:aws[\w-]*:[^\s\"']*$")


_SPLIT_JOINERS = re.compile(r"""\\n|[\s"'\\]""")


def session_assignment(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        # The value without what split it: line breaks (real or a literal backslash-n),
        # shell line continuations ("…"\<newline>"…"), the quotes closed and reopened.
        value = _SPLIT_JOINERS.sub("", match.group(1))
        if len(value) >= 60 and "EXAMPLE" not in value.upper() and entropy(value) >= 4.0:
            yield spec.rule_id, match.start(1), match.end(1)


_BODY_MATERIAL = re.compile(r"[A-Za-z0-9+/=]{16,}")


#: A line of key material behind a log prefix ("DEBUG key line1: MIIEowIBAAKCAQEAu70d…"):
#: a key printed line by line to a log is as exposed as a key block. A PEM body line is 64
#: base64 characters; 48 or more, alone at the end of the line, are taken as material.
_PREFIXED_BODY_LINE = re.compile(r"[ \t]*\r?\n[^\n]{0,80}?(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{48,}={0,2}[ \t]*(?=\r?\n|$)")


def pem(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    header, body_pattern, footer_pattern = spec.patterns[:3]
    for match in finditer_windows(header, text, windows):
        body = body_pattern.match(text, match.end())
        if body is None or not _BODY_MATERIAL.search(body.group()):
            prefixed = _PREFIXED_BODY_LINE.match(text, match.end())
            if prefixed is not None:
                end = prefixed.end()
                while (prefixed := _PREFIXED_BODY_LINE.match(text, end)) is not None:
                    end = prefixed.end()  # every printed line is redacted, not only the first
                yield spec.rule_id, match.start(), end
            continue  # a header alone ("my key starts with BEGIN RSA PRIVATE KEY") exposes nothing
        end = body.end()
        footer = footer_pattern.match(text, end)
        if footer:
            end = footer.end()
        yield spec.rule_id, match.start(), end
