"""``completeness`` (GUIDE.md §5): every part answered, steps when asked, not cut off.

- Truncation: the last prose line stops mid-sentence (a dangling word or comma, a trailing
  colon, a sentence with no final punctuation), or the answer ends inside a code block that
  is never closed, mid-line (an open string, a key or operator with no value). An unclosed
  code fence as such is ``structure``'s.
- Steps: how-to and troubleshooting questions need a list, a command, code or imperative
  sentences; an answer that sends the reader to the documentation for the steps and gives
  no numbered step or code of its own is a non-answer.
- Coverage: every AWS service the question names, every separate ask ("… and copy it to
  another region"), and what each ask needs (a price, a duration, a number, a reason).
- Answers under 12 words to a question of 5+ words are incomplete.

An answer to a different question fails ``relevance`` only: coverage and steps are skipped.
"""

from __future__ import annotations

import re

from pipeline.domain.models import QualityCheckResult
from pipeline.domain.quality.catalogue import catalogue
from pipeline.domain.quality.parsing import WORD, ParsedResponse, snippet
from pipeline.domain.quality.scoring import Findings
from pipeline.domain.quality.text import (
    ASK_KINDS,
    ServiceIndex,
    ask_sentences,
    ask_terms,
    mentions_service,
    question_parts,
)

_CATALOGUE = catalogue()
HOWTO = _CATALOGUE.regex("completeness.howto")
TROUBLE = _CATALOGUE.regex("completeness.trouble")
SEQUENCE_WORDS = _CATALOGUE.regex("completeness.sequence_words")
_IMPERATIVE = _CATALOGUE.regex("completeness.imperative")
_TERMINAL = _CATALOGUE.regex("completeness.terminal")
_QUESTION_START = _CATALOGUE.regex("completeness.question_start")
_WHY = _CATALOGUE.regex("completeness.why")
#: CLI commands and inline code a customer pasted ("aws sts get-caller-identity shows …"): what
#: they ran, not what they ask about.
_COMMANDS = _CATALOGUE.regex("completeness.pasted_command")
#: What the customer does not want ("ideally without writing a Lambda function"): a service
#: named there is not one the answer must take up.
_NOT_WANTED = _CATALOGUE.regex("completeness.not_wanted")
_EXPLANATION = _CATALOGUE.regex("completeness.explanation")
_STEPS_DEFERRED = _CATALOGUE.regex("completeness.steps_deferred")
_NUMBERED_ITEM = re.compile(r"^\s{0,6}\d{1,2}[.)]\s+\S")
_LIST_ITEM = _CATALOGUE.regex("structure.list_item")
_ENUMERATION_MARKER = _CATALOGUE.regex("completeness.enumeration_marker")
_ENUMERATION_INTRO = _CATALOGUE.regex("completeness.enumeration_intro")
_ITEM_ASK = _CATALOGUE.regex("completeness.item_ask")
_ORDINAL = {**{str(i): i for i in range(1, 6)}, **{c: i for i, c in enumerate("abcde", start=1)},
            **{c: i for i, c in enumerate("①②③④⑤", start=1)}}
#: An enumerated ask is left out when at most this share of the words only it uses (its
#: distinctive terms: not in the other items) occur in the answer, and it has at least
#: :data:`MIN_DISTINCTIVE` of them (fewer say too little to judge by).
UNCOVERED_SHARE = 1 / 3
MIN_DISTINCTIVE = 3
_DANGLING_END = _CATALOGUE.words("dangling_end")
_ANOTHER_ASK = re.compile(
    r"^\W*(?:also|additionally|plus|separately|and also|one more (?:thing|question)|"
    r"(?:a |my )?(?:second|another|other|related|follow[- ]up) question)\b",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r",\s+(?:and|but|so|which|or|because|while|then)\s", re.IGNORECASE)
#: A list item that is a sentence, then a colon and more words ("- The split is **by client,
#: not by request**: a big resolver …"): that is prose, and prose ends with a stop. A short
#: label before the colon ("- **Option A**: use a role") is a terse item, not a sentence.
_SENTENCE_THEN_COLON = re.compile(r"^\W*(?:[^\s:]+\s+){3,}[^\s:]+:\s+(?:\*\*)?[a-z][^:]*?(?:\s\S+){3}")
_CUT_PUNCTUATION = re.compile(r"[,;(\-\u2013\u2014]\s*$")
_COMMAND_PREFIXES = ("aws ", "kubectl ", "ssh ", "sam ", "cdk ")


