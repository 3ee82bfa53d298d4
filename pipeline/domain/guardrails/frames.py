"""Frames: a request recognised by meaning, as slots of per-language lexicons.

A credential request is not one phrasing but a combination: an *act* (give, send, tell,
guess, crack, phish…), a credential *object* (a password, an access key, an MFA code…) and
*whose* it is (a colleague's, a customer's, every IAM user's) or the assistant as its source
("email it to me"). Writing that combination once per language as a regular expression is
what did not reach new authors; a frame states it once, and each language adds words.

A frame file (``catalogue/frames/<name>.toml``) holds the *slots*: for each slot, a list of
terms per language (validated on load: known languages only, lower-case, no duplicates). A
term is a literal *stem*, matched at the start of a word in scripts that space their words
("colleg" finds "colleague" and "collègue"), anywhere in Chinese, Japanese, Korean, Thai
and Arabic (no spaces between words, or prefixes glued to them); a space matches any white
space; a trailing ``$`` asks for the end of the word ("ex$" is not "export"). Terms are
folded into the guardrail's matching view like every catalogue pattern (accents dropped,
Cyrillic look-alikes mapped), so they are written in the natural script.

The file's ``[[frames]]`` combine slots: ``require`` (every slot must occur near an
*object* hit, inside its sentence and within ``reach`` characters of it), ``forbid`` (no
such slot in that span: "without giving him my password", "how do I"), ``forbid_text`` (no
such slot anywhere: a defensive question about how attackers steal keys). A catalogue rule
runs a frame with ``detector = "frame"`` and ``params = {frames = "<file>", frame = "<id>"}``;
its anchor is the object slot (``<<slot:<file>.object>>``), which every hit contains.

Sentences come from :mod:`.clauses` (bounded length). The detector judges the engine's windows
around the anchor hits (``window = [400, 400]`` covers a frame's reach), each at its first
:data:`MAX_OBJECT_HITS` pivot hits, so the cost is linear in the text; ``forbid_text`` is
therefore "anywhere in the window", i.e. within a few hundred characters of the request.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.domain.guardrails.catalogue import (
    CATALOGUE_DIR,
    CatalogueError,
    RuleSpec,
    fold_pattern,
    read_toml,
)
from pipeline.domain.guardrails.clauses import MAX_SENTENCE, sentence_spans
from pipeline.domain.guardrails.engine import Hit, Window, lowered_view

try:  # pragma: no cover - exercised by whichever environment runs the tests
    import re2 as _re2
except ImportError:  # pragma: no cover
    _re2 = None

FRAME_DIR = "frames"
#: The languages a slot may list terms for. Danish, Norwegian, Finnish and Hungarian were missing:
#: their requests could not be written into any frame, whatever the words.
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "pl", "ru", "uk", "tr", "ar", "hi", "id", "vi",
             "ja", "zh", "ko", "cs", "sv", "ro", "el", "he", "th", "da", "no", "fi", "hu")
#: How many object hits of one text are judged (a text repeating "password" 10,000 times
#: costs no more than a few).
MAX_OBJECT_HITS = 48
#: How close a ``forbid_near`` slot must be to the pivot to count.
NEAR = 40
# Scripts whose words are not separated by spaces, or take glued prefixes: no word boundary.
_UNSPACED_RANGES = r"\u0600-\u06ff\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff66-\uff9f"
_UNSPACED = re.compile(f"[{_UNSPACED_RANGES}]")
_SLOT_NAME = re.compile(r"[a-z_]+")
_WORD_START = re.compile(r"\w")
#: "Not inside a word" before a term: a letter of an unspaced script may precede a Latin
#: term glued to it ("ルートユーザーのmfaコード", "هذا الـmfa").
_NOT_AFTER_WORD = rf"(?<![^\W{_UNSPACED_RANGES}])"


@dataclass(frozen=True)
class Frame:
    """One combination of slots (see the module docstring)."""

    frame_id: str
    require: tuple[str, ...]
    forbid: tuple[str, ...]
    forbid_text: tuple[str, ...]
    reach: int
    #: The slot whose hits the frame is judged around (the rule's anchor).
    pivot: str = "object"
    #: Judged inside the pivot's sentence (False: within ``reach`` only, across sentences:
    #: "I lost my secret key. Could support email it to me?").
    sentence: bool = True
    #: Forbidden within :data:`NEAR` characters of the pivot only ("password policy").
    forbid_near: tuple[str, ...] = ()
    #: Forbidden before the pivot only ("how do I … the password"; "… credentials, and how
    #: do I use them" is still a request).
    forbid_before: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameFile:
    """The slots (compiled, over the lower-cased matching view) and frames of one file."""

    name: str
    slots: dict[str, re.Pattern[str]]
    literals: dict[str, tuple[str, ...]]
    frames: dict[str, Frame]
    #: Per slot, the plain alternation of its terms (no word boundaries: a superset of the
    #: slot's matches, found fast; RE2 when installed, the same leftmost-first matches).
    candidates: dict[str, object]

    def search(self, slot: str, text: str, lo: int = 0, hi: int | None = None) -> bool:
        """Whether the slot occurs in ``text[lo:hi]`` (the candidate pass, then confirmed)."""
        hi = len(text) if hi is None else hi
        confirm = self.slots[slot].match
        for candidate in self.candidates[slot].finditer(text, lo, hi):  # type: ignore[attr-defined]
            if confirm(text, candidate.start(), hi) is not None:
                return True
        return False

    def finditer(self, slot: str, text: str) -> Iterator[re.Match[str]]:
        """The slot's matches in ``text``: a fast pass over its plain terms, each candidate
        confirmed by the slot's pattern at the same position (word boundaries included)."""
        confirm = self.slots[slot].match
        for candidate in self.candidates[slot].finditer(text):  # type: ignore[attr-defined]
            found = confirm(text, candidate.start())
            if found is not None:
                yield found

    def anchor(self, slot: str) -> str:
        """The slot's terms as an anchor (lower-cased literals, folded into the view)."""
        ordered = sorted(set(self.literals[slot]), key=lambda t: (-len(t), t))
        return fold_pattern("|".join(_anchor_literal(t) for t in ordered))


