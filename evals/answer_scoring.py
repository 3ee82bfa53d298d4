"""What a generated answer contains: structure and grounding scores for the generation suite.

The rubric is the same for every prompt version (it never reads the template), so two
versions of a prompt are scored on one scale (GUIDE.md §5 describes a good answer):

- **structure** (mean of the parts that apply):
  ``sections``: Markdown headings (2+ → 1, one → 0.5, none → 0);
  ``steps`` (only when the question asks how to do or fix something, by the quality
  package's own ``completeness.howto``/``completeness.trouble`` patterns or a
  ``*_troubleshooting`` intent): a numbered list of 2+ items → 1, bullets → 0.5, none → 0;
  ``calls``: the share of AWS CLI lines and boto3 calls that exist, checked by the quality
  package's :class:`~pipeline.domain.quality.aws_calls.CliChecker` and ``Boto3Checker``
  against the botocore catalogue (not re-implemented here); ``links``: the share of Markdown
  links that are ``https`` links to an AWS domain.
- **grounding** (mean of the parts that apply): ``commands``: the share of the answer's
  ``aws <service> <command>`` calls that appear in the knowledge the model was given;
  ``claims``: the share of prose sentences and list items (5+ content words) whose content
  words are mostly (:data:`CLAIM_SUPPORT`) found in one sentence of that knowledge.

Example:
    >>> from pipeline.adapters.botocore_catalog import BotocoreApiCatalog
    >>> s = structure_score("how do I fix it?", "ec2_troubleshooting", "## A\\n\\n## B\\n\\n1. x\\n2. y",
    ...                     BotocoreApiCatalog())
    >>> s.value, s.parts["steps"]
    (1.0, 1.0)
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pipeline.domain.quality.aws_calls import Boto3Checker, CliChecker
from pipeline.domain.quality.completeness import HOWTO, TROUBLE
from pipeline.domain.quality.parsing import parse_response, shell_tokens
from pipeline.domain.quality.scoring import Findings
from pipeline.domain.quality.text import content_terms
from pipeline.ports import AwsApiCatalog

#: A claim is grounded when at least this share of its content words is in one knowledge sentence.
CLAIM_SUPPORT = 0.6
#: Sentences with fewer content words than this are connective text, not claims.
MIN_CLAIM_TERMS = 5
_HEADING = re.compile(r"^#{1,6}\s+\S")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+\S")
_BULLET = re.compile(r"^\s*[-*+]\s+\S")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_AWS_HOST = re.compile(r"^https://([a-z0-9-]+\.)*(aws\.amazon\.com|amazon\.com|amazonaws\.com|aws)(/|$)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+")
_BOTO3_CALL = re.compile(r"\b[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\(")


@dataclass(frozen=True, slots=True)
class PartScore:
    """A score in [0, 1] with the parts it is the mean of (``None``: did not apply)."""

    value: float
    parts: dict[str, float | None]
    notes: tuple[str, ...] = field(default=())


def asks_for_steps(query: str, intent: str | None) -> bool:
    """The question asks how to do or fix something (the quality package's own rule)."""
    if intent == "out_of_scope":
        return False
    return bool(HOWTO.search(query) or TROUBLE.search(query) or (intent or "").endswith("_troubleshooting"))


def _mean(parts: dict[str, float | None]) -> float:
    applicable = [v for v in parts.values() if v is not None]
    return sum(applicable) / len(applicable) if applicable else 1.0


@lru_cache(maxsize=2048)
def cli_lines(text: str) -> tuple[tuple[int, str], ...]:
    """``(line number, line)`` of every ``aws …`` command in code blocks and inline code."""
    parsed = parse_response(text)
    lines: list[tuple[int, str]] = []
    for block in parsed.blocks:
        if block.language in ("python", "py"):
            continue
        for offset, line in enumerate(block.text.splitlines()):
            if re.match(r"^\s*(?:\$\s*)?aws\s", line):
                lines.append((block.start_line + offset, line.strip().lstrip("$ ")))
    for number, code in parsed.inline_code:
        if code.startswith("aws "):
            lines.append((number, code))
    return tuple(lines)


def cli_calls(text: str) -> list[tuple[str, str]]:
    """``(service, command)`` of every complete ``aws <service> <command>`` in the answer."""
    calls = []
    for _number, line in cli_lines(text):
        tokens = [t for t in shell_tokens(line) if not t.startswith("--")]
        if len(tokens) >= 3 and tokens[0] == "aws":
            calls.append((tokens[1], tokens[2]))
    return calls


_VALIDITY: dict[tuple[int, str], tuple[float | None, list[str]]] = {}


def _call_validity(text: str, catalog: AwsApiCatalog) -> tuple[float | None, list[str]]:
    key = (id(catalog), text)
    if key not in _VALIDITY:
        if len(_VALIDITY) > 4096:
            _VALIDITY.clear()
        _VALIDITY[key] = _check_calls(text, catalog)
    return _VALIDITY[key]


def _check_calls(text: str, catalog: AwsApiCatalog) -> tuple[float | None, list[str]]:
    cli = CliChecker(catalog)
    boto3 = Boto3Checker(catalog)
    found = Findings()
    lines = cli_lines(text)
    for number, line in lines:
        cli.check_line(line, number, found, inline=False)
    n_calls = len(lines)
    for block in parse_response(text).blocks:
        if block.language not in ("python", "py"):
            continue
        n_calls += len(_BOTO3_CALL.findall(block.text))
        try:
            boto3.check_tree(ast.parse(block.text), block.start_line, found)
        except SyntaxError:
            found.errors.append(f"line {block.start_line}: Python block does not parse")
    if not n_calls:
        return None, []
    return max(0.0, 1.0 - len(found.errors) / n_calls), list(found.errors)


def structure_score(query: str, intent: str | None, text: str, catalog: AwsApiCatalog) -> PartScore:
    """Score the shape of an answer (see the module docstring); template-independent."""
    parsed = parse_response(text)
    prose = [line for _, line in parsed.prose]
    headings = sum(1 for line in prose if _HEADING.match(line))
    numbered = sum(1 for line in prose if _NUMBERED.match(line))
    bullets = sum(1 for line in prose if _BULLET.match(line))
    parts: dict[str, float | None] = {"sections": 1.0 if headings >= 2 else 0.5 if headings == 1 else 0.0}
    if asks_for_steps(query, intent):
        parts["steps"] = 1.0 if numbered >= 2 else 0.5 if bullets >= 2 else 0.0
    else:
        parts["steps"] = None
    parts["calls"], notes = _call_validity(text, catalog)
    links = _LINK.findall(text)
    parts["links"] = (sum(1 for _t, url in links if _AWS_HOST.match(url)) / len(links)) if links else None
    return PartScore(round(_mean(parts), 6), parts, tuple(notes[:5]))


# ---------------------------------------------------------------------------
# Grounding
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Knowledge:
    """The knowledge an answer may draw on: sentences (as content-term sets) and CLI calls."""

    ids: tuple[str, ...]
    sentences: tuple[frozenset[str], ...]
    calls: frozenset[tuple[str, str]]


def knowledge_from_articles(articles: Sequence[Any]) -> Knowledge:
    """Build :class:`Knowledge` from ``pipeline/knowledge`` articles (the OfflineModel's ``Article``)."""
    sentences: list[frozenset[str]] = []
    calls: set[tuple[str, str]] = set()
    for a in articles:
        texts: list[str] = [a.title, a.summary, *a.causes, *a.steps, *a.verify, *a.prevention]
        texts += [c.purpose for c in a.cli] + [title for title, _url in a.references]
        for t in texts:
            for s in _SENTENCE.split(t):
                terms = content_terms(s)
                if terms:
                    sentences.append(terms)
        for c in a.cli:
            tokens = [t for t in shell_tokens(c.command) if not t.startswith("--")]
            if len(tokens) >= 3 and tokens[0] == "aws":
                calls.add((tokens[1], tokens[2]))
    return Knowledge(tuple(a.article_id for a in articles), tuple(sentences), frozenset(calls))


def claims(text: str) -> list[str]:
    """Prose sentences and list items of an answer (headings, code and links removed)."""
    parsed = parse_response(text)
    out: list[str] = []
    for _number, line in parsed.prose:
        if not line.strip() or _HEADING.match(line):
            continue
        line = _LINK.sub(r"\1", re.sub(r"`[^`]*`", " ", _LIST_MARK.sub("", line)))
        out.extend(s for s in _SENTENCE.split(line.strip()) if s.strip())
    return out


def _supported(terms: frozenset[str], knowledge: Iterable[frozenset[str]]) -> bool:
    need = CLAIM_SUPPORT * len(terms)
    return any(len(terms & k) >= need for k in knowledge)


def grounding_score(text: str, knowledge: Knowledge) -> PartScore:
    """Share of commands and claims traceable to ``knowledge`` (see the module docstring)."""
    calls = cli_calls(text)
    parts: dict[str, float | None] = {
        "commands": (sum(1 for c in calls if c in knowledge.calls) / len(calls)) if calls else None,
    }
    notes = [f"`aws {s} {c}` is not in the knowledge given" for s, c in calls if (s, c) not in knowledge.calls]
    checked = [(c, content_terms(c)) for c in claims(text)]
    checked = [(c, t) for c, t in checked if len(t) >= MIN_CLAIM_TERMS]
    if checked:
        unsupported = [c for c, t in checked if not _supported(t, knowledge.sentences)]
        parts["claims"] = 1.0 - len(unsupported) / len(checked)
        notes += [f"unsupported: {c[:80]}" for c in unsupported]
    else:
        parts["claims"] = None
    return PartScore(round(_mean(parts), 6), parts, tuple(notes[:5]))