class CompletenessCheck:
    """Scores ``completeness``; needs the service index shared with ``relevance``."""

    def __init__(self, services: ServiceIndex) -> None:
        self._services = services

    def __call__(
        self, query: str, response: str, parsed: ParsedResponse, intent: str | None, off_topic: bool
    ) -> QualityCheckResult:
        found = Findings()
        words = len(WORD.findall(response))
        truncation = truncated(parsed)
        if truncation:
            found.errors.append(truncation)
        declining = intent == "out_of_scope"
        wants_steps = not declining and (
            bool(HOWTO.search(query))
            or bool(TROUBLE.search(query))
            or (intent or "").endswith("_troubleshooting")
        )
        if words < 12 and len(WORD.findall(query)) >= 5 and not off_topic:
            found.errors.append(f"the answer has only {words} words; it cannot answer the question")
        elif wants_steps and not off_topic:
            if words < 12:
                found.errors.append(f"the answer has only {words} words for a question that needs steps")
            elif not has_steps(parsed):
                kind = "how to do it" if HOWTO.search(query) else "how to fix it"
                found.errors.append(
                    f"the question asks {kind}, but the answer gives no steps, commands or list"
                )
            elif _defers_steps(parsed):
                found.errors.append(
                    "the answer sends the reader to the documentation for the steps instead of giving them"
                )
        if not off_topic and not declining:
            self._coverage(query, response, parsed, found)
            if not found.errors:
                _enumerated_coverage(query, response, found)
        return found.result("completeness")

    def _coverage(self, query: str, response: str, parsed: ParsedResponse, found: Findings) -> None:
        response_lower = response.lower()
        response_services = self._services.services_in(response)
        asks = ask_sentences(query)
        # A service named only in context (a pasted error, the setup) need not be addressed.
        asked = " ".join(asks) if asks else query
        named = sorted(self._services.services_in(_NOT_WANTED.sub(" ", _COMMANDS.sub(" ", asked))))
        missing = [s for s in named if not mentions_service(s, response_lower, response_services)]
        # A message without a question states a problem: its services are the setup ("an API
        # that calls a Lambda"), and an answer that takes up one of them is on the problem.
        if missing and not asks and len(missing) < len(named):
            missing = []
        if missing:
            found.errors.append(
                f"the question mentions {', '.join(missing)}, but the answer never addresses it"
            )
        response_terms = ask_terms(response)
        parts = [p for sentence in asks for p in question_parts(sentence)]
        # One ask is judged on its own only when it says it is another question ("Also: …").
        judged = parts if len(parts) >= 2 else [p for p in parts if _ANOTHER_ASK.match(p)]
        for part in judged:
            terms = ask_terms(part)
            # One topic word ("how do I secure it") is too little to judge by shared words;
            # an ask for a price, a duration or a number is judged by its kind below.
            if len(terms) < 2 or any(kind.search(part) for kind, _, _ in ASK_KINDS):
                continue
            covered = len(terms & response_terms)
            # A long part (an error message, a log line) is answered by a few of its words.
            if covered == 0 or (covered / len(terms) < 0.25 and covered < 2):
                found.errors.append(f'part of the question is not answered: "{snippet(part)}"')
                return
        # What each ask needs: a price, a duration, a number, a reason.
        prose = parsed.prose_text if "```" in response else response
        for part in parts or asks or [query]:
            for asks, answers, kind in ASK_KINDS:
                if asks.search(part) and not answers.search(response):
                    found.errors.append(
                        f'the question asks {kind} ("{snippet(part)}"), but the answer does not say'
                    )
                    return
            if len(parts) >= 2 and part is not parts[0] and _WHY.match(part) and not _EXPLANATION.search(prose):
                found.errors.append(f'the question asks why ("{snippet(part)}"), but the answer gives no reason')
                return


def enumerated_asks(query: str) -> list[str]:
    """The items of a question that numbers its asks ("1) … 2) …", "(a) … (b) …", "① … ②"),
    when they are asks: each written as a question or request, or introduced as several
    ("Two questions:", "I need to (1) … (2) …"). Markers must run 1, 2, … in order; the last
    item ends at the end of its paragraph. Empty when the query enumerates nothing."""
    markers = []
    expected = 1
    for match in _ENUMERATION_MARKER.finditer(query):
        token = next(g for g in match.groups() if g)
        if _ORDINAL.get(token) == expected:
            markers.append(match)
            expected += 1
        elif _ORDINAL.get(token) == 1 and len(markers) < 2:
            markers, expected = [match], 2  # a new run: "1." of a pasted log before the asks
    if len(markers) < 2:
        return []
    items = []
    for index, match in enumerate(markers):
        end = markers[index + 1].start() if index + 1 < len(markers) else len(query)
        items.append(query[match.end() : end].strip())
    items[-1] = re.split(r"\n\s*\n", items[-1], maxsplit=1)[0]
    intro = query[max(0, markers[0].start() - 80) : markers[0].start()]
    if _ENUMERATION_INTRO.search(intro.rstrip(" (")) or all(_ITEM_ASK.search(item) for item in items):
        return items
    return []