def _anchor_literal(term: str) -> str:
    body = term.rstrip("$").replace(" ", "\x00")
    escaped = re.sub(r"[.^$*+?()\[\]{}|\\]", lambda m: "\\" + m.group(), body)
    return escaped.replace("\x00", " ")


def _term_pattern(term: str) -> str:
    end = term.endswith("$")
    body = term[:-1] if end else term
    source = r"\s+".join(re.escape(part) for part in body.split(" "))
    # A word start is asked of terms that begin with a letter or digit: punctuation such as
    # "?" or "？" follows the word it ends ("…next year?").
    if _WORD_START.match(body) and not _UNSPACED.match(body):
        source = _NOT_AFTER_WORD + source
    if end:
        source += r"(?!\w)"
    return source


def _plain_pattern(term: str) -> str:
    """A term without its word boundaries (the candidate pass of :meth:`FrameFile.finditer`)."""
    body = term[:-1] if term.endswith("$") else term
    return r"\s+".join(re.escape(part) for part in body.split(" "))


def _fail(path: Path, where: str, problem: str) -> CatalogueError:
    return CatalogueError(f"{FRAME_DIR}/{path.name}, {where}: {problem}")


def load_frame_file(path: Path) -> FrameFile:
    """One frame file, validated (errors name the file, the slot or frame and the problem)."""
    data = read_toml(path)
    if data.get("version") != 2:
        raise _fail(path, "file", "'version' must be 2")
    raw_slots = data.get("slots")
    if not isinstance(raw_slots, dict) or not raw_slots:
        raise _fail(path, "file", "needs [slots]")
    slots: dict[str, re.Pattern[str]] = {}
    literals: dict[str, tuple[str, ...]] = {}
    candidates: dict[str, object] = {}
    for slot, by_language in raw_slots.items():
        if not _SLOT_NAME.fullmatch(slot) or not isinstance(by_language, dict):
            raise _fail(path, f"slot {slot!r}", "a slot is a table of languages")
        terms: list[str] = []
        for language, words in by_language.items():
            seen: set[str] = set()  # a word may belong to several languages ("cliente")
            if language == "description":
                continue
            if language not in LANGUAGES:
                raise _fail(path, f"slot {slot!r}", f"unknown language {language!r} (one of {LANGUAGES})")
            if not isinstance(words, list) or not words:
                raise _fail(path, f"slot {slot!r}.{language}", "a non-empty list of terms")
            for word in words:
                if (not isinstance(word, str) or not word.strip() or word != " ".join(word.split())
                        or word != word.lower() or "$" in word[:-1]):
                    raise _fail(path, f"slot {slot!r}.{language}", f"bad term {word!r} (lower-case, single spaces)")
                if word in seen:
                    raise _fail(path, f"slot {slot!r}.{language}", f"duplicate term {word!r}")
                seen.add(word)
                terms.append(word)
        if not terms:
            raise _fail(path, f"slot {slot!r}", "no terms")
        ordered = sorted(set(terms), key=lambda t: (-len(t), t))
        source = fold_pattern("(?:" + "|".join(_term_pattern(t) for t in ordered) + ")")
        slots[slot] = re.compile(source)
        literals[slot] = tuple(terms)
        plain = fold_pattern("(?:" + "|".join(_plain_pattern(t) for t in ordered) + ")")
        candidates[slot] = _re2.compile(plain) if _re2 is not None else re.compile(plain)
    frames: dict[str, Frame] = {}
    for index, raw in enumerate(data.get("frames", [])):
        frame_id = raw.get("id") if isinstance(raw.get("id"), str) else f"#{index + 1}"
        unknown = set(raw) - {"id", "require", "forbid", "forbid_text", "forbid_near", "forbid_before", "reach",
                              "pivot", "sentence", "description"}
        if unknown:
            raise _fail(path, f"frame {frame_id!r}", f"unknown keys {sorted(unknown)}")
        lists = {}
        for key in ("require", "forbid", "forbid_text", "forbid_near", "forbid_before"):
            value = raw.get(key, [])
            if not isinstance(value, list) or any(v not in slots for v in value):
                raise _fail(path, f"frame {frame_id!r}", f"'{key}' must list slots of this file")
            lists[key] = tuple(value)
        reach = raw.get("reach", 160)
        if not isinstance(reach, int) or not 0 < reach <= 600:
            raise _fail(path, f"frame {frame_id!r}", "'reach' must be 1..600")
        pivot = raw.get("pivot", "object")
        if pivot not in slots or pivot not in lists["require"]:
            raise _fail(path, f"frame {frame_id!r}", "'pivot' must be a required slot of this file")
        sentence = raw.get("sentence", True)
        if not isinstance(sentence, bool):
            raise _fail(path, f"frame {frame_id!r}", "'sentence' must be true or false")
        frames[frame_id] = Frame(frame_id, lists["require"], lists["forbid"], lists["forbid_text"], reach, pivot,
                                 sentence, lists["forbid_near"], lists["forbid_before"])
    if not frames:
        raise _fail(path, "file", "no [[frames]]")
    return FrameFile(path.stem, slots, literals, frames, candidates)


