"""Output-policy detectors: what an answer promises, claims about other providers, and
credentials or personal data written into it.

Most output rules are *clause rules*: a rule of ``catalogue/output_policies.toml`` with
``detector = "clause"`` describes, as data, what one clause (or sentence) of the answer must
contain to be a finding. Its ``params``:

* ``unit``: ``"clause"`` (default) or ``"sentence"`` (see :mod:`.clauses`);
* ``head``: the pattern that carries the meaning (a future change, a first-person action, a
  provider's name); the hit is the unit holding it;
* ``also``: patterns that must all occur in the same unit (a future time, a pejorative, an
  account object);
* ``none``: a pattern that cancels the unit (deflections, hedges, deprecations, questions);
* ``hedge``: a pattern that cancels the unit only up to the end of the head ("AWS will
  usually refund…", "Typically, AWS will refund…"): a hedge after it qualifies something
  else ("…will refund the charges, usually within 5 business days" is still a promise);
* ``sentence_none``: a pattern that cancels every unit of its sentence ("…going away next
  month, as announced in the blog post": the clause after the comma vouches for the first);

A pattern is a string or a list of alternatives (one meaning per line in the catalogue).
* ``subject_not``: a pattern that must not occur between the start of the head's phrase (the
  unit's start or the last comma before the head, "，" and "、" included) and the head, i.e. in its subject
  ("your bill will drop next month" is about the customer, not about AWS);
* ``carry``: when the unit has the head but not the rest, the next sentence is judged too
  if it matches ``carry`` (a pronoun: "Twilio will take your money. Their reporting is a
  joke.").
* ``table_columns``: when the anchored sentence is the header row of a Markdown table, each
  column whose header holds the head is judged cell by cell with the rest (a comparison
  table whose "Vercel" column says "predatory pricing" names Vercel in the header only).

Every rule's anchor is searched on the whole text and the sentences around its hits are
judged (:func:`.clauses.anchored_sentences`), so the verdict does not depend on the engine's
windows: the fast path and the whole-text path agree by construction.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from functools import cache

from pipeline.domain.guardrails import clauses
from pipeline.domain.guardrails.catalogue import RuleSpec, fold_pattern
from pipeline.domain.guardrails.common import is_placeholder
from pipeline.domain.guardrails.engine import Hit, Window, finditer_windows, lowered_view


@cache
def _compiled(source: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile(source, flags)


def disparagement(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A negative claim about a provider; weak words ("slow", "bad") must be a judgement.

    "Azure's pricing is worse for X" is a claim; "slow queries in BigQuery can be tuned"
    is not about the provider.
    """
    negative = _compiled(rf"\b{spec.params['negative']}\b")
    weak = _compiled(spec.params["weak_negative"])
    judging = _compiled(spec.params["judging"])
    for match in finditer_windows(spec.patterns[0], text, windows):
        span = match.group()
        negatives = negative.findall(span)
        if negatives and all(weak.match(n) for n in negatives) and not judging.search(span):
            continue
        yield spec.rule_id, match.start(), match.end()


# ---------------------------------------------------------------------------------------
# Clause rules
# ---------------------------------------------------------------------------------------


def _pattern(value: str | list[str]) -> re.Pattern[str]:
    """A pattern from a string or from a list of alternatives (one meaning per line in TOML).

    Clause rules judge the matching view, which drops accents and Japanese voicing marks, so
    every literal is folded the same way (:func:`.catalogue.fold_pattern`): a term written in
    its natural script ("引き上げられ", "修正することが決まっ") matches as it reads; before,
    such a term could never match.
    """
    if isinstance(value, str):
        return _compiled(fold_pattern(value))
    if not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"a pattern must be a non-empty string or list of strings, got {value!r}")
    return _compiled("|".join(f"(?:{fold_pattern(v)})" for v in value))


class ClauseRule:
    """The compiled ``params`` of one clause rule (see the module docstring)."""

    def __init__(self, spec: RuleSpec) -> None:
        params = spec.params
        self.unit = params.get("unit", "clause")
        if self.unit not in ("clause", "sentence"):
            raise ValueError(f"{spec.source}, rule {spec.rule_id!r}: unit must be 'clause' or 'sentence'")
        self.anchor = _compiled(spec.anchor, 0)
        self.head = _pattern(params["head"])
        self.also = tuple(_pattern(p) for p in params.get("also", ()))
        self.none = (_pattern(params["none"]),) if params.get("none") else ()
        hedge = params.get("hedge")
        self.hedge = _pattern(hedge) if hedge else None
        sentence_none = params.get("sentence_none")
        self.sentence_none = _pattern(sentence_none) if sentence_none else None
        subject_not = params.get("subject_not")
        self.subject_not = _pattern(subject_not) if subject_not else None
        carry = params.get("carry")
        self.carry = _pattern(carry) if carry else None
        self.table_columns = bool(params.get("table_columns", False))

    def judge(self, unit: str) -> bool | None:
        """True: a finding; False: the head occurs but the rest does not; None: no head."""
        head = self.head.search(unit)
        if head is None:
            return None
        if self.subject_not is not None:
            subject = unit[: head.start()]
            subject = subject[max(subject.rfind(c) for c in ",，、") + 1 :]
            if self.subject_not.search(subject):
                return False
        if self.hedge is not None and self.hedge.search(unit, 0, head.end()):
            return False
        return self.rest(unit)

    def rest(self, unit: str) -> bool:
        return all(p.search(unit) for p in self.also) and not any(p.search(unit) for p in self.none)