def _enumerated_coverage(query: str, response: str, found: Findings) -> None:
    """An enumerated ask whose own words the answer (almost) never uses is left out: two
    asks on one topic share words, so each is judged by the words only it uses."""
    items = enumerated_asks(query)
    if not items:
        return
    terms = [ask_terms(item) for item in items]
    response_terms = ask_terms(response)
    for index, item in enumerate(items):
        others = frozenset().union(*(t for i, t in enumerate(terms) if i != index))
        distinctive = terms[index] - others
        if len(distinctive) < MIN_DISTINCTIVE:
            continue
        if len(distinctive & response_terms) <= UNCOVERED_SHARE * len(distinctive):
            found.errors.append(f'ask {index + 1} of the question is not answered: "{snippet(item)}"')
            return


_HEADING = re.compile(r"#{1,6}\s+\S")
_EMPTY_ITEM = re.compile(r"(?:[-*+]|\d{1,3}[.)])")


def truncated(parsed: ParsedResponse) -> str | None:
    """A message when the answer is empty or its last prose line stops mid-sentence."""
    if not parsed.lines or not "".join(parsed.lines).strip():
        return "the answer is empty"
    last_index = max(i for i, line in enumerate(parsed.lines) if line.strip())
    last_number = last_index + 1
    prose_numbers = {n for n, _ in parsed.prose}
    if last_number not in prose_numbers:
        return _cut_in_code(parsed)
    line = parsed.lines[last_index].strip()
    if _HEADING.match(line):
        # A heading announces what follows; as the last line, nothing did.
        return f'line {last_number}: the answer ends with a heading and nothing under it ("{line[:40]}")'
    if _EMPTY_ITEM.fullmatch(line):
        return f"line {last_number}: the answer ends with an empty list item (truncated?)"
    if line.startswith(("|", "#", ">", "<", "[")) or line.endswith(("```", "~~~")):
        return None
    # "3. **Dependencies:**": the emphasis around a label is not the end of the sentence.
    line = line.rstrip("*_ ") or line
    words = WORD.findall(line)
    last_word = words[-1].lower() if words else ""
    if _CUT_PUNCTUATION.search(line):
        return f'line {last_number}: the answer stops mid-sentence ("…{line[-40:]}")'
    if _TERMINAL.search(line):
        if line.endswith(":"):
            return f"line {last_number}: the answer ends with a colon and nothing follows (truncated?)"
        return None
    is_item = bool(_LIST_ITEM.match(parsed.lines[last_index]))
    # A list item written as sentences ("…charge. Each archived") ends like one.
    prose_item = is_item and (". " in line or bool(_CLAUSE.search(line)) or bool(_SENTENCE_THEN_COLON.search(line)))
    if last_word in _DANGLING_END or ((not is_item or prose_item) and len(words) >= 5):
        return f'line {last_number}: the answer stops mid-sentence ("…{line[-40:]}")'
    return None


#: How the last line of code ends when the writer was stopped in the middle of it: a line
#: continuation, an operator or opening bracket with nothing after it, a YAML key or
#: CloudFormation intrinsic function (``!Ref``) with no value.
_CODE_CUT_END = re.compile(r"(?:\\|[,(\[{=|:]|&&|\s![A-Za-z]+(?:::[A-Za-z]+)?)\s*$")
_UNESCAPED_QUOTE = re.compile(r'(?<!\\)"')


def _cut_in_code(parsed: ParsedResponse) -> str | None:
    """The answer ends inside a code block that is never closed, in the middle of a line
    (a string still open, a key or operator with no value): the answer was cut off there.
    A block left open at the end whose last line is complete (prose swallowed by a missing
    fence) is only ``structure``'s unclosed fence."""
    if not parsed.blocks or parsed.blocks[-1].closed:
        return None
    block = parsed.blocks[-1]
    lines = [line for line in block.text.splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1].rstrip()
    if len(_UNESCAPED_QUOTE.findall(last)) % 2 or _CODE_CUT_END.search(last):
        return f'the answer stops in the middle of a code block that is never closed ("…{last.strip()[-40:]}")'
    return None


def _defers_steps(parsed: ParsedResponse) -> bool:
    """The answer says the steps are elsewhere ("for the detailed setup steps, refer to the
    guide") and gives none itself: no numbered step and no code. Background bullets (what is
    logged, where it can go) are not steps."""
    if any(b.text.strip() for b in parsed.blocks):
        return False
    if any(_NUMBERED_ITEM.match(line) for _, line in parsed.prose):
        return False
    return bool(_STEPS_DEFERRED.search(parsed.prose_text))


def has_steps(parsed: ParsedResponse) -> bool:
    """The answer gives something to do: a list, code, a command, or imperative sentences."""
    items = sum(1 for _, line in parsed.prose if _LIST_ITEM.match(line))
    if items >= 2 or any(b.text.strip() for b in parsed.blocks):
        return True
    if any(c.startswith(_COMMAND_PREFIXES) for _, c in parsed.inline_code):
        return True
    if any("(" in c and ")" in c for _, c in parsed.inline_code):
        return True
    prose = parsed.prose_text
    return len(SEQUENCE_WORDS.findall(prose)) >= 2 or bool(_IMPERATIVE.search(prose))
