"""Input and output guardrails: a catalogue of rules, detectors, verdicts and redaction.

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

How it stays fast: every pattern is compiled at import. Every detector has a gate, a
necessary condition checked first: substrings of the lower-cased text for the secret and
PII detectors, and for the intent-like rules one set of ``[a-z0-9]+`` tokens per message
intersected with each pattern's required words (``_credential_gates`` etc.). A benign
query opens few gates. Case-insensitive patterns that Python's regex engine would try at
every position are tried only where a literal locator matches the lower-cased text
(:func:`_finditer_ci`), a private key's body is blanked before the other detectors run, and
a message with a single hit gets its verdict without the general merging machinery.
Normalisation (NFKD, look-alike letters, zero-width characters) runs only for text that is
not plain ASCII. ``_scan_input(text, gated=False)`` runs every detector unconditionally;
a test asserts it agrees with the gated path on every golden text.

Every finding's span refers to the ORIGINAL text, so the redaction of the original text
removes exactly what was matched on the normalised view.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import compress

from pipeline.domain.models import (
    INPUT_CATEGORIES,
    OUTPUT_CATEGORIES,
    SECRET_CATEGORIES,
    Finding,
    GuardrailAction,
    GuardrailVerdict,
)
from pipeline.domain.textnorm import NormalizedText, normalize

__all__ = ["RULES", "Rule", "redact", "scan_input", "scan_output"]

BLOCK = GuardrailAction.BLOCK
REDACT = GuardrailAction.REDACT
ALLOW = GuardrailAction.ALLOW


# ---------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One entry of the guardrail catalogue.

    Attributes:
        category: Stable category id (from ``INPUT_CATEGORIES`` or ``OUTPUT_CATEGORIES``).
        rule_id: Stable id of the rule, carried by every :class:`Finding` it produces.
        action: What the pipeline does when the rule matches.
        message: The user-facing reply when this rule decides a block.
        description: What the rule matches, for the catalogue and the reports.
    """

    category: str
    rule_id: str
    action: GuardrailAction
    message: str
    description: str = ""


_ROTATE_TAIL = (
    " I have not stored it, but anything pasted into a chat should be treated as compromised."
)
MESSAGES: dict[str, str] = {
    "aws_access_key": (
        "Your message contains an AWS access key ID, so that key is now exposed and must be "
        "rotated. In the IAM console (Users > your user > Security credentials) or with "
        "`aws iam create-access-key`, create a new key, switch your applications to it, then "
        "deactivate and delete the old one (`aws iam update-access-key --status Inactive` and "
        "`aws iam delete-access-key`). Check CloudTrail for activity you do not recognise."
        + _ROTATE_TAIL
    ),
    "aws_secret_key": (
        "Your message contains an AWS secret access key, so that key pair is now exposed and "
        "must be rotated: create a new access key in the IAM console or with `aws iam "
        "create-access-key`, update your applications, then deactivate and delete the old key "
        "with `aws iam delete-access-key`. Review CloudTrail for unexpected activity."
        + _ROTATE_TAIL
    ),
    "aws_session_token": (
        "Your message contains an AWS session token. It grants access until it expires, so "
        "treat it as exposed: revoke the role's active sessions (IAM console > Roles > "
        "Revoke active sessions) or disable the user's access keys that issued it, and request "
        "fresh temporary credentials." + _ROTATE_TAIL
    ),
    "private_key": (
        "Your message contains a private key, so that key is now exposed and must be replaced: "
        "generate a new key pair, install the new public key (for EC2, in ~/.ssh/authorized_keys "
        "or a new EC2 key pair; for TLS, re-issue the certificate), then remove the old key "
        "everywhere it is trusted." + _ROTATE_TAIL
    ),
    "password": (
        "Your message contains a password, so it is now exposed and must be changed. Change it "
        "now (for an IAM user in the IAM console or with `aws iam update-login-profile`; for a "
        "database with its own password command or `aws rds modify-db-instance "
        "--master-user-password`), and consider storing it in AWS Secrets Manager instead of "
        "configuration files." + _ROTATE_TAIL
    ),
    "generic_secret": (
        "Your message contains an API key, token or credential, so it is now exposed and must be "
        "revoked and regenerated with the service that issued it (for example GitHub, Slack, "
        "Stripe or Google Cloud settings), and any URL with a password in it needs a new "
        "password." + _ROTATE_TAIL
    ),
    "pii": (
        "I removed personal information (such as card numbers, email addresses, phone numbers or "
        "identity numbers) from your message before processing it."
    ),
    "credential_request": (
        "I can't reveal, generate or share credentials, MFA codes or access to anyone else's "
        "account, and I can't help bypass authentication. If you have lost access to your own "
        "account, use the AWS sign-in recovery options or contact AWS Support from the account's "
        "registered email; an administrator of your organisation can grant access through IAM."
    ),
    "future_features": (
        "I can't share information about unreleased services, roadmaps or launch dates. Announced "
        "features are published on the 'What's New with AWS' page and the AWS News Blog, and your "
        "account team can discuss feature requests with you. I'm happy to help with what is "
        "available today."
    ),
    "prompt_attack": (
        "I can't change my instructions, take on a different persona or reveal my configuration. "
        "I'm here to help with AWS questions: tell me what you're working on and I'll do my best."
    ),
    "sensitive_data": (
        "The drafted answer contained sensitive data (a credential or personal information), so "
        "it was withheld. Please rephrase your question without including secrets."
    ),
    "future_commitment": (
        "The drafted answer made a commitment about future releases, refunds or credits that I "
        "can't make, so it was withheld. For announced features see 'What's New with AWS'; for "
        "refunds and credits please open a case with AWS Support billing."
    ),
    "competitor_disparagement": (
        "The drafted answer made unfair claims about another provider, so it was withheld. I can "
        "offer a neutral comparison of the services instead."
    ),
}

_RULE_SPECS: tuple[tuple[str, str, GuardrailAction, str], ...] = (
    ("aws_access_key", "aws_access_key.key_id", BLOCK, "AKIA/ASIA/ABIA/ACCA/A3T access key ids"),
    ("aws_access_key", "aws_access_key.split", BLOCK, "access key id broken across lines"),
    (
        "aws_secret_key",
        "aws_secret_key.assignment",
        BLOCK,
        "40-char secret after a secret-key name",
    ),
    (
        "aws_secret_key",
        "aws_secret_key.split",
        BLOCK,
        "secret key broken across lines after its name",
    ),
    ("aws_secret_key", "aws_secret_key.bare", BLOCK, "high-entropy 40-char token in prose"),
    (
        "aws_session_token",
        "aws_session_token.assignment",
        BLOCK,
        "long token after a session-token name",
    ),
    (
        "aws_session_token",
        "aws_session_token.prefix",
        BLOCK,
        "STS token by its fixed base64 prefix",
    ),
    (
        "private_key",
        "private_key.pem",
        BLOCK,
        "PEM/PGP/OpenSSH private key blocks with key material",
    ),
    ("private_key", "private_key.putty", BLOCK, "PuTTY private key files"),
    ("password", "password.assignment", BLOCK, "password = value in config, JSON, env, CLI"),
    ("password", "password.prose", BLOCK, "'my password is X' in prose"),
    ("password", "password.connection_string", BLOCK, "scheme://user:password@host (non-HTTP)"),
    ("password", "password.cli_flag", BLOCK, "mysql -pSECRET and --password SECRET"),
    (
        "generic_secret",
        "generic_secret.vendor_token",
        BLOCK,
        "GitHub, GitLab, Slack, Stripe, Google, npm, SendGrid, OpenAI tokens",
    ),
    ("generic_secret", "generic_secret.jwt", BLOCK, "JSON web tokens"),
    ("generic_secret", "generic_secret.bearer", BLOCK, "Authorization: Bearer/Basic credentials"),
    ("generic_secret", "generic_secret.basic_auth_url", BLOCK, "http(s)://user:password@host"),
    (
        "generic_secret",
        "generic_secret.assignment",
        BLOCK,
        "api_key/token/client_secret = high-entropy value",
    ),
    ("generic_secret", "generic_secret.slack_webhook", BLOCK, "Slack incoming-webhook URLs"),
    ("pii", "pii.card_number", REDACT, "payment card numbers passing the Luhn check"),
    ("pii", "pii.us_ssn", REDACT, "US social security numbers"),
    ("pii", "pii.iban", REDACT, "IBANs passing the mod-97 check"),
    ("pii", "pii.email", REDACT, "email addresses (documentation domains excepted)"),
    ("pii", "pii.phone", REDACT, "phone numbers"),
    (
        "credential_request",
        "credential_request.assistant_secrets",
        BLOCK,
        "asks for the assistant's own keys or secrets",
    ),
    (
        "credential_request",
        "credential_request.others_access",
        BLOCK,
        "asks for someone else's credentials or account",
    ),
    (
        "credential_request",
        "credential_request.generate",
        BLOCK,
        "asks the assistant to generate or hand over credentials",
    ),
    (
        "credential_request",
        "credential_request.bypass",
        BLOCK,
        "asks to bypass MFA or authentication",
    ),
    (
        "future_features",
        "future_features.roadmap",
        BLOCK,
        "roadmaps, unreleased or upcoming services",
    ),
    ("future_features", "future_features.launch_date", BLOCK, "when will AWS launch/support X"),
    ("prompt_attack", "prompt_attack.override", BLOCK, "ignore/disregard previous instructions"),
    (
        "prompt_attack",
        "prompt_attack.persona",
        BLOCK,
        "role-play jailbreaks (DAN, developer mode, no restrictions)",
    ),
    ("prompt_attack", "prompt_attack.extraction", BLOCK, "system-prompt extraction"),
    ("prompt_attack", "prompt_attack.combined", BLOCK, "several weaker jailbreak signals together"),
    ("sensitive_data", "sensitive_data.secret", BLOCK, "a secret detector matched the answer"),
    ("sensitive_data", "sensitive_data.pii", REDACT, "a PII detector matched the answer"),
    ("future_commitment", "future_commitment.release", BLOCK, "promises future releases or dates"),
    ("future_commitment", "future_commitment.refund", BLOCK, "promises refunds or credits"),
    (
        "competitor_disparagement",
        "competitor_disparagement.negative_claim",
        BLOCK,
        "negative claims about other providers",
    ),
)

RULES: tuple[Rule, ...] = tuple(
    Rule(category=c, rule_id=r, action=a, message=MESSAGES[c], description=d)
    for c, r, a, d in _RULE_SPECS
)
_RULE_BY_ID: dict[str, Rule] = {rule.rule_id: rule for rule in RULES}
assert {r.category for r in RULES} == set(INPUT_CATEGORIES) | set(OUTPUT_CATEGORIES)