@lru_cache(maxsize=8)
def frame_file(name: str, directory: str = str(CATALOGUE_DIR)) -> FrameFile:
    """The frame file ``<directory>/frames/<name>.toml`` (loaded once)."""
    path = Path(directory) / FRAME_DIR / f"{name}.toml"
    if not path.is_file():
        raise CatalogueError(f"{FRAME_DIR}/{name}.toml: no such frame file")
    return load_frame_file(path)


#: A line of at most this many words, with no closing mark, is a fragment of the next line's
#: sentence ("need\nthe\nroot\nrecovery codes\nfor acct …" typed one word per line on a phone).
FRAGMENT_WORDS = 2
_FRAGMENT_CHARS = 40
_CLOSED = tuple(".!?:;。！？")


def _is_fragment(text: str, lo: int, hi: int) -> bool:
    if hi - lo > _FRAGMENT_CHARS or text[hi - 1:hi] != "\n":
        return False
    line = text[lo:hi].strip()
    return 0 < len(line.split()) <= FRAGMENT_WORDS and not line.endswith(_CLOSED)


def _sentence_around(text: str, starts: Sequence[int], ends: Sequence[int], k: int) -> tuple[int, int]:
    """Sentence ``k`` joined with the short unclosed lines before it (and after it, when it is
    one itself): a request written one word per line is one sentence. Only the lines next to
    the pivot are read, at most :data:`clauses.MAX_SENTENCE` characters: linear."""
    first = k
    while first > 0 and ends[k] - starts[first - 1] <= MAX_SENTENCE and _is_fragment(text, starts[first - 1], ends[first - 1]):
        first -= 1
    last = k
    while (last + 1 < len(starts) and ends[last + 1] - starts[first] <= MAX_SENTENCE
           and _is_fragment(text, starts[last], ends[last])):
        last += 1
    return starts[first], ends[last]


def frame_hits(frames: FrameFile, frame: Frame, lowered: str) -> Iterator[tuple[int, int]]:
    """Spans of the object hits of ``lowered`` around which ``frame`` holds."""
    for slot in frame.forbid_text:
        if frames.search(slot, lowered):
            return
    starts, ends = sentence_spans(lowered, cjk_stops=False)
    size = len(lowered)
    judged = 0
    for match in frames.finditer(frame.pivot, lowered):
        judged += 1
        if judged > MAX_OBJECT_HITS:
            return
        start, end = match.span()
        if frame.sentence:
            k = bisect_right(starts, start) - 1
            s_lo, s_hi = _sentence_around(lowered, starts, ends, k) if k >= 0 else (0, size)
        else:
            s_lo, s_hi = 0, size
        lo = max(s_lo, start - frame.reach)
        hi = min(max(s_hi, end), end + frame.reach)
        search = frames.search
        if not all(search(s, lowered, lo, hi) for s in frame.require if s != frame.pivot):
            continue
        if any(search(s, lowered, lo, hi) for s in frame.forbid):
            continue
        if any(search(s, lowered, max(lo, start - NEAR), min(hi, end + NEAR)) for s in frame.forbid_near):
            continue
        if any(search(s, lowered, lo, end) for s in frame.forbid_before):
            continue
        yield start, end


def frame_detector(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A catalogue rule that runs a frame (``params = {frames, frame}``) inside the engine's
    windows around its anchor (the pivot slot's literals): each window is judged as a text of
    its own, so the cost is linear in the windows, whatever the length of the message. The
    rule's ``window`` must cover the frame's ``reach`` (checked by the catalogue tests)."""
    frames = frame_file(spec.params["frames"])
    frame = frames.frames[spec.params["frame"]]
    lowered = lowered_view(text)
    seen: set[tuple[int, int]] = set()
    for lo, hi in windows:
        for start, end in frame_hits(frames, frame, lowered[lo:hi]):
            span = (lo + start, lo + end)
            if span not in seen:
                seen.add(span)
                yield spec.rule_id, span[0], span[1]
