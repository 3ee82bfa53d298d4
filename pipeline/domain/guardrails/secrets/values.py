"""What the secret detectors share about values: the words that end a sentence rather than
name a value, the shape of a masked key and of the next key of a listing, and the judgement
whether a value reads like a password (used for prose, flags, table cells and decoded
``user:password`` pairs alike)."""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.domain.guardrails.common import is_placeholder

#: Eight identical characters never occur in a real (random) key body, an access key's base32
#: or a prefixed token's tail; a mask does ("AKIAXXXXXXXXXXXXXXXX").
MASKED_RUN = re.compile(r"(.)\1{7}")


#: An unquoted "value" that is a bare word ending in a colon is the next key of a key/value
#: listing, not a value (and a flood of "password: " makes no finding per repetition).
NEXT_KEY = re.compile(r"[A-Za-z_][A-Za-z_.\-]{0,40}:")


#: Words that stand after a password word in a sentence without being its value ("the
#: password is incorrect", "a senha está errada"), in the languages the prose rules read.
PROSE_STOPWORDS = frozenset(
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


# Pure functions of a value, remembered (bounded): a pasted log or config repeats its values.
@lru_cache(maxsize=4096)
def looks_like_password(value: str, quoted: bool) -> bool:
    """Heuristic: does a prose value look like a real password rather than a word?"""
    value = value.rstrip(".,!?;:)")
    if len(value) < 4 or is_placeholder(value):
        return False
    lowered = value.lower()
    if lowered in PROSE_STOPWORDS:
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


#: A stored password *hash* is one of the "other hashes" and never a secret (GUIDE §3.1,
#: decisions v2.5), whatever field holds it: a bare SHA-256 / SHA-512 hex digest (Pi-hole's
#: ``WEBPASSWORD``, a hashed admin password in an app's settings), MySQL's ``*`` + 40 hex, an
#: LDAP ``{SSHA}…`` userPassword. (crypt and SCRAM forms are placeholders for every rule.) A
#: 32- or 40-hex value stays a password: ``openssl rand -hex 16`` makes passwords like that.
PASSWORD_HASH = re.compile(
    r"[0-9a-f]{64}|[0-9A-F]{64}|[0-9a-f]{128}|[0-9A-F]{128}|\*[0-9A-F]{40}"
    r"|\{(?:SSHA|SHA|SSHA256|SSHA512|SHA256|SHA512|SMD5|MD5|CRYPT|PBKDF2[\w-]*|ARGON2)\}[A-Za-z0-9+/=$.]{8,}",
    re.IGNORECASE,
)

#: A lookup table or file a setting names ("hash:/etc/postfix/sasl_passwd", "lmdb:/…",
#: "file:/…"): where the passwords are kept, not one.
TABLE_REFERENCE = re.compile(r"[a-z][a-z0-9+]{1,15}:/\S*")


#: A Bitnami SealedSecret's ``encryptedData`` (``kubeseal`` writes YAML or JSON): each value
#: under it is ciphertext sealed to the controller's public key, made to be committed to a
#: public repository; nobody can act as the customer with it (GUIDE §3.1: base64 that is
#: visibly data). The values of a plain Kubernetes Secret's ``data:`` stay secrets (base64 is
#: no encryption).
_SEALED_YAML = re.compile(r"(?m)^([ \t]*)encryptedData:[ \t]*\r?$")
_SEALED_JSON = re.compile(r"\"encryptedData\"[ \t]*:[ \t]*\{[^{}]{0,65536}\}")
_INDENT = re.compile(r"[ \t]*")


def sealed_regions(text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` holding a SealedSecret's ``encryptedData`` values (linear: each
    line is read once; nested or repeated keys inside a region are skipped)."""
    if "encryptedData" not in text:
        return []
    regions: list[tuple[int, int]] = [match.span() for match in _SEALED_JSON.finditer(text)]
    reached = 0
    for match in _SEALED_YAML.finditer(text):
        if match.start() < reached:
            continue
        indent = len(match.group(1))
        end = position = match.end()  # at the line's newline, or the end of the text
        while position < len(text):
            line_start = position + 1
            line_end = text.find("\n", line_start)
            line_end = len(text) if line_end < 0 else line_end
            line = text[line_start:line_end]
            if line.strip():
                if len(_INDENT.match(line).group()) <= indent:
                    break  # back at the key's level: the mapping has ended
                end = line_end
            position = line_end
        regions.append((match.start(), end))
        reached = end
    regions.sort()
    return regions