# When two findings overlap, the more specific category wins (an AWS secret key inside
# ``aws_secret_access_key=…`` is not also a generic secret or a password).
_SPECIFICITY: dict[str, int] = {
    "private_key": 0,
    "aws_session_token": 1,
    "aws_secret_key": 2,
    "aws_access_key": 3,
    "generic_secret": 4,
    "password": 5,
    "pii": 6,
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

_F = re.IGNORECASE


def _locator(*literals: str) -> re.Pattern[str]:
    """A case-sensitive alternation of the lower-case literals a match must start with.

    Python's regex engine cannot skip ahead to the possible first characters of a
    case-insensitive pattern, nor of one that starts with ``\\b`` or a group: such a search
    tries every position (slowly on long base64 bodies and on the blanked body of a private
    key). An alternation of plain literals lets it jump straight to the candidate
    positions; the full pattern is then tried only there (:func:`_finditer_ci`).
    """
    return re.compile("|".join(re.escape(literal) for literal in literals))


def _finditer_ci(
    pattern: re.Pattern[str], locator: re.Pattern[str], text: str, lowered: str | None
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, with candidate starts found by ``locator`` on ``lowered``.

    Every match of ``pattern`` must start where ``locator`` matches the lower-cased text.
    Trying ``pattern.match`` at the candidates from left to right and resuming after each
    match yields exactly the non-overlapping matches ``finditer`` would (none is empty).
    """
    if lowered is None or len(lowered) != len(text):
        yield from pattern.finditer(text)
        return
    search = locator.search
    position = 0
    while (candidate := search(lowered, position)) is not None:
        start = candidate.start()
        match = pattern.match(text, start)
        if match is None:
            position = start + 1
        else:
            yield match
            position = match.end()


_Hit = tuple[str, int, int]  # (rule_id, start, end) in the normalised text


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    size = len(value)
    log2 = math.log2
    return -sum([n / size * log2(n / size) for n in counts.values()])  # a list: same order, faster


_PLACEHOLDER_WORDS = frozenset(
    """none null nil true false yes no undefined empty blank string str int required optional
    password passwd pass pwd secret secrets token value values here placeholder example sample
    dummy fake test redacted hidden masked removed xxx xxxx xxxxx xxxxxx xxxxxxxx changeit
    yourpassword your_password your-password mypassword my_password my-password
    yoursecret your_secret your-secret your_token your-token yourtoken your_api_key
    your-api-key yourapikey your_key your-key secret_value password_here secret_here
    db_password dbpassword admin_password new_password old_password user_password
    ref sub getatt join select default env environ getenv input prompt
    notused not_set unset tbd todo na n/a ... * ****""".split()
)
_PLACEHOLDER_PREFIXES = (
    "<",
    "${",
    "{{",
    "{%",
    "$(",
    "%(",
    "%s",
    "(",
    "[",
    "os.",
    "process.",
    "env.",
    "env[",
    "var.",
    "local.",
    "data.",
    "aws_",
    "!",
    "arn:",
    "resolve:",
    "ssm:",
    "secretsmanager:",
    "getpass",
    "input(",
    "config",
    "settings",
    "self.",
    "args.",
    "opts.",
    "request.",
    "req.",
    "params.",
    "props.",
    "this.",
    "event[",
    "event.",
    "environ",
    "secret_",
    "get_secret",
    "vault:",
    "op://",
)
_MASKED = re.compile(r"[*•xX#.\-_?]+")
_DOTTED_IDENTIFIER = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(.*\))?|[A-Za-z_]\w*\(.*\)")
_SHELL_VARIABLE = re.compile(r"\$[A-Za-z_{][\w}]*")
_PLACEHOLDER_PHRASE = re.compile(
    r"(?:your|my|the|some|new|old|strong|secure|example|sample|real|actual)[_\- ]?"
    r"(?:db[_\- ]?|admin[_\- ]?|api[_\- ]?|secret[_\- ]?|access[_\- ]?|app[_\- ]?|user[_\- ]?)?"
    r"(?:password|passwd|pass|pwd|secret|token|key|api[_\- ]?key|value|creds|credentials)(?:[_\- ]?here)?"
)


def _is_placeholder(value: str) -> bool:
    """True when a credential-looking value is a placeholder, reference or mask."""
    stripped = value.strip().strip("\"'`")
    lowered = stripped.lower()
    if len(stripped) < 3 or lowered in _PLACEHOLDER_WORDS or _MASKED.fullmatch(stripped):
        return True
    if lowered.startswith(_PLACEHOLDER_PREFIXES) or _SHELL_VARIABLE.fullmatch(stripped):
        return True
    if _DOTTED_IDENTIFIER.fullmatch(stripped) and not any(
        ch.isdigit() for ch in stripped.split(".")[-1][:1]
    ):
        return True
    if _PLACEHOLDER_PHRASE.fullmatch(lowered):
        return True
    return "example" in lowered or "placeholder" in lowered or "redacted" in lowered


# ---------------------------------------------------------------------------
# Secret detectors (shared by the input and the output guardrail)
# ---------------------------------------------------------------------------

_DOC_EXAMPLE_SECRETS = frozenset(
    {
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
    }
)

# Both start with the key's "A" and look one character back from it: the same matches as a
# leading lookbehind, but a leading character class (case-sensitive: ``(?-i:…)``) lets
# the regex engine skip straight to the candidates (see _CARD).
_ACCESS_KEY = re.compile(
    r"(?-i:[Aa])(?<![A-Za-z0-9][Aa])(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])", _F
)
_ACCESS_KEY_SPLIT = re.compile(
    r"(A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA)[A-Z0-9]{0,15})[ \t]*(?:\r?\n|\\n)[ \t\"'+]*([A-Z0-9]{1,16})(?![A-Za-z0-9])"
)


def _access_keys(text: str) -> Iterator[_Hit]:
    for match in _ACCESS_KEY.finditer(text):
        key = match.group()
        if key.upper().endswith("EXAMPLE"):
            continue  # AKIAIOSFODNN7EXAMPLE and friends: AWS documentation examples
        if not key.isupper():
            # A lower/mixed-case key is an evasion attempt, but "asiapacificregion..." is
            # prose: demand the digits every real (base32) key body is likely to contain.
            body = key[4:]
            if sum(ch.isdigit() for ch in body) < 2:
                continue
        yield "aws_access_key.key_id", match.start(), match.end()
    for match in _ACCESS_KEY_SPLIT.finditer(text):
        if len(match.group(1)) + len(match.group(2)) == 20 and not match.group(2).endswith(
            "EXAMPLE"
        ):
            yield "aws_access_key.split", match.start(), match.end()


_SECRET_TOKEN_40 = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_SECRET_KEY_CONTEXT = re.compile(r"secret|aws_sk|\bsk\b", _F)
_SECRET_KEY_SPLIT = re.compile(
    r"secret[\w\s\-\"']{0,25}?(?:[:=]|\bis\b)\s*[\"']?([A-Za-z0-9/+]{6,39})[\"']?[ \t]*(?:\r?\n|\\n)[ \t\"'+]*([A-Za-z0-9/+]{1,34})(?![A-Za-z0-9/+=])",
    _F,
)
_HEX = re.compile(r"[0-9a-fA-F]+")
_GENERIC_TOKEN_CONTEXT = re.compile(r"token|api[_\-]?key|bearer|authorization|auth\b|client[_\-]?secret", _F)


def _looks_random_40(token: str) -> bool:
    has_upper = any(ch.isupper() for ch in token)
    has_lower = any(ch.islower() for ch in token)
    has_digit_or_symbol = any(ch.isdigit() or ch in "/+" for ch in token)
    return has_upper and has_lower and has_digit_or_symbol and _entropy(token) >= 4.2


def _aws_secret_keys(text: str) -> Iterator[_Hit]:
    for match in _SECRET_TOKEN_40.finditer(text):
        token = match.group()
        if token in _DOC_EXAMPLE_SECRETS or token.endswith("EXAMPLEKEY") or _HEX.fullmatch(token):
            continue
        before = text[max(0, match.start() - 60) : match.start()]
        if text[match.start() - 1 : match.start()] == "." or text[match.end() : match.end() + 1] == ".":
            continue  # a segment of a JWT or another dotted token, not an AWS secret
        if _GENERIC_TOKEN_CONTEXT.search(before) and not _SECRET_KEY_CONTEXT.search(before):
            continue  # "x-api-key: …", "auth_token: …": the generic-secret rules own these
        if _SECRET_KEY_CONTEXT.search(before):
            if _entropy(token) >= 3.5 and not token.isalpha():
                yield "aws_secret_key.assignment", match.start(), match.end()
        elif _looks_random_40(token):
            yield "aws_secret_key.bare", match.start(), match.end()



def _aws_secret_keys_split(text: str) -> Iterator[_Hit]:
    for match in _SECRET_KEY_SPLIT.finditer(text):
        joined = match.group(1) + match.group(2)
        if len(joined) == 40 and "EXAMPLE" not in joined and _entropy(joined) >= 3.5:
            yield "aws_secret_key.split", match.start(1), match.end(2)


_SESSION_TOKEN_ASSIGN = re.compile(
    r"(?:aws_session_token|aws_security_token|session_?token|security[_-]?token|x-amz-security-token|session\s+token)"
    r"[\"']?\s*(?:[:=]|\bis\b)?\s*[\"']?((?:[A-Za-z0-9/+=]{20,}(?:[ \t]*(?:\r?\n|\\n)[ \t]*)?){2,}|[A-Za-z0-9/+=]{60,})",
    _F,
)
_SESSION_TOKEN_PREFIX = re.compile(  # each prefix checks the character before it, as _CARD
    r"(?:F(?<![A-Za-z0-9/+]F)(?:woGZXIvYXdz|QoGZXIvYXdz)|I(?<![A-Za-z0-9/+]I)(?:QoJb3JpZ2lu|QoDYXdz)"
    r"|A(?<![A-Za-z0-9/+]A)goJb3JpZ2lu)[A-Za-z0-9/+=]{40,}"
)


# Every key name above starts with one of these (lower-cased).
_SESSION_TOKEN_ASSIGN_LC = _locator("aws_s", "session", "security", "x-amz-security-token")


def _session_tokens(text: str, lowered: str | None = None) -> Iterator[_Hit]:
    for match in _finditer_ci(_SESSION_TOKEN_ASSIGN, _SESSION_TOKEN_ASSIGN_LC, text, lowered):
        # re.sub(r"\s|\\n", "", …): str.split() splits on the same (Unicode) whitespace.
        value = "".join(match.group(1).replace("\\n", "").split())
        if len(value) >= 60 and "EXAMPLE" not in value.upper() and _entropy(value) >= 4.0:
            yield "aws_session_token.assignment", match.start(1), match.end(1)
    for match in _SESSION_TOKEN_PREFIX.finditer(text):
        yield "aws_session_token.prefix", match.start(), match.end()


_PEM_HEADER = re.compile(
    r"-{2,}\s*BEGIN\s+((?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP|SSH2\s+ENCRYPTED|ED25519)\s+)?PRIVATE\s+KEY(?:\s+BLOCK)?\s*-{2,}",
    _F,
)
_PEM_BODY = re.compile(
    r"(?:\s*(?:Proc-Type:[^\n]*|DEK-Info:[^\n]*|Version:[^\n]*|Comment:[^\n]*|[A-Za-z0-9+/=]{16,}|\\n))+"
)
_PEM_FOOTER = re.compile(r"\s*-{2,}\s*END\s+[A-Z0-9 ]*PRIVATE\s+KEY(?:\s+BLOCK)?\s*-{2,}", _F)
_PUTTY = re.compile(
    r"PuTTY-User-Key-File-\d+:.*?Private-Lines:\s*\d+\s*\n(?:[A-Za-z0-9+/=]+\n?)+", re.S
)


def _private_keys(text: str) -> Iterator[_Hit]:
    for match in _PEM_HEADER.finditer(text):
        body = _PEM_BODY.match(text, match.end())
        if body is None or not re.search(r"[A-Za-z0-9+/=]{16,}", body.group()):
            continue  # a header alone ("my key starts with BEGIN RSA PRIVATE KEY") exposes nothing
        end = body.end()
        footer = _PEM_FOOTER.match(text, end)
        if footer:
            end = footer.end()
        yield "private_key.pem", match.start(), end
    for match in _PUTTY.finditer(text):
        yield "private_key.putty", match.start(), match.end()


# Key names are matched from their keyword on (a leading ``[\w.-]*`` would make every
# search quadratic); :func:`_key_name` extends the match backwards to the whole name.
_PW_KEY = (
    r"(?:(?:password|passwd|passphrase|passcode|pwd)[A-Za-z0-9_\-]*"
    r"|(?<![A-Za-z])(?:pass|pw|pswd|pass_?wd)(?![A-Za-z]))"
)
_VALUE = r"(?:\"(?P<dq>[^\"\n]{1,200})\"|'(?P<sq>[^'\n]{1,200})'|`(?P<bq>[^`\n]{1,200})`|(?P<bare>[^\s\"'`,;&)}\]<>]{1,200}))"
_PASSWORD_ASSIGN = re.compile(
    rf"(?P<key>{_PW_KEY})[\"']?\s*(?:=>|:=|->|=(?!=)|:(?!:)|\bis\s+set\s+to\b)\s*{_VALUE}", _F
)
_PASSWORD_KEY_SKIP = re.compile(
    r"length|policy|polic|required|reset|expir|age\b|minimum|maximum|\bmin|\bmax|_min|_max|\bmin_|\bmax_|enabled|enable|hint|prompt|file|path|field|label|type|"
    r"valid|complex|strength|rotat|attempt|last|changed|arn|secret_?name|secretname|secret_?id|_id\b|count|"
    r"auth_?type|mode|manage|generat|less|_url|rule|regex|pattern|template|param|noecho|\bpwd\b(?=\s*=\s*/)",
    _F,
)
_PASSWORD_CLI = re.compile(
    r"(?:--(?:[a-z]+-)*(?:password|passwd|pass)(?:[= ]+)"  # --password X / --db-password=X
    r"|\bmysql(?:dump|admin)?\b[^\n]*?\s-p)" + _VALUE,  # mysql -pSECRET
    _F,
)
_PASSWORD_PROSE = re.compile(
    r"(?:\b(?:password|passwd|passcode|passphrase|pwd|pw)(?:\s+(?:for|of)\s+(?:the\s+)?[\w@.\-]+(?:\s+[\w@.\-]+){0,3}?)?\s+"
    r"(?:(?:is|was|has\s+been)\s+(?:set|changed|reset|updated)\s+to|is\s+now|will\s+be|would\s+be|set\s+to|changed\s+to|"
    r"reset\s+to|is|was|=|:)"
    r"|\b(?:changed|set|reset|updated)\s+(?:the\s+|my\s+|our\s+|his\s+|her\s+)?(?:\w+\s+)?(?:password|passwd|pw)\s+to)\s*"
    + _VALUE,
    _F,
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
    ignored accepted denied refused blocked failing working wrong because but and or so then""".split()
)
_CONNECTION_STRING = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]{1,24})://(?P<user>[^\s:/@'\"<>]{1,64}):(?P<pw>[^\s@/'\"<>]{1,128})@(?P<host>[A-Za-z0-9.\-\[\]_]+)"
)
_HTTP_SCHEMES = frozenset({"http", "https", "ws", "wss", "git+https", "git+http"})


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _key_name(text: str, match: re.Match[str]) -> str:
    """The whole key name a keyword match belongs to (``DB_PASSWORD`` for ``PASSWORD``)."""
    start = match.start("key")
    while start > 0 and text[start - 1] in _NAME_CHARS and match.start("key") - start < 64:
        start -= 1
    return text[start : match.end("key")]


