"""Secret detectors: the code behind the rules of ``catalogue/secrets.toml``.

Each detector receives its rule (patterns come from the catalogue), the text and the
candidate windows, and yields ``(rule_id, start, end)`` hits. What cannot be a regular
expression (entropy, placeholders, key-name checks, joining split or grouped keys) lives
here; the patterns themselves are catalogue data.
"""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from functools import lru_cache

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

_DOC_EXAMPLE_SECRETS = frozenset(
    {
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
    }
)


# Eight identical characters never occur in a real (random base32) key body; a mask does.
_MASKED_RUN = re.compile(r"(.)\1{7}")


def access_key(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        key = match.group()
        if key.upper().endswith("EXAMPLE"):
            continue  # AKIAIOSFODNN7EXAMPLE and friends: AWS documentation examples
        if _MASKED_RUN.search(key[4:]):
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
        yield spec.rule_id, start, end


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


def _name_part(stem: str) -> str:
    """``stem`` as a part of a key name (``password_type``, ``passwordType``, ``PASSWORD_TYPE``),
    not inside another word: Gradle's ``sonatypePassword``, ``ELASTIC_PASSWORD`` and
    ``SERVICE_ACCOUNT_PASSWORD`` are passwords, not a type, a last change or a count."""
    return rf"(?-i:(?<![a-z]){stem}|{stem.capitalize()}|(?<![A-Z]){stem.upper()})"


_PASSWORD_KEY_SKIP = re.compile(
    r"length|policy|polic|required|reset|expir|age\b|minimum|maximum|\bmin|\bmax|_min|_max|\bmin_|\bmax_|enabled|enable|hint|prompt|file|path|field|label|"
    + "|".join(_name_part(stem) for stem in ("type", "last", "count")) + "|"
    r"valid|complex|strength|rotat|attempt|changed|arn|secret_?name|secretname|secret_?id|_id\b|"
    r"auth_?type|mode|manage|generat|less|_url|rule|regex|pattern|template|param|noecho|\bpwd\b(?=\s*=\s*/)|"
    r"encoder|hash|algorithm|digest|variable|\bvar\b|_var\b",
    re.I,
)
_PROSE_STOPWORDS = frozenset(
    """not incorrect correct wrong right expired invalid valid required too very being been set reset
    changed missing empty blank same different rejected accepted working failing stored saved
    encrypted hashed in on at for from still now also definitely probably longer shorter case like
    what something secure strong weak long short locked ok okay fine good bad stuck lost forgotten
    known unknown generated managed rotated the a an my our your their his her its this that it
    no yes never always only just definitely there here what which when where how why who
    incorrectly exactly actually literally simply apparently supposedly hard easy complex simple
    displayed shown hidden masked obscured asterisks dots protected compromised leaked exposed
    saved cached remembered sent emailed mailed printed logged visible invisible required mandatory
    optional temporary temp initial default fine unchanged updated outdated old new current same
    different unique shared reused identical longer characters chars letters digits numbers symbols
    ignored accepted denied refused blocked failing working wrong because but and or so then
    correcta incorrecta correcto incorrecto valida invalida expirada caducada larga corta segura
    correct incorrect valide invalide expire longue courte
    falsch richtig korrekt abgelaufen ungultig gultig lang kurz sicher
    errada certa correta incorreta expirada invalida valida longa curta segura
    sbagliata giusta corretta scaduta valida lunga corta sicura""".split()
)


_SHORT_NUMBER = re.compile(r"\d{1,3}")


_VALUE_TAIL = re.compile(r"[&)}\]<>,;]\S{0,200}")


class _LineMarks:
    """Where lines start and where ``?`` and ``://`` occur in a text, found once, so that
    "does this line have a URL query before the key" costs a binary search per match
    (slicing the line for every match was quadratic on 100 KB without a line break)."""

    def __init__(self, text: str) -> None:
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.queries = [m.start() for m in re.finditer("\\?", text)]
        self.schemes = [m.start() for m in re.finditer("://", text)]

    def url_before(self, key_start: int) -> bool:
        """``"?" in line or "://" in line`` for the line's text before ``key_start``."""
        line = bisect_left(self.newlines, key_start)
        line_start = self.newlines[line - 1] + 1 if line else 0
        query = bisect_left(self.queries, key_start)
        if query and self.queries[query - 1] >= line_start:
            return True
        scheme = bisect_right(self.schemes, key_start - 3)  # "://" wholly before key_start
        return bool(scheme) and self.schemes[scheme - 1] >= line_start


def _env_value_end(text: str, key_start: int, end: int, marks: list[_LineMarks]) -> int:
    """Where an unquoted value really ends. In a URL query ``&`` starts the next parameter;
    on an env-file or shell line (``ADMIN_PASSWORD=Chorizo&Queso!2024``) it is part of the
    value, which runs to the end of the word: redacting only ``Chorizo`` would leave the
    rest of the password in the stored text. ``marks`` holds the text's :class:`_LineMarks`
    once built (at most one per text)."""
    if text[end : end + 1] != "&":
        return end
    if not marks:
        marks.append(_LineMarks(text))
    if marks[0].url_before(key_start):
        return end
    tail = _VALUE_TAIL.match(text, end)
    return tail.end() if tail else end


def password_assignment(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    marks: list[_LineMarks] = []
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            key = key_name(text, match)
            if _PASSWORD_KEY_SKIP.search(key):
                continue
            value, start, end, quoted = value_of(match)
            if key.lower() == "pwd" and value.startswith(("/", "~")):
                continue  # $PWD is the working directory
            if not quoted:
                end = _env_value_end(text, match.start(), end, marks)
                # judged whole: "s&qq&dSHU0Bpa@G6$faQ2tU" is one value, not the lone "s"
                value = text[start:end]
            if is_placeholder(value) or _SHORT_NUMBER.fullmatch(value):
                continue
            if not quoted and value.lower() in _PROSE_STOPWORDS:
                continue  # "the password: is it required?" and other sentences, not values
            if not quoted and _NEXT_KEY.fullmatch(value):
                continue  # "password: user: bob": the value is empty, "user:" is the next key
            if not quoted and _LOWER_WORD.fullmatch(value) and _SENTENCE_GOES_ON.match(text, end):
                continue  # "treat it like a password: paste it only into…": a sentence (the prose rules judge it)
            yield spec.rule_id, start, end


#: After ``key: word``, a space and another lower-case word: the colon introduced a sentence
#: ("like a password: paste it only into the IdP"), not a value. A config or env line ends at
#: the value; a prose password ("password: sunshine and it fails") is the prose rules' to judge.
_LOWER_WORD = re.compile(r"[a-z]+")
_SENTENCE_GOES_ON = re.compile(r" (?:[a-z]+)\b")


#: An unquoted "value" that is a bare word ending in a colon is the next key of a key/value
#: listing, not a value (and a flood of "password: " makes no finding per repetition).
_NEXT_KEY = re.compile(r"[A-Za-z_][A-Za-z_.\-]{0,40}:")

_CLI_PROSE = frozenset({"via", "flag", "option", "options", "argument", "parameter", "with", "is", "are", "to"})


def password_cli(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, end, quoted = value_of(match)
            if is_placeholder(value) or value.startswith("-") or value.isdigit() or "://" in value:
                continue  # a URL after "-u" is a flag's argument, not a password
            if not quoted and (value.lower() in _PROSE_STOPWORDS or value.lower() in _CLI_PROSE):
                continue  # "Using --password via the CLI is insecure": a sentence, not a value
            yield spec.rule_id, start, end


# Pure functions of a value, remembered (bounded): a pasted log or config repeats its values.
@lru_cache(maxsize=4096)
def looks_like_password(value: str, quoted: bool) -> bool:
    """Heuristic: does a prose value look like a real password rather than a word?"""
    value = value.rstrip(".,!?;:)")
    if len(value) < 4 or is_placeholder(value):
        return False
    lowered = value.lower()
    if lowered in _PROSE_STOPWORDS:
        return False
    has_digit = any(ch.isdigit() for ch in value)
    has_symbol = any(ch in "!@#$%^&*~+=?/\\|_" for ch in value)
    mixed = any(ch.isupper() for ch in value[1:]) and any(ch.islower() for ch in value)
    if has_digit or has_symbol or mixed:
        return not re.fullmatch(r"\d{1,3}(?:\.\d+)?%?|\d+\s*(?:chars?|characters)", lowered)
    if quoted:
        return True
    if re.fullmatch(r"[a-z]+(?:-[a-z]+)*", lowered):
        return len(lowered) >= 6 and not re.search(r"(?:ed|ing|ly|ive|able|ible|ful|less|ous)$", lowered)
    return False


def password_prose(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, _end, quoted = value_of(match)
            stripped = value.rstrip(".,!?;:)")
            if looks_like_password(stripped, quoted):
                yield spec.rule_id, start, start + len(stripped)


_CJK_PASSWORD_WORD = re.compile(r"パスワード|ハスワート|密码|密碼|비밀번호|암호|口令")
# One word or two joined ("root-gebruiker", "sign-in"); three or more joined are a passphrase
# ("otter-marlin-lantern-osprey").
_PLAIN_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)?")


def password_prose_strict(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """Prose in any language: the value must be quoted or carry digits, symbols or mixed case."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, _end, quoted = value_of(match)
            stripped = value.rstrip(".,!?;:)")
            if "://" in stripped:
                continue  # "the connection string has no password: postgresql://app@db…"
            # a word or two joined ("root-gebruiker"): not a password unless quoted; a
            # quoted phrase naming the password itself ("パスワードの有効期限") never is
            plain_word = _PLAIN_WORDS.fullmatch(stripped) is not None and (
                stripped.islower() or stripped[1:].islower() or not stripped.isascii()
            )
            caseless_word = plain_word and not stripped.isascii() and _CJK_PASSWORD_WORD.search(stripped) is not None
            if not caseless_word and (quoted or not plain_word) and looks_like_password(stripped, quoted):
                yield spec.rule_id, start, start + len(stripped)


_HTTP_SCHEMES = frozenset({"http", "https", "ws", "wss", "git+https", "git+http"})


def _url_passwords(spec: RuleSpec, text: str, windows: Sequence[Window], http: bool) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        password = match.group("pw")
        if is_placeholder(password) or password.lower() in {"password", "pass", "pwd", "secret"}:
            continue
        if (match.group("scheme").lower() in _HTTP_SCHEMES) is http:
            yield spec.rule_id, match.start("pw"), match.end("pw")


def connection_string(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    yield from _url_passwords(spec, text, windows, http=False)


def basic_auth_url(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    yield from _url_passwords(spec, text, windows, http=True)


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
    for match in finditer_windows(spec.patterns[0], text, windows):
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
    r"next|continuation|idempoten|pagination|client_?token|request_?token|type|name|_?id$|_id_|arn|ttl|expir|url|uri|path|"
    r"file|length|count|limit|header|endpoint|version|string$|\bref\b|_ref\b|ref_|manager|policy|rotation|kms|aws_secret|"
    r"secretaccesskey|session|security_?token|key_?pair|keyname|public|publishable|duration|store|provider|"
    r"lifetime|validity|scope|format|usage|\btokens?\b$",
    re.I,
)


def secret_assignment(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for pattern in spec.patterns:
        yield from _secret_assignment(spec, text, windows, pattern)


def _secret_assignment(spec: RuleSpec, text: str, windows: Sequence[Window], pattern: re.Pattern[str]) -> Iterator[Hit]:
    for match in finditer_windows(pattern, text, windows):
        key = key_name(text, match)
        value, start, end, _quoted = value_of(match)
        if _SECRET_KEY_NAME_SKIP.search(key) and not (
            # a bare "token" names too many things ("token: 1500") to trust on its own; a
            # long random value after it is a credential (Terraform's `token = "…atlasv1…"`)
            _BARE_TOKEN_KEY.fullmatch(key) and len(value) >= 40 and entropy(value) >= 4.0
        ):
            continue
        if len(value) < 12 or is_placeholder(value) or " " in value or UUID.fullmatch(value):
            continue
        if not _quoted and _NEXT_KEY.fullmatch(value):
            continue  # "externalSecret:\n  refreshInterval: 1h": a nested mapping, its first key is no value
        classes = sum(
            (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
        )
        if classes >= 2 and entropy(value) >= 3.2:
            yield spec.rule_id, start, end


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


_HASH_OR_FORMAT = re.compile(r"sha-?\d|md5|pbkdf|bcrypt|scrypt|argon|aes-?\d|hmac|rsa-?\d|utf-?8|\.[a-z]{2,5}$", re.I)


_SETTING = re.compile(r"[A-Za-z_][\w.\-]*[:=]")


@lru_cache(maxsize=4096)
def strong_password(value: str) -> bool:
    """A value that can only be a password: 8+ characters mixing lower-case letters, digits
    and a symbol or an inner capital ("Bluebird#4455", "Cafecito.2024"); no hash names,
    file names, URLs or settings ("PBKDF2-SHA256", "policy.json", "MinLength=8")."""
    if len(value) < 8 or is_placeholder(value) or "://" in value or _HASH_OR_FORMAT.search(value):
        return False
    if _SETTING.match(value.rstrip("=")):
        return False  # "MinLength=8", "aws:SourceIp": a setting; "x%8Lb=kT2vQ" is a password
    has_lower = any(ch.islower() for ch in value)
    has_digit = any(ch.isdigit() for ch in value)
    has_symbol = any(not ch.isalnum() for ch in value)
    inner_capital = any(ch.isupper() for ch in value[1:])
    return has_lower and has_digit and (has_symbol or inner_capital)


def password_named(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """"…and the password Bluebird#4455": a password word followed by a strong value."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, _end, _quoted = value_of(match)
            stripped = value.rstrip(".,!?;:)")
            if stripped.lower() not in _PROSE_STOPWORDS and strong_password(stripped):
                yield spec.rule_id, start, start + len(stripped)


def password_literal(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A ``Password=…;`` field of a connection string: the value is literal text, so a
    capitalised dotted value ("Sunflower.Fields.Forever") is a password, not a code reference."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, _end, _quoted = value_of(match)
            value = value.rstrip()
            if len(value) < 4 or value.startswith(("{", "$", "%", "<", "[")) or value.lower() in _PROSE_STOPWORDS:
                continue  # {0}, ${DB_PASS}, %PASSWORD%, <password>
            literal_words = _DOTTED_WORDS.fullmatch(value) is not None and not value.islower()
            if not literal_words and is_placeholder(value):
                continue
            yield spec.rule_id, start, start + len(value)


_DOTTED_WORDS = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


# What follows a password word in the same stretch of prose, split into candidate values:
# whitespace, quotes, brackets and list commas end a value ("one of these: Winter2023!,
# Qwerty!2345 or Br1sbane#88", "c'est « Papillon_77 »", "パスワード（Fujisan#3776）").
_NEARBY_REACH = 100
_DIGIT = re.compile(r"\d")
_VALUE_END = "\\s\"'`“”‘’«»()\\[\\]{}<>、，,;：。"  # a character class's body
_NEARBY_DIGIT_TOKEN = re.compile(f"(?<![^{_VALUE_END}])[^{_VALUE_END}]*\\d[^{_VALUE_END}]*")
# Values without a digit still carry a password symbol ("oqA_raQmf!pIK!").
_NEARBY_SYMBOL_TOKEN = re.compile(f"(?<![^{_VALUE_END}])[^{_VALUE_END}]*[!@#$%^&*+?~][^{_VALUE_END}]*")
# "KPdSKKZF%E9yKyKk1LD5 is what I set as the master password": the word may follow.
_NEARBY_REACH_BACK = 60
_EMAIL_LIKE = re.compile(r"[^@\s]+@[\w\-]+(?:\.[\w\-]+)+")
_PASSWORD_SYMBOLS = frozenset("!@#$%^&*+?~")
_WORD_SEPARATOR_DIGITS = re.compile(r"[A-Z][a-z]{3,}[_.\-]\d{2,}|(?:[A-Z][a-z]{2,}[_.\-]){2,3}\d{2,}")
# The same words with the digits glued to the last one ("Gondola_Rialto77", "Cedar.Hollow58");
# a name of a thing is built from the words of _NAME_WORDS ("Web_Server01", "Prod-Backup22").
_WORDS_GLUED_DIGITS = re.compile(r"(?:[A-Z][a-z]{2,}[_.\-]){1,3}[A-Z][a-z]{2,}\d{2,}")
_WORDS_DIGITS = re.compile(r"(?:[A-Za-z][a-z]{2,}[_.\-]){3,4}\d{2,}")
# A diceware passphrase: four or more random words joined by hyphens ("osprey-juniper-quokka-
# saffron"); names of things are built from the words below ("read-only-replica-user").
_DICEWARE = re.compile(r"[a-z]{3,}(?:-[a-z]{3,}){3,6}")
_NEARBY_DICEWARE_TOKEN = re.compile(rf"(?<![\w-]){_DICEWARE.pattern}(?![\w-])")
_NAME_WORDS = frozenset(
    "prod production dev develop staging stage test qa uat app api web www backend frontend service "
    "svc user users role admin read only write replica primary main master db database cluster "
    "instance bucket queue topic lambda function stack team group policy account region east west "
    "north south central default internal external public private data logs log backup deploy "
    "build pipeline worker job task server client "
    # verbs of CLI commands and API operations ("verify-sms-sandbox-phone-number")
    "create verify delete describe list get put update set start stop enable disable attach "
    "detach add remove modify run invoke send receive tag untag import export copy sync "
    # products and systems named with a version ("Windows_Server2019", "Amazon_Linux2023")
    "amazon aws linux windows ubuntu debian centos redhat mysql postgres oracle".split()
)


@lru_cache(maxsize=4096)
def distinctive_password(value: str) -> bool:
    """A value that is a password wherever it stands near a password word, not an id,
    a name or a setting: :func:`strong_password` and, beside, a password symbol
    ("Mandioca#2023", "Zubr2024!Krakow"), a capitalised word, separator and digits
    ("Galata_1453"), or a short random mix of cases and digits ("EGzz83yQ3L3QCk").
    "app_user1", "db-prod-2", "MyDBInstance1", e-mail addresses and paths are not."""
    if _DICEWARE.fullmatch(value):
        return not any(word in _NAME_WORDS for word in value.split("-"))
    if not strong_password(value) or value.startswith(("$", "{", "%", "<", "~")) or "/" in value:
        return False
    if _EMAIL_LIKE.fullmatch(value):
        return False
    if any(ch in _PASSWORD_SYMBOLS for ch in value):
        return True
    if _WORD_SEPARATOR_DIGITS.fullmatch(value):
        return True
    if _WORDS_GLUED_DIGITS.fullmatch(value):
        words = _INNER_SEPARATORS.split(value.rstrip("0123456789"))
        return not any(word.lower() in _NAME_WORDS for word in words)
    if _WORDS_DIGITS.fullmatch(value):
        # "kopi-susu-Jakarta-2019": three or more words and a year, in any case; a name of a
        # thing is built from the words of _NAME_WORDS ("web-server-2019", "read-only-replica-01").
        return not any(word.lower() in _NAME_WORDS for word in _INNER_SEPARATORS.split(value))
    if value.isalnum() and 10 <= len(value) <= 24:
        uppers = sum(ch.isupper() for ch in value)
        digits = sum(ch.isdigit() for ch in value)
        return uppers >= 3 and digits >= 2 and entropy(value) >= 3.0
    bare = _INNER_SEPARATORS.sub("", value)
    if bare.isalnum() and 10 <= len(value) <= 32:
        # "1k4DsJNq_e0h": random with a separator, letters and digits switching often;
        # a name with a separator switches a few times at most ("MyApp_Prod2_DB3").
        uppers = sum(ch.isupper() for ch in bare)
        digits = sum(ch.isdigit() for ch in bare)
        return uppers >= 2 and digits >= 2 and len(_LETTER_DIGIT_SWITCH.findall(bare)) >= 4 and entropy(value) >= 3.0
    return False


_INNER_SEPARATORS = re.compile(r"[_.\-]")
_SHELL_VARIABLE_INSIDE = re.compile(r"\$\{?[A-Za-z_]")


@lru_cache(maxsize=4096)
def symbolic_password(value: str) -> bool:
    """A password with no digit: 10+ characters mixing lower and inner upper case with a
    password symbol ("oqA_raQmf!pIK!"); sentences with an exclamation mark are no token."""
    if not 10 <= len(value) <= 64 or is_placeholder(value) or "/" in value or "=" in value or ":" in value:
        return False  # URLs, paths, settings ("-user=$DB_USER")
    if value.startswith(("$", "-", "{", "%", "<", "~")) or _SHELL_VARIABLE_INSIDE.search(value):
        return False
    if not any(ch in _PASSWORD_SYMBOLS for ch in value.rstrip("!?")):
        return False
    inner_uppers = sum(ch.isupper() for ch in value[1:])
    return any(ch.islower() for ch in value) and inner_uppers >= 2 and entropy(value) >= 3.3


def password_nearby(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A password word in any language, then, within the next line's first
    :data:`_NEARBY_REACH` characters, a value that can only be a password: "a senha que
    coloquei na criação foi Mandioca#2023", "hasło do bazy to Zubr2024!Krakow", "비밀번호를
    Hangang!2022 로 바꿔". The clause between may be anything; the value's shape decides.

    Such values are rare and all have a digit, so the search starts from them: one regex
    pass over the tokens with a digit and, only once a distinctive one turns up, one pass for
    the password words, each value then judged against the closest word before it. A text
    repeating "password" 10,000 times costs those passes, not 10,000 looks ahead. The
    detector searches the whole text (``whole_text``): windows around a word this frequent
    would cost more than the passes."""
    words: list[tuple[int, int]] | None = None
    seen: set[int] = set()
    for token in _nearby_candidates(text):
        start = token.start()
        if start in seen:
            continue
        seen.add(start)
        value = token.group().rstrip(".;:?")
        if value.startswith(("**", "__")) or value.endswith(("**", "__")):
            continue  # Markdown emphasis ("**EC2Rescue for Windows**"), not a value
        if not (distinctive_password(value) or symbolic_password(value.rstrip("!"))):
            continue
        if words is None:
            words = [(match.start(), match.end()) for match in spec.patterns[0].finditer(text)]
            word_starts = [word_start for word_start, _ in words]
        end = start + len(value)
        before = bisect_right(word_starts, start) - 1
        if before >= 0 and start - words[before][1] <= _NEARBY_REACH and "\n" not in text[words[before][1] : start]:
            yield spec.rule_id, start, end
            continue
        after = before + 1
        if after < len(words) and words[after][0] - end <= _NEARBY_REACH_BACK and "\n" not in text[end : words[after][0]]:
            yield spec.rule_id, start, end


def _nearby_candidates(text: str) -> Iterator[re.Match[str]]:
    if _DIGIT.search(text) is not None:
        yield from _NEARBY_DIGIT_TOKEN.finditer(text)
    yield from _NEARBY_SYMBOL_TOKEN.finditer(text)
    yield from _NEARBY_DICEWARE_TOKEN.finditer(text)


def secret_named(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """"…and client secret .4tcf2NVoQh1…": a credential name followed by a random value."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        value = match.group("value").rstrip(".")
        if len(value) < 20 or is_placeholder(value) or HEX.fullmatch(value.replace("-", "")) or UUID.fullmatch(value):
            continue
        if not (any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)):
            continue
        if entropy(value) >= 4.0:
            start = match.start("value")
            yield spec.rule_id, start, start + len(value)


_USER_PASSWORD = re.compile(r"([^\s:]{1,64}):(\S{6,200})")


def base64_credential(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A base64 value piped to ``base64 -d`` that decodes to ``user:password``."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        token = match.group("value")
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        # A decoded key or token is found by the rescan of decoded views (with its own
        # category); this rule adds what no rule sees in a decoded view: "user:password".
        pair = _USER_PASSWORD.fullmatch(decoded.strip())
        if pair:
            password = pair.group(2)
            if not is_placeholder(password) and looks_like_password(password, quoted=False):
                yield spec.rule_id, match.start("value"), match.end("value")


def prefixed_token(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A key in the ``<vendor>_live_<random>`` convention many vendors copied from Stripe
    ("qk_live_2kaMm…", "ck_prod_…"): the prefix says key, the random tail makes it one."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        tail = match.group("value")
        if has_placeholder_words(match.group()) or "EXAMPLE" in tail.upper() or _MASKED_RUN.search(tail):
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


def passphrase_flag(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A passphrase given to a tool's own flag (``ssh-keygen -N '…'``, ``mosquitto_pub -P …``).
    A quoted value is literal whatever it reads like: "copper kettle on a cold stove" is a
    passphrase there, not a sentence; an empty one (``-N ''``) never matches."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, end, quoted = value_of(match)
            if value.startswith(("$", "<", "{", "%", "-")) or value.isdigit() or "://" in value:
                continue
            if quoted and " " in value.strip():
                if _MASKED.fullmatch(value.replace(" ", "")):
                    continue
            elif is_placeholder(value) or not looks_like_password(value, quoted):
                continue
            yield spec.rule_id, start, end


_MASKED = re.compile(r"[*•xX#.\-_?]+")
_TABLE_ROW = re.compile(r"[ \t]*\|[^\n]*\|[ \t]*")
_TABLE_RULE = re.compile(r"[ \t]*[|+][\s|+\-:=]*")
_HASH_COLUMN = re.compile(
    r"hash|bcrypt|crypt|md5|sha|salt|digest|enc|hint|policy|reset|expir|changed|length|updated|set_?at|_at$|date|"
    r"last|used|age\b|status|strength|required|enabled|type|count|rotat|manager",
    re.I,
)


def _table_cell_password(value: str) -> bool:
    """A cell of a password column that is a password: one token with a letter and a digit,
    a symbol or an inner capital ("flamengo2019", "teal.otter.42"); not a word ("mandatory"),
    a date, a hash, a mask or a placeholder."""
    if len(value) < 6 or " " in value or not any(ch.isalpha() for ch in value):
        return False
    if HEX.fullmatch(value) or is_placeholder(value) or not looks_like_password(value, False):
        return False
    has_digit = any(ch.isdigit() for ch in value)
    has_symbol = any(not ch.isalnum() for ch in value)
    inner_capital = any(ch.isupper() for ch in value[1:]) and any(ch.islower() for ch in value)
    return has_digit or has_symbol or inner_capital


def password_column(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """The cells of a table column headed by a password word: a pasted query result or a
    Markdown table (``| login | senha |`` then ``| mcardoso | Cajuina@1971 |``). The header
    names the column once; each cell is judged as a value (hashes, masks and placeholders are
    not passwords).

    ``patterns[0]`` finds header rows (one regex pass); only the rows of a table under a
    header are walked, each once, so a text of 50,000 lines with a bar costs that pass, not
    a Python loop per line (``whole_text``: windows would cut a table)."""
    header_row, cell_name = spec.patterns[:2]
    position = 0
    size = len(text)
    while position < size:
        header = header_row.search(text, position)
        if header is None:
            return
        line_end = header.end()
        cells = text[header.start():line_end].split("|")
        column = next(
            (index for index, cell in enumerate(cells)
             if cell_name.fullmatch(cell.strip()) and not _HASH_COLUMN.search(cell.strip())),
            None,
        )
        position = line_end + 1
        if column is None:
            continue
        while position < size:
            line_end = text.find("\n", position)
            if line_end < 0:
                line_end = size
            if _TABLE_RULE.fullmatch(text, position, line_end) is None:
                if _TABLE_ROW.fullmatch(text, position, line_end) is None:
                    break  # the table ended
                row = text[position:line_end].split("|")
                if len(row) != len(cells):
                    break
                raw = row[column]
                value = raw.strip()
                if _table_cell_password(value):
                    start = position + sum(len(cell) + 1 for cell in row[:column]) + raw.index(value)
                    yield spec.rule_id, start, start + len(value)
            position = line_end + 1


# Detectors that treat every pattern of their rule alike (the engine may skip the patterns
# that cannot match a text); the others give patterns[0], [1]… distinct roles.
password_nearby.whole_text = True  # type: ignore[attr-defined]
password_column.whole_text = True  # type: ignore[attr-defined]

for _uniform in (password_assignment, password_cli, password_prose, password_prose_strict, valued,
                 password_named, password_literal, passphrase_flag, secret_assignment):
    _uniform.uniform_patterns = True  # type: ignore[attr-defined]

DETECTORS = {
    f"secrets.{name}": function
    for name, function in {
        "access_key": access_key,
        "access_key_split": access_key_split,
        "access_key_grouped": access_key_grouped,
        "secret_key_assignment": secret_key_assignment,
        "secret_key_bare": secret_key_bare,
        "secret_key_split": secret_key_split,
        "secret_key_grouped": secret_key_grouped,
        "session_assignment": session_assignment,
        "pem": pem,
        "password_assignment": password_assignment,
        "password_cli": password_cli,
        "password_prose": password_prose,
        "password_prose_strict": password_prose_strict,
        "connection_string": connection_string,
        "basic_auth_url": basic_auth_url,
        "valued": valued,
        "vendor_token": vendor_token,
        "slack_webhook": slack_webhook,
        "bearer": bearer,
        "basic_header": basic_header,
        "secret_assignment": secret_assignment,
        "secret_prose": secret_prose,
        "base64_credential": base64_credential,
        "password_named": password_named,
        "password_literal": password_literal,
        "secret_named": secret_named,
        "password_nearby": password_nearby,
        "prefixed_token": prefixed_token,
        "passphrase_flag": passphrase_flag,
        "password_column": password_column,
        "session_cookie": session_cookie,
    }.items()
}
