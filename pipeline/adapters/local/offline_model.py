"""OfflineModel: a deterministic, knowledge-grounded stand-in for Bedrock (DESIGN.md §3).

It is not a language model. It reads the rendered request the way a model would be asked
to: the customer's question from the ``<question>`` tag of the last user message, the
intent, services, sentiment, topics and reasons from their tags, earlier turns from the
history messages, and the template's directives from the system prompt's ``<format>``
block (:func:`pipeline.domain.generation.parse_directives`). It then retrieves the
best-matching curated article from ``pipeline/knowledge/`` by keyword, service and intent
overlap and writes the reply in the requested shape: sections, numbered or bulleted
steps, AWS CLI examples, tone, step and word limits, one-question clarifications,
escalation notices and polite declines. Two template versions therefore produce
measurably different answers from the same knowledge.

Temperature and top-p change nothing (the output is a pure function of the request); they
are part of the request, so they are recorded in replay keys and run records. The model
id it reports, :data:`OFFLINE_MODEL_ID`, names it as a stand-in in every report.

Example:
    >>> model = OfflineModel()
    >>> model.generate(request).text  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.domain.generation import parse_directives
from pipeline.domain.models import ModelRequest, ModelResponse
from pipeline.domain.retrieval import BM25Index, words
from pipeline.ports import ModelError

OFFLINE_MODEL_ID = "offline-knowledge-v1"

#: The curated articles committed with the code.
KNOWLEDGE_DIR = Path(__file__).resolve().parents[2] / "knowledge"

# Below this BM25 score of its words alone (the intent not counted), the current question
# is too vague to retrieve by ("it still times out", "what about the security group?"):
# earlier user turns are added to the query, and a part of a multi-part question needs at
# least this much to bring in a second article.
_MIN_CONFIDENT_SCORE = 13.0
#: How much each article field counts in retrieval (BM25F-style term repetition): the
#: curated keywords and the title say what an article is about; the body only supports it;
#: the detected intent is a strong prior. The intent weight and :data:`BM25_K1` (higher than
#: BM25's usual 1.2 because field weights inflate term frequencies) were chosen on the
#: intent set's train split (top article serving the labelled intent: 1256 -> 1323 of 1584).
FIELD_WEIGHTS = {"title": 3, "keywords": 3, "services": 2, "intents": 8, "body": 1}
BM25_K1 = 2.0
_DEFAULT_MAX_STEPS = 6
_DEFAULT_SECTIONS = ("Summary", "Steps")
_CAPABILITIES = (
    "Amazon EC2 and AWS Lambda troubleshooting",
    "Amazon S3 access and storage problems",
    "Amazon RDS databases and connectivity",
    "VPC networking, security groups and load balancers",
    "IAM permissions, roles and MFA",
    "AWS billing, costs and budgets",
    "account settings, service quotas and support plans",
)
_TAG_RE = re.compile(r"<(intent|services|sentiment|topics|reasons)>(.*?)</\1>", re.DOTALL)


def intent_term(intent: str) -> str:
    """The index term an article's intent is stored as (matched by the detected intent)."""
    return f"intent={intent}"


@dataclass(frozen=True, slots=True)
class CliExample:
    """One AWS CLI command and what it is for."""

    command: str
    purpose: str


@dataclass(frozen=True, slots=True)
class Article:
    """A curated support article (one JSON file in ``pipeline/knowledge/``)."""

    article_id: str
    title: str
    intents: tuple[str, ...]
    services: tuple[str, ...]
    keywords: tuple[str, ...]
    summary: str
    causes: tuple[str, ...]
    steps: tuple[str, ...]
    cli: tuple[CliExample, ...]
    verify: tuple[str, ...]
    prevention: tuple[str, ...]
    references: tuple[tuple[str, str], ...]  # (title, url)

    def fields(self) -> dict[str, tuple[str, ...]]:
        """The article's text by retrieval field (see :data:`FIELD_WEIGHTS`)."""
        return {
            "title": (self.title,),
            "keywords": self.keywords,
            "services": self.services,
            "body": (self.summary, *self.causes, *self.steps, *self.verify, *self.prevention),
        }


_ARTICLE_FIELDS = (
    "id",
    "title",
    "intents",
    "services",
    "keywords",
    "summary",
    "steps",
    "cli",
    "verify",
)