def _value_of(match: re.Match[str]) -> tuple[str, int, int, bool]:
    """(value, start, end, quoted) of the value group that matched."""
    for name in ("dq", "sq", "bq", "bare"):
        value = match.group(name)
        if value is not None:
            return value, match.start(name), match.end(name), name != "bare"
    raise AssertionError("one value group always matches")


def _looks_like_password(value: str, quoted: bool) -> bool:
    """Heuristic: does a prose value look like a real password rather than a word?"""
    value = value.rstrip(".,!?;:)")
    if len(value) < 4 or _is_placeholder(value):
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
        return len(lowered) >= 6 and not re.search(
            r"(?:ed|ing|ly|ive|able|ible|ful|less|ous)$", lowered
        )
    return False


# The first word of every key name _PASSWORD_ASSIGN accepts, and of every phrase
# _PASSWORD_PROSE accepts (lower-cased; see _locator).
_PASSWORD_ASSIGN_LC = _locator("pass", "pw", "pswd")
_PASSWORD_PROSE_LC = _locator("pass", "pw", "changed", "set", "reset", "updated")


def _passwords(text: str, gated: bool = True, lowered: str | None = None) -> Iterator[_Hit]:
    for match in _finditer_ci(_PASSWORD_ASSIGN, _PASSWORD_ASSIGN_LC, text, lowered):
        key = _key_name(text, match)
        if _PASSWORD_KEY_SKIP.search(key):
            continue
        value, start, end, quoted = _value_of(match)
        if key.lower() == "pwd" and value.startswith(("/", "~")):
            continue  # $PWD is the working directory
        if _is_placeholder(value) or re.fullmatch(r"\d{1,3}", value):
            continue
        if not quoted and value.lower() in _PROSE_STOPWORDS:
            continue  # "the password: is it required?" and other sentences, not values
        yield "password.assignment", start, end
    if gated and "--" not in text and "mysql" not in text.lower():
        cli_matches: Iterable[re.Match[str]] = ()
    else:
        cli_matches = _PASSWORD_CLI.finditer(text)
    for match in cli_matches:
        value, start, end, _quoted = _value_of(match)
        if not _is_placeholder(value) and not value.startswith("-"):
            yield "password.cli_flag", start, end
    for match in _finditer_ci(_PASSWORD_PROSE, _PASSWORD_PROSE_LC, text, lowered):
        value, start, end, quoted = _value_of(match)
        stripped = value.rstrip(".,!?;:)")
        if _looks_like_password(stripped, quoted):
            yield "password.prose", start, start + len(stripped)
    for match in _CONNECTION_STRING.finditer(text) if not gated or "://" in text else ():
        password = match.group("pw")
        if _is_placeholder(password) or password.lower() in {"password", "pass", "pwd", "secret"}:
            continue
        scheme = match.group("scheme").lower()
        rule = (
            "generic_secret.basic_auth_url"
            if scheme in _HTTP_SCHEMES
            else "password.connection_string"
        )
        yield rule, match.start("pw"), match.end("pw")


_VENDOR_TOKENS = re.compile(
    r"(?<![A-Za-z0-9_])(?:"
    r"gh[pousr]_[A-Za-z0-9]{30,255}"
    r"|github_pat_[A-Za-z0-9_]{40,255}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|npm_[A-Za-z0-9]{36}"
    r"|SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}"
    r"|sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-)?[A-Za-z0-9_\-]{32,}"
    r"|SK[0-9a-f]{32}"
    r"|key-[0-9a-f]{32}"
    r"|shpat_[0-9a-fA-F]{32}"
    r"|dop_v1_[0-9a-f]{64}"
    r"|hf_[A-Za-z]{34}"
    r")(?![A-Za-z0-9_])"
)
_SLACK_WEBHOOK = re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9_/\-]{20,}")
_JWT = re.compile(
    r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
)
_BEARER = re.compile(r"\bbearer\s+([A-Za-z0-9\-._~+/]{16,}=*)", _F)
_BASIC_AUTH_HEADER = re.compile(r"\bbasic\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])", _F)
_SECRET_ASSIGN = re.compile(
    rf"(?P<key>(?:api[_\-]?key|apikey|api[_\-]?secret|secret|token|private[_\-]?key|"
    rf"signing[_\-]?key|encryption[_\-]?key|x-api-key)[A-Za-z0-9_\-]*)"
    rf"[\"']?\s*(?:=>|:=|=(?!=)|:(?!:))\s*{_VALUE}",
    _F,
)
_SECRET_KEY_NAME_SKIP = re.compile(
    r"next|continuation|idempoten|pagination|client_?token|type|name|_?id$|_id_|arn|ttl|expir|url|uri|path|"
    r"file|length|count|limit|header|endpoint|version|string$|\bref\b|_ref\b|ref_|manager|policy|rotation|kms|aws_secret|"
    r"secretaccesskey|session|security_?token|key_?pair|keyname|public|publishable|duration|store|provider|"
    r"lifetime|validity|scope|format|usage|\btokens?\b$",
    _F,
)


_VENDOR_GATE = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat", "glpat", "xox", "_live_", "_test_", "aiza",
                "npm_", "sg.", "sk-", "sk", "key-", "shpat_", "dop_v1", "hf_")


def _generic_secrets(text: str, lowered: str, gated: bool = True) -> Iterator[_Hit]:
    if not gated or _any_in(lowered, _VENDOR_GATE):
        yield from _vendor_tokens(text)
    if not gated or "hooks.slack" in lowered:
        for match in _SLACK_WEBHOOK.finditer(text):
            if "XXXX" not in match.group().upper():
                yield "generic_secret.slack_webhook", match.start(), match.end()
    if not gated or "eyj" in lowered:
        for match in _JWT.finditer(text):
            yield "generic_secret.jwt", match.start(), match.end()
    if not gated or "bearer" in lowered:
        for match in _BEARER.finditer(text):
            token = match.group(1)
            if not _is_placeholder(token) and _entropy(token) >= 3.0 and any(ch.isdigit() for ch in token):
                yield "generic_secret.bearer", match.start(1), match.end(1)
    if "authorization" in lowered:
        for match in _BASIC_AUTH_HEADER.finditer(text):
            try:
                decoded = base64.b64decode(match.group(1) + "==", validate=False).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
            user, sep, password = decoded.partition(":")
            if sep and user and password and not _is_placeholder(password):
                yield "generic_secret.bearer", match.start(1), match.end(1)
    if not gated or (_any_in(lowered, ("secret", "token", "key", "api")) and _any_in(lowered, ("=", ":"))):
        yield from _secret_assignments(text, lowered if gated else None)
    if not gated or _any_in(lowered, ("key", "token", "secret")):
        yield from _secret_prose(text, lowered if gated else None)


# "the x-api-key header should be Abc…", "my API token is Abc…": a credential named in prose
# and followed by a long random-looking value (three character classes, high entropy).
_SECRET_PROSE = re.compile(
    r"\b(?:x-api-key|api[_\- ]?keys?|apikeys?|(?:access|auth(?:entication)?|api|bearer|refresh|personal\s+access)[_\- ]tokens?|"
    r"client[_\- ]secrets?|secrets?|tokens?)(?:\s+(?:header|value|string|parameter|param|field))?"
    r"\s+(?:is|was|should\s+be|would\s+be|will\s+be|must\s+be|equals|set\s+to|of)\s+[\"'`]?"
    r"(?P<value>[A-Za-z0-9+/_\-]{20,200})(?![A-Za-z0-9+/_\-.@:])",
    _F,
)


# The first word of every credential name _SECRET_PROSE accepts.
_SECRET_PROSE_LC = _locator(
    "x-api-key", "api", "access", "auth", "bearer", "refresh", "personal", "client", "secret", "token"
)


def _secret_prose(text: str, lowered: str | None = None) -> Iterator[_Hit]:
    for match in _finditer_ci(_SECRET_PROSE, _SECRET_PROSE_LC, text, lowered):
        value = match.group("value")
        if _is_placeholder(value) or _HEX.fullmatch(value.replace("-", "")):
            continue
        if not (any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)):
            continue
        if _entropy(value) >= 3.5:
            yield "generic_secret.assignment", match.start("value"), match.end("value")


def _vendor_tokens(text: str) -> Iterator[_Hit]:
    for match in _VENDOR_TOKENS.finditer(text):
        token = match.group()
        if token.startswith("sk-") and not any(ch.isdigit() for ch in token):
            continue
        if "EXAMPLE" in token.upper() or "XXXXXXXX" in token.upper():
            continue
        yield "generic_secret.vendor_token", match.start(), match.end()


# The first word of every key name _SECRET_ASSIGN accepts.
_SECRET_ASSIGN_LC = _locator(
    "api", "secret", "token", "private", "signing", "encryption", "x-api-key"
)
_SECRET_ASSIGN_ROOTS = ("api", "secret", "token", "key")


def _secret_assignments(text: str, lowered: str | None = None) -> Iterator[_Hit]:
    if lowered is None:
        matches: Iterable[re.Match[str]] = _SECRET_ASSIGN.finditer(text)
    elif not _any_in(lowered, _SECRET_ASSIGN_ROOTS):
        return  # every key name contains one of the roots
    else:
        matches = _finditer_ci(_SECRET_ASSIGN, _SECRET_ASSIGN_LC, text, lowered)
    for match in matches:
        key = _key_name(text, match)
        if _SECRET_KEY_NAME_SKIP.search(key):
            continue
        value, start, end, _quoted = _value_of(match)
        if len(value) < 12 or _is_placeholder(value) or " " in value:
            continue
        classes = sum(
            (
                any(c.islower() for c in value),
                any(c.isupper() for c in value),
                any(c.isdigit() for c in value),
            )
        )
        if classes >= 2 and _entropy(value) >= 3.2:
            yield "generic_secret.assignment", start, end


