"""Learned heads for the refusal categories of the input guardrail.

The catalogue's patterns for ``credential_request``, ``future_features`` and
``prompt_attack`` are precise but list phrasings; customers paraphrase, switch language and
wrap requests in stories. Three binary heads over word and character n-grams
(:func:`pipeline.domain.textfeatures.ngram_features`), trained by
``python -m evals.train_guardrail_heads`` on the input set's ``train`` split (blind-written
training batches included) and thresholded on ``dev`` and the ``train`` cases scored out of
fold (folds holding whole batches) so that each keeps its false blocks of allowed messages
within a budget, add a finding when a pattern did not.

A learned finding has an empty span: it says the message as a whole is a refusal, and
masks nothing (the redacted text of a blocked message keeps its words for review).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pipeline.domain.textfeatures import (
    WORD_RE,
    BinaryHead,
    HeadBank,
    load_head_file,
    ngram_features,
)

MODEL_PATH = Path(__file__).resolve().parent / "topic_model.json"
FORMAT = "guardrail-topic-heads-v1"
#: The categories a head may add, and the catalogue rule each one reports.
HEAD_RULES = {
    "credential_request": "credential_request.learned",
    "future_features": "future_features.learned",
    "prompt_attack": "prompt_attack.learned",
}
#: Features are read from the start of a message (a pasted 100 KB log adds cost, not meaning).
MAX_CHARS = 5000
#: A head judges a message of at least this many words (a CJK character counts as half a
#: word). Its score is an average over the features present, so two or three words are
#: too little evidence: "and" alone or "when s3" scored as refusals. Short refusals are the
#: patterns' job; paraphrases, which the heads exist for, are longer.
MIN_WORDS = 4
#: A word has a letter: "0000" and a uuid's parts are not. Counted as the runs of word
#: characters holding a letter, which is what ``findall(r"\w*[^\W\d_]\w*")`` counts, in
#: linear time (that pattern retries every position of a letterless run: quadratic on
#: 5,000 underscores or digits).
_WORD_RUN_RE = re.compile(r"\w+")
_LETTER_RE = re.compile(r"[^\W\d_]")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
#: ``password: ${DB_PASSWORD}``, ``secret=$SECRET``, ``Master password: ********``,
#: ``token: <your-token>``, ``DB_PASSWORD=os.environ['DB_PASSWORD']``, ``{{resolve:secretsmanager:…}}``:
#: a pasted setting whose value is a placeholder, a mask or a reference to where the value
#: lives is data, not a request, and is left out of what the heads read.
_PLACEHOLDER_SETTING_RE = re.compile(
    r"(?<![\w.-])[\w.-]{1,64}[\"']?\s*[:=]\s*[\"']?(?:\$\{[^}\s]{1,64}\}|\$\(?[a-z_][\w]{0,63}\)?|\*{3,}|<[^<>\n]{1,64}>|os\.environ(?:\.get)?[\[(][^\])\n]{1,64}[\])]|(?:os\.|system\.)?getenv\([^)\n]{1,64}\)|process\.env\.\w{1,64}|env\[[^\]\n]{1,64}\]|\{\{\s*resolve:[^}\n]{1,128}\}\})[\"']?"
)


#: Identifiers are never evidence: they are random, and a head that read their character
#: n-grams once blocked "RequestId: 6c7b…" and a CloudFront distribution id as prompt attacks.
#: The heads read each identifier as blank space (same length: offsets stay valid). An
#: identifier is one of:
#:
#: * a UUID, or an ARN's resource part (``arn:aws:secretsmanager:…:secret:prod/db-password-AbC1``:
#:   the customer's names for their resources, which may hold any word; the service stays);
#: * a run of 8+ letters and digits that is all digits (an account id, a timestamp) or hex
#:   with a digit (a request id, an ETag, an instance id, a hash);
#: * a run of 10+ with a digit written in capitals (a CloudFront distribution id, a support
#:   case id), or of 12+ with a digit in mixed case;
#: * a lower-case run of 12+ with a digit, unless it reads as leetspeak (its digits are all
#:   letter stand-ins, 0 1 3 4 5 7, and a quarter of it or more: "1n57rucc10n35" is a word the
#:   prompt_attack head must read, "e2qwr9uhapomq8" is not);
#: * a base64 run (16+ of letters, digits, ``+`` and ``/``, in the message's own case) with
#:   both cases that is not a name or a path of words (:func:`_is_base64`).
#:
#: Words with a year or a version ("summer2019", "windows10") are not identifiers. An
#: identifier of one case and no digit ("EXAMPLEDISTID") cannot be told from a shouted word.
#: A run, and the part number after it (a multipart ETag's "-12"), read with it.
_ALNUM_RUN_RE = re.compile(r"([a-z0-9]{8,})(?:-[0-9]{1,6}(?![a-z0-9]))?")
_UUID_RE = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")
_ARN_RESOURCE_RE = re.compile(r"\barn:aws[a-z-]{0,16}:[a-z0-9-]{0,32}:[a-z0-9-]{0,32}:[0-9]{0,12}:([^\s\"'`,;<>(){}\[\]]{1,512})")
_BASE64_RE = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}")
_BASE64_PIECE_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+|[0-9]+|/")
_HEX_RE = re.compile(r"[0-9a-f]+")
_DIGIT_RE = re.compile(r"\d")
_LEET_DIGITS = frozenset("013457")


def _is_identifier(run: str, cased: str) -> bool:
    """Whether an alphanumeric run (lower-cased; ``cased`` is the same run as written) is an identifier."""
    digits = _DIGIT_RE.findall(run)
    if not digits:
        return False
    if len(digits) == len(run) or _HEX_RE.fullmatch(run):
        return True
    if cased.isupper():
        return len(run) >= 10
    if not cased.islower():
        return len(run) >= 12
    leetspeak = set(digits) <= _LEET_DIGITS and len(digits) * 4 >= len(run)
    return len(run) >= 12 and not leetspeak


def _is_base64(run: str) -> bool:
    """Random base64: both cases, and ``=`` padding, a ``+``, or pieces (a capital and the small
    letters after it, capitals, digits, a slash) 3.5 characters long or less on average (random
    base64: about 2; "ConfirmForgotPassword", "Ec2InstanceProfile", "Users/Admin/Documents": 4.4-7)."""
    body = run.rstrip("=")
    if body.islower() or body.isupper() or not any(ch.isupper() for ch in body) or not any(ch.islower() for ch in body):
        return False
    if body != run or "+" in body:
        return True  # padding or a plus: no name or path has them
    return len(body) <= 3.5 * len(_BASE64_PIECE_RE.findall(body))


def _blank(view: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return view
    chars = list(view)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def without_identifiers(view: str, cased: str | None = None) -> str:
    """``view`` (lower-cased) with identifiers blanked (same length: offsets stay valid).

    ``cased``: the same text as written (``view`` is its :func:`lowered_view`), which tells a
    capitalised or base64 identifier from a word; without it every run is read as lower case."""
    if cased is None or len(cased) < len(view):
        cased = view
    spans: list[tuple[int, int]] = []
    if "arn:" in view:
        spans.extend(m.span(1) for m in _ARN_RESOURCE_RE.finditer(view))
    if "-" in view:
        spans.extend(m.span() for m in _UUID_RE.finditer(view))
    if cased is not view:
        spans.extend(m.span() for m in _BASE64_RE.finditer(cased, 0, len(view)) if _is_base64(m.group()))
    view = _blank(view, spans)
    return _ALNUM_RUN_RE.sub(
        lambda m: " " * len(m.group()) if _is_identifier(m.group(1), cased[m.start():m.end(1)]) else m.group(), view)


def count_words(text: str) -> int:
    """The number of words (runs of word characters with a letter) in ``text``."""
    has_letter = _LETTER_RE.search
    return sum(1 for run in _WORD_RUN_RE.findall(text) if has_letter(run))


def _has_words(text: str, wanted: int) -> bool:
    """``count_words(text) >= wanted``, stopping at the ``wanted``-th word."""
    has_letter = _LETTER_RE.search
    found = 0
    for run in _WORD_RUN_RE.finditer(text):
        if has_letter(run.group()):
            found += 1
            if found >= wanted:
                return True
    return found >= wanted


def _may_hold_placeholder_setting(view: str) -> bool:
    """False when :data:`_PLACEHOLDER_SETTING_RE` cannot match ``view``: every match has a
    ``:`` or ``=`` and a value starting with ``$``, ``***``, ``<``, ``{{`` or naming the
    environment (``os.environ``, ``getenv(``, ``process.env.``, ``env[``: all hold ``env``)."""
    return (":" in view or "=" in view) and (
        "$" in view or "*" in view or "<" in view or "env" in view or "{{" in view
    )


def _readable(lowered: str) -> str:
    """The part of a lower-cased message the heads read: its start, without placeholder settings."""
    view = lowered[:MAX_CHARS]
    if _may_hold_placeholder_setting(view):
        view = _PLACEHOLDER_SETTING_RE.sub(lambda m: " " * len(m.group()), view)  # same length: offsets stay valid
    return view


def _long_enough(view: str) -> bool:
    """Whether ``view`` holds :data:`MIN_WORDS` words (a CJK character counts as half a word)."""
    if _CJK_RE.search(view) is None:
        return _has_words(view, MIN_WORDS)
    cjk = len(_CJK_RE.findall(view))
    return count_words(_CJK_RE.sub(" ", view)) + cjk / 2 >= MIN_WORDS


def head_view(lowered: str) -> str | None:
    """What the heads read of a lower-cased message, or None when they abstain (too short)."""
    view = _readable(lowered)
    return view if _long_enough(view) else None


def refusal_view(lowered: str, cased: str | None = None) -> str | None:
    """What the refusal heads read: :func:`head_view` without identifiers, which do not count
    as words either (``cased``: the message as written, same length as ``lowered``; see
    :func:`without_identifiers`)."""
    view = without_identifiers(_readable(lowered), cased)
    return view if _long_enough(view) else None


def topic_features(lowered: str, cased: str | None = None) -> set[str]:
    """The features the heads read, from the guardrail's lower-cased matching view (an
    empty set when the heads abstain: a head never says yes without features); ``cased``:
    the matching view before lower-casing (:func:`without_identifiers`)."""
    view = refusal_view(lowered, cased)
    return set() if view is None else ngram_features(view, WORD_RE.findall(view))


@lru_cache(maxsize=4)
def load_heads(path: str = str(MODEL_PATH)) -> tuple[BinaryHead, ...]:
    """The heads shipped with the package (validated; a malformed file is an error)."""
    return load_head_file(path, FORMAT, HEAD_RULES, "evals.train_guardrail_heads")


_BANK: list[HeadBank] = []  # the bank of the heads last loaded


def _bank(heads: tuple[BinaryHead, ...]) -> HeadBank:
    if not _BANK or _BANK[0].heads is not heads:
        _BANK[:] = [HeadBank(heads)]
    return _BANK[0]


def learned_rule_ids(lowered: str, already: frozenset[str] = frozenset(), cased: str | None = None) -> list[str]:
    """The ``<category>.learned`` rule ids whose head says yes, skipping categories in ``already``
    (``cased``: the matching view before lower-casing)."""
    heads = load_heads()
    if all(h.name in already for h in heads):
        return []
    view = refusal_view(lowered, cased)
    if view is None:
        return []  # no features: a head never says yes without them
    decisions = _bank(heads).decisions_for_words(WORD_RE.findall(view), already)
    return [HEAD_RULES[h.name] for h, yes in zip(heads, decisions, strict=True) if yes]
