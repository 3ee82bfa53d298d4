"""Secrets other than AWS keys and passwords: vendor tokens (fixed prefixes, the
``<vendor>_live_<random>`` convention), webhooks, ``Authorization: Bearer`` and ``Basic``
headers, session cookies, a secret or token after its name (assigned or in prose), and the
catalogue's plain regex rules whose ``value`` group must not be a placeholder."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.common import (
    _LETTER_DIGIT_SWITCH,
    HEX,
    UUID,
    entropy,
    has_placeholder_words,
    is_placeholder,
    key_name,
    value_of,
)
from pipeline.domain.guardrails.engine import Hit, Window, finditer_windows
from pipeline.domain.guardrails.secrets.values import MASKED_RUN, NEXT_KEY


def valued(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A regex rule whose ``value`` group must not be a placeholder."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value = match.group("value")
            if value and not is_placeholder(value) and len(value) >= int(spec.params.get("min_length", 4)):
                yield spec.rule_id, match.start("value"), match.end("value")


def vendor_token(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        token = match.group()
        if token.startswith("sk-") and not any(ch.isdigit() for ch in token):
            continue
        if "EXAMPLE" in token.upper() or "XXXXXXXX" in token.upper() or has_placeholder_words(token):
            continue
        yield spec.rule_id, match.start(), match.end()


def slack_webhook(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        if "XXXX" not in match.group().upper():
            yield spec.rule_id, match.start(), match.end()


def bearer(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A token after ``Bearer`` or another token-carrying scheme of an ``Authorization`` header."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            token = match.group(1)
            if not is_placeholder(token) and entropy(token) >= 3.0 and any(ch.isdigit() for ch in token):
                yield spec.rule_id, match.start(1), match.end(1)


def basic_header(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        try:
            decoded = base64.b64decode(match.group(1) + "==", validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        user, sep, password = decoded.partition(":")
        if sep and user and password and not is_placeholder(password):
            yield spec.rule_id, match.start(1), match.end(1)


_BARE_TOKEN_KEY = re.compile(r"tokens?", re.I)
_SECRET_KEY_NAME_SKIP = re.compile(
    r"next(?!auth)|continuation|idempoten|pagination|client_?token|request_?token|type|name|_?id$|_id_|arn|ttl|expir|url|uri|path|"
    r"file|length|count|limit|header|endpoint|version|string$|\bref\b|_ref\b|ref_|manager|policy|rotation|kms|aws_secret|"
    r"secretaccesskey|session|security_?token|key_?pair|keyname|public|publishable|duration|store|provider|"
    r"lifetime|validity|scope|format|usage|\btokens?\b$",
    re.I,
)


#: The key-id half of a vendor's API credential pair (``api_key = "4a2e6c3e"`` beside
#: ``api_secret = …``, Mailjet's ``MJ_APIKEY_PUBLIC`` beside ``MJ_APIKEY_PRIVATE``).
_PASSWORD_KEY_NAME = re.compile(r"passphrase|password|passwd", re.I)
_PAIRED_KEY_NAME = re.compile(r"api[_\-]?key|apikey|app[_\-]?key", re.I)


def secret_assignment(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A secret assigned to a name that says so. The key-id half of an API credential pair
    (too short or named public, so no secret alone) is redacted when the same text assigns
    a secret too: the message is blocked for the secret, and the pair is what a stranger
    would need, so neither half is stored."""
    paired: list[Hit] = []
    found = False
    for pattern in spec.patterns:
        for hit in _secret_assignment(spec, text, windows, pattern, paired):
            found = True
            yield hit
    if found:
        yield from paired


def _paired_key_value(key: str, value: str) -> bool:
    """An API key id: named as one, 8+ characters mixing letters and digits, not a placeholder."""
    return (
        _PAIRED_KEY_NAME.search(key) is not None
        and 8 <= len(value) <= 200
        and " " not in value
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and not is_placeholder(value)
        and not UUID.fullmatch(value)
        and not MASKED_RUN.search(value)
    )


def _secret_assignment(spec: RuleSpec, text: str, windows: Sequence[Window], pattern: re.Pattern[str],
                       paired: list[Hit]) -> Iterator[Hit]:
    for match in finditer_windows(pattern, text, windows):
        key = key_name(text, match)
        value, start, end, _quoted = value_of(match)
        if spec.rule.category != "password" and _PASSWORD_KEY_NAME.search(key):
            continue  # "private_key_passphrase", "api_secret_password": a password field, the password rules' own
        if _SECRET_KEY_NAME_SKIP.search(key) and not (
            # a bare "token" names too many things ("token: 1500") to trust on its own; a
            # long random value after it is a credential (Terraform's `token = "…atlasv1…"`)
            _BARE_TOKEN_KEY.fullmatch(key) and len(value) >= 40 and entropy(value) >= 4.0
        ):
            if "public" in key.lower() and _paired_key_value(key, value):
                paired.append((spec.rule_id, start, end))
            continue
        if len(value) < 12 or is_placeholder(value) or " " in value or UUID.fullmatch(value):
            if _paired_key_value(key, value):
                paired.append((spec.rule_id, start, end))
            continue
        if not _quoted and NEXT_KEY.fullmatch(value):
            continue  # "externalSecret:\n  refreshInterval: 1h": a nested mapping, its first key is no value
        if not _quoted and _EMPTY_ENV_VALUE.match(text, match.end("key"), start) and _NEXT_ASSIGNMENT.match(value):
            continue  # "APP_KEY=\nAPP_DEBUG=false": an empty value, the next line is the next setting
        classes = sum(
            (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
        )
        if classes >= 2 and entropy(value) >= 3.2:
            yield spec.rule_id, start, end


#: ``=`` and the end of the line: an env-file or properties setting left empty (``APP_KEY=``).
_EMPTY_ENV_VALUE = re.compile(r"[\"']?[ \t]*=[ \t]*\r?\n")
#: An env-file or properties line ``NAME=…`` (or ``name: …``): a setting of its own.
_NEXT_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,80}[ \t]*[=:]")