# ---------------------------------------------------------------------------
# PII detectors
# ---------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9._%+\-]{1,64})@((?:[A-Za-z0-9\-]{1,63}\.)+[A-Za-z]{2,24})(?![A-Za-z0-9\-])"
)
_DOC_EMAIL_DOMAINS = (
    "example.com",
    "example.org",
    "example.net",
    ".example",
    ".invalid",
    ".test",
    "localhost",
)
_SYSTEM_USERS = frozenset(
    {"git", "ec2-user", "ubuntu", "centos", "bitnami", "fedora", "admin@ip", "hadoop"}
)
_AWS_ROLE_MAILBOXES = frozenset(
    {
        "abuse",
        "aws-security",
        "no-reply",
        "noreply",
        "no-reply-aws",
        "aws-verification",
        "aws-receivables-support",
        "aws-marketing-email-replies",
        "security",
        "awsmarketplace",
        "aws-billing",
    }
)
_PHONE_NANP = re.compile(
    r"(?<![\w.+\-/:])(?:\+?1[\s.\-]?)?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[\s.\-])\d{3}[\s.\-]\d{4}(?![\w\-/:]|\.\d)"
)
# Every _PHONE_NANP match contains this (and it starts with a character class, which the
# regex engine can skip to; _PHONE_NANP starts with a lookbehind and is tried everywhere).
_PHONE_NANP_PRE = re.compile(r"\d\d\d[\s.\-]\d\d\d\d")
_PHONE_INTL = re.compile(r"\+(?<![\w+]\+)[1-9]\d{0,2}(?:[\s.\-]?\(?\d{1,5}\)?){2,6}(?![\w\-])")
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|mobile|cell|call me|tel|telephone|whatsapp|sms|text me)\b[^\d\n]{0,20}(\d{10,11})\b",
    _F,
)
# _SSN and _CARD start with their first digit and test the character before it with a
# two-character lookbehind: the same matches as a leading ``(?<!…)``, but a pattern that
# starts with a character class lets the regex engine skip straight to the digits.
_SSN = re.compile(
    r"\d(?<![\d\-]\d)(?!(?<=0)00|(?<=6)66|(?<=9)\d\d)\d{2}-(?!00)\d{2}-(?!0000)\d{4}(?![\d\-])"
)
_SSN_CONTEXT = re.compile(
    r"\b(?:ssn|social security(?: number| no\.?)?)\b[^\d\n]{0,20}(\d{3}[ \-]?\d{2}[ \-]?\d{4})\b",
    _F,
)
_CARD = re.compile(r"\d(?<![\w\-.]\d)[ \-]?(?:\d[ \-]?){11,17}\d(?![\w\-]|\.\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


_PHONE_WORDS = ("phone", "mobile", "cell", "call me", "tel", "whatsapp", "sms", "text me")


def _pii(text: str, gated: bool = True) -> Iterator[_Hit]:
    lowered = text.lower()
    if "@" in text:
        for match in _EMAIL.finditer(text):
            local, domain = match.group(1).lower(), match.group(2).lower()
            if domain.endswith(_DOC_EMAIL_DOMAINS) or local in _SYSTEM_USERS:
                continue
            if domain in ("amazon.com", "amazonaws.com") and local in _AWS_ROLE_MAILBOXES:
                continue
            if re.fullmatch(r"\d+\.\d+(?:\.\d+)*", domain.split(".", 1)[-1]):
                continue
            yield "pii.email", match.start(), match.end()
    for match in _SSN.finditer(text) if not gated or "-" in text else ():
        yield "pii.us_ssn", match.start(), match.end()
    for match in _SSN_CONTEXT.finditer(text) if not gated or "ssn" in lowered or "social" in lowered else ():
        yield "pii.us_ssn", match.start(1), match.end(1)
    for match in _CARD.finditer(text):
        raw = match.group()
        digits = raw.replace(" ", "").replace("-", "")
        # len(set(digits)) > 1: 0000… and 4444… runs are fillers, not cards.
        if 13 <= len(digits) <= 19 and digits[0] in "3456" and _luhn_ok(digits) and len(set(digits)) > 1:
            yield "pii.card_number", match.start(), match.end()
    for match in _PHONE_NANP.finditer(text) if not gated or _PHONE_NANP_PRE.search(text) else ():
        yield "pii.phone", match.start(), match.end()
    for match in _PHONE_INTL.finditer(text) if not gated or "+" in text else ():
        digits = re.sub(r"\D", "", match.group())
        if 8 <= len(digits) <= 15:
            yield "pii.phone", match.start(), match.end()
    for match in _PHONE_CONTEXT.finditer(text) if not gated or _any_in(lowered, _PHONE_WORDS) else ():
        yield "pii.phone", match.start(1), match.end(1)
    for match in _IBAN.finditer(text) if not gated or _IBAN_PRE.search(text) else ():
        candidate = match.group()
        # Greedy matching may swallow a following upper-case word group: shrink until valid.
        while candidate:
            if _iban_ok(candidate):
                yield "pii.iban", match.start(), match.start() + len(candidate)
                break
            if " " not in candidate:
                break
            candidate = candidate.rsplit(" ", 1)[0]


# ---------------------------------------------------------------------------
# Intent-like input rules: credential requests, future features, prompt attacks
# ---------------------------------------------------------------------------

_CRED_NOUN = (
    r"(?:passwords?|pass\s?words?|credentials?|creds|access\s+keys?|secret(?:\s+access)?\s+keys?|api\s+keys?|"
    r"session\s+tokens?|tokens?|mfa\s+(?:codes?|tokens?|device)|2fa\s+codes?|otp|one[- ]time\s+(?:codes?|passwords?)|"
    r"login(?:\s+details)?|log-?in\s+info|keys|secrets?|private\s+keys?|key\s+pairs?|pem\s+files?)"
)
_OTHER_PERSON = (
    r"(?:(?:my|our|a|the)\s+)?(?:colleague|coworker|co-worker|boss|manager|ex-?employee|former\s+employee|"
    r"employee|friend|ex|ex-?wife|ex-?husband|wife|husband|partner|girlfriend|boyfriend|neighbou?r|roommate|"
    r"someone\s+else|somebody\s+else|another\s+(?:user|person|customer|company|team)|other\s+(?:users?|customers?|people|tenants?)|"
    r"all\s+(?:the\s+)?(?:iam\s+)?users|every\s+user|the\s+previous\s+owner|previous\s+developer|competitor|"
    r"a\s+stranger|this\s+guy|that\s+user|the\s+admin(?:istrator)?|john|jane)'?s?"
)
_CREDENTIAL_REQUEST_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "credential_request.assistant_secrets",
        re.compile(
            r"\b(?:what(?:'s|\s+is|\s+are)|give|show|reveal|tell|share|print|list|leak|send|display|output|dump|"
            r"expose|paste|read\s+out|hand\s+over|return)\b[^.?!\n]{0,30}?\byour\s+(?:own\s+|internal\s+|aws\s+|"
            r"iam\s+|admin\s+|backend\s+|service\s+)*(?:passwords?|credentials?|creds|access\s+keys?|secret(?:\s+access)?\s+keys?|"
            r"api\s+keys?|tokens?|keys|secrets?|env(?:ironment)?\s+variables|\.env|config(?:uration)?\s+secrets?)\b",
            _F,
        ),
    ),
    (
        "credential_request.others_access",
        re.compile(
            rf"\b(?:log\s?in(?:to)?|sign\s?in(?:to)?|get\s+(?:me\s+|us\s+)?into|break\s+into|hack(?:\s+into)?|take\s+over|"
            rf"get\s+access\s+to|gain\s+access\s+to|access|snoop\s+on|spy\s+on|read)\s+{_OTHER_PERSON}\s+"
            rf"(?:aws\s+|root\s+|iam\s+|console\s+|personal\s+|private\s+)?(?:account|console|email|inbox|root|iam\s+user|mfa|s3\s+buckets?|data|files)\b",
            _F,
        ),
    ),
    (
        "credential_request.others_access",
        re.compile(
            rf"\b(?:what(?:'s|\s+is|\s+are)|tell\s+me|give\s+me|send\s+me|find(?:\s+out)?|get|know|guess|crack|"
            rf"recover|retrieve|see|show\s+me|view|read|obtain|steal|dump|extract|decrypt|look\s+up)\s+"
            rf"(?:the\s+)?(?:{_OTHER_PERSON}|his|her|their|the\s+root\s+user'?s?|root)\s+(?:current\s+|actual\s+|plain-?text\s+)?"
            rf"(?:aws\s+|iam\s+|root\s+|console\s+|account\s+)?{_CRED_NOUN}",
            _F,
        ),
    ),
    (
        "credential_request.others_access",
        re.compile(
            r"\bwithout\s+(?:their|his|her|the\s+owner'?s|the\s+user'?s|them|him|anyone)\s+"
            r"(?:knowing|knowledge|permission|consent|approval|password|mfa|noticing|finding\s+out)",
            _F,
        ),
    ),
    (
        "credential_request.generate",
        re.compile(
            rf"\b(?:can|could|would|will)\s+you\s+(?:please\s+|just\s+)?(?:generate|create|make|give|send|provide|share|"
            rf"issue|find|get|tell|email)\s+(?:me\s+|us\s+)?(?:a\s+|an\s+|some\s+|the\s+|one\s+)?(?:new\s+|valid\s+|working\s+|real\s+|"
            rf"temporary\s+|fresh\s+|active\s+|random\s+|spare\s+|admin\s+|root\s+|aws\s+|iam\s+)*{_CRED_NOUN}\b(?!\s+(?:page|format|policy|rotation|documentation|docs))",
            _F,
        ),
    ),
    (
        "credential_request.generate",
        re.compile(
            rf"(?:^|[.!?]\s+|\n)\s*(?:please\s+|pls\s+|just\s+|now\s+)?(?:give|send|generate|create|provide|share|tell|show|"
            rf"reveal|email|hand)\s+(?:me|us)\s+(?:a\s+|an\s+|the\s+|some\s+|one\s+)?(?:new\s+|valid\s+|working\s+|real\s+|"
            rf"temporary\s+|fresh\s+|active\s+|random\s+|admin\s+|root\s+|aws\s+|iam\s+|console\s+)*{_CRED_NOUN}\b"
            rf"(?!\s+(?:page|format|policy|rotation|documentation|docs|best\s+practices|steps))",
            _F,
        ),
    ),
    (
        "credential_request.generate",
        re.compile(
            rf"\b(?:generate|create|make|invent)\s+(?:me\s+)?(?:a\s+|an\s+|some\s+)?(?:valid|working|real|active|functional)\s+"
            rf"(?:aws\s+|iam\s+|root\s+)?{_CRED_NOUN}",
            _F,
        ),
    ),
    (
        "credential_request.bypass",
        re.compile(
            r"\b(?:bypass(?:ing)?|circumvent(?:ing)?|get(?:ting)?\s+around|get\s+past|work\s+around|defeat(?:ing)?|"
            r"evad(?:e|ing)|hack(?:ing)?|crack(?:ing)?|brute[- ]?forc(?:e|ing)|break(?:ing)?|spoof(?:ing)?|"
            r"trick(?:ing)?|fool(?:ing)?)\s+"
            r"(?:the\s+|my\s+|their\s+|his\s+|her\s+|an?\s+|this\s+|aws\s+|root\s+|iam\s+|account\s+|console\s+)*"
            r"(?:mfa|2fa|two[- ]factor(?:\s+auth(?:entication)?)?|multi[- ]factor(?:\s+auth(?:entication)?)?|"
            r"authenticat(?:ion|or)|passwords?|log-?in|sign[- ]?in|captcha|verification|security\s+checks?|"
            r"identity\s+verification|otp|one[- ]time\s+code|root\s+password|password\s+reset|phone\s+verification)",
            _F,
        ),
    ),
)

_FUTURE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "future_features.roadmap",
        re.compile(
            r"(?<!my\s)(?<!our\s)(?<!migration\s)(?<!project\s)(?<!team\s)(?<!personal\s)(?<!learning\s)(?<!career\s)"
            r"(?<!own\s)(?<!cloud\s)(?<!adoption\s)(?<!transformation\s)(?<!modernization\s)(?<!modernisation\s)"
            r"\b(?:product\s+|public\s+|internal\s+|secret\s+|feature\s+|service\s+|future\s+)?roadmaps?\b"
            r"(?![^.?!\n]{0,40}\b(?:template|for\s+(?:my|our|migrating|learning)|to\s+(?:migrate|learn|become)))",
            _F,
        ),
    ),
    (
        "future_features.roadmap",
        re.compile(
            r"\b(?:unreleased|unannounced|not\s+yet\s+(?:released|announced|launched|available)|yet[- ]to[- ]be[- ](?:released|announced)|"
            r"upcoming|forthcoming|future|secret|next[- ]gen(?:eration)?\s+unannounced|in[- ]development|pre-?release)\s+"
            r"(?:aws\s+|amazon\s+|new\s+)?(?:services?|features?|regions?|products?|launch(?:es)?|releases?|instance\s+(?:types?|families)|"
            r"announcements?|offerings?|chips?|gpus?|capabilit(?:y|ies)|models?)\b",
            _F,
        ),
    ),
    (
        "future_features.roadmap",
        re.compile(
            r"\b(?:coming\s+soon|in\s+the\s+(?:pipeline|works)|rumou?r(?:s|ed)?|leak(?:s|ed)?\s+(?:about|of|on)\s+(?:the\s+|any\s+|an?\s+)?(?:new|next|upcoming|unreleased|unannounced|future|aws|amazon|roadmap|re:?\s?invent)|insider\s+info|"
            r"what\s+(?:will|is\s+going\s+to)\s+be\s+(?:announced|launched|released)|"
            r"(?:will\s+be|be|get|going\s+to\s+be)\s+(?:announced|launched|released|unveiled)\s+at\s+(?:the\s+next\s+)?re:?\s?invent|next\s+re:?\s?invent|"
            r"next\s+(?:big\s+)?(?:aws\s+)?(?:launch|release|announcement|service))\b",
            _F,
        ),
    ),
    (
        "future_features.launch_date",
        re.compile(
            r"\b(?:when|what\s+date|how\s+soon|by\s+when)\s+(?:will|is|are|does|do|would|might)\s+(?:aws|amazon|they|\w+(?:\s+\w+)?)\s+"
            r"(?:(?:be\s+)?going\s+to\s+|plan(?:ning)?\s+to\s+|finally\s+|ever\s+)?"
            r"(?:release|launch|announce|ship|introduce|add(?!ress)|roll\s*out|bring|make\s+\w+\s+available|offer|"
            r"support|expand|open|get|receive|come|arrive|go\s+ga|reach\s+ga|be\s+(?:generally\s+)?available|be\s+released|be\s+launched|"
            r"be\s+supported|be\s+added|become\s+available)\b",
            _F,
        ),
    ),
    (
        "future_features.launch_date",
        re.compile(
            r"\b(?:is|are|will|does|do|has)\s+(?:aws|amazon|the\s+\w+\s+team)\s+(?:ever\s+|still\s+|already\s+)?"
            r"(?:going\s+to|planning(?:\s+on|\s+to)?|plan\s+to|have\s+plans\s+to|intend(?:ing)?\s+to|about\s+to|expected\s+to|working\s+on)\s+"
            r"(?:release|launch|announce|add|support|introduce|offer|bring|build|open|ship|roll\s+out|making|adding|releasing|launching|supporting)\b",
            _F,
        ),
    ),
    (
        "future_features.launch_date",
        re.compile(
            r"\b(?:any|are\s+there\s+(?:any\s+)?|is\s+there\s+(?:an?\s+|any\s+)?|what\s+are\s+the)\s*"
            r"(?:plans?|timelines?|eta|news|updates?|word)\s+(?:on|for|to|about|of)\s+(?:aws\s+|amazon\s+)?"
            r"(?:adding|supporting|releasing|launching|bringing|introducing|support(?:ing)?\s+for|support|add|release|launch|bring|introduce|offer|the\s+release|the\s+launch|"
            r"general\s+availability|ga\b|a\s+new|new|expanding|the\s+next|when)",
            _F,
        ),
    ),
    (
        "future_features.launch_date",
        re.compile(
            r"\b(?:release|launch|ga|availability|announcement)\s+date\s+(?:of|for)\b|\b(?:eta|timeline|timeframe)\s+(?:of|for|on)\s+"
            r"(?:the\s+)?(?:launch|release|ga|general\s+availability|new\s+(?:service|feature|region)|support\s+for|availability)",
            _F,
        ),
    ),
)
# An announced deprecation or end-of-support date is public information, not a roadmap.
_FUTURE_EXEMPT = re.compile(
    r"deprecat|end[- ]of[- ](?:life|support|standard\s+support)|\beol\b|retire|sunset|stop\s+support|no\s+longer\s+support|"
    r"discontinu|block\s+(?:function\s+)?(?:create|update)|phase[ds]?\s+out|outage|incident|be\s+(?:back|restored|fixed|resolved)|"
    r"my\s+(?:refund|case|ticket|instance|invoice|bill|credit|quota|limit|request|snapshot|backup|certificate|domain|account)|"
    r"support\s+case|case\s+be|refund|reserved\s+instance\s+expire|savings\s+plan\s+expire|be\s+available\s+again",
    _F,
)

