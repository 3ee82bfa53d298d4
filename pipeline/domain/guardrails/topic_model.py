"""Learned heads for the refusal categories of the input guardrail.

The catalogue's patterns for ``credential_request``, ``future_features`` and
``prompt_attack`` are precise but list phrasings; customers paraphrase, switch language and
wrap requests in stories. Three binary heads over word and character n-grams
(:func:`pipeline.domain.textfeatures.ngram_features`), trained by
``python -m evals.train_guardrail_heads`` on the input set's ``train`` split (blind-written
training batches included) and thresholded on ``dev`` so that each keeps its false blocks of
allowed messages within a budget, add a finding when a pattern did not.

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


#: Identifiers: a run of hex digits (8+, two digits or more: a request id, a UUID's groups, an
#: instance id, a hash), or a longer run (12+) of letters and digits whose digits are not all
#: leetspeak's letter stand-ins (0 1 3 4 5 7: "1n57rucc10n35" is a word, "e2qwr9uhapomq8" is
#: not). They are random: a head that read their character n-grams once blocked "RequestId:
#: 6c7b…" as a prompt attack. Words with a year ("summer2019") are not identifiers.
_ALNUM_RUN_RE = re.compile(r"[a-z0-9]{8,}")
_UUID_RE = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")
_HEX_RE = re.compile(r"[0-9a-f]+")
_DIGIT_RE = re.compile(r"\d")
_LEET_DIGITS = frozenset("013457")


def _is_identifier(run: str) -> bool:
    digits = _DIGIT_RE.findall(run)
    if len(digits) < 2 or len(digits) == len(run):
        return False
    if _HEX_RE.fullmatch(run):
        return True
    return len(run) >= 12 and not set(digits) <= _LEET_DIGITS


def without_identifiers(view: str) -> str:
    """``view`` with identifier-like runs blanked (same length: offsets stay valid)."""
    if "-" in view:
        view = _UUID_RE.sub(lambda m: " " * len(m.group()), view)
    return _ALNUM_RUN_RE.sub(lambda m: " " * len(m.group()) if _is_identifier(m.group()) else m.group(), view)


def refusal_view(lowered: str) -> str | None:
    """What the refusal heads read: :func:`head_view` without identifiers."""
    view = head_view(lowered)
    return None if view is None else without_identifiers(view)


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


def head_view(lowered: str) -> str | None:
    """What the heads read of a lower-cased message, or None when they abstain (too short)."""
    view = lowered[:MAX_CHARS]
    if _may_hold_placeholder_setting(view):
        view = _PLACEHOLDER_SETTING_RE.sub(" ", view)
    if _CJK_RE.search(view) is None:
        return view if _has_words(view, MIN_WORDS) else None
    cjk = len(_CJK_RE.findall(view))
    words = count_words(_CJK_RE.sub(" ", view)) + cjk / 2
    return view if words >= MIN_WORDS else None


def topic_features(lowered: str) -> set[str]:
    """The features the heads read, from the guardrail's lower-cased matching view (an
    empty set when the heads abstain: a head never says yes without features)."""
    view = refusal_view(lowered)
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


def learned_rule_ids(lowered: str, already: frozenset[str] = frozenset()) -> list[str]:
    """The ``<category>.learned`` rule ids whose head says yes, skipping categories in ``already``."""
    heads = load_heads()
    if all(h.name in already for h in heads):
        return []
    view = refusal_view(lowered)
    if view is None:
        return []  # no features: a head never says yes without them
    decisions = _bank(heads).decisions_for_words(WORD_RE.findall(view), already)
    return [HEAD_RULES[h.name] for h, yes in zip(heads, decisions, strict=True) if yes]