def parse_article(data: dict, *, origin: str) -> Article:
    """Validate and build an :class:`Article` from its JSON data.

    Args:
        data: The decoded JSON object.
        origin: The file it came from, for error messages.

    Returns:
        The article.

    Raises:
        ValueError: If a required field is missing or has the wrong type.
    """
    missing = [f for f in _ARTICLE_FIELDS if f not in data]
    if missing:
        raise ValueError(f"{origin}: knowledge article misses field(s) {', '.join(missing)}")
    cli = tuple(CliExample(command=c["command"], purpose=c["purpose"]) for c in data["cli"])
    refs = tuple((r["title"], r["url"]) for r in data.get("references", ()))
    return Article(
        article_id=data["id"],
        title=data["title"],
        intents=tuple(data["intents"]),
        services=tuple(data["services"]),
        keywords=tuple(data["keywords"]),
        summary=data["summary"],
        causes=tuple(data.get("causes", ())),
        steps=tuple(data["steps"]),
        cli=cli,
        verify=tuple(data["verify"]),
        prevention=tuple(data.get("prevention", ())),
        references=refs,
    )


@lru_cache(maxsize=4)
def load_knowledge(directory: Path = KNOWLEDGE_DIR) -> tuple[Article, ...]:
    """Load every ``*.json`` article of a directory once per process (cached).

    Args:
        directory: The knowledge folder.

    Returns:
        The articles sorted by id.
    """
    articles = [
        parse_article(json.loads(path.read_text(encoding="utf-8")), origin=str(path))
        for path in sorted(Path(directory).glob("*.json"))
    ]
    return tuple(sorted(articles, key=lambda a: a.article_id))


@lru_cache(maxsize=4)
def knowledge_index(articles: tuple[Article, ...]) -> BM25Index:
    """The BM25 index of a knowledge collection (built once per collection and process)."""
    documents = [
        (a.article_id, {**a.fields(), "intents": tuple(intent_term(i) for i in a.intents)})
        for a in articles
    ]
    return BM25Index.build(
        documents, field_weights=FIELD_WEIGHTS, raw_fields=("intents",), k1=BM25_K1
    )


@dataclass(frozen=True, slots=True)
class _Prompt:
    question: str
    earlier_user_texts: tuple[str, ...]
    intent: str | None
    services: str
    sentiment: str
    topics: tuple[str, ...]
    reasons: str
    directives: dict[str, str]


def _unescape_user_text(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">")


def _read_prompt(request: ModelRequest) -> _Prompt:
    if not request.messages or request.messages[-1].role != "user":
        raise ModelError("the request must end with a user message", transient=False)
    last = request.messages[-1].text
    start, end = last.find("<question>"), last.rfind("</question>")
    question = last[start + len("<question>") : end].strip() if 0 <= start < end else last.strip()
    # The renderer escapes user text (generation.delimit_user_text): read it as written.
    question = _unescape_user_text(question)
    tags = {
        name: value.strip() for name, value in _TAG_RE.findall(last[end:] if end >= 0 else last)
    }
    directives: dict[str, str] = {}
    for directive in parse_directives(request.system):
        name, _, value = directive.partition(":")
        directives[name] = value or "true"
    intent = tags.get("intent") or None
    return _Prompt(
        question=question,
        earlier_user_texts=tuple(
            _unescape_user_text(m.text) for m in request.messages[:-1] if m.role == "user"
        ),
        intent=None if intent == "unknown" else intent,
        services=tags.get("services", ""),
        sentiment=tags.get("sentiment", "NEUTRAL").upper(),
        topics=tuple(t.strip() for t in tags.get("topics", "").split("|") if t.strip()),
        reasons=tags.get("reasons", ""),
        directives=directives,
    )


def _words(text: str) -> int:
    return len(text.split())


def _as_sentence(step: str) -> str:
    step = step.strip()
    return step if step.endswith((".", "!", "?")) else step + "."


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _fit_words(text: str, max_words: int) -> str:
    """The longest run of whole sentences of ``text`` within ``max_words`` words.

    The last resort of the word limit, after shrinking the answer's parts was not enough
    (a template asking for a very short answer): a model told to stay under N words does.
    """
    kept: list[str] = []
    used = 0
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        n = _words(sentence)
        if used + n > max_words:
            break
        kept.append(sentence)
        used += n
    if not kept:
        return " ".join(text.split()[:max_words])
    return " ".join(kept)