_CLAUSE_RULES: dict[int, tuple[RuleSpec, ClauseRule]] = {}


def clause_rule(spec: RuleSpec) -> ClauseRule:
    """The compiled clause rule of ``spec`` (built once per spec)."""
    entry = _CLAUSE_RULES.get(id(spec))
    if entry is None or entry[0] is not spec:
        entry = _CLAUSE_RULES[id(spec)] = (spec, ClauseRule(spec))
    return entry[1]


_SEPARATOR_CHARS = frozenset("|-: \t")


def _is_separator_row(row: str) -> bool:
    """A Markdown table's separator row: | --- | :---: | (checked by its characters: linear)."""
    return "--" in row and "|" in row and set(row) <= _SEPARATOR_CHARS
#: Body rows read under one header, and body cells judged per text and rule: bounds that
#: keep a 100 KB answer made of table headers as cheap as prose (a real comparison table
#: has a few dozen rows; past the budget, cells are judged only as sentences).
MAX_TABLE_ROWS = 200
MAX_TABLE_CELLS = 1000


def _line(text: str, position: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return start, len(text) if end < 0 else end


def _cells(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of the cells of the table row text[start:end] (outer pipes dropped)."""
    row = text[start:end]
    inner_lo = row.find("|") + 1 if row.lstrip().startswith("|") else 0
    inner_hi = row.rfind("|") if row.rstrip().endswith("|") and row.count("|") > 1 else len(row)
    cells = []
    cursor = inner_lo
    while cursor <= inner_hi:
        bar = row.find("|", cursor, inner_hi)
        stop = inner_hi if bar < 0 else bar
        cells.append((start + cursor, start + stop))
        cursor = stop + 1
    return cells


def table_column_hits(rule: ClauseRule, text: str, header: tuple[int, int],
                      found: list[tuple[int, int]], budget: list[int]) -> int:
    """The body cells whose column header holds the rule's head and which satisfy its rest,
    appended to ``found``; returns where the table's body ends (the header's end if none).
    (:func:`column_cell_hits` with the rule's head and rest.)"""
    return column_cell_hits(text, header, lambda cell: rule.head.search(cell) is not None,
                            rule.rest, found, budget)


def column_cell_hits(text: str, header: tuple[int, int], heads_column: Callable[[str], bool],
                     accepts: Callable[[str], bool], found: list[tuple[int, int]], budget: list[int]) -> int:
    """The body cells whose column header ``heads_column`` and which ``accepts``, appended to
    ``found``; returns where the table's body ends (the header's end if none).

    ``header`` is the (start, end) of a line; nothing is found unless it is the header row of
    a Markdown table (a row of pipes followed by a separator row). At most
    :data:`MAX_TABLE_ROWS` body rows are read, so each line is read a bounded number of times,
    and ``budget[0]`` cells are judged at most (decremented).
    """
    lo, hi = header
    if "|" not in text[lo:hi]:
        return hi
    separator = _line(text, hi + 1) if hi < len(text) else None
    if separator is None or not _is_separator_row(text[separator[0] : separator[1]]):
        return hi
    columns = [i for i, (a, b) in enumerate(_cells(text, lo, hi)) if heads_column(text[a:b])]
    cursor = separator[1] + 1
    for _ in range(MAX_TABLE_ROWS):
        if cursor >= len(text):
            break
        row = _line(text, cursor)
        if "|" not in text[row[0] : row[1]]:
            break
        if columns and budget[0] > 0:
            cells = _cells(text, *row)
            for column in columns:
                if column < len(cells):
                    budget[0] -= 1
                    a, b = cells[column]
                    if accepts(text[a:b]):
                        found.append(clauses.trimmed(text, a, b))
        cursor = row[1] + 1
    return cursor


def clause(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """The units (clauses or sentences) of the anchored sentences that satisfy the rule."""
    rule = clause_rule(spec)
    lowered = lowered_view(text)
    table_end = -1  # a line before this is a header or body row already read
    budget = [MAX_TABLE_CELLS]
    for lo, hi in clauses.anchored_sentences(text, lowered, rule.anchor):
        if rule.table_columns and lo >= table_end:
            header = _line(text, lo)
            found: list[tuple[int, int]] = []
            table_end = table_column_hits(rule, text, header, found, budget)
            for a, b in found:
                yield spec.rule_id, a, b
        sentence = text[lo:hi]
        if rule.sentence_none is not None and rule.sentence_none.search(sentence):
            continue
        parts = clauses.clauses(sentence) if rule.unit == "clause" else [(0, len(sentence))]
        head_without_rest = False
        for start, end in parts:
            verdict = rule.judge(sentence[start:end])
            if verdict:
                yield (spec.rule_id, *clauses.trimmed(text, lo + start, lo + end))
            elif verdict is False:
                head_without_rest = True
        if head_without_rest and rule.carry is not None:
            following = clauses.next_sentence(text, hi)
            if following is not None:
                nxt = text[following[0] : following[1]]
                if rule.carry.search(nxt) and rule.rest(nxt):
                    yield (spec.rule_id, *clauses.trimmed(text, *following))


# ---------------------------------------------------------------------------------------
# Credentials written into an answer
# ---------------------------------------------------------------------------------------

_CLASSES = (str.isupper, str.islower, str.isdigit)


def random_looking(value: str, min_length: int) -> bool:
    """A value that looks generated: long enough, three character classes, no structure.

    Upper case, lower case, digits and symbols count as classes; a value with a dot, slash,
    colon or dash is a path, host, ARN, version or resource id, never a password here.
    """
    if len(value) < min_length or any(ch in value for ch in "./:-\\ "):
        return False
    classes = sum(any(test(ch) for ch in value) for test in _CLASSES)
    classes += any(not ch.isalnum() for ch in value)
    if classes < 3:
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.0 and not is_placeholder(value)


_QUOTED_VALUE = re.compile(r"[`\"'](?P<value>[^`\"'\s]{6,80})[`\"']")
_WORDS_AND_NUMBERS = re.compile(r"[A-Z][a-z]+|\d+|_")
# A value that names itself ("NewStrongPassw0rd!", "MySecret123") is an example, not a secret.
_SELF_DESCRIBING = re.compile(r"pa[s$5]{1,2}w|p@ss|secret|changeme|example|sample|dummy", re.IGNORECASE)


# ``connect_timeout=5``, ``sslmode=require``: a setting written as name=value, not a value.
_SETTING = re.compile(r"[a-z]+(?:_[a-z]+)*=[^=]+")
# ``DEFAULT_4XX``, ``ACCESS_DENIED``, ``MAX_RETRIES_3``: a constant's name (upper-case words
# joined by underscores, one of them a word of four letters or more), not a generated value.
_CONSTANT_NAME = re.compile(r"[A-Z0-9]+(?:_[A-Z0-9]+)+")
_LETTER_RUN = re.compile(r"[A-Z]{4,}")
# ``awsdms_validation_failures_v1``, ``orders_2024_q3``: lower-case words (each may end in a
# version or a number) joined by underscores: a table, column or variable of the code, not a
# generated value (a generated one mixes letters and digits inside its parts).
_SNAKE_IDENTIFIER = re.compile(r"[a-z]+\d*(?:_(?:[a-z]+\d*|\d+))+")


def _generated(value: str, min_length: int) -> bool:
    """``random_looking``, not self-describing, not a ``name=value`` setting, and not only
    capitalised words and numbers (``MyAppDbTable2024``)."""
    return (random_looking(value, min_length) and _SELF_DESCRIBING.search(value) is None
            and _SETTING.fullmatch(value) is None
            and not (_CONSTANT_NAME.fullmatch(value) and _LETTER_RUN.search(value))
            and _SNAKE_IDENTIFIER.fullmatch(value) is None
            and len(_WORDS_AND_NUMBERS.sub("", value)) > 2)


def credential_value(spec: RuleSpec, text: str, windows: Sequence[Window]) -> Iterator[Hit]:
    """A credential's name followed, in the same paragraph, by a generated-looking value in
    quotes or backticks ("password `Xq…`", ``"name": "DB_PASS", "value": "…"``, "the one
    generated for your instance is `…`").

    Names and quoted values are each found in one pass over the whole text (whatever the
    windows, as clause rules do); a value is then checked against the nearest name before
    it, so the cost is linear.
    """
    reach = int(spec.params.get("reach", 200))
    min_length = int(spec.params.get("min_length", 10))
    name_ends = [match.end() for match in spec.patterns[0].finditer(text)]
    if not name_ends:
        return
    for value in _QUOTED_VALUE.finditer(text):
        start = value.start()
        index = bisect_right(name_ends, start) - 1
        if index < 0 or start - name_ends[index] > reach:
            continue
        if not _generated(value.group("value"), min_length):
            continue
        between = text[name_ends[index] : start]
        if "\n\n" in between or "```" in between:
            continue
        yield spec.rule_id, value.start("value"), value.end("value")


# North American numbers 555-0100 to 555-0199 are reserved for fiction and documentation: in an
# answer they are examples, like example.com addresses. (Ofcom's drama ranges are not treated
# so: a number "to call the customer back on" is labelled pii whatever its range.)
_DOCUMENTATION_PHONE = re.compile(r"555[\s.\-]?01\d\d(?!\d)")


_LOCAL_PART_WORDS = re.compile(r"[.\-_+]")
_PLACEHOLDER_LOCAL = re.compile(r"replace[_-]?me|changeme|your[_-]?\w*|<[^>]*>|x{3,}|\*{3,}|\{\{?[^}]*\}\}?|\$\{[^}]*\}")


def documentation_example(spec: RuleSpec, rule_id: str, text: str, start: int, end: int) -> bool:
    """A PII hit of an answer that is not personal data: a reserved telephone number, a role
    mailbox or an address on a documentation domain, a URL's ``user:password@host``.

    ``spec`` is the derived ``sensitive_data.pii`` rule; its ``params`` hold the lexicons.
    """
    span = text[start:end]
    if rule_id.startswith("pii.phone"):
        return _DOCUMENTATION_PHONE.search(span) is not None
    if rule_id != "pii.email" or "@" not in span:
        return False
    if start > 0 and text[start - 1] in ":/":
        return True  # the userinfo of a URL: scheme://user:secret@host
    local, domain = span.lower().rsplit("@", 1)
    if _PLACEHOLDER_LOCAL.fullmatch(local):
        return True
    domains = spec.params.get("documentation_domains", ())
    if any(domain == d or domain.endswith("." + d) for d in domains):
        return True
    # "contato@suaempresa.com.br", "info@ihre-firma.de": "your company" in any language and
    # under any suffix is a placeholder domain, like yourcompany.com
    names = spec.params.get("placeholder_domain_names", ())
    if any(label.replace("-", "") in names for label in domain.split(".")[:-1]):
        return True
    words = [w for w in _LOCAL_PART_WORDS.split(local) if w]
    return bool(words) and all(w in _role_words(spec) for w in words)


# A bare lower-case snake_case name (``senha_temporaria``, ``new_password``): a variable of the
# code around it, not a value.
_VARIABLE_NAME = re.compile(r"[a-z]+(?:_[a-z]+)+")
# After a quoted name, the noun it names ("a separate "superuser" secret"): a label.
_NAMED_NOUN = re.compile(r"[\"'`]?\s+(?:secret|user|role|account|login|profile|parameter|key)s?\b", re.IGNORECASE)
_PASSWORD_RULES = ("password.",)
# ``PASSWORD :'repl_pw'`` (psql): a colon right before the quote interpolates a variable.
_INTERPOLATED = re.compile(r":['\"]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def not_a_written_value(rule_id: str, text: str, start: int, end: int) -> bool:
    """A password finding of an answer whose "value" is code or prose, not a credential.

    An answer explains code: ``"PASSWORD": new_password`` passes a variable; ``docker login
    -p`` followed by a table cell is a flag named in prose (the finding then spans words and
    a cell border); ``the "superuser" secret`` names a secret. A written password is one
    token: it has no line break or table border, is not a bare snake_case name, and a quoted
    lower-case word followed by the noun it names is a name.
    """
    if not rule_id.startswith(_PASSWORD_RULES):
        return False
    span = text[start:end]
    if "\n" in span or " |" in span or "| " in span:
        return True
    before = text[start - 1] if start > 0 else ""
    if before not in "\"'`" and _VARIABLE_NAME.fullmatch(span):
        return True
    if _INTERPOLATED.match(text, max(0, start - 2), start) and _IDENTIFIER.fullmatch(span):
        return True  # psql's :'name' / :"name" interpolates a variable: the value is elsewhere
    return (before in "\"'`" and span.isalpha() and span.islower()
            and _NAMED_NOUN.match(text, end, end + 40) is not None)


def _role_words(spec: RuleSpec) -> frozenset[str]:
    words = _ROLE_WORDS.get(id(spec))
    if words is None or words[0] is not spec:
        words = _ROLE_WORDS[id(spec)] = (spec, frozenset(spec.params.get("role_words", ())))
    return words[1]


_ROLE_WORDS: dict[int, tuple[RuleSpec, frozenset[str]]] = {}


# Clause rules find their anchor hits on the whole text themselves (module docstring).
clause.whole_text = True  # type: ignore[attr-defined]

DETECTORS = {
    "output_policies.disparagement": disparagement,
    "output_policies.clause": clause,
    "output_policies.credential_value": credential_value,
}
