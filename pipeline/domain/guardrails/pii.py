"""PII detectors: the code behind the rules of ``catalogue/pii.toml`` (checksums, exceptions)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from pipeline.domain.guardrails.catalogue import RuleSpec
from pipeline.domain.guardrails.engine import Hit, Window, finditer_windows

_DOC_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", ".example", ".invalid", ".test", "localhost")
_SYSTEM_USERS = frozenset({"git", "ec2-user", "ubuntu", "centos", "bitnami", "fedora", "admin@ip", "hadoop"})
_AWS_ROLE_MAILBOXES = frozenset(
    """abuse aws-security no-reply noreply no-reply-aws aws-verification aws-receivables-support
    aws-marketing-email-replies security awsmarketplace aws-billing""".split()
)
_LOCAL_SPLIT = re.compile(r"[.\-_+]")
_VERSION_LIKE = re.compile(r"\d+\.\d+(?:\.\d+)*")
#: Role mailboxes on a company domain are not a person's data (GUIDE §3.2): the local part
#: starts with a role word ("ops-lead@", "security.alerts@", "seguranca@"). On a free-mail
#: domain an address is a person's whatever its first word.
_ROLE_WORDS = frozenset(
    """support security ops devops sre oncall on-call alerts alert alarms monitoring noc soc it helpdesk
    servicedesk admin administrator billing finance accounts invoices payments info contact hello sales
    team platform infra infrastructure cloud aws engineering dev developers webmaster postmaster
    hostmaster abuse privacy legal compliance hr jobs careers noreply no-reply donotreply do-not-reply
    notifications notify reports backup backups root seguranca seguridad securite sicherheit soporte
    suporte facturacion faturamento facturation rechnung
    contato contacto contatto kontakt atendimento atencion assistenza supporto fatture fattura
    fatturazione factura facturas faturas facture factures rechnungen buchhaltung contabilidad
    contabilidade comptabilite contabilita amministrazione administracion vendas ventas ventes
    vendite vertrieb pagos pagamentos paiements pagamenti zahlungen sicurezza""".split()
)
_FREE_MAIL = re.compile(
    r"(?:^|\.)(?:gmail|googlemail|yahoo|hotmail|outlook|live|msn|icloud|me|aol|proton|protonmail|gmx|web|"
    r"mail|yandex|qq|163|126|naver|daum|libero|orange|free|wanadoo|t-online|uol|bol|terra)\.[a-z.]+$"
)


def email(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        local, domain = match.group(1).lower(), match.group(2).lower()
        if domain.endswith(_DOC_EMAIL_DOMAINS) or local in _SYSTEM_USERS:
            continue
        if domain in ("amazon.com", "amazonaws.com") and local in _AWS_ROLE_MAILBOXES:
            continue
        if domain.endswith(".amazonaws.com"):
            # "user@git-codecommit.eu-west-1.amazonaws.com", "partner@s-….server.transfer…": a
            # login to an AWS endpoint (a host name, GUIDE §3.1), never a mailbox
            continue
        first_word = _LOCAL_SPLIT.split(local, maxsplit=1)[0]
        if (local in _ROLE_WORDS or first_word in _ROLE_WORDS) and not _FREE_MAIL.search(domain):
            continue
        if _VERSION_LIKE.fullmatch(domain.split(".", 1)[-1]):
            continue
        yield spec.rule_id, match.start(), match.end()


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


#: How card numbers are grouped when written with separators: fours (the last group may be
#: shorter: 19-digit cards, a 13-digit Visa), or 4-6-5 / 4-6-4 (American Express, Diners).
_CARD_GROUPINGS = frozenset({(4, 6, 5), (4, 6, 4)})


def _card_grouping(written: str) -> bool:
    """Whether a number written with spaces or dashes is grouped as a card is printed: a
    row of numbers from a log or a table ("48712 443 6 3 180" in a VPC flow log record) can
    pass the Luhn check by chance (one in ten), but is not grouped like a card."""
    groups = tuple(len(g) for g in re.split(r"[ \-]", written) if g)
    if len(groups) == 1:
        return True
    return groups in _CARD_GROUPINGS or (all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4)


def card(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        digits = match.group().replace(" ", "").replace("-", "")
        # len(set(digits)) > 1: 0000… and 4444… runs are fillers, not cards.
        if 13 <= len(digits) <= 19 and digits[0] in "3456" and _luhn_ok(digits) and len(set(digits)) > 1 \
                and _card_grouping(match.group()):
            yield spec.rule_id, match.start(), match.end()


def _zero_filled(digits: str) -> bool:
    """A number whose last six digits are all zeros is a filler ("+46 8 000 00 00" in a
    script's example contact), like the 555-01xx numbers of fiction, not a person's number."""
    return len(digits) >= 8 and digits.endswith("000000")


def phone_intl(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        digits = re.sub(r"\D", "", match.group())
        if 8 <= len(digits) <= 15 and not _zero_filled(digits):
            yield spec.rule_id, match.start(), match.end()


def _iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def iban(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    for match in finditer_windows(spec.patterns[0], text, windows):
        candidate = match.group()
        # Greedy matching may swallow a following upper-case word group: shrink until valid.
        while candidate:
            if _iban_ok(candidate):
                yield spec.rule_id, match.start(), match.start() + len(candidate)
                break
            if " " not in candidate:
                break
            candidate = candidate.rsplit(" ", 1)[0]


_VERSION = re.compile(r"\d{1,2}\.\d{1,3}\.\d+")


def counted_digits(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A named number (group ``value``) whose digit count lies in ``params`` ``min_digits``..
    ``max_digits``: "meine Handynummer ist 0171 2345678", "TC kimlik numaram 28475610340"."""
    low, high = int(spec.params.get("min_digits", 6)), int(spec.params.get("max_digits", 15))
    for pattern in spec.patterns:
        for match in finditer_windows(pattern, text, windows):
            value = match.group("value").rstrip(" .-")
            digits = sum(ch.isdigit() for ch in value)
            if _VERSION.fullmatch(value):
                continue  # "the phone app shows version 3.12.45678"
            if low <= digits <= high and len(set(value) - set(" .-/()")) > 1 \
                    and not _zero_filled(re.sub(r"\D", "", value)):
                start = match.start("value")
                yield spec.rule_id, start, start + len(value)


counted_digits.uniform_patterns = True  # type: ignore[attr-defined]


DETECTORS = {
    "pii.counted_digits": counted_digits,
    "pii.email": email,
    "pii.card": card,
    "pii.phone_intl": phone_intl,
    "pii.iban": iban,
}
