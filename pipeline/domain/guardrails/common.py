"""Helpers shared by the detector families: entropy, placeholders, values, key names."""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

# A quoted or bare value after ``key =``; the group that matched tells which.
VALUE = (
    r"(?:\"(?P<dq>[^\"\n]{1,200})\"|'(?P<sq>[^'\n]{1,200})'|`(?P<bq>[^`\n]{1,200})`"
    r"|(?P<bare>[^\s\"'`,;&)}\]<>]{1,200}))"
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
HEX = re.compile(r"[0-9a-fA-F]+")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    size = len(value)
    log2 = math.log2
    return -sum([n / size * log2(n / size) for n in counts.values()])


def any_in(haystack: str, needles: tuple[str, ...] | list[str]) -> bool:
    """True when any needle is a substring (``map`` keeps the loop in C)."""
    return any(map(haystack.__contains__, needles))


def key_name(text: str, match: re.Match[str], group: str = "key") -> str:
    """The whole key name a keyword match belongs to (``DB_PASSWORD`` for ``PASSWORD``)."""
    start = match.start(group)
    while start > 0 and text[start - 1] in _NAME_CHARS and match.start(group) - start < 64:
        start -= 1
    return text[start : match.end(group)]


_VALUE_GROUPS = ("dq", "sq", "bq", "bare")


def value_of(match: re.Match[str]) -> tuple[str, int, int, bool]:
    """(value, start, end, quoted) of the :data:`VALUE` group that matched."""
    last = match.lastgroup  # the value is the pattern's last group wherever it ends one
    if not (last in _VALUE_GROUPS and match.group(last) is not None):
        names = match.re.groupindex
        last = next((name for name in _VALUE_GROUPS if name in names and match.group(name) is not None), None)
        if last is None:
            raise AssertionError("one value group always matches")
    value, start, end = match.group(last), match.start(last), match.end(last)
    if last == "bare":
        cut = _CJK_PUNCTUATION.search(value)
        if cut is not None and cut.start() > 0:
            # an unquoted value in Chinese or Japanese prose ends at the sentence's punctuation
            # ("...maps:apiKey" then an ideographic full stop): the words after it are the writer's, not the value
            value, end = value[: cut.start()], start + cut.start()
    return value, start, end, last != "bare"


#: Ideographic punctuation (U+3001-U+303F: full stop, comma, brackets) and the full-width
#: ! ( ) , : ; ? ~: no password or key is written with them, CJK sentences end and pause with them.
_CJK_PUNCTUATION = re.compile("[\u3001-\u303f\uff01\uff08\uff09\uff0c\uff1a\uff1b\uff1f\uff5e]")


_PLACEHOLDER_WORDS = frozenset(
    """none null nil true false yes no undefined empty blank string str int required optional
    password passwd pass pwd secret secrets token value values here placeholder example sample
    dummy fake test redacted hidden masked removed xxx xxxx xxxxx xxxxxx xxxxxxxx changeit
    yourpassword your_password your-password mypassword my_password my-password
    yoursecret your_secret your-secret your_token your-token yourtoken your_api_key
    your-api-key yourapikey your_key your-key secret_value password_here secret_here
    db_password dbpassword admin_password new_password old_password user_password
    ref sub getatt join select default env environ getenv input prompt
    notused not_set unset tbd todo na n/a ... * ****
    replace_me replaceme replace-me change_me changeme change-me fill_me fillme set_me setme
    to_be_replaced tobereplaced""".split()
)
_PLACEHOLDER_PREFIXES = (
    "<", "${", "{{", "{%", "$(", "%(", "%s", "(", "[", "os.", "process.", "env.", "env[", "var.",
    "local.", "data.", "aws_", "!", "arn:", "resolve:", "ssm:", "secretsmanager:", "getpass",
    "#{", "enc[", "input(", "config", "settings", "self.", "args.", "opts.", "request.", "req.", "params.",
    "props.", "this.", "event[", "event.", "environ", "secret_", "get_secret", "vault:", "op://",
)
_MASKED = re.compile(r"[*•xX#.\-_?]+")
_DOTTED_IDENTIFIER = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(.*\))?|[A-Za-z_]\w*\(.*\)")
# A function or method call cut at its first argument ("sm.get_secret_value(SecretId="):
# code that fetches the value, not the value.
_CALL = re.compile(r"[A-Za-z_][\w.]*\(.*")
# A call without a dot cut at its quoted argument (``SecretStr('…')``, ``getpass('…')`` captured
# as ``SecretStr(``): the argument, not the call, would be the value.
_CUT_CALL = re.compile(r"[A-Za-z_]\w*\(")
# A lookup cut at its quoted key (``password = secret["password"]`` captured as ``secret[``).
_CUT_SUBSCRIPT = re.compile(r"[A-Za-z_][\w.]*\[")
_LETTER_DIGIT_SWITCH = re.compile(r"[A-Za-z](?=[0-9])|[0-9](?=[A-Za-z])")
_CASE_HUMP = re.compile(r"[a-z](?=[A-Z])")
# A shell variable ("$DB_PASS", "${DB_PASS}") or a PowerShell environment variable
# ("$env:SQL_PW"): where the value comes from, not the value.
_SHELL_VARIABLE = re.compile(r"\$[A-Za-z_{][\w}]*|\$env:[A-Za-z_]\w*", re.IGNORECASE)
# A templating expansion with a named function ("$__file{/run/secrets/db_password}",
# "$__env{PGPASS}" in Grafana provisioning, "$secret{…}"): where the value comes from.
_NAMED_EXPANSION = re.compile(r"\$[A-Za-z_]\w*\{[^{}\n]*\}?")  # a bare value stops before "}"
# A Windows / batch / NuGet environment reference ("%NUGET_PAT%"), and the name of a key inside
# a secret ("postgres-password", "db_admin_secret": lower-case words ending in what it names).
_WINDOWS_VARIABLE = re.compile(r"%[A-Za-z_]\w*%")
# An exception or error name ("failed to fetch secret: AccessDeniedException"), not a value.
_ERROR_NAME = re.compile(r"[A-Z][A-Za-z]{2,60}(?:Exception|Error|Fault)")
# A PowerShell cmdlet (an approved verb, a dash, a noun: ``$pass = ConvertTo-SecureString $s.password
# -AsPlainText``, ``Read-Host -AsSecureString``, ``Get-SECSecretValue``): the command that
# produces the value, not the value.
_POWERSHELL_CMDLET = re.compile(
    r"(?:Get|Read|ConvertTo|ConvertFrom|Import|Export|Unprotect|Protect|Invoke|New|Select|Resolve|Out|Join)"
    r"-[A-Z][A-Za-z]{2,40}"
)
_KEY_NAME = re.compile(r"[a-z]+(?:[-_][a-z]+)*[-_](?:password|passwd|pwd|secret|token|key)")
# A password hash in crypt(3) form ("$2b$12$…", "$6$salt$…", "$argon2id$…"): hashes are never
# secrets (GUIDE §3.1).
_CRYPT_HASH = re.compile(
    r"\$(?:2[abxy]?|5|6|y|gy|7|argon2(?:id|i|d)?|pbkdf2[\w-]*|scrypt)\$\S{8,}"
    r"|SCRAM-SHA-(?:1|256)\$\d+:\S{8,}|md5[0-9a-f]{32}"  # PostgreSQL / PgBouncer stored verifiers
)
# A reference to where a secret lives, not the secret: an SSM parameter path
# ("/myapp/prod/db_password") or a Secrets Manager name with a JSON key
# ("ci/dockerhub:password"), written as lower-case words.
# The JSON key may be camelCase ("prod/mobile/maps:apiKey", CodeBuild's secrets-manager
# `secret-id:json-key` form).
_PARAMETER_PATH = re.compile(r"/[\w.\-]+(?:/[\w.\-]+)+|[a-z][a-z0-9_.\-]*(?:/[a-z0-9_.\-]+)+(?::[A-Za-z0-9_.\-]+)?")
# Function words: a value made of a sentence ("Password does not conform to the policy") is
# an error message, not a passphrase of random words.
_SENTENCE_WORDS = frozenset(
    "a an the is are was does do not no to of for in on at by with and or be been must should "
    "can cannot this that it its your you".split()
)
_PLACEHOLDER_PHRASE = re.compile(
    r"(?:your|my|the|some|new|old|strong|secure|example|sample|real|actual)[_\- ]?"
    r"(?:db[_\- ]?|admin[_\- ]?|api[_\- ]?|secret[_\- ]?|access[_\- ]?|app[_\- ]?|user[_\- ]?)?"
    r"(?:password|passwd|pass|pwd|secret|token|key|api[_\- ]?key|value|creds|credentials)(?:[_\- ]?here)?"
)


