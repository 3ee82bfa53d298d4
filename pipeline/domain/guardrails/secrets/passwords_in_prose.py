"""Passwords in sentences, in any language: after a password word ("my password is …",
"a senha é …", "パスワードは …"), named ("the password Bluebird#4455"), or anywhere near a
password word when the value's shape alone says password ("hasło do bazy to Zubr2024!Krakow").
Prose mentions passwords far more often than it gives one, so the value must look like a
password: the shape checks here decide."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.common import (
    _LETTER_DIGIT_SWITCH,
    entropy,
    is_placeholder,
    value_of,
)
from pipeline.domain.guardrails.engine import Hit, Window, finditer_windows
from pipeline.domain.guardrails.secrets.values import NEXT_KEY, PROSE_STOPWORDS, looks_like_password

#: Kana, CJK ideographs, Hangul and full-width forms: scripts written without spaces, so an
#: unquoted value after "パスワードは" runs on into the sentence ("12文字以上で記号を含む…":
#: the policy, not a password). The value ends where the script starts ("Basalt_3655です").
_SPACELESS_SCRIPT = re.compile("[\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff\uff01-\uff60]")


def _unquoted_value(value: str, quoted: bool) -> str:
    """An unquoted value up to the first character of a script written without spaces."""
    if quoted:
        return value
    cut = _SPACELESS_SCRIPT.search(value)
    return value if cut is None else value[: cut.start()]


#: The first words of a quoted description of where or how a password is kept ("the password
#: is \"managed in Secrets Manager\"", "'stored in the vault'", "'not set'"): a state, not a
#: passphrase. A passphrase of words starts with a word of its own.
_DESCRIPTION_START = frozenset(
    """managed stored saved kept held generated rotated encrypted hashed hidden masked set changed
    reset expired required shown displayed handled controlled created not in at under from via
    auto automatically randomly gestionada gestionado almacenada guardada gere geree stockee
    gespeichert verwaltet gerenciada armazenada gestita salvata""".split()
)


def _not_a_value(value: str, quoted: bool) -> bool:
    """A prose "value" that is no password: the next key of a listing or a heading after the
    colon ("…della password:\n\nOptionSettings:"), or a quoted description of its state."""
    if not quoted:
        return NEXT_KEY.fullmatch(value) is not None
    words = value.split()
    return len(words) >= 2 and words[0].lower() in _DESCRIPTION_START


def password_prose(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, _end, quoted = value_of(match)
            value = _unquoted_value(value, quoted)
            if _not_a_value(value, quoted):
                continue
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
            value = _unquoted_value(value, quoted)
            if _not_a_value(value, quoted):
                continue
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


def _prose_values(spec: RuleSpec, text: str, windows: Sequence[Window], trailing: str,
                  accept: Callable[[str], bool]) -> Iterator[Hit]:
    """The values of ``spec``'s patterns, less ``trailing`` punctuation, that ``accept`` takes."""
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value, start, _end, _quoted = value_of(match)
            stripped = value.rstrip(trailing)
            if stripped.lower() not in PROSE_STOPWORDS and accept(stripped):
                yield spec.rule_id, start, start + len(stripped)


def password_named(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """"…and the password Bluebird#4455": a password word followed by a strong value."""
    yield from _prose_values(spec, text, windows, ".,!?;:)", strong_password)


def password_distinctive(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A value the sentence gives without naming the password again ("the old one was …",
    "then I set …"): only a value that can be nothing but a password counts
    (:func:`distinctive_password`); the rule requires a password word in the message."""
    yield from _prose_values(spec, text, windows, ".,;:)", distinctive_password)


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
        if is_placeholder(value):
            continue  # a passphrase of instructions, "<paste-the-password-here>" (GUIDE §3.1 placeholders)
        if len(_CHARACTER_RANGE.findall(value)) >= 2:
            continue  # a regular expression's character class ("[A-Za-z0-9._%+-]+@…"), not a value
        if words is None:
            words = [(match.start(), match.end()) for match in spec.patterns[0].finditer(text)]
            word_starts = [word_start for word_start, _ in words]
        end = start + len(value)
        before = bisect_right(word_starts, start) - 1
        if before >= 0 and start - words[before][1] <= _NEARBY_REACH and "\n" not in text[words[before][1] : start]:
            yield spec.rule_id, start, end
            continue
        if before >= 0 and _introduced_below(text, words[before][1], start):
            yield spec.rule_id, start, end
            continue
        after = before + 1
        if after < len(words) and words[after][0] - end <= _NEARBY_REACH_BACK and "\n" not in text[end : words[after][0]]:
            yield spec.rule_id, start, end


#: A line naming a password and ending in a colon introduces the value on the lines below it,
#: the way chat messages, notes and tickets give one ("new master password for prod:" then
#: "> `Lantern?nimbus3651`"; "sent in two messages:" then "1: \"Sg2026_Phu\"", "2: \"ong!Nam#88\""):
#: the next two lines, up to a blank line, within this many characters of the word.
_BLOCK_REACH = 200
_BLOCK_LINES = 2
#: What may stand alone on a line of such a block besides blanks: quote markers and bullets.
_BLANK_BLOCK_LINE = re.compile(r"[ \t>*\-•]*")


def _introduced_below(text: str, word_end: int, value_start: int) -> bool:
    """Whether the value at ``value_start`` is on one of the few lines below a line that ends,
    after the password word at ``word_end``, with a colon (and no blank line between)."""
    if value_start - word_end > _BLOCK_REACH:
        return False
    gap = text[word_end:value_start]
    head, newline, rest = gap.partition("\n")
    if not newline or not head.rstrip().endswith((":", "\uff1a")):
        return False
    lines = rest.split("\n")
    if len(lines) > _BLOCK_LINES:
        return False
    return not any(_BLANK_BLOCK_LINE.fullmatch(line.rstrip("\r")) for line in lines[:-1])


#: The ranges of a regular expression's character class (``A-Z``, ``a-z``, ``0-9``).
_CHARACTER_RANGE = re.compile(r"A-Z|a-z|0-9|A-F|a-f")


def _nearby_candidates(text: str) -> Iterator[re.Match[str]]:
    if _DIGIT.search(text) is not None:
        yield from _NEARBY_DIGIT_TOKEN.finditer(text)
    yield from _NEARBY_SYMBOL_TOKEN.finditer(text)
    yield from _NEARBY_DICEWARE_TOKEN.finditer(text)


# These detectors treat every pattern of their rule alike: the engine may run only the
# patterns that can match a text.
password_prose.uniform_patterns = True  # type: ignore[attr-defined]
password_prose_strict.uniform_patterns = True  # type: ignore[attr-defined]
password_distinctive.uniform_patterns = True  # type: ignore[attr-defined]
password_named.uniform_patterns = True  # type: ignore[attr-defined]
# password_nearby runs its own passes over the whole text (see its docstring).
password_nearby.whole_text = True  # type: ignore[attr-defined]
