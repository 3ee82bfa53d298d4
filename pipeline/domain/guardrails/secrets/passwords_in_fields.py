"""Passwords where the syntax names the field: ``key = value`` assignments (config, env files,
code), ``Password=…;`` fields of connection strings, the user info of a URL, the password and
passphrase flags of command-line tools, and a base64 value that decodes to ``user:password``.
The pattern finds the field; the code here judges the value (placeholders, sentences that
only mention a password, the end of an unquoted value)."""

from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.common import is_placeholder, key_name, value_of
from pipeline.domain.guardrails.engine import Hit, Window, finditer_windows
from pipeline.domain.guardrails.secrets.values import (
    NEXT_KEY,
    PASSWORD_HASH,
    PROSE_STOPWORDS,
    TABLE_REFERENCE,
    looks_like_password,
)


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


_SHORT_NUMBER = re.compile(r"\d{1,3}")
_LIST_OPENING = re.compile(r"\[[ \t]*[\"']$")


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


#: A shell parameter expansion that fails with a message when the variable is unset
#: (``${PGPASSWORD:?set PGPASSWORD}``, POSIX ``${name:?word}``): the word is the error
#: message, and the variable a placeholder (GUIDE §3.1). (``${NAME:-default}``'s default is
#: a value and stays one.)
_EXPANSION_MESSAGE = re.compile(r"\$\{[A-Za-z_]\w*:?\?")


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
            if _EXPANSION_MESSAGE.match(text, match.end("key") - len(key) - 2, start + 1):
                continue  # "${PGPASSWORD:?set PGPASSWORD}": the variable's error message, not a value
            if quoted and key[-1:] in "sS" and _LIST_OPENING.search(text, max(0, start - 8), start):
                continue  # passwords = ["…", "…"]: a word list to try, not a credential (closed up or not)
            if not quoted:
                end = _env_value_end(text, match.start(), end, marks)
                # judged whole: "s&qq&dSHU0Bpa@G6$faQ2tU" is one value, not the lone "s"
                value = text[start:end]
            if is_placeholder(value) or _SHORT_NUMBER.fullmatch(value):
                continue
            if PASSWORD_HASH.fullmatch(value) or TABLE_REFERENCE.fullmatch(value):
                continue  # a stored hash (never a secret) or the lookup table that holds them
            if not quoted and value.lower() in PROSE_STOPWORDS:
                continue  # "the password: is it required?" and other sentences, not values
            if not quoted and NEXT_KEY.fullmatch(value):
                continue  # "password: user: bob": the value is empty, "user:" is the next key
            if not quoted and _LOWER_WORD.fullmatch(value) and _SENTENCE_GOES_ON.match(text, end):
                continue  # "treat it like a password: paste it only into…": a sentence (the prose rules judge it)
            yield spec.rule_id, start, end


#: A Google account app password: four groups of four lower-case letters, as Google shows it.
_APP_PASSWORD = re.compile(r"[a-z]{4}(?: [a-z]{4}){3}")
#: A digit, a symbol or an inner capital: what a bare word lacks.
_NOT_A_WORD = re.compile(r"[^a-z]")
#: A key that names a command producing the password (msmtp ``passwordeval``, ``password_cmd``).
_COMMAND_KEY = re.compile(r"eval|cmd|command|exec", re.I)