_ATTACK_STRONG: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "prompt_attack.override",
        re.compile(
            r"\b(?:ignore|ignoring|disregard|disregarding|forget|forgetting|override|overriding|bypass|abandon|discard|"
            r"let\s+go\s+of|throw\s+out|set\s+aside|drop|delete|erase|wipe|neglect|skip)\s+"
            r"(?:and\s+forget\s+|or\s+\w+\s+)?(?:about\s+)?(?:all\s+|any\s+|every\s+|each\s+)?(?:of\s+)?"
            r"(?:the\s+|your\s+|my\s+|these\s+|those\s+|its\s+|openai'?s\s+|chatgpt'?s\s+)?"
            r"(?:previous|prior|above|earlier|preceding|past|former|original|initial|old|system|pre-?set|safety|"
            r"programmed|built-in|ethical|moral|content)\s*"
            r"(?:instructions?|prompts?|rules|directives?|guidelines?|directions|inputs?|messages?|context|programming|"
            r"restrictions|constraints|guardrails|filters|polic(?:y|ies)|training|conversation|commands?|orders|settings|text|chat|answers?|responses?|limitations)\b",
            _F,
        ),
    ),
    (
        "prompt_attack.override",
        re.compile(
            r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|everything\s+)?(?:(?:the|your|of\s+your)\s+)?"
            r"(?:instructions|programming|guidelines|directives|training|restrictions|safety\s+\w+|content\s+polic(?:y|ies)|"
            r"everything\s+(?:you(?:'ve|\s+have)?\s+(?:been\s+told|learned|were\s+told)|above|before|previously|i\s+said))\b"
            r"|\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:that|what)\s+(?:you\s+(?:were|have\s+been)\s+told|came\s+before)"
            r"|\bforget\s+(?:that\s+)?you\s+are\s+an?\s+(?:ai|assistant|language\s+model|chatbot)",
            _F,
        ),
    ),
    (
        "prompt_attack.override",
        re.compile(
            r"<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?INST\]|\[\s*(?:system|admin)\s*(?:override|prompt|message)\s*\]|"
            r"(?:^|\n)\s*#{2,}\s*(?:new\s+)?(?:system|instruction)s?\b|\bsystem\s*(?:override|prompt\s+override)\b|"
            r"\b(?:new|updated|real|actual|true|revised)\s+(?:system\s+)?instructions?\s*:|"
            r"\bsystem\s+i-?nstruction\s+begins\b|\buser\s+message\s+termination",
            _F,
        ),
    ),
    (
        "prompt_attack.persona",
        re.compile(
            r"\bdo\s+anything\s+now\b|\bjail\s?br(?:oken|eak(?:ing|s)?)\b|"
            r"\b(?:developer|dev|god|jailbreak|unrestricted|unfiltered|uncensored|dan|evil|chaos|opposite|apophis|rtm|"
            r"sudo|dude|stan|aim|mongo\s+tom|anti-?gpt|betterdan|super\s+user|baby|drip)[\s_\\]+mode\s*[:=]?\s*(?:enabled|on|activated|output)|"
            r"\b(?:stay|remain)\s+in\s+\w+\s+mode\b|\bplay\s+(?:\d+|two|three|a|the)\s+(?:different\s+)?(?:characters?|roles?|personas?)\b|"
            r"\b(?:respond|reply|answer)\s+as\s+(?:the\s+character|\w+gpt)\b|\bnow\s+you\s+(?:act|are|will\s+act)\s+as\b|"
            r"\b(?:enable|activate|enter|switch\s+to|turn\s+on|simulate|act\s+as\s+\w+\s+with)\s+(?:the\s+)?"
            r"(?:developer|god|jailbreak|unrestricted|unfiltered|uncensored|dan|evil|chaos|opposite|rtm|sudo)\s+mode\b|"
            r"\bstay\s+in\s+character\b|\bbreak(?:ing)?\s+character\b|\bout\s+of\s+character\b|"
            r"\b(?:you\s+are|you're|act\s+as|pretend\s+to\s+be|become|be)\s+(?:an?\s+)?(?:ai|chatbot|model|assistant|language\s+model|bot)\s+"
            r"(?:with(?:out)?|that\s+(?:has|have)|who\s+(?:has|have))\s+no\s+(?:\w+\s+){0,2}(?:restrictions|limits|limitations|rules|filters|ethics|morals|guidelines|boundaries)|"
            r"\b(?:not|never)\s+(?:be\s+)?bound\s+by\s+(?:any\s+)?(?:\w+\s+){0,2}(?:rules|restrictions|guidelines|polic(?:y|ies)|ethics|limitations)|"
            r"\b(?:no|without\s+any|free\s+(?:of|from)\s+(?:all|any))\s+(?:ethical|moral|content)\s+(?:or\s+moral\s+)?(?:restrictions|guidelines|limitations|filters|boundaries|constraints|polic(?:y|ies))|"
            r"\bas\s+an?\s+(?:unfiltered|uncensored|unrestricted|amoral|jailbroken)\b|\b(?:amoral|unfiltered|uncensored)\s+(?:ai|chatbot|assistant|model|character|bot|version)|"
            r"\bpretend\s+(?:that\s+)?(?:you\s+(?:have|had|are\s+free\s+of)|there\s+are)\s+no\s+(?:\w+\s+){0,2}(?:restrictions|rules|limits|limitations|filters|guidelines)|"
            r"\bfree\s+(?:from|of)\s+(?:the\s+)?(?:typical\s+)?confines\s+of\s+ai|\bbroken\s+free\b|"
            r"\bopenai(?:'s)?\s+(?:content\s+)?polic(?:y|ies)\b|\bcontent\s+polic(?:y|ies)\s+(?:of\s+openai|does\s+not\s+apply)",
            _F,
        ),
    ),
    (
        "prompt_attack.extraction",
        re.compile(
            r"\b(?:repeat|print|show|reveal|output|display|tell\s+me|give\s+me|what\s+(?:is|are|was|were)|share|leak|dump|"
            r"write\s+out|spell\s+out|recite|copy|paste|list|translate|summari[sz]e|echo|return)\s+(?:me\s+)?(?:back\s+)?(?:all\s+|exactly\s+|verbatim\s+)?(?:of\s+)?"
            r"(?:your\s+(?:\w+\s+){0,2}?(?:system\s+prompt|system\s+message|initial\s+prompt|hidden\s+prompt|original\s+prompt|"
            r"pre-?prompt|prompt|instructions|initial\s+instructions|guidelines|rules|programming|configuration|directives|"
            r"context)|the\s+(?:system\s+prompt|initial\s+prompt|hidden\s+prompt|hidden\s+instructions|pre-?prompt|"
            r"instructions\s+(?:you\s+were|given\s+to\s+you|above)|system\s+message\s+(?:you|above))|"
            r"(?:the\s+|all\s+the\s+)?(?:text|words|content|instructions|message|prompt|everything)\s+(?:above|before\s+(?:this|my)))",
            _F,
        ),
    ),
    (
        "prompt_attack.extraction",
        re.compile(
            r"\bwhat\s+(?:were\s+you|have\s+you\s+been)\s+(?:told|instructed|programmed)\b|"
            r"\b(?:start|begin)\s+(?:your\s+(?:reply|response|answer)\s+)?with\s+[\"']?(?:sure,?\s+here|you\s+are\s+a)\b",
            _F,
        ),
    ),
    (
        "prompt_attack.persona",
        re.compile(
            # Re-assigning the assistant's identity. Asking it to act as an AWS expert, a
            # reviewer or a tutor is a normal request and is left alone.
            r"\b(?:you(?:'re|\s+are)\s+now|you(?:'re|\s+are)\s+no\s+longer|(?:i\s+want|i\s+need|i'd\s+like)\s+you\s+to\s+(?:act|behave|pretend|be)|"
            r"you\s+(?:will|are\s+going\s+to|must|shall|are\s+to)\s+(?:now\s+)?(?:act|behave|pretend|roleplay|role-play|play\s+the\s+role|"
            r"simulate|become|take\s+on\s+the\s+role)|(?:^|[.!?\n]\s*)(?:now\s+)?(?:please\s+)?(?:act|behave)\s+(?:as|like)\s+(?:if|though)?|"
            r"(?:^|[.!?\n]\s*)(?:please\s+)?(?:pretend|roleplay|role-play|simulate)\b|\bgo\s+by\s+the\s+name|\byour\s+name\s+is\s+now|"
            r"\bforget\s+everything\s+(?:from\s+)?(?:before|above|previous)|\bfrom\s+now\s+o[nw],?\s+(?:on\s+)?you(?:'re|\s+are|\s+will\s+be)\s+(?!going\s+to\s+(?:use|get|need))"
            r")(?![^.!?\n]{0,60}\b(?:aws|amazon|cloud|solutions?\s+architect|devops|sre|sysadmin|engineer|expert|consultant|reviewer|"
            r"tutor|teacher|support|specialist|administrator|developer|connected|logged|signed|subscribed|able|ready|using|set\s+up|"
            r"registered|enrolled|billed|charged|eligible|in\s+the\s+(?:free\s+tier|console))\b)",
            _F,
        ),
    ),
    (
        "prompt_attack.persona",
        # "You are JAMES", "YOU ARE YOJA", "You are chatGPT, you will…": naming the assistant anew.
        re.compile(r"(?:^|[.!?\n:]\s*)(?i:you\s+are)\s+(?:now\s+)?(?:[A-Z][A-Za-z0-9]*GPT|[A-Z]{3,}\b(?<!AWS)|(?i:chatgpt))"),
    ),
)
# Weaker signals: each is common enough in honest text, two or more together are not.
_ATTACK_WEAK: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, _F)
    for p in (
        r"\bfrom\s+now\s+o[nw],?\s+(?:on\s+)?(?:you|your|u)\b",
        r"\byou(?:'re|\s+are)\s+now\s+(?:going\s+to\s+|a\b|an\b|my\b|in\b|called|named|free|unrestricted|acting|[a-z]+gpt\b)",
        r"\byou\s+(?:are|will)\s+(?:going\s+to\s+)?(?:act|pretend|roleplay|role-play|play\s+the\s+role|simulate|respond\s+as)\b",
        r"\b(?:i\s+want\s+you\s+to|you\s+will|you\s+must|you\s+are\s+to|let'?s)\s+(?:act|pretend|role-?\s?play|play\s+a\s+game|simulate|imagine|immerse)\b",
        r"\bpretend\s+(?:to\s+be|you(?:'re|\s+are)|that\s+you)\b",
        r"\brole-?\s?play(?:ing)?\b|\bpersona\b|\bin\s+character\b|\bcharacter\s+named\b",
        r"\b(?:chatgpt|openai|gpt-?[34]|language\s+model|llm)\b",
        r"\b(?:no|without(?:\s+any)?)\s+(?:restrictions|limitations|limits|filters|censorship|boundaries|warnings|disclaimers)\b",
        r"\b(?:unethical|immoral|amoral|illegal|harmful|offensive|explicit|nsfw)\b",
        r"\b(?:never|don'?t|do\s+not|won'?t|will\s+not|cannot|can'?t)\s+(?:ever\s+)?(?:refuse|decline|deny|say\s+no|warn)\b",
        r"\balways\s+(?:answer|respond|comply|reply|provide)\b",
        r"\b(?:two|2)\s+(?:different\s+)?(?:separate\s+)?(?:responses|answers|paragraphs|ways|personalities)\b",
        r"\b(?:hypothetical(?:ly)?|fictional|fiction|imaginary|simulation)\b",
        r"\b(?:developer|dev|god|debug|admin|sudo|unrestricted|dan)\s+mode\b",
        r"\bDAN\b",
        r"\[(?:🔓|🔒|gpt|jailbreak|classic|dan)[^\]]*\]",
        r"\b(?:ethic(?:s|al)|moral(?:s|ity)?)\b",
        r"\bunfiltered|uncensored|unrestricted|unleashed|unbound\b",
        r"\bstay\s+in\s+character|\bbreak\s+character|\bremain\s+in\s+character",
        r"\b(?:anything\s+now|can\s+do\s+anything|answer\s+anything|no\s+longer\s+(?:bound|restricted))\b",
    )
)
_WEAK_NEEDED = 3  # distinct weak signals that together make a prompt attack

# Substring gates (checked on the lower-cased text) decide which groups run at all.
_LONG_TOKEN = re.compile(r"[A-Za-z0-9/+]{40}")
_PII_DIGITS = re.compile(r"\d[\d\s\-.()/]{7,}\d")