# A placeholder inside a prefixed value ("sk_test_YOUR_KEY_HERE", "xoxb-your-bot-token-here").
_EMBEDDED_PLACEHOLDER = re.compile(
    r"(?:^|[_\-.])your[_\-]|[_\-]here$|replace[_\-]?me|changeme|placeholder|redacted", re.IGNORECASE
)


def has_placeholder_words(value: str) -> bool:
    """True when a vendor-prefixed value spells a placeholder after its prefix."""
    return _EMBEDDED_PLACEHOLDER.search(value.strip().strip("\"'`")) is not None


#: Capitalised words joined by dots and ending in digits ("Edelweiss.Alm2025",
#: "Cafe.Lisboa.88") are how people compose passwords; attribute paths start lower-case.
_DOTTED_PASSWORD = re.compile(r"[A-Z][a-z]+(?:\.[A-Z]?[a-z]+)+\d{2,}|[A-Z][a-z]+(?:\.[A-Z][a-z]+)*\.\d{2,}")


@lru_cache(maxsize=4096)  # a pure function of the value; a pasted log repeats its values
def is_placeholder(value: str) -> bool:
    """True when a credential-looking value is a placeholder, reference or mask."""
    stripped = value.strip().strip("\"'`")
    lowered = stripped.lower()
    if len(stripped) < 3 or lowered in _PLACEHOLDER_WORDS or _MASKED.fullmatch(stripped):
        return True
    if lowered.startswith(_PLACEHOLDER_PREFIXES) or _SHELL_VARIABLE.fullmatch(stripped) \
            or _NAMED_EXPANSION.fullmatch(stripped):
        return True
    if _WINDOWS_VARIABLE.fullmatch(stripped) or _KEY_NAME.fullmatch(stripped) or _ERROR_NAME.fullmatch(stripped):
        return True
    if _POWERSHELL_CMDLET.fullmatch(stripped):
        return True
    if _CRYPT_HASH.fullmatch(stripped) or _PARAMETER_PATH.fullmatch(stripped):
        return True
    words = lowered.split()
    if len(words) >= 4 and sum(word in _SENTENCE_WORDS for word in words) >= 2:
        return True
    if _DOTTED_IDENTIFIER.fullmatch(stripped) and not _DOTTED_PASSWORD.fullmatch(stripped) and not any(
        ch.isdigit() for ch in stripped.split(".")[-1][:1]
    ) and max(map(len, stripped.split("."))) <= 40 and (
        # camelCase humps and letter/digit switches: an attribute name has a few
        # ("config.db2Password"), a random password with a dot many ("uedtwXg9wYhEqXjw.lKipH")
        len(_LETTER_DIGIT_SWITCH.findall(stripped)) <= 4
        and len(_LETTER_DIGIT_SWITCH.findall(stripped)) + len(_CASE_HUMP.findall(stripped)) < 6
    ):
        # a JWT's segments and random keys with dots are no attribute names
        return True
    if _CALL.fullmatch(stripped) and "." in stripped.split("(", 1)[0]:
        return True
    if _CUT_CALL.fullmatch(stripped):
        return True  # "SecretStr(" of db_password=SecretStr('****'): a call cut at its quoted argument
    if _CUT_SUBSCRIPT.fullmatch(stripped):
        return True
    if _PLACEHOLDER_PHRASE.fullmatch(lowered) or has_placeholder_words(stripped):
        return True
    return "example" in lowered or "placeholder" in lowered or "redacted" in lowered