def password_spaced_field(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A config line that is a password-named key, blanks and one value, nothing else: the
    ``key value`` syntax of Fluent Bit, msmtp, Source-engine ``server.cfg``, sshd-style files
    (``HTTP_Passwd  S3cr3t!``, ``rcon_password "…"``). With no ``=`` or ``:`` to say "value",
    a bare value must read like a password (or be an app password's four groups); a quoted one
    is literal."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            key = key_name(text, match)
            if _PASSWORD_KEY_SKIP.search(key) or _COMMAND_KEY.search(key):
                continue
            value, start, end, quoted = value_of(match)
            if is_placeholder(value) or PASSWORD_HASH.fullmatch(value) or TABLE_REFERENCE.fullmatch(value):
                continue
            if value.startswith(("/", "~", "$", "%")):
                continue  # a path or a variable
            if quoted or _APP_PASSWORD.fullmatch(value):
                yield spec.rule_id, start, end
            elif _NOT_A_WORD.search(value[1:]) and looks_like_password(value, quoted=False):
                # a bare word ("Password Policy", "password manager") is a heading or prose
                yield spec.rule_id, start, end


#: After ``key: word``, a space and another lower-case word: the colon introduced a sentence
#: ("like a password: paste it only into the IdP"), not a value. A config or env line ends at
#: the value; a prose password ("password: sunshine and it fails") is the prose rules' to judge.
_LOWER_WORD = re.compile(r"[a-z]+")
_SENTENCE_GOES_ON = re.compile(r" (?:[a-z]+)\b")


_CLI_PROSE = frozenset({"via", "flag", "option", "options", "argument", "parameter", "with", "is", "are", "to"})


def password_cli(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, end, quoted = value_of(match)
            if is_placeholder(value) or value.startswith("-") or value.isdigit() or "://" in value:
                continue  # a URL after "-u" is a flag's argument, not a password
            if not quoted and (value.lower() in PROSE_STOPWORDS or value.lower() in _CLI_PROSE):
                continue  # "Using --password via the CLI is insecure": a sentence, not a value
            yield spec.rule_id, start, end


def password_literal(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A ``Password=…;`` field of a connection string: the value is literal text, so a
    capitalised dotted value ("Sunflower.Fields.Forever") is a password, not a code reference."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, _end, _quoted = value_of(match)
            value = value.rstrip()
            if len(value) < 4 or value.startswith(("{", "$", "%", "<", "[")) or value.lower() in PROSE_STOPWORDS:
                continue  # {0}, ${DB_PASS}, %PASSWORD%, <password>
            literal_words = _DOTTED_WORDS.fullmatch(value) is not None and not value.islower()
            if not literal_words and is_placeholder(value):
                continue
            yield spec.rule_id, start, start + len(value)


_DOTTED_WORDS = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


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


def userinfo_login(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """``user:password@host`` without a scheme (sftp, scp, rsync, git, a connection typed by
    hand): the part after the colon is a password when it looks like one."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        password = match.group("pw")
        if not is_placeholder(password) and looks_like_password(password, quoted=False):
            yield spec.rule_id, match.start("pw"), match.end("pw")


_USER_PASSWORD = re.compile(r"([^\s:]{1,64}):(\S{6,200})")


def base64_credential(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A base64 value (piped to ``base64 -d``, in an auth field, after ``AUTH PLAIN``) that
    decodes to ``user:password`` or to SASL PLAIN's NUL-separated user and password."""
    for match in finditer_windows(spec.patterns[0], text, windows):
        token = match.group("value")
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        # A decoded key or token is found by the rescan of decoded views (with its own
        # category); this rule adds what no rule sees in a decoded view: "user:password",
        # or SASL PLAIN's "authzid NUL user NUL password" (SMTP/IMAP ``AUTH PLAIN``).
        password = _decoded_password(decoded)
        if password and not is_placeholder(password) and looks_like_password(password, quoted=False):
            yield spec.rule_id, match.start("value"), match.end("value")


def _decoded_password(decoded: str) -> str | None:
    """The password of a decoded ``user:password`` or SASL PLAIN ``[authzid]\0user\0password``."""
    if "\0" in decoded:
        parts = decoded.split("\0")
        return parts[2] if len(parts) == 3 and parts[1] and parts[2] else None
    pair = _USER_PASSWORD.fullmatch(decoded.strip())
    return pair.group(2) if pair else None


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


#: How far from a password word (in any language) a ``user:password`` line may stand.
_CREDENTIAL_LINE_REACH = 400
_PASSWORD_LINE_SYMBOLS = frozenset("!@#$%^&*+?~=")


def _credential_line_value(value: str) -> bool:
    """The password half of a ``user:password`` line: 6 to 64 characters with a letter and a
    digit and either both cases or a password symbol ("Kanelbulle2024", "Lingon-Sylt-7",
    "kiwi#otter91"); not a port ("db01:5432"), an image tag ("node:18-alpine": a dash or a dot
    alone is a name's), a path, a mask or a placeholder."""
    if not 6 <= len(value) <= 64 or "/" in value or is_placeholder(value) or _MASKED.fullmatch(value):
        return False
    if value.startswith(("$", "{")):
        return False  # a hash in crypt or LDAP form (htpasswd "$apr1$…", "$2y$…", "{SSHA}…"), or a variable
    if not any(ch.isdigit() for ch in value) or not any(ch.isalpha() for ch in value):
        return False
    both_cases = any(ch.isupper() for ch in value) and any(ch.islower() for ch in value)
    return both_cases or any(ch in _PASSWORD_LINE_SYMBOLS for ch in value)


def credential_lines(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """Lines that are nothing but ``user:password`` (a plaintext user file of an FTP or proxy
    server, ``chpasswd`` input, a list pasted from a wiki) near a password word in any
    language. ``patterns[0]`` finds such lines (one pass); ``patterns[1]``, the password
    words, is searched once, only when a line's value has a password's shape, and each line
    is then judged by the closest word (``whole_text``: the reach is the detector's own)."""
    line_pattern, word_pattern = spec.patterns[:2]
    word_spans: list[tuple[int, int]] | None = None
    word_starts: list[int] = []
    for match in line_pattern.finditer(text):
        value = match.group("value")
        if not _credential_line_value(value):
            continue
        if word_spans is None:
            word_spans = [m.span() for m in word_pattern.finditer(text)]
            word_starts = [start for start, _ in word_spans]
        start, end = match.span("value")
        after = bisect_left(word_starts, end)
        near_after = after < len(word_spans) and word_spans[after][0] - end <= _CREDENTIAL_LINE_REACH
        near_before = after > 0 and start - word_spans[after - 1][1] <= _CREDENTIAL_LINE_REACH
        if near_after or near_before:
            yield spec.rule_id, start, end


credential_lines.whole_text = True  # type: ignore[attr-defined]


# These detectors treat every pattern of their rule alike: the engine may run only the
# patterns that can match a text.
password_assignment.uniform_patterns = True  # type: ignore[attr-defined]
password_cli.uniform_patterns = True  # type: ignore[attr-defined]
password_spaced_field.uniform_patterns = True  # type: ignore[attr-defined]
password_literal.uniform_patterns = True  # type: ignore[attr-defined]
passphrase_flag.uniform_patterns = True  # type: ignore[attr-defined]