def _any_in(haystack: str, needles: Sequence[str]) -> bool:
    """True when any needle is a substring (``map`` keeps the loop in C)."""
    return any(map(haystack.__contains__, needles))


# Substrings of the lower-cased text without which no secret detector can match
# (each detector also has its own, narrower gate below).
_ACCESS_KEY_GATE = ("akia", "asia", "abia", "acca", "a3t")
_SESSION_GATE = ("token", "fwogzxiv", "fqogzxiv", "iqojb3", "iqodyxdz", "agojb3")
_PASSWORD_GATE = ("pass", "pwd", "pw", "pswd", "://", "mysql")


def _secret_hits(text: str, lowered: str, gated: bool = True) -> Iterator[_Hit]:
    """All secret detectors; with ``gated`` each runs only if its cheap gate passes.

    The gates are necessary conditions of their detectors (a substring every match must
    contain), so ``gated=False`` (used by the tests) finds exactly the same hits.
    """
    if not gated or _any_in(lowered, _ACCESS_KEY_GATE):
        yield from _access_keys(text)
    if not gated or _any_in(lowered, _SESSION_GATE):
        yield from _session_tokens(text, lowered if gated else None)
    if not gated or "begin" in lowered or "putty" in lowered:
        yield from _private_keys(text)
    if not gated or _any_in(lowered, _PASSWORD_GATE):
        yield from _passwords(text, gated, lowered if gated else None)
    yield from _generic_secrets(text, lowered, gated)
    if not gated or _LONG_TOKEN.search(text):
        yield from _aws_secret_keys(text)
    if not gated or "secret" in lowered:
        yield from _aws_secret_keys_split(text)


# Necessary conditions, as literal-led character classes the regex engine can skip to:
# every IBAN match contains two capitals then two digits, and every spaced run contains
# separator, character, separator, character, separator.
_IBAN_PRE = re.compile(r"[A-Z][A-Z]\d\d")
_SPACED_PRE = re.compile(r"[ \t.\-_|][A-Za-z0-9/+=:\-_][ \t.\-_|][A-Za-z0-9/+=:\-_][ \t.\-_|]")


def _pii_hits(text: str, gated: bool = True) -> Iterator[_Hit]:
    if (
        not gated
        or "@" in text
        or _PII_DIGITS.search(text)
        or (_IBAN_PRE.search(text) and _IBAN.search(text))
    ):
        yield from _pii(text, gated)


# ---------------------------------------------------------------------------
# Gates of the intent-like rules
# ---------------------------------------------------------------------------
#
# Each pattern above has a gate: a function of (the set of ``[a-z0-9]+`` tokens of the
# lower-cased text, the lower-cased text) that is True whenever the pattern CAN match.
# A gate only lists words the pattern requires: a word the regex bounds with ``\b`` (or
# ``\s``) on both sides is a token; a literal the regex may glue to other letters is
# checked as a substring instead. One ``set(findall)`` per message and a few set
# intersections replace dozens of substring scans and regex searches, and a benign
# message usually opens no gate at all. ``gated=False`` runs every pattern (tests).

_TOKEN = re.compile(r"[a-z0-9]+")