def secret_prose(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        value = match.group("value")
        if is_placeholder(value) or HEX.fullmatch(value.replace("-", "")):
            continue
        mixed = any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)
        # one-case random strings (a Cognito app client secret is 51 lower-case letters and
        # digits): long, switching between letters and digits all the way through
        one_case = len(value) >= 32 and len(_LETTER_DIGIT_SWITCH.findall(value)) >= 10
        if (mixed and entropy(value) >= 3.5) or (one_case and entropy(value) >= 4.0):
            yield spec.rule_id, match.start("value"), match.end("value")


#: A token name glued to a word that makes it a cursor, not a credential: ``--starting-token``,
#: ``NextToken``, ``page_token``, ``continuation token``, ``idempotency token``, ``ClientRequestToken``.
_CURSOR_BEFORE = re.compile(
    r"(?:starting|next|page|continuation|pagination|resume|idempotency|client[-_ ]?request|request|sync|cancel(?:lation)?|csrf)[-_ ]?$",
    re.I,
)


def secret_named(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """"…and client secret .4tcf2NVoQh1…": a credential name followed by a random value."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        if _CURSOR_BEFORE.search(text, max(0, match.start() - 24), match.start()):
            continue  # "--starting-token eyJFeGNs…": a pagination cursor (base64 JSON), not a credential
        value = match.group("value").rstrip(".")
        if len(value) < 20 or is_placeholder(value) or HEX.fullmatch(value.replace("-", "")) or UUID.fullmatch(value):
            continue
        if not (any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)):
            continue
        if entropy(value) >= 4.0:
            start = match.start("value")
            yield spec.rule_id, start, start + len(value)


def query_key(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """An API key in a URL's query string (``?appid=…``, ``&api_key=…``): the parameter names
    the key; the value must be one (letters and digits mixed, not a mask, a UUID or a word).
    A numeric application id ("appid=1234567890") identifies an app and is no key."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        value = match.group("value")
        if len(value) < int(spec.params.get("min_length", 16)) or is_placeholder(value) or UUID.fullmatch(value):
            continue
        if MASKED_RUN.search(value) or not any(c.isdigit() for c in value) or not any(c.isalpha() for c in value):
            continue
        if entropy(value) >= 3.0:
            yield spec.rule_id, match.start("value"), match.end("value")


def prefixed_token(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A key in the ``<vendor>_live_<random>`` convention many vendors copied from Stripe
    ("qk_live_2kaMm…", "ck_prod_…"): the prefix says key, the random tail makes it one."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        tail = match.group("value")
        if has_placeholder_words(match.group()) or "EXAMPLE" in tail.upper() or MASKED_RUN.search(tail):
            continue
        mixed = any(c.islower() for c in tail) and any(c.isupper() for c in tail) and any(c.isdigit() for c in tail)
        if mixed and entropy(tail) >= 3.5:
            yield spec.rule_id, match.start(), match.end()


def session_cookie(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """Session and auth cookies on a ``Cookie:`` header's line (``patterns[0]`` the header,
    ``patterns[1]`` a name=value pair): each line is read once, however many headers it repeats."""
    header, pair = spec.patterns[:2]
    done = 0
    for match in finditer_windows(header, text, windows):
        line_end = text.find("\n", match.end())
        line_end = min(len(text) if line_end < 0 else line_end, match.end() + 8000)
        start = max(match.end(), done)
        for cookie in pair.finditer(text, start, line_end):
            value = cookie.group("value")
            if is_placeholder(value) or UUID.fullmatch(value) or HEX.fullmatch(value):
                continue
            mixed = any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)
            if mixed and entropy(value) >= 4.0:
                yield spec.rule_id, cookie.start("value"), cookie.end("value")
        done = max(done, line_end)


# These detectors treat every pattern of their rule alike: the engine may run only the
# patterns that can match a text.
valued.uniform_patterns = True  # type: ignore[attr-defined]
bearer.uniform_patterns = True  # type: ignore[attr-defined]
secret_assignment.uniform_patterns = True  # type: ignore[attr-defined]