class OfflineModel:
    """Deterministic ModelClient grounded in the curated knowledge articles.

    Args:
        knowledge_dir: Folder of article JSON files; defaults to :data:`KNOWLEDGE_DIR`.
            Loaded once per process and directory.
    """

    model_id = OFFLINE_MODEL_ID

    def __init__(self, knowledge_dir: str | Path | None = None) -> None:
        self._articles = load_knowledge(Path(knowledge_dir) if knowledge_dir else KNOWLEDGE_DIR)
        if not self._articles:
            raise ValueError(f"no knowledge articles in {knowledge_dir or KNOWLEDGE_DIR}")
        self._index = knowledge_index(self._articles)
        self._by_id = {a.article_id: a for a in self._articles}
        self._service_words = {
            s: frozenset(words(s)) for a in self._articles for s in a.services if words(s)
        }
        self._general = next(
            (a for a in self._articles if a.article_id == "aws-general-troubleshooting"), None
        )

    @property
    def articles(self) -> tuple[Article, ...]:
        return self._articles

    # -- retrieval -----------------------------------------------------------

    def ranked(self, query: str, intent: str | None = None) -> list[tuple[float, Article]]:
        """Articles ranked by BM25 for a query, best first (ties broken by article id).

        The detected intent is one more query term, matched against the articles'
        intents (so it weighs like a word of the question, by its idf); an article that
        matches the intent but no word of the question is not ranked. When the question
        names services the articles are about ("ec2-user", "my Lambda function"), the
        articles about none of them rank after those about one: a Lambda article that
        shares "timed out after 60 seconds" with an SSH question never leads it.

        Args:
            query: Free text.
            intent: The detected intent id, if any.

        Returns:
            ``(score, article)`` pairs with a positive score.
        """
        tag = intent_term(intent) if intent else None
        hits = self._index.search(query, extra_terms=(tag,) if tag else ())
        ranked = [
            (hit.score, self._by_id[hit.doc_id])
            for hit in hits
            if any(term != tag for term in hit.matched)
        ]
        named = self.services_named(query)
        if named:
            # A stable sort keeps the BM25 order within each group.
            ranked.sort(key=lambda pair: not named.intersection(pair[1].services))
        return ranked

    def services_named(self, text: str) -> frozenset[str]:
        """The articles' services that ``text`` names (every word of the name present)."""
        present = set(words(text))
        return frozenset(
            service for service, name_words in self._service_words.items() if name_words <= present
        )

    def specific(self, query: str) -> bool:
        """Whether the query's words alone match an article well enough to retrieve by."""
        hits = self._index.search(query, limit=1)
        return bool(hits) and hits[0].score >= _MIN_CONFIDENT_SCORE

    def retrieve(
        self, query: str, intent: str | None = None, earlier: Sequence[str] = ()
    ) -> Article:
        """The best article for a query, using earlier user turns when the query is vague."""
        ranked = self.ranked(query, intent)
        if earlier and not self.specific(query):
            ranked = self.ranked(" ".join([*earlier[-2:], query]), intent) or ranked
        if ranked:
            return ranked[0][1]
        by_intent = [a for a in self._articles if intent in a.intents] if intent else []
        if self._general is not None and (intent in (None, "general_support") or not by_intent):
            return self._general
        return by_intent[0] if by_intent else self._articles[0]

    # -- ModelClient ---------------------------------------------------------

    def generate(self, request: ModelRequest) -> ModelResponse:
        """Write the reply the request asks for.

        Raises:
            ModelError: If the request does not end with a user message.
        """
        started = time.perf_counter()
        prompt = _read_prompt(request)
        mode = prompt.directives.get("mode", "answer")
        if mode == "clarification":
            text = self._clarify(prompt)
        elif mode == "escalation":
            text = self._escalate(prompt)
        elif mode == "decline":
            text = self._decline(prompt)
        elif mode == "static":
            text = prompt.question
        else:
            text = self._answer(prompt)

        stop_reason = "end_turn"
        max_chars = request.parameters.max_tokens * 4
        if len(text) > max_chars:
            text, stop_reason = text[:max_chars], "max_tokens"
        prompt_chars = len(request.system) + sum(len(m.text) for m in request.messages)
        return ModelResponse(
            text=text,
            model_id=OFFLINE_MODEL_ID,
            input_tokens=math.ceil(prompt_chars / 4),
            output_tokens=math.ceil(len(text) / 4),
            stop_reason=stop_reason,
            latency_ms=round((time.perf_counter() - started) * 1000.0, 3),
        )

    # -- reply kinds -----------------------------------------------------------

    def _opening(self, prompt: _Prompt, article: Article) -> str:
        tone = prompt.directives.get("tone", "professional")
        upset = "empathy_if_negative" in prompt.directives and prompt.sentiment in (
            "NEGATIVE",
            "MIXED",
        )
        if tone == "empathetic" or upset:
            return "I'm sorry you're running into this; I know it's frustrating. Let's work through it together."
        if tone == "friendly":
            return "Happy to help with this!"
        return f"Here is how to approach this ({article.title})."

    def _question_parts(self, question: str) -> list[str]:
        pieces = re.split(
            r"(?<=[?.!])\s+|\n+|;\s+|\s+\b(?:also|and also|additionally)\b\s+", question
        )
        parts = [
            re.sub(r"^(?:and|also|plus)\s+", "", p.strip(), flags=re.IGNORECASE) for p in pieces
        ]
        return [p for p in parts if len(words(p)) >= 2]

    def _answer(self, prompt: _Prompt) -> str:
        d = prompt.directives
        article = self.retrieve(prompt.question, prompt.intent, prompt.earlier_user_texts)
        articles = [article]
        parts: list[str] = []
        if "address_all_parts" in d:
            parts = self._question_parts(prompt.question)
            if len(parts) > 1:
                for part in parts:
                    ranked = self.ranked(part, prompt.intent)
                    if ranked and ranked[0][1] not in articles and self.specific(part):
                        articles.append(ranked[0][1])
                    if len(articles) == 2:
                        break
        # No ``sections`` directive: the template asked for no headings, so none are written.
        sections = tuple(s.strip() for s in d["sections"].split(",")) if "sections" in d else ()
        max_steps = int(d.get("max_steps", _DEFAULT_MAX_STEPS))
        max_words = int(d["max_words"]) if "max_words" in d else None

        # Shrink the answer (steps first, then extras) until it fits the word limit.
        budget = {"steps": max_steps, "extra": 4, "cli": 4, "refs": 2}
        text = self._compose(prompt, articles, parts, sections, budget)
        while max_words is not None and _words(text) > max_words:
            if budget["steps"] > 3:
                budget["steps"] -= 1
            elif budget["extra"] > 1:
                budget["extra"] -= 1
            elif budget["cli"] > 1:
                budget["cli"] -= 1
            elif budget["refs"] > 0:
                budget["refs"] -= 1
            elif budget["steps"] > 2:
                budget["steps"] -= 1
            else:
                break
            text = self._compose(prompt, articles, parts, sections, budget)
        if max_words is not None and _words(text) > max_words:
            text = _fit_words(text, max_words)
        return text

    def _compose(
        self,
        prompt: _Prompt,
        articles: list[Article],
        parts: list[str],
        sections: Sequence[str],
        budget: dict[str, int],
    ) -> str:
        d = prompt.directives
        main = articles[0]
        numbered = d.get("steps", "numbered") == "numbered"

        def as_list(items: Sequence[str], *, ordered: bool) -> str:
            return "\n".join(f"{i}. {s}" if ordered else f"- {s}" for i, s in enumerate(items, 1))

        steps = list(main.steps[: budget["steps"]])
        if len(articles) > 1:
            extra = articles[1]
            steps.append(f"For the other part of your question ({extra.title}): {extra.summary}")
            steps.extend(extra.steps[: max(1, budget["steps"] // 3)])
        cli = [c for a in articles for c in a.cli[: budget["cli"] if a is main else 2]]
        commands = ""
        if "cli_examples" in d and cli:
            lines = []
            for example in cli:
                lines += [f"# {example.purpose}", example.command]
            commands = "```bash\n" + "\n".join(lines) + "\n```"
        refs = [r for a in articles for r in a.references][: budget["refs"]]

        blocks: list[str] = []
        if not sections:
            # Plain prose, as a model writes when nothing asks for structure: the summary,
            # then the steps as running sentences (a list only when ``steps`` asks for one).
            blocks.append(f"{self._opening(prompt, main)} {main.summary}")
            if "steps" in d:
                blocks.append(as_list(steps, ordered=numbered))
            elif steps:
                blocks.append(" ".join(_as_sentence(s) for s in steps))
            if commands:
                blocks.append(commands)
        for section in sections:
            body = ""
            if section == "Summary":
                body = f"{self._opening(prompt, main)} {main.summary}"
                if len(parts) > 1:
                    body += (
                        "\n\nYou asked about: " + "; ".join(p.rstrip("?.!") for p in parts) + "."
                    )
            elif section == "Likely causes":
                body = as_list(main.causes[: budget["extra"]] or (main.summary,), ordered=False)
            elif section == "Steps":
                body = as_list(steps, ordered=numbered)
                if commands and "Commands" not in sections:
                    body += "\n\nUseful commands:\n\n" + commands
            elif section == "Commands":
                body = (
                    commands
                    or "No command-line steps are needed; use the AWS Management Console as described above."
                )
            elif section == "Verify":
                body = as_list(main.verify[: budget["extra"]], ordered=False)
            elif section == "Prevention":
                body = as_list((main.prevention or main.verify)[: budget["extra"]], ordered=False)
            elif section == "References":
                body = as_list(
                    [f"[{t}]({u})" for t, u in refs]
                    or ["[AWS documentation](https://docs.aws.amazon.com/)"],
                    ordered=False,
                )
            elif section == "Next steps":
                body = (
                    "If this doesn't resolve it, reply with the exact error message and what you've already tried. "
                    "For problems that need someone to look at your account, open a case in the AWS Support Center."
                )
            blocks.append(f"## {section}\n\n{body}")
        if "references" in d and "References" not in sections and refs:
            blocks.append("Learn more: " + ", ".join(f"[{t}]({u})" for t, u in refs))
        if "Next steps" not in sections:
            blocks.append(
                "If the problem persists, reply with the exact error message and what you've already tried."
            )
        return "\n\n".join(blocks)

    def _clarify(self, prompt: _Prompt) -> str:
        topics = [t for t in prompt.topics if t != "another AWS service"][:3]
        services = prompt.services if prompt.services and prompt.services != "none detected" else ""
        lead = "Thanks for reaching out. So I can give you the right steps:"
        if len(topics) >= 2:
            options = ", ".join(topics[:-1]) + f", or {topics[-1]}"
            question = f"is your question about {options}?"
        elif len(topics) == 1 and not services:
            question = f"is this about {topics[0]}, and what exact error message or behaviour are you seeing?"
        elif services:
            question = (
                f"what exactly happens when you use {services}, and what error message do you see?"
            )
        else:
            question = "which AWS service are you working with, and what error message or behaviour do you see?"
        return f"{lead} {question}"

    def _escalate(self, prompt: _Prompt) -> str:
        lines = [
            "I'm sorry for the trouble, and thank you for your patience. I've passed your request to the AWS Support team, "
            "and a support engineer will follow up with you in this conversation.",
            "Response times depend on your support plan and the severity of the case; business-critical issues are "
            "prioritised. The engineer will review the details of your account and decide on the next steps with you, "
            "so I can't confirm a particular outcome here.",
        ]
        reasons = prompt.reasons.lower()
        if any(word in reasons for word in ("secur", "compromis", "hack", "unauthori", "breach")):
            lines.append(
                "While you wait, protect the account now: change the root user password, enable MFA on the root user, "
                "deactivate any IAM access keys you don't recognise, and review recent activity in AWS CloudTrail."
            )
        lines.append(
            "If you have more details, such as error messages or resource IDs (never passwords or keys), add them here."
        )
        return "\n\n".join(lines)

    def _decline(self, prompt: _Prompt) -> str:
        opening = (
            "Thanks for the question!"
            if prompt.directives.get("tone") == "friendly"
            else "Thank you for your question."
        )
        return (
            f"{opening} I'm the AWS Support Assistant, so I can only help with questions about Amazon Web Services, "
            "and that one is outside what I can answer.\n\nI can help with, for example:\n"
            + "\n".join(f"- {c}" for c in _CAPABILITIES)
            + "\n\nIf you have an AWS question, just ask."
        )