def _ws(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _plural(words: frozenset[str]) -> frozenset[str]:
    return words | {w + "s" for w in words}


_G_PERSON = _plural(
    _ws(
        """colleague coworker co boss manager exemployee ex former employee friend exwife exhusband wife husband
        partner girlfriend boyfriend neighbour neighbor roommate someone somebody another other all every previous
        competitor stranger guy user admin administrator john jane"""
    )
)
_G_PERSON_PRONOUN = _G_PERSON | _ws("his her their root")
_G_CRED_NOUN_WORDS = _ws("password passwords credential credentials creds key keys token tokens secret secrets variables env")
_G_C1_VERBS = _ws("what give show reveal tell share print list leak send display output dump expose paste read hand return")
_G_C2_VERBS = _ws("log login loginto sign signin signinto get break hack take gain access snoop spy read")
_G_C3_VERBS = _ws(
    "what tell give send find get know guess crack recover retrieve see show view read obtain steal dump extract decrypt look"
)
_G_MODAL = _ws("can could would will")
_G_C5_VERBS = _ws("generate create make give send provide share issue find get tell email")
_G_C6_VERBS = _ws("give send generate create provide share tell show reveal email hand")
_G_ME_US = _ws("me us")
_G_MAKE = _ws("generate create make invent")
_G_REAL = _ws("valid working real active functional")
_G_BYPASS_VERBS = _ws(
    """bypass bypassing circumvent circumventing get getting work defeat defeating evade evading hack hacking crack
    cracking brute bruteforce bruteforcing break breaking spoof spoofing trick tricking fool fooling"""
)
_G_BYPASS_OBJECTS = ("mfa", "2fa", "factor", "authenticat", "password", "login", "log-in", "sign", "captcha",
                     "verification", "check", "otp", "time")
_G_C9_VERBS = _ws("reveal show give tell send share dump list print export find what")
_G_OF_FOR = _ws("of for belonging")
_G_C9_WHOSE = ("user", "every", "all", "other", "someone", "each", "colleague", "coworker", "boss", "team")
_G_STEAL = _ws("crack cracking brute bruteforce bruteforcing hack hacking steal stealing phish phishing")

_G_W1 = _ws("what which")
_G_W2 = _ws("do does")
_G_W3 = _ws("ignore disregard forget")
_G_W4 = _ws("act pretend roleplay role play simulate respond")
_G_W5 = _ws("act pretend role roleplay play simulate imagine immerse")
_G_W6 = _ws("you let lets")
_G_W7 = _ws("role roleplay roleplaying persona character")
_G_W8 = _ws("chatgpt openai gpt gpt3 gpt4 language llm")
_G_W9 = _ws("restrictions limitations limits filters censorship boundaries warnings disclaimers")
_G_W10 = _ws("unethical immoral amoral illegal harmful offensive explicit nsfw")
_G_W11 = _ws("refuse decline deny say warn")
_G_W12 = _ws("responses answers paragraphs ways personalities")
_G_W13 = _ws("hypothetical hypothetically fictional fiction imaginary simulation")
_G_W14 = _ws("ethics ethical moral morals morality")

def _credential_gates(w: frozenset[str] | set[str], s: str) -> tuple[bool, ...]:
    """Open/closed state of each gate, in pattern order (``w``: tokens, ``s``: lower-cased text)."""
    return (
        "your" in w and not w.isdisjoint(_G_C1_VERBS) and not w.isdisjoint(_G_CRED_NOUN_WORDS),
        not w.isdisjoint(_G_C2_VERBS) and not w.isdisjoint(_G_PERSON),
        not w.isdisjoint(_G_C3_VERBS) and not w.isdisjoint(_G_PERSON_PRONOUN),
        "without" in w,
        "you" in w and not w.isdisjoint(_G_MODAL) and not w.isdisjoint(_G_C5_VERBS),
        not w.isdisjoint(_G_ME_US) and not w.isdisjoint(_G_C6_VERBS),
        not w.isdisjoint(_G_MAKE) and not w.isdisjoint(_G_REAL),
        not w.isdisjoint(_G_BYPASS_VERBS) and _any_in(s, _G_BYPASS_OBJECTS),
        not w.isdisjoint(_G_C9_VERBS) and not w.isdisjoint(_G_OF_FOR) and _any_in(s, _G_C9_WHOSE),
        not w.isdisjoint(_G_STEAL),
        "use" in w and not w.isdisjoint(_G_W1) and not w.isdisjoint(_G_W2),
    )

_G_F2_FIRST = _ws("unreleased unannounced yet upcoming forthcoming future secret development pre prerelease")
_G_F2_NOUN = _ws(
    """service services feature features region regions product products launch launches release releases
    instance announcement announcements offering offerings chip chips gpu gpus capability capabilities model models"""
)
_G_F3 = _ws(
    """coming pipeline works rumor rumors rumored rumour rumours rumoured leak leaks leaked insider announced
    launched released unveiled next"""
)
_G_WHEN = _ws("when date soon")
_G_AUX = _ws("will is are does do would might")
_G_AUX5 = _ws("is are will does do has")
_G_AWS = _ws("aws amazon team")
_G_PLANNING = _ws("going planning plan have intend intending about expected working")
_G_F7 = _ws("date eta timeline timeframe")
_G_F8 = _ws("soon next when")

def _future_gates(w: frozenset[str] | set[str], s: str) -> tuple[bool, ...]:
    """Open/closed state of each gate, in pattern order (``w``: tokens, ``s``: lower-cased text)."""
    return (
        "roadmap" in w or "roadmaps" in w,
        not w.isdisjoint(_G_F2_FIRST) and not w.isdisjoint(_G_F2_NOUN),
        not w.isdisjoint(_G_F3),
        not w.isdisjoint(_G_WHEN) and not w.isdisjoint(_G_AUX),
        not w.isdisjoint(_G_AUX5) and not w.isdisjoint(_G_AWS) and not w.isdisjoint(_G_PLANNING),
        _any_in(s, ("plan", "timeline", "eta", "news", "update", "word")) and _any_in(s, ("any", "there", "what")),
        not w.isdisjoint(_G_F7),
        "will" in w and (not w.isdisjoint(_G_F8) or "timeline" in s or "future" in s),
        "will" in w and "ever" in w and ("aws" in w or "amazon" in w),
    )

_G_A1_VERBS = _ws(
    """ignore ignoring disregard disregarding forget forgetting override overriding bypass abandon discard let
    throw set drop delete erase wipe neglect skip"""
)
_G_A1_OBJECTS = (
    "instruction", "prompt", "rule", "directive", "guideline", "direction", "input", "message", "context",
    "programming", "restriction", "constraint", "guardrail", "filter", "polic", "training", "conversation",
    "command", "order", "setting", "text", "chat", "answer", "response", "limitation",
)
_G_A2 = _ws("ignore disregard forget override")
_G_A3_MARKERS = ("<|", "<im_", "<system", "<endoftext", "[inst", "[/inst", "##", "termination")
_G_A4 = _ws(
    """anything jailbroken jailbreak jailbreaking jailbreaks jail play character bound ethical moral content
    unfiltered uncensored unrestricted amoral pretend confines broken openai"""
)
_G_A4_REPLY = _ws("respond reply answer")
_G_A4_BOT = _ws("ai chatbot model assistant bot")
_G_A5_VERBS = _ws(
    """repeat print show reveal output display tell give what share leak dump write spell recite copy paste list
    translate summarise summarize echo return"""
)
_G_A6 = _ws("told instructed programmed")
_G_A7 = _ws("act behave pretend roleplay role simulate name forget longer")
_G_A10 = _ws(
    """persona yourself personality ego opposite nsfw unbounded regard law rules confined input conversation
    respond reply answer"""
)
_G_A7_YOU = _ws("now want need like play become take")


def _gate_a3(w: frozenset[str] | set[str], s: str) -> bool:
    return (
        _any_in(s, _G_A3_MARKERS)
        or ("[" in s and ("system" in s or "admin" in s))
        or ("system" in s and ("override" in s or "nstruction" in s))
        or ("instruction" in s and ":" in s)
    )


def _gate_a4(w: frozenset[str] | set[str], s: str) -> bool:
    return (
        "mode" in s
        or not w.isdisjoint(_G_A4)
        or ("as" in w and not w.isdisjoint(_G_A4_REPLY))
        or ("now" in w and "you" in w)
        or ("no" in w and not w.isdisjoint(_G_A4_BOT))
    )


def _gate_a5(w: frozenset[str] | set[str], s: str) -> bool:
    return not w.isdisjoint(_G_A5_VERBS) and (
        "your" in w
        or "above" in s
        or "before" in s
        or ("the" in w and _any_in(s, ("system", "initial", "hidden", "prompt", "instructions")))
    )


def _attack_gates(w: frozenset[str] | set[str], s: str) -> tuple[bool, ...]:
    """Open/closed state of each gate, in pattern order (``w``: tokens, ``s``: lower-cased text)."""
    return (
        not w.isdisjoint(_G_A1_VERBS) and _any_in(s, _G_A1_OBJECTS),
        not w.isdisjoint(_G_A2),
        _gate_a3(w, s),
        _gate_a4(w, s),
        _gate_a5(w, s),
        not w.isdisjoint(_G_A6) or ("with" in w and ("start" in w or "begin" in w)),
        not w.isdisjoint(_G_A7) or ("you" in w and not w.isdisjoint(_G_A7_YOU)) or ("now" in w and "from" in w),
        "you" in w and "are" in w,
        not w.isdisjoint(_G_A10) or "now" in w or ("open" in w and "ai" in w),
        not w.isdisjoint(_G_W3) and "above" in s,
    )
# One gate per weak signal of _ATTACK_WEAK, in order.
# For each word a weak gate needs (one of), how many weak gates it can open. Gates 16
# ("[") and 18 (unfiltered, uncensored…: substrings) are the two not counted here.
_WEAK_WORD_GATES: dict[str, int] = {}
for _words in (
    "from now",  # 1 (needs both: "now" counted)
    "now",  # 2
    "act pretend roleplay role play simulate respond",  # 3
    "act pretend role roleplay play simulate imagine immerse",  # 4
    "pretend",  # 5
    "role roleplay roleplaying persona character",  # 6
    "chatgpt openai gpt gpt3 gpt4 language llm",  # 7
    "restrictions limitations limits filters censorship boundaries warnings disclaimers",  # 8
    "unethical immoral amoral illegal harmful offensive explicit nsfw",  # 9
    "refuse decline deny say warn",  # 10
    "always",  # 11
    "responses answers paragraphs ways personalities",  # 12
    "hypothetical hypothetically fictional fiction imaginary simulation",  # 13
    "mode",  # 14
    "dan",  # 15
    "ethics ethical moral morals morality",  # 17
    "character",  # 19
    "anything longer",  # 20
):
    for _word in set(_words.split()) - ({"from"} if _words == "from now" else set()):
        _WEAK_WORD_GATES[_word] = _WEAK_WORD_GATES.get(_word, 0) + 1


def _weak_gates(w: frozenset[str] | set[str], s: str) -> tuple[bool, ...]:
    """Open/closed state of each gate, in pattern order (``w``: tokens, ``s``: lower-cased text)."""
    return (
        "from" in w and "now" in w,
        "you" in w and "now" in w,
        "you" in w and not w.isdisjoint(_G_W4),
        not w.isdisjoint(_G_W5) and not w.isdisjoint(_G_W6),
        "pretend" in w,
        not w.isdisjoint(_G_W7),
        not w.isdisjoint(_G_W8),
        not w.isdisjoint(_G_W9),
        not w.isdisjoint(_G_W10),
        not w.isdisjoint(_G_W11),
        "always" in w,
        not w.isdisjoint(_G_W12),
        not w.isdisjoint(_G_W13),
        "mode" in w,
        "dan" in w,
        "[" in s,
        not w.isdisjoint(_G_W14),
        _any_in(s, ("unfiltered", "uncensored", "unrestricted", "unleashed", "unbound")),
        "character" in w,
        "anything" in w or "longer" in w,
    )


# Second-pass rules (kept together so the pattern tuples and their gates stay aligned).
_CREDENTIAL_REQUEST_PATTERNS = _CREDENTIAL_REQUEST_PATTERNS + (
    (
        "credential_request.others_access",
        re.compile(
            rf"\b(?:reveal|show|give|tell|send|share|dump|list|print|export|find\s+out|what\s+(?:is|are))\s+(?:me\s+)?"
            rf"(?:the\s+|all\s+(?:the\s+)?)?{_CRED_NOUN}\s+(?:of|for|belonging\s+to)\s+(?:the\s+)?"
            rf"(?:(?:iam\s+)?user\b|every|all|other|another|someone|each|my\s+(?:colleague|coworker|boss|team)|users)",
            _F,
        ),
    ),
    (
        "credential_request.bypass",
        re.compile(
            r"\b(?:crack(?:ing)?|brute[- ]?forc(?:e|ing)|hack(?:ing)?|steal(?:ing)?|phish(?:ing)?)\b[^.?!\n]{0,40}?"
            r"\b(?:passwords?|credentials?|accounts?|hash(?:es)?|mfa|keys?|logins?|buckets?|consoles?)\b",
            _F,
        ),
    ),
    (
        "credential_request.assistant_secrets",
        re.compile(
            r"\b(?:what|which)\s+(?:api\s+keys?|credentials|keys|passwords?|tokens?|access\s+keys?|iam\s+role)\s+"
            r"(?:do\s+you|does\s+(?:this|the)\s+(?:bot|assistant))\s+use",
            _F,
        ),
    ),
)
_FUTURE_PATTERNS = _FUTURE_PATTERNS + (
    (
        "future_features.launch_date",
        re.compile(
            r"\bwill\s+(?:aws|amazon|\w+)\s+(?:ever\s+)?(?:support|add|launch|release|offer|get|introduce|bring)\b"
            r"[^.?!\n]{0,60}?(?:\bsoon\b|\bnext\s+(?:year|quarter|month)|\bin\s+the\s+future|\btimeline|\bwhen\b)",
            _F,
        ),
    ),
    (
        "future_features.launch_date",
        re.compile(r"\bwill\s+(?:aws|amazon)\s+ever\s+(?:launch|release|add|support|offer|build)\b", _F),
    ),
)
_ATTACK_STRONG = _ATTACK_STRONG + (
    (
        "prompt_attack.persona",
        # Long role-play jailbreaks: a new persona or operating mode for the assistant, and
        # the rules it is told to drop. Each alternative is an instruction to the model that
        # a support question has no reason to contain.
        re.compile(
            r"\byour\s+(?:new\s+)?persona\s+is\b|\bfollow\s+your\s+(?:new\s+)?persona\b|"
            r"\b(?:allow|permit)\s+yourself\s+to\s+(?:function|act|operate|behave)\b|"
            r"\b(?:assistant|chatgpt|chat\s?gpt|the\s+ai|you)\s+now\s+(?:acts?|behaves?|functions?)\s+(?:like|as)\b|"
            r"\b(?:chatgpt|chat\s?gpt)\s+now\s+runs\s+on\b|"
            r"\btake\s+on\s+the\s+(?:exact\s+)?(?:opposite\s+)?(?:personality|persona)\b|\balter\s+ego\b|"
            r"\bopposite\s+(?:day|machine)\b|\bnsfw\b[^.!?\n]{0,30}\b(?:allowed|permitted|enabled)\b|"
            r"\bunbounded\s+by\s+(?:\w+\s+)?(?:ethics|morals|rules)\b|"
            r"\bwithout\s+any\s+regard\s+(?:for|to)\s+(?:\w+\s+){0,2}(?:ethics|morals|rules|laws|guidelines|feelings|consequences)\b|"
            r"\bwilling\s+to\s+break\s+the\s+law\b|\bbreaks?\s+(?:all\s+)?(?:ai|openai)\s+rules\b|"
            r"\bno\s+(?:long(?:er)?\s+)?confined\s+to\b|\bfree\s+input\s+action\b|\bawait\s+\[?input\]?\s+to\s+continue\b|"
            r"\bthe\s+following\s+is\s+a\s+conversation\s+with\s+an?\s+ai\b|"
            r"\bfrom\s+now\s+on,?\s+you\s+(?:will|must|shall|are\s+going\s+to)\s+(?:answer|respond|reply|act|only|always|never|speak|talk)\b|"
            r"\b(?:respond|reply|answer)\s+as\s+an?\s+\w*gpt\b|\bopen\s+ai(?:'s)?\s+(?:content\s+)?polic(?:y|ies)\b",
            _F,
        ),
    ),
    (
        "prompt_attack.override",
        re.compile(
            r"\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:of\s+)?(?:the\s+|everything\s+)?above\b"
            r"(?!\s+(?:error|warning|message|log|output|step|link|command))",
            _F,
        ),
    ),
)


_GateStates = Callable[[frozenset[str] | set[str], str], tuple[bool, ...]]


def _gated(patterns: Sequence[tuple[str, re.Pattern[str]]], gates: _GateStates, text: str,
           lowered: str, words: frozenset[str] | set[str] | None) -> list[_Hit]:
    """Run each pattern whose gate is open (every pattern when ``words`` is None)."""
    selected = patterns if words is None else compress(patterns, gates(words, lowered))
    return [
        (rule_id, match.start(), match.end())
        for rule_id, pattern in selected
        for match in pattern.finditer(text)
    ]


def _intent_hits(text: str, lowered: str, gated: bool = True) -> Iterator[_Hit]:
    words = set(_TOKEN.findall(lowered)) if gated else None
    yield from _gated(_CREDENTIAL_REQUEST_PATTERNS, _credential_gates, text, lowered, words)
    future = _gated(_FUTURE_PATTERNS, _future_gates, text, lowered, words)
    if future and not _FUTURE_EXEMPT.search(text):
        yield from future
    yield from _attack_hits(text, lowered, words)


def _attack_hits(text: str, lowered: str, words: frozenset[str] | set[str] | None) -> Iterator[_Hit]:
    strong = _gated(_ATTACK_STRONG, _attack_gates, text, lowered, words)
    if strong:
        yield from strong
        return
    if words is None:
        candidates: Sequence[re.Pattern[str]] = _ATTACK_WEAK
    else:
        # Each weak gate needs one of the words in _WEAK_WORD_GATES (except the two substring
        # gates): when those words cannot open _WEAK_NEEDED gates, skip evaluating them.
        bound = 2 + sum(_WEAK_WORD_GATES[word] for word in words.intersection(_WEAK_WORD_GATES))
        if bound < _WEAK_NEEDED:
            return
        states = _weak_gates(words, lowered)
        if sum(states) < _WEAK_NEEDED:
            return
        candidates = [p for p, state in zip(_ATTACK_WEAK, states, strict=True) if state]
    weak_spans = []
    for pattern in candidates:
        match = pattern.search(text)
        if match:
            weak_spans.append((match.start(), match.end()))
    if len(weak_spans) >= _WEAK_NEEDED:
        for start, end in weak_spans:
            yield "prompt_attack.combined", start, end


# ---------------------------------------------------------------------------
# Evasion: spaced-out and split secrets
# ---------------------------------------------------------------------------

# Runs of single characters separated by one separator ("A K I A 4 …", "P A S S W O R D",
# "p-a-s-s"): the secret detectors run again on a view of the text in which every such
# run is closed up, so a spaced-out keyword still meets its value ("P A S S W O R D = x").
_SPACED_RUN = re.compile(r"(?<![A-Za-z0-9])(?:[A-Za-z0-9/+=:\-_][ \t.\-_|]){5,}[A-Za-z0-9/+=](?![A-Za-z0-9])")


def _spaced_hits(text: str, gated: bool = True) -> Iterator[_Hit]:
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
        return
    pieces.append(text[cursor:])
    offsets.extend(range(cursor, len(text)))
    collapsed = "".join(pieces)
    for rule_id, start, end in _secret_hits(collapsed, collapsed.lower(), gated):
        yield rule_id, offsets[start], offsets[end - 1] + 1


# ---------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------


def _to_findings(
    hits: Iterable[_Hit], view: NormalizedText, *, output: bool = False
) -> list[Finding]:
    """Map hits on the normalised view to findings on the original text.

    With ``output=True`` secret and PII findings become ``sensitive_data`` findings.
    """
    findings: set[Finding] = set()
    for rule_id, start, end in hits:
        if end <= start:
            continue
        rule = _RULE_BY_ID[rule_id]
        orig_start, orig_end = view.original_span(start, end)
        findings.add(Finding(rule.category, rule.rule_id, orig_start, orig_end, rule.action))
    resolved = _resolve_overlaps(sorted(findings, key=lambda f: (f.start, f.end, f.rule_id)))
    if not output:
        return resolved
    # In an answer every secret or PII finding is "sensitive_data": secrets block, PII is masked.
    mapped = []
    for finding in resolved:
        out_rule = _RULE_BY_ID[
            "sensitive_data.secret"
            if finding.category in SECRET_CATEGORIES
            else "sensitive_data.pii"
        ]
        mapped.append(
            Finding(
                out_rule.category, out_rule.rule_id, finding.start, finding.end, out_rule.action
            )
        )
    return mapped


def _resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Drop a secret/PII finding that overlaps a more specific one of another category."""
    ranked = [f for f in findings if f.category in _SPECIFICITY]
    if len(ranked) < 2:
        return findings
    dropped: set[Finding] = set()
    for a in ranked:
        for b in ranked:
            if a is b or a.category == b.category or a in dropped or b in dropped:
                continue
            if (
                a.start < b.end
                and b.start < a.end
                and _SPECIFICITY[a.category] < _SPECIFICITY[b.category]
            ):
                dropped.add(b)
    return [f for f in findings if f not in dropped]


def redact(text: str, findings: Sequence[Finding]) -> str:
    """Mask the spans of ``findings`` in ``text``.

    Overlapping or adjacent spans are merged into one mask labelled with the most specific
    category among them, so no part of any matched span survives.

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
    merged: list[list] = []
    for start, end, category in spans:
        if merged and start <= merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if _SPECIFICITY.get(category, 99) < _SPECIFICITY.get(last[2], 99):
                last[2] = category
        else:
            merged.append([start, end, category])
    pieces = []
    cursor = 0
    for start, end, category in merged:
        pieces.append(text[cursor:start])
        pieces.append(f"[REDACTED:{category}]")
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


_BLOCK_ORDER = (
    "private_key",
    "aws_session_token",
    "aws_secret_key",
    "aws_access_key",
    "generic_secret",
    "password",
    "credential_request",
    "prompt_attack",
    "future_features",
    "sensitive_data",
    "future_commitment",
    "competitor_disparagement",
)


def _verdict(text: str, findings: list[Finding]) -> GuardrailVerdict:
    if not findings:
        return GuardrailVerdict(ALLOW, (), text, None)
    redacted = redact(text, findings)
    categories = {f.category for f in findings if f.action is BLOCK}
    if categories:
        secrets = [c for c in _BLOCK_ORDER if c in categories and c in SECRET_CATEGORIES]
        if secrets:
            message = " ".join(MESSAGES[c] for c in secrets)
        else:
            message = MESSAGES[next(c for c in _BLOCK_ORDER if c in categories)]
        return GuardrailVerdict(BLOCK, tuple(findings), redacted, message)
    return GuardrailVerdict(REDACT, tuple(findings), redacted, None)


def _blank(text: str, hits: Sequence[_Hit]) -> str:
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


def _scan_secrets_and_pii(view: NormalizedText, lowered: str, gated: bool = True) -> list[_Hit]:
    text = view.text
    hits: list[_Hit] = []
    keys: list[_Hit] = []
    if not gated or "begin" in lowered or "putty" in lowered:
        # A private key block is the most specific finding there is: every other secret or
        # PII finding inside it would be dropped, so the other detectors skip its body.
        keys = list(_private_keys(text))
        if keys:
            hits.extend(keys)
            text = _blank(text, keys)
            lowered = text.lower()
    hits.extend(_secret_hits(text, lowered, gated))
    hits.extend(_pii_hits(text, gated))
    if not gated or (_spaced_pre(text, keys) and _SPACED_RUN.search(text)):
        hits.extend(_spaced_hits(text, gated))
    return hits


def _spaced_pre(text: str, blanked: Sequence[_Hit]) -> bool:
    """``_SPACED_PRE.search(text)``, not searching inside the ``blanked`` spans.

    A blanked private key is a long run of spaces; _SPACED_PRE would stop at every one of
    them. Its two middle characters cannot be spaces, so a match overlaps a blanked span
    (two characters or more) by at most its first or last character: searching each gap
    widened by one character on either side finds a match exactly when the text has one.
    """
    if not blanked:
        return _SPACED_PRE.search(text) is not None
    search = _SPACED_PRE.search
    cursor = 0
    for _rule, start, end in sorted(blanked, key=lambda h: h[1]):
        if end - start < 2:
            return search(text) is not None  # the argument above needs spans of two or more
        if start > cursor and search(text, max(0, cursor - 1), start + 1):
            return True
        cursor = max(cursor, end)
    return search(text, max(0, cursor - 1)) is not None


def _scan_input(text: str, gated: bool) -> GuardrailVerdict:
    view = normalize(text)
    lowered = view.text.lower()
    hits = _scan_secrets_and_pii(view, lowered, gated)
    hits.extend(_intent_hits(view.text, lowered, gated))
    if not hits:
        return GuardrailVerdict(ALLOW, (), text, None)
    if len(hits) == 1:
        return _single_hit_verdict(text, hits[0], view)
    return _verdict(text, _to_findings(hits, view))


def _single_hit_verdict(text: str, hit: _Hit, view: NormalizedText) -> GuardrailVerdict:
    """``_verdict(text, _to_findings([hit], view))`` without the general machinery.

    Most flagged messages have exactly one hit: no overlaps to resolve, no spans to
    merge, one category for the message. Same result, a fraction of the work.
    """
    rule_id, start, end = hit
    if end <= start:
        return GuardrailVerdict(ALLOW, (), text, None)
    rule = _RULE_BY_ID[rule_id]
    orig_start, orig_end = view.original_span(start, end)
    finding = Finding(rule.category, rule.rule_id, orig_start, orig_end, rule.action)
    if orig_end <= orig_start:  # redact() masks nothing for an empty span
        redacted = text
    else:
        cut_start, cut_end = max(0, orig_start), min(len(text), orig_end)
        redacted = f"{text[:cut_start]}[REDACTED:{rule.category}]{text[cut_end:]}"
    if rule.action is BLOCK:
        return GuardrailVerdict(BLOCK, (finding,), redacted, MESSAGES[rule.category])
    return GuardrailVerdict(REDACT, (finding,), redacted, None)


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
    return _scan_input(text, True)


# ---------------------------------------------------------------------------
# Output rules
# ---------------------------------------------------------------------------

_FUTURE_COMMITMENT = re.compile(
    r"\b(?:will\s+be\s+(?:released|launched|available|added|supported|introduced|rolled\s+out|generally\s+available|coming)(?:\s+in\s+[\w\-]+)?"
    r"(?:\s+(?:soon|shortly|later\s+this\s+year|next\s+(?:year|quarter|month|week)|in\s+(?:q[1-4]|20\d\d|the\s+(?:coming|next)\s+\w+)|by\s+(?:the\s+end|q[1-4]|20\d\d)|in\s+an\s+upcoming))"
    r"|coming\s+soon|we\s+(?:plan|intend|are\s+planning|expect)\s+to\s+(?:release|launch|add|support|introduce|ship|offer|make)|"
    r"aws\s+(?:plans|intends|is\s+planning|is\s+going)\s+to\s+(?:release|launch|add|support|introduce|ship|offer)|"
    r"(?:aws|amazon|the\s+\w+\s+team)\s+will\s+(?:soon\s+)?(?:release|launch|add|introduce|ship|roll\s+out|announce)\b|"
    r"(?:is|are)\s+(?:expected|scheduled|slated|set)\s+to\s+(?:launch|be\s+released|be\s+launched|release|arrive|ship|be\s+available)|"
    r"\bon\s+(?:the|our)\s+roadmap\b|\bin\s+the\s+(?:pipeline|works)\b|\bnext\s+quarter\b[^.]{0,40}\b(?:release|launch|available|support)|"
    r"\b(?:release|launch|support)\w*\b[^.]{0,40}\bnext\s+quarter\b|\bupcoming\s+(?:release|launch|version)\s+will\b)",
    _F,
)
_REFUND_PROMISE = re.compile(
    r"\b(?:i(?:'ll|\s+will|\s+have|'ve|\s+can|\s+am\s+going\s+to|'m\s+going\s+to)|we(?:'ll|\s+will|\s+have|'ve|\s+are\s+going\s+to|'re\s+going\s+to)|aws\s+will)\s+"
    r"(?:\w+\s+){0,2}(?:refund|credit|reimburse|waive|issue\s+(?:you\s+)?(?:a\s+|the\s+)?(?:full\s+)?(?:refund|credit)|"
    r"appl(?:y|ied)\s+(?:a\s+)?(?:\$?\d[\d,.]*\s+)?credit|process(?:ed)?\s+(?:a\s+|your\s+)?(?:full\s+)?refund)|"
    r"\byou(?:\s+will|'ll)\s+(?:definitely\s+|certainly\s+)?(?:receive|get|be\s+given|be\s+issued)\s+(?:a\s+|the\s+|your\s+)?(?:full\s+)?(?:refund|credit|reimbursement)|"
    r"\b(?:guarantee(?:d)?|promise)\s+(?:you\s+)?(?:a\s+|that\s+you(?:'ll|\s+will)\s+(?:get|receive)\s+a\s+)?(?:full\s+)?(?:refund|credit)|"
    r"\b(?:refund|credit)\s+(?:has\s+been|was)\s+(?:approved|issued|applied|processed)\b"
    # "I'll make sure you get a refund", "we will ensure the duplicate charge is refunded"
    r"|\b(?:i|we)(?:'ll|\s+will|\s+(?:am|are)\s+going\s+to|'(?:m|re)\s+going\s+to|\s+can)\s+(?:personally\s+|definitely\s+|also\s+)?"
    r"(?:make\s+sure|ensure|see\s+to\s+it|guarantee|arrange|get|have)\s+(?:that\s+)?"
    r"(?:(?:you|your\s+(?:account|team|company|organi[sz]ation))\s+(?:will\s+)?(?:get|gets|receive|receives|(?:are|is|be)\s+(?:issued|given))\s+"
    r"(?:a\s+|an\s+|the\s+|your\s+)?(?:full\s+|partial\s+|prompt\s+)?(?:refund|credit|reimbursement)"
    r"|you\s+(?:a\s+|the\s+)?(?:full\s+)?(?:refund|credit|reimbursement)"
    r"|(?:the|this|that|these|those|your)\s+(?:\w+\s+){0,2}?(?:charges?|fees?|amount|payments?|bill|invoice)\s+"
    r"(?:is\s+|are\s+|gets?\s+)?(?:refunded|credited|waived|reimbursed))",
    _F,
)
_COMPETITOR = (
    r"(?:microsoft\s+azure|azure|google\s+cloud(?:\s+platform)?|gcp|oracle(?:\s+cloud)?|oci|ibm(?:\s+cloud)?|"
    r"alibaba(?:\s+cloud)?|aliyun|digitalocean|digital\s+ocean|linode|akamai|vultr|hetzner|ovh(?:cloud)?|"
    r"cloudflare|heroku|vercel|netlify|tencent\s+cloud|huawei\s+cloud|rackspace|backblaze|wasabi|snowflake|"
    r"bigquery|cosmos\s*db|firebase)"
)
_NEGATIVE = (
    r"(?:terrible|awful|horrible|garbage|trash|junk|crap|sucks?|useless|worthless|pathetic|a\s+joke|joke\s+of|"
    r"a\s+mess|a\s+nightmare|nightmare|amateurish|amateur|incompetent|inferior|unreliable|insecure|untrustworthy|"
    r"can'?t\s+be\s+trusted|cannot\s+be\s+trusted|never\s+trust|not\s+trustworthy|scam|rip-?off|overpriced|"
    r"dying|dead\s+end|behind\s+the\s+times|outdated|obsolete|buggy|broken|flaky|shoddy|poorly\s+(?:built|designed|engineered|run)|"
    r"worse|worst|far\s+behind|lags?\s+(?:far\s+)?behind|second-?rate|third-?rate|laughable|embarrassing|"
    r"stay\s+away|avoid\s+(?:it|them|at\s+all\s+costs)|don'?t\s+bother|waste\s+of\s+(?:money|time)|"
    r"less\s+(?:reliable|secure|stable|mature|competent)|not\s+(?:reliable|secure|enterprise-ready|serious)|"
    r"constantly\s+(?:down|failing|breaking)|always\s+(?:down|failing|breaking)|bad|poor|slow|clunky|toy)"
)
_DISPARAGE = re.compile(
    rf"\b{_COMPETITOR}\b[^.!?\n]{{0,80}}?\b{_NEGATIVE}\b|\b{_NEGATIVE}\b[^.!?\n]{{0,40}}?\b{_COMPETITOR}\b",
    _F,
)
# "Azure's pricing is worse for X" is still a negative claim; "slow" in "slow queries in
# BigQuery can be tuned with…" is not a claim about the provider: weak words need a
# judging construction.
_WEAK_NEGATIVE = re.compile(r"^(?:bad|poor|slow|worse|broken|outdated|toy)$", _F)
_JUDGING = re.compile(
    r"\b(?:is|are|was|were|'s|feels?|looks?|seems?|remains?|stays?|much|far|way|so|really|just|simply|notoriously|"
    r"famously|known\s+for|than\s+aws|than\s+amazon|compared\s+(?:to|with)\s+aws)\b",
    _F,
)
_GATE_OUTPUT_FUTURE = (
    "will",
    "soon",
    "plan",
    "intend",
    "expected",
    "scheduled",
    "slated",
    "roadmap",
    "pipeline",
    "works",
    "quarter",
    "upcoming",
    "refund",
    "credit",
    "reimburs",
    "waive",
    "guarantee",
    "promise",
)
_GATE_COMPETITOR = (
    "azure",
    "google",
    "gcp",
    "oracle",
    "oci",
    "ibm",
    "alibaba",
    "aliyun",
    "digitalocean",
    "digital ocean",
    "linode",
    "akamai",
    "vultr",
    "hetzner",
    "ovh",
    "cloudflare",
    "heroku",
    "vercel",
    "netlify",
    "tencent",
    "huawei",
    "rackspace",
    "backblaze",
    "wasabi",
    "snowflake",
    "bigquery",
    "cosmos",
    "firebase",
)


def _output_hits(text: str, lowered: str) -> Iterator[_Hit]:
    if _any_in(lowered, _GATE_OUTPUT_FUTURE):
        if not re.search(
            r"deprecat|end\s+of\s+(?:life|support)|no\s+longer\s+(?:be\s+)?(?:supported|updat)",
            text,
            _F,
        ) or re.search(r"will\s+be\s+(?:released|launched)|coming\s+soon|we\s+plan", text, _F):
            for match in _FUTURE_COMMITMENT.finditer(text):
                yield "future_commitment.release", match.start(), match.end()
        for match in _REFUND_PROMISE.finditer(text):
            yield "future_commitment.refund", match.start(), match.end()
    if _any_in(lowered, _GATE_COMPETITOR):
        for match in _DISPARAGE.finditer(text):
            span = match.group()
            negatives = re.findall(rf"\b{_NEGATIVE}\b", span, _F)
            if (
                negatives
                and all(_WEAK_NEGATIVE.match(n) for n in negatives)
                and not _JUDGING.search(span)
            ):
                continue
            yield "competitor_disparagement.negative_claim", match.start(), match.end()


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
    return _scan_output(text, True)


def _scan_output(text: str, gated: bool) -> GuardrailVerdict:
    view = normalize(text)
    lowered = view.text.lower()
    findings = _to_findings(_scan_secrets_and_pii(view, lowered, gated), view, output=True)
    findings.extend(_to_findings(_output_hits(view.text, lowered), view))
    findings.sort(key=lambda f: (f.start, f.end, f.rule_id))
    return _verdict(text, findings)
