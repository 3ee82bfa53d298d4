"""Response-quality validation: six checks, a weighted score and a pass/fail decision.

Every check has a stable id (``models.QUALITY_CHECKS``) and scores 0..1. A check starts
at 1.0 and loses :data:`ERROR_PENALTY` for each *defect* it finds and
:data:`WARNING_PENALTY` for each lesser *warning*, with a message saying what and where
("line 3: `aws ec2 describe-instance` is not an EC2 operation (did you mean
describe-instances?)").

- ``completeness``: answers every part of the question (sub-questions and the AWS
  services named in it), gives steps for how-to and troubleshooting questions, is not
  truncated mid-sentence.
- ``structure``: balanced code fences, well-formed Markdown (headings, bold, links,
  inline code), multi-step answers as lists rather than a wall of text, sensible length.
- ``accuracy``: no unexplained placeholders; code blocks parse (Python with ``ast``,
  JSON with ``json``, YAML and shell with injected checkers); every ``aws <service>
  <command> --param`` and boto3 ``client.method(Param=…)`` exists in the
  :class:`~pipeline.ports.AwsApiCatalog`; region names are real.
- ``relevance``: the answer is about the question (shared terms and services).
- ``tone``: no blame, sarcasm or dismissiveness, no slang; empathy when the user is upset.
- ``safety``: the output guardrail (``scan_output``) finds nothing.

**Pass rule.** ``score`` is the weighted mean of the checks (:data:`CHECK_WEIGHTS`, sum 1).
``passed`` is ``score >= threshold`` (:data:`DEFAULT_THRESHOLD` = 0.75) **and** no check
below :data:`HARD_FAIL_LEVEL` (0.5). One defect takes a check to 0.4, so any single defect
- a leaked secret, an invalid CLI call, a truncated answer - fails the response whatever
the average; the threshold catches answers with several lesser warnings.

**Overlapping defects.** An answer to a different question fails ``relevance`` only: the
coverage and steps parts of ``completeness`` are skipped for it. An unclosed code fence is
a ``structure`` defect; ``completeness`` flags truncation only where prose stops
mid-sentence (a dangling word or comma, a trailing colon, or a sentence with no final
punctuation). Answers under 12 words to a question of 5+ words are incomplete.

**Placeholder rule.** ``[INSERT …]``, ``[PLACEHOLDER]``, ``TODO``/``FIXME``/``TBD``,
``{{var}}`` (except CloudFormation's ``{{resolve:…}}``) and "lorem ipsum" are always
defects. Angle-bracket placeholders (``<your-bucket>``, ``<account-id>``) pass only when
the prose explains them: a sentence that names the placeholder together with "replace",
"substitute", "where", "is your", "is the" …, or a blanket sentence such as "replace the
placeholders in angle brackets with your values". Self-describing example values without
brackets (``my-bucket``, ``YOUR_BUCKET_NAME``) and Markdown links are not placeholders.

**Upset users.** ``tone`` requires empathy ("sorry", "I understand", "frustrating" …) when
the query shows frustration (words such as "ridiculous", "unacceptable", "furious",
repeated "!!", several words in capitals), or when ``sentiment`` is ``NEGATIVE`` and the
query has a milder sign ("still", "again", "urgent", "!"). A plain error report is not,
by itself, upset.

Pure stdlib: AWS knowledge comes from the ``AwsApiCatalog`` port, shell and YAML syntax
from injected callables (defaults in ``pipeline.adapters.local.code_checks``). Without a
shell checker a pure ``shlex`` check is used; without a YAML checker only tabs in
indentation are caught. Without an ``output_guard`` the validator uses
``pipeline.domain.guardrails.scan_output`` when that module exists.

Example:
    >>> from pipeline.adapters.botocore_catalog import BotocoreApiCatalog
    >>> validator = QualityValidator(BotocoreApiCatalog())
    >>> report = validator.validate("How do I list my buckets?", "Run `aws s3 ls`.")
    >>> report.passed
    True
"""

from __future__ import annotations

import ast
import difflib
import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache

from pipeline.domain.models import (
    QUALITY_CHECKS,
    GuardrailVerdict,
    QualityCheckResult,
    QualityReport,
)
from pipeline.ports import AwsApiCatalog

DEFAULT_THRESHOLD: float = 0.75
#: A check scoring below this is a defect and fails the response on its own.
HARD_FAIL_LEVEL: float = 0.5
ERROR_PENALTY: float = 0.6
WARNING_PENALTY: float = 0.25

CHECK_WEIGHTS: Mapping[str, float] = {
    "completeness": 0.20,
    "structure": 0.10,
    "accuracy": 0.25,
    "relevance": 0.20,
    "tone": 0.10,
    "safety": 0.15,
}

MAX_WORDS = 900  # longer than this is a structure warning: nobody reads it in a chat

# ---------------------------------------------------------------------------
# Parsing the response
# ---------------------------------------------------------------------------

_FENCE = re.compile(r"^\s{0,8}(`{3,}|~{3,})\s*([\w+#.-]*)")


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """A fenced code block. ``start_line`` is the 1-based line of its first content line."""

    language: str
    text: str
    start_line: int
    closed: bool


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """A response split into prose lines (with numbers) and fenced code blocks."""

    lines: tuple[str, ...]
    prose: tuple[tuple[int, str], ...]
    blocks: tuple[CodeBlock, ...]
    unclosed_fence_line: int | None
    inline_code: tuple[tuple[int, str], ...] = field(default=())

    @property
    def prose_text(self) -> str:
        return "\n".join(text for _, text in self.prose)


_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def parse_response(text: str) -> ParsedResponse:
    """Split Markdown into prose and fenced code blocks, tracking line numbers."""
    lines = tuple(text.splitlines())
    prose: list[tuple[int, str]] = []
    blocks: list[CodeBlock] = []
    fence: str | None = None
    language = ""
    start = 0
    body: list[str] = []
    for number, line in enumerate(lines, start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence, language, start, body = (
                    match.group(1),
                    match.group(2).lower(),
                    number + 1,
                    [],
                )
            else:
                prose.append((number, line))
        elif (
            match
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not match.group(2)
        ):
            blocks.append(CodeBlock(language, "\n".join(body), start, True))
            fence = None
        else:
            body.append(line)
    unclosed = None
    if fence is not None:
        blocks.append(CodeBlock(language, "\n".join(body), start, False))
        unclosed = start - 1
    inline = tuple((n, m.group(1)) for n, line in prose for m in _INLINE_CODE.finditer(line))
    return ParsedResponse(lines, tuple(prose), tuple(blocks), unclosed, inline)


# ---------------------------------------------------------------------------
# Words, terms and services
# ---------------------------------------------------------------------------

_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing done don down during each few
    for from further get gets getting got had has have having he her here hers him his how i if
    in into is it its itself just let me more most my myself no nor not now of off on once only
    or other our out over own same she should so some such than that the their them then there
    these they this those through to too under until up use used using very want was way we were
    what when where which while who whom why will with would you your yours yourself aws amazon
    please thanks thank hi hello help need know like make sure able trying try tried anyone
    something anything thing things really still even getting keep keeps going one two see
    just right good new also any every much many lot lots someone way ways tell give work
    works working question questions guys team hey ok okay yes""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")


_SERVICE_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _stem(word: str) -> str:
    return word.lower()[:6]


@lru_cache(maxsize=4096)
def content_terms(text: str) -> frozenset[str]:
    """Crudely stemmed (6-letter prefix) content words of a text, stopwords removed."""
    return frozenset(
        _stem(w)
        for w in _WORD.findall(text)
        if w.lower() not in _STOPWORDS and (len(w) >= 3 or w.isupper())
    )


#: Words that count as mentioning a service (besides its name) when checking coverage.
SERVICE_ALIASES: Mapping[str, tuple[str, ...]] = {
    "S3": ("bucket", "s3://", "s3api", "object"),
    "EC2": ("instance", "ami", "ec2"),
    "Lambda": ("function", "lambda", "invocation", "handler"),
    "RDS": ("database", "db instance", "postgres", "mysql", "aurora", "db."),
    "Fargate": ("ecs", "task", "container"),
    "CloudFormation": ("aws::", "template", "stack"),
    "Step Functions": ("stepfunctions", "state machine", "execution"),
    "Aurora": ("rds", "cluster", "database"),
    "IAM": ("role", "policy", "policies", "permission", "user", "principal", "statement", "arn:aws:iam", "action"),
    "VPC": ("subnet", "security group", "route table", "network"),
    "CloudWatch": ("logs", "log group", "alarm", "metric"),
    "DynamoDB": ("table", "dynamodb"),
    "Route 53": ("route53", "route-53", "dns", "hosted zone"),
    "CloudFront": ("distribution", "cdn"),
    "ELB": ("load balancer", "elbv2", "target group"),
    "ALB": ("load balancer", "elbv2", "target group"),
    "NLB": ("load balancer", "elbv2", "target group"),
    "EBS": ("volume", "snapshot"),
    "KMS": ("key", "encrypt"),
    "SSM": ("systems manager", "session manager", "parameter store"),
    "Systems Manager": ("ssm", "session manager", "parameter store"),
    "Secrets Manager": ("secret", "secretsmanager"),
    "ECS": ("task", "service", "fargate", "container"),
    "EKS": ("kubectl", "cluster", "kubeconfig", "node"),
    "SQS": ("queue", "message", "records"),
    "SNS": ("topic", "subscription"),
    "Billing": ("bill", "invoice", "charge", "cost"),
    "Cost Explorer": ("cost", "spend"),
}

# ---------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------

_PLACEHOLDER_ALWAYS = re.compile(
    r"(?P<bracket>(?<![\w\]])\[\s*(?:INSERT|PLACEHOLDER|ADD|FILL|ENTER|TBD|TODO|REPLACE|YOUR|LINK|CITATION)"
    r"\b[^\]\n]{0,60}\](?!\())"
    r"|(?P<todo>\b(?:TODO|FIXME|TBD|XXX)\b)"
    r"|(?P<mustache>\{\{(?!\s*resolve:)[^{}\n]{1,60}\}\})"
    r"|(?P<lorem>\blorem ipsum\b)"
    r"|(?P<angle_insert><\s*(?:insert|add|fill|todo|placeholder|tbd)\b[^>\n]{0,80}>)",
    re.IGNORECASE,
)
_CASE_SENSITIVE_TODO = re.compile(r"\b(?:TODO|FIXME|TBD|XXX)\b")
_HTML_TAGS = frozenset(
    "a abbr b br code details div em h1 h2 h3 h4 h5 h6 hr i img kbd li ol p pre s small span "
    "strong sub summary sup table tbody td th thead tr u ul html head body script style".split()
)
_ANGLE = re.compile(r"(?<![\w<>=\-])<([A-Za-z][\w.]*(?:[ _-][\w.]+){0,4})>(?![\w(])")
_EXPLAIN_WORDS = re.compile(
    r"\b(replace|replacing|substitute|where|with your|is your|are your|is the|are the|fill in|stands? for|"
    r"refers? to|placeholder|e\.g\.|for example|means)\b",
    re.IGNORECASE,
)
_BLANKET_EXPLAIN = re.compile(
    r"\b(replace|substitute|fill in)\b[^.\n]*\b(placeholders?|angle[- ]brackets?|values in <|<[^>]*>\s*values)\b",
    re.IGNORECASE,
)
_REGION_LIKE = re.compile(
    r"(?<![\w-])((?:us-gov|us-iso|us-isob|eusc|us|eu|ap|sa|ca|me|af|il|mx|cn)-"
    r"(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2})([a-z])?(?![\w-])"
)
_HOWTO = re.compile(
    r"\bhow (?:do|can|should|would|could|to)\b|\bhow'?s the (?:best )?way\b|\bsteps?\b|\bset ?up\b|\bwalk me\b"
    r"|\bconfigure\b|\bwhat'?s the (?:process|procedure)\b|\bguide\b|\bmigrat",
    re.IGNORECASE,
)
_TROUBLE = re.compile(
    r"\b(?:not working|doesn'?t work|isn'?t working|can'?t|cannot|unable|fail(?:s|ed|ing|ure)?|errors?|"
    r"timeouts?|timed out|times out|denied|broken|won'?t|stuck|keeps?|crash\w*|refused|throttl\w*|"
    r"exception|500|502|503|504|403|404)\b",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^\s{0,6}(?:[-*+]|\d{1,2}[.)])\s+\S")
_SEQUENCE_WORDS = re.compile(
    r"\b(first|firstly|second|secondly|third|then|next|after that|afterwards|finally|lastly|step \d)\b",
    re.IGNORECASE,
)
_DANGLING_END = frozenset(
    "and or the a an to of with for in on your by then that is are you can which will from this if "
    "as should must be at into so but because when while run use click".split()
)
_TERMINAL = re.compile(r"""[.!?:)\]"'`*_>|}]\s*$|[\u2600-\u27bf\U0001F300-\U0001FAFF]\s*$""")
_HEADING_NO_SPACE = re.compile(r"^\s{0,3}#{1,6}[^#\s!]")
_BROKEN_LINK = re.compile(
    r"\[[^\]\n]+\]\s+\((?:https?://|/)|\[[^\]\n]+\]\((?:https?://|/)[^)\s]*(?=\s|$)|\[[^\]\n]+\]\(\s*\)"
)
_IMPERATIVE = re.compile(
    r"(?:^|[.!?:]\s+|\n)(?:just |then |simply |first,? )?(?:add|open|choose|run|create|set|go|select|enable|attach|use|"
    r"check|turn|click|delete|update|install|make|call|change|remove|stop|start|restart|give|put|move|copy|"
    r"raise|increase|look|find|contact|sign|request|verify|reattach|detach)\b",
    re.IGNORECASE,
)
_REGION_ARGUMENT = re.compile(
    r"(?:--region[ =]|region_name\s*=\s*[\"']|AWS_(?:DEFAULT_)?REGION[=:]\s*)([a-z]{2}(?:-[a-z]+)+-\d{1,2})\b"
)
_BOLD_MARKER = re.compile(r"\*\*")

_BLAME = re.compile(
    r"\b(?:your (?:own )?fault|you should have (?:known|read|checked|noticed)|you obviously|"
    r"you clearly (?:didn'?t|did not|don'?t|have no)|if you had (?:bothered|read|actually)|you failed to|"
    r"you didn'?t bother|user error|that'?s on you|you must not have|(?:a|the) mistake (?:was )?(?:yours|on your end)|"
    r"you (?:broke|messed up|screwed up)|this is (?:entirely )?(?:your|a you) (?:problem|issue|mistake)|"
    r"as (?:i|we) (?:already|clearly) (?:said|explained|told you)|rtfm|did you even|"
    r"you (?:really )?should know|basic stuff)\b",
    re.IGNORECASE,
)
_SARCASM = re.compile(
    r"(?:\b(?:good luck with that|congratulations on breaking|not rocket science|genius|wow,? (?:just )?wow|"
    r"shocking(?:ly)?|oh great|what a surprise|surprise,? surprise|brilliant idea|nice try|duh|"
    r"as (?:literally )?everyone knows|any (?:first[- ]year|beginner) knows|welcome to the cloud|"
    r"who would have thought|obviously,|clearly,? you)\b|\bseriously\?|(?<![\w/])/s(?!\w))",
    re.IGNORECASE,
)
_DISMISSIVE = re.compile(
    r"\b(?:not (?:our|my) problem|not my job|just google it|google it|figure it out|"
    r"read the (?:docs|documentation|manual)(?=\.?\s*$)|deal with it|whatever works|that'?s all i can say|"
    r"we can'?t help you|i don'?t care|stop asking|no idea, sorry)\b",
    re.IGNORECASE | re.MULTILINE,
)
_SLANG = re.compile(
    r"\b(?:lol|lmao|omg|wtf|dude|bro|meh|ya know|gonna|kinda|sucks|crap|damn)\b", re.IGNORECASE
)
_EMPATHY = re.compile(
    r"\b(?:sorry|apologi[sz]e|apologies|i understand|understandabl[ey]|frustrat\w*|i hear you|"
    r"i know (?:this|how|that)|that sounds|i can see (?:why|how)|must be (?:stressful|annoying|worrying)|"
    r"thanks? (?:you )?for your patience|let'?s (?:get|fix|sort) (?:this|it)|i'?m here to help|"
    r"appreciate your patience|stressful|concerning|unfortunate)\b",
    re.IGNORECASE,
)
_UPSET_STRONG = re.compile(
    r"\b(?:ridiculous|unacceptable|furious|angry|pissed|fed up|sick of|terrible|horrible|awful|"
    r"worst|useless|garbage|joke|outrageous|livid|disgusted|frustrat\w*|annoy\w*|nightmare|"
    r"wasted|losing (?:money|customers|business)|third time|hours? (?:now|already)|days? (?:now|already)|"
    r"nobody (?:helps|answers)|wtf|scam|robbed|overcharg\w*|i'?m done|sort this out|fix this now|"
    r"completely broken|incompetent)\b|!!|\?!",
    re.IGNORECASE,
)
_UPSET_WEAK = re.compile(
    r"\b(?:still|again|urgent|urgently|asap|immediately|ugh|seriously|down)\b|!", re.IGNORECASE
)
_SHOUTED_WORD = re.compile(r"\b[A-Z]{4,}\b")

# ---------------------------------------------------------------------------
# Scoring helpers
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Findings:
    """Mutable accumulator for one check (internal)."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def result(self, check: str) -> QualityCheckResult:
        score = 1.0 - ERROR_PENALTY * len(self.errors) - WARNING_PENALTY * len(self.warnings)
        return QualityCheckResult(
            check, max(0.0, round(score, 4)), tuple(self.errors + self.warnings)
        )


_CLI_VALUE_GLOBALS = frozenset(
    "--region --output --query --profile --endpoint-url --color --ca-bundle --cli-read-timeout "
    "--cli-connect-timeout --cli-binary-format --cli-input-json --cli-input-yaml --max-items "
    "--starting-token --page-size".split()
)
_CLI_FLAG_GLOBALS = frozenset(
    "--debug --no-verify-ssl --no-paginate --no-sign-request --no-cli-pager --cli-auto-prompt "
    "--no-cli-auto-prompt --version --help --generate-cli-skeleton".split()
)
_CLI_SKELETON_INPUTS = frozenset(
    {"--cli-input-json", "--cli-input-yaml", "--generate-cli-skeleton"}
)
_BOTO3_CLIENT_HELPERS = frozenset(
    "get_paginator get_waiter generate_presigned_url generate_presigned_post can_paginate close "
    "upload_file download_file upload_fileobj download_fileobj copy exceptions meta".split()
)
_SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "zsh", "console", "shell-session", "terminal"})
_PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
_YAML_LANGUAGES = frozenset({"yaml", "yml"})
_JSON_LANGUAGES = frozenset({"json"})
_CLI_START = re.compile(
    r"(?:^|[|;&(]\s*|\$\(\s*|`)\s*(?:sudo\s+)?(?:[A-Z_][A-Z0-9_]*=\S+\s+)*aws\s+\S"
)


def _norm(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


# ---------------------------------------------------------------------------
# The validator
# ---------------------------------------------------------------------------


class QualityValidator:
    """Scores a response to a query on six checks; see the module docstring for the rules.

    Args:
        catalog: Offline AWS API knowledge (``BotocoreApiCatalog`` in production).
        output_guard: ``scan_output(text) -> GuardrailVerdict``; defaults to
            ``pipeline.domain.guardrails.scan_output`` when that module is present.
        shell_checker: Returns None when a shell script parses, else a message. Default:
            a pure ``shlex`` check (inject ``code_checks.check_shell`` for ``bash -n``).
        yaml_checker: Same contract for YAML. Default: tabs in indentation only.
        threshold: Minimum weighted score to pass.
        weights: Per-check weights; missing checks get weight 0; normalised to sum 1.
    """

    def __init__(
        self,
        catalog: AwsApiCatalog,
        *,
        output_guard: Callable[[str], GuardrailVerdict] | None = None,
        shell_checker: Callable[[str], str | None] | None = None,
        yaml_checker: Callable[[str], str | None] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self._catalog = catalog
        self._output_guard = output_guard if output_guard is not None else _default_output_guard()
        self._shell_checker = shell_checker or _shlex_shell_check
        self._yaml_checker = yaml_checker or _tabs_yaml_check
        self.threshold = threshold
        raw = dict(weights if weights is not None else CHECK_WEIGHTS)
        unknown = set(raw) - set(QUALITY_CHECKS)
        if unknown:
            raise ValueError(f"unknown quality check(s) in weights: {', '.join(sorted(unknown))}")
        total = sum(raw.values())
        if total <= 0:
            raise ValueError("quality check weights must sum to a positive number")
        self._weights = {c: raw.get(c, 0.0) / total for c in QUALITY_CHECKS}
        self._service_index: dict[str, list[tuple[tuple[str, ...], str]]] | None = None
        self._service_cache: dict[str, frozenset[str]] = {}

    # -- public ------------------------------------------------------------------------

    def validate(
        self, query: str, response: str, *, intent: str | None = None, sentiment: str | None = None
    ) -> QualityReport:
        """Validate ``response`` as an answer to ``query``.

        Args:
            query: The user's (redacted) question.
            response: The assistant's answer (Markdown).
            intent: The detected intent, if known (``*_troubleshooting`` expects steps;
                ``out_of_scope`` answers are polite declines and skip coverage checks).
            sentiment: The user's sentiment (``NEGATIVE`` …), if known.

        Returns:
            The report: weighted score, passed flag, and one result per check.
        """
        parsed = parse_response(response)
        relevance = self._relevance(query, response, parsed, intent)
        checks = (
            self._completeness(query, response, parsed, intent, relevance.score < HARD_FAIL_LEVEL),
            self._structure(query, response, parsed),
            self._accuracy(response, parsed),
            relevance,
            self._tone(query, response, sentiment),
            self._safety(response),
        )
        score = sum(self._weights[c.check] * c.score for c in checks)
        hard_fail = any(c.score < HARD_FAIL_LEVEL for c in checks)
        return QualityReport(
            score=round(score, 4),
            passed=score >= self.threshold and not hard_fail,
            threshold=self.threshold,
            checks=checks,
        )

    # -- services ----------------------------------------------------------------------

    def _services_in(self, text: str) -> frozenset[str]:
        """Customer-facing service names mentioned in ``text`` (cached per text)."""
        cached = self._service_cache.get(text)
        if cached is not None:
            return cached
        if self._service_index is None:
            # first token (lower) -> [(all tokens lower, display name)], longest first
            index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
            for name in self._catalog.service_names():
                tokens = tuple(t.lower() for t in _SERVICE_TOKEN.findall(name))
                if tokens:
                    index.setdefault(tokens[0], []).append((tokens, name))
                    if len(tokens) > 1:  # "Route53", "SecretsManager"
                        index.setdefault("".join(tokens), []).append((("".join(tokens),), name))
            for candidates in index.values():
                candidates.sort(key=lambda e: len(e[0]), reverse=True)
            self._service_index = index
        words = _SERVICE_TOKEN.findall(text)
        lowered = [w.lower() for w in words]
        found: set[str] = set()
        for position, word in enumerate(lowered):
            entries = self._service_index.get(word)
            if not entries:
                continue
            for tokens, name in entries:
                if tuple(lowered[position : position + len(tokens)]) != tokens:
                    continue
                # Lower-case "config", "support", "connect", "batch" … are ordinary words.
                if words[position].islower() and name.lower() in _AMBIGUOUS_SERVICE_WORDS:
                    break
                found.add(name)
                break
        result = frozenset(found)
        if len(self._service_cache) > 2048:
            self._service_cache.clear()
        self._service_cache[text] = result
        return result

    def _mentions_service(
        self, service: str, response_lower: str, response_services: AbstractSet[str]
    ) -> bool:
        if service in response_services or service.lower().replace(" ", "") in response_lower:
            return True
        return any(alias in response_lower for alias in SERVICE_ALIASES.get(service, ()))

    # -- completeness ------------------------------------------------------------------

    def _completeness(
        self, query: str, response: str, parsed: ParsedResponse, intent: str | None, off_topic: bool
    ) -> QualityCheckResult:
        found = _Findings()
        words = len(_WORD.findall(response))
        truncation = _truncation(parsed)
        if truncation:
            found.errors.append(truncation)
        declining = intent == "out_of_scope"
        wants_steps = not declining and (
            bool(_HOWTO.search(query))
            or bool(_TROUBLE.search(query))
            or (intent or "").endswith("_troubleshooting")
        )
        if words < 12 and len(_WORD.findall(query)) >= 5 and not off_topic:
            found.errors.append(f"the answer has only {words} words; it cannot answer the question")
        elif wants_steps and not off_topic:
            if words < 12:
                found.errors.append(
                    f"the answer has only {words} words for a question that needs steps"
                )
            elif not _has_steps(parsed):
                kind = "how to do it" if _HOWTO.search(query) else "how to fix it"
                found.errors.append(
                    f"the question asks {kind}, but the answer gives no steps, commands or list"
                )
        if not off_topic and not declining:
            self._coverage(query, response, found, parsed)
        return found.result("completeness")

    def _coverage(
        self, query: str, response: str, found: _Findings, parsed: ParsedResponse | None = None
    ) -> None:
        response_lower = response.lower()
        response_services = self._services_in(response)
        missing = [
            s
            for s in sorted(self._services_in(query))
            if not self._mentions_service(s, response_lower, response_services)
        ]
        if missing:
            found.errors.append(
                f"the question mentions {', '.join(missing)}, but the answer never addresses it"
            )
        response_terms = _ask_terms(response)
        parts = _question_parts(query)
        for part in parts if len(parts) >= 2 else ():
            terms = _ask_terms(part)
            if len(terms) < 2 and not _QUESTION_START.match(part.strip()):
                continue
            if not terms:
                continue
            covered = len(terms & response_terms)
            # A long part (an error message, a log line) is answered by a few of its words.
            if covered == 0 or (covered / len(terms) < 0.25 and covered < 2):
                found.errors.append(f'part of the question is not answered: "{_snippet(part)}"')
                return
        # What each ask needs: a price, a duration, a number, a reason.
        prose = (parsed or parse_response(response)).prose_text if "```" in response else response
        for part in parts or [query]:
            for asks, answers, kind in _ASK_KINDS:
                if asks.search(part) and not answers.search(response):
                    found.errors.append(
                        f'the question asks {kind} ("{_snippet(part)}"), but the answer does not say'
                    )
                    return
            if len(parts) >= 2 and part is not parts[0] and _WHY.match(part) and not _EXPLANATION.search(prose):
                found.errors.append(f'the question asks why ("{_snippet(part)}"), but the answer gives no reason')
                return

    # -- structure ---------------------------------------------------------------------

    def _structure(self, query: str, response: str, parsed: ParsedResponse) -> QualityCheckResult:
        found = _Findings()
        if parsed.unclosed_fence_line is not None:
            found.errors.append(
                f"line {parsed.unclosed_fence_line}: code fence is opened but never closed"
            )
        in_table = False
        for number, line in parsed.prose:
            stripped = line.strip()
            if _HEADING_NO_SPACE.match(line):
                found.errors.append(
                    f"line {number}: heading needs a space after '#' (`{stripped[:30]}`)"
                )
            if len(_BOLD_MARKER.findall(line)) % 2 == 1:
                found.errors.append(f"line {number}: unbalanced '**' bold marker")
            if _BROKEN_LINK.search(line):
                found.errors.append(f"line {number}: malformed Markdown link")
            without_fences = line.replace("```", "")
            if without_fences.count("`") % 2 == 1 and not in_table:
                found.errors.append(f"line {number}: unbalanced inline code backtick")
            in_table = stripped.startswith("|")
        words = len(_WORD.findall(response))
        if words > MAX_WORDS:
            found.warnings.append(
                f"the answer is {words} words long; keep chat answers under {MAX_WORDS}"
            )
        wall = _wall_of_text(parsed)
        if wall:
            found.errors.append(wall)
        return found.result("structure")

    # -- accuracy ----------------------------------------------------------------------

    def _accuracy(self, response: str, parsed: ParsedResponse) -> QualityCheckResult:
        found = _Findings()
        self._placeholders(response, parsed, found)
        for block in parsed.blocks:
            if block.closed:
                self._code_block(block, found)
        for number, code in parsed.inline_code:
            if code.startswith("aws "):
                self._cli_calls(code, number, found, inline=True)
            else:
                self._inline_boto3(code, number, found)
        self._regions(parsed, found)
        # One defect per distinct message: the same wrong call twice is one mistake.
        found.errors = list(dict.fromkeys(found.errors))
        return found.result("accuracy")

    def _placeholders(self, response: str, parsed: ParsedResponse, found: _Findings) -> None:
        for number, line in enumerate(parsed.lines, start=1):
            for match in _PLACEHOLDER_ALWAYS.finditer(line):
                if match.group("todo") and not _CASE_SENSITIVE_TODO.search(match.group(0)):
                    continue  # "todo" in lower case is an ordinary word (a todo app)
                found.errors.append(
                    f"line {number}: placeholder `{match.group(0).strip()}` left in the answer"
                )
        prose = parsed.prose_text
        blanket = bool(_BLANKET_EXPLAIN.search(prose))
        sentences = _sentences(prose)
        reported: set[str] = set()
        for number, line in enumerate(parsed.lines, start=1):
            for match in _ANGLE.finditer(line):
                inner = match.group(1)
                if inner.lower() in _HTML_TAGS or inner in reported:
                    continue
                if blanket or _explained(inner, sentences):
                    continue
                reported.add(inner)
                found.errors.append(
                    f"line {number}: placeholder `<{inner}>` is not explained (say what to replace it with)"
                )

    def _code_block(self, block: CodeBlock, found: _Findings) -> None:
        language = block.language
        text = block.text
        first = text.lstrip().split("\n", 1)[0] if text.strip() else ""
        if not language:
            if first.startswith(("aws ", "$ ")):
                language = "bash"
            elif (
                first.startswith(("{", "[")) and text.rstrip().endswith(("}", "]")) and '"' in text
            ):
                language = "json"
            elif first.startswith(("import ", "from ")) and "boto3" in text:
                language = "python"
        if language in _PYTHON_LANGUAGES:
            source = _strip_doctest(text)
            try:
                tree = ast.parse(source)
            except SyntaxError as exc:
                line_no = block.start_line + (exc.lineno or 1) - 1
                found.errors.append(f"line {line_no}: Python code block does not parse ({exc.msg})")
                return
            self._boto3_calls(tree, block.start_line, found)
        elif language in _JSON_LANGUAGES:
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                line_no = block.start_line + exc.lineno - 1
                found.errors.append(f"line {line_no}: JSON code block is not valid JSON ({exc.msg})")
        elif language in _YAML_LANGUAGES:
            error = self._yaml_checker(text)
            if error:
                found.errors.append(
                    f"line {block.start_line}: YAML code block does not parse ({error})"
                )
        elif language in _SHELL_LANGUAGES:
            script = text
            if language in {"console", "shell-session", "terminal"} or _has_prompts(text):
                script = "\n".join(
                    line.lstrip()[2:]
                    for line in text.splitlines()
                    if line.lstrip().startswith("$ ")
                )
            error = self._shell_checker(script) if script.strip() else None
            if error:
                found.errors.append(
                    f"line {block.start_line}: shell code block does not parse ({error})"
                )
                return
            for offset, line in _logical_lines(script):
                if "aws" in line:
                    self._cli_calls(line, block.start_line + offset, found, inline=False)

    # -- CLI ---------------------------------------------------------------------------

    def _cli_calls(self, line: str, number: int, found: _Findings, *, inline: bool) -> None:
        for segment in re.split(r"\|\||&&|[|;]|\$\(|`", line):
            tokens = _tokens(segment)
            while tokens and (
                tokens[0] in {"sudo", "$", "time", "exec"}
                or re.match(r"^[A-Z_][A-Z0-9_]*=", tokens[0])
            ):
                tokens = tokens[1:]
            if not tokens or tokens[0] != "aws":
                continue
            self._cli_call(tokens, number, found, inline=inline)

    def _cli_call(self, tokens: list[str], number: int, found: _Findings, *, inline: bool) -> None:
        index = 1
        while index < len(tokens) and tokens[index].startswith("--"):
            option = tokens[index].split("=", 1)[0]
            index += 2 if option in _CLI_VALUE_GLOBALS and "=" not in tokens[index] else 1
        if index >= len(tokens):
            return
        service = tokens[index]
        if service.startswith("-") or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", service):
            return
        if not self._catalog.has_service(service):
            found.errors.append(f"line {number}: `aws {service}` is not an AWS CLI service")
            return
        if index + 1 >= len(tokens) or tokens[index + 1].startswith("-"):
            return
        command = tokens[index + 1]
        call = f"aws {service} {command}"
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", command):
            if re.fullmatch(r"[A-Za-z0-9_]+", command):
                found.errors.append(
                    f"line {number}: `{call}` is not a CLI command (CLI commands are lower-case with dashes)"
                )
            return
        info = self._catalog.operation(service, command)
        if info is None:
            found.errors.append(f"line {number}: `{call}` is not {self._op_hint(service, command)}")
            return
        if info.open_parameters:
            return
        args = tokens[index + 2 :]
        options = [a.split("=", 1)[0] for a in args if a.startswith("--")]
        accepted = {_norm(p) for p in info.parameters} | {
            _norm(p) for p in info.cli_options
        }
        given: set[str] = set()
        unknown_before = len(found.errors)
        for option in options:
            if option in _CLI_VALUE_GLOBALS or option in _CLI_FLAG_GLOBALS:
                continue
            name = _norm(option[2:])
            if name in accepted:
                given.add(name)
                continue
            if name.startswith("no") and name[2:] in accepted:
                continue
            suggestion = difflib.get_close_matches(name, sorted(accepted), n=1, cutoff=0.7)
            hint = ""
            if suggestion:
                original = next(
                    p
                    for p in (*info.parameters, *info.cli_options)
                    if _norm(p) == suggestion[0]
                )
                hint = f" (did you mean --{_dashed(original)}?)"
            found.errors.append(f"line {number}: `{call}` has no parameter {option}{hint}")
        if info.high_level or _CLI_SKELETON_INPUTS & set(options):
            return
        # Inline code that only names a command (`aws s3api put-object`) is prose, not a call;
        # with its own options it is a call and must be complete.
        if inline and (not given or any(a in {"...", "…"} or a.endswith(("...", "…")) for a in args)):
            return
        if len(found.errors) > unknown_before:
            return  # a misspelt parameter already explains the "missing" one
        required = info.cli_required
        missing = sorted(p for p in required if _norm(p) not in given)
        if missing:
            names = ", ".join(f"--{_dashed(p)}" for p in missing)
            found.errors.append(f"line {number}: `{call}` is missing required parameter(s) {names}")

    def _op_hint(self, service: str, command: str) -> str:
        label = service.upper() if len(service) <= 3 else service
        if service == "s3":
            if self._catalog.operation("s3api", command) is not None:
                return f"an `aws s3` command (use `aws s3api {command}`)"
            return "an `aws s3` command (high-level commands: cp, ls, mb, mv, rb, rm, sync, presign, website)"
        suggestion = difflib.get_close_matches(
            command, list(self._catalog.operation_names(service)), n=1, cutoff=0.75
        )
        hint = f" (did you mean {suggestion[0]}?)" if suggestion else ""
        return (
            f"an {label} operation{hint}" if label[0] in "AEIOU" else f"a {label} operation{hint}"
        )

    # -- boto3 -------------------------------------------------------------------------

    def _boto3_calls(self, tree: ast.AST, start_line: int, found: _Findings) -> None:
        clients: dict[str, str] = {}
        resources: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                kind, service = _client_factory(node.value)
                for target in node.targets:
                    key = _expr_key(target)
                    if key and kind == "client" and service:
                        clients[key] = service
                    elif key and kind == "resource":
                        resources.add(key)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            method = node.func.attr
            owner = node.func.value
            service = None
            if isinstance(owner, ast.Call):
                kind, service = _client_factory(owner)
                if kind != "client":
                    service = None
            else:
                key = _expr_key(owner)
                if key in resources:
                    continue
                service = clients.get(key or "") or _service_from_variable(key, self._catalog)
            if service is None or method in _BOTO3_CLIENT_HELPERS or method.startswith("_"):
                continue
            keywords = [k.arg for k in node.keywords if k.arg is not None]
            has_star = any(k.arg is None for k in node.keywords) or bool(node.args)
            self._boto3_call(
                service, method, keywords, has_star, start_line + node.lineno - 1, found
            )

    def _inline_boto3(self, code: str, number: int, found: _Findings) -> None:
        match = re.fullmatch(r"\s*([a-z][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\((.*)\)\s*", code)
        if not match:
            return
        service = _service_from_variable(match.group(1), self._catalog)
        if service is None or match.group(2) in _BOTO3_CLIENT_HELPERS:
            return
        keywords = re.findall(r"(?:^|,)\s*([A-Za-z_]\w*)\s*=", match.group(3))
        self._boto3_call(service, match.group(2), keywords, True, number, found)

    def _boto3_call(
        self,
        service: str,
        method: str,
        keywords: Sequence[str],
        has_star: bool,
        number: int,
        found: _Findings,
    ) -> None:
        if not self._catalog.has_service(service):
            found.errors.append(f"line {number}: boto3 has no service client {service!r}")
            return
        call = f"{service}.{method}()"
        info = self._catalog.operation(service, method) if method.islower() else None
        if info is None or info.high_level:
            candidates = [n.replace("-", "_") for n in self._catalog.operation_names(service)]
            suggestion = difflib.get_close_matches(method, candidates, n=1, cutoff=0.75)
            hint = f" (did you mean {suggestion[0]}?)" if suggestion else ""
            found.errors.append(
                f"line {number}: `{call}` is not a boto3 {service} client method{hint}"
            )
            return
        for keyword in keywords:
            if keyword not in info.parameters:
                suggestion = difflib.get_close_matches(
                    keyword, sorted(info.parameters), n=1, cutoff=0.6
                )
                hint = f" (did you mean {suggestion[0]}?)" if suggestion else ""
                found.errors.append(f"line {number}: `{call}` has no parameter {keyword}{hint}")
        if not has_star:
            missing = sorted(info.required - set(keywords))
            if missing:
                found.errors.append(
                    f"line {number}: `{call}` is missing required parameter(s) {', '.join(missing)}"
                )

    # -- regions -----------------------------------------------------------------------

    def _regions(self, parsed: ParsedResponse, found: _Findings) -> None:
        seen: set[str] = set()
        for number, line in enumerate(parsed.lines, start=1):
            for match in _REGION_ARGUMENT.finditer(line):
                region = match.group(1)
                if region not in seen and not _REGION_LIKE.fullmatch(region):
                    seen.add(region)
                    if not self._catalog.is_region(region):
                        found.errors.append(f"line {number}: `{region}` is not an AWS region")
            for match in _REGION_LIKE.finditer(line):
                region = match.group(1)
                if region in seen:
                    continue
                seen.add(region)
                if not self._catalog.is_region(region):
                    found.errors.append(f"line {number}: `{region}` is not an AWS region")

    # -- relevance ---------------------------------------------------------------------

    def _relevance(
        self, query: str, response: str, parsed: ParsedResponse, intent: str | None
    ) -> QualityCheckResult:
        found = _Findings()
        if intent == "out_of_scope":
            return found.result("relevance")
        query_terms = content_terms(query)
        response_terms = content_terms(response)
        query_services = self._services_in(query)
        response_services = self._services_in(response)
        response_lower = response.lower()
        if (
            query_services
            and response_services
            and not any(
                self._mentions_service(s, response_lower, response_services) for s in query_services
            )
        ):
            found.errors.append(
                f"the question is about {', '.join(sorted(query_services))}, "
                f"but the answer is about {', '.join(sorted(response_services))}"
            )
            return found.result("relevance")
        query_asks, response_asks = _ask_terms(query), _ask_terms(response)
        topic = query_asks - _GENERIC_ACTIONS
        if (
            topic
            and len(topic) <= 3  # longer questions are judged by the overlap below
            and not topic & response_asks
            and not any(
                self._mentions_service(s, response_lower, response_services) for s in query_services
            )
        ):
            found.errors.append(
                "the answer never mentions what the question is about "
                f"({', '.join(sorted(w for w in _WORD.findall(query) if _loose_stem(w) in topic)[:4])})"
            )
            return found.result("relevance")
        if len(query_terms) >= 3:
            overlap = len(query_terms & response_terms) / len(query_terms)
            if topic:  # loose stems and synonyms ("disk" ~ "storage") also count
                overlap = max(overlap, len(topic & response_asks) / len(query_asks))
            if overlap < 0.1:
                found.errors.append(
                    f"the answer shares almost no terms with the question ({overlap:.0%}); it may answer a different question"
                )
            elif overlap < 0.25 and not (query_services & response_services):
                found.warnings.append(
                    f"the answer shares few terms with the question ({overlap:.0%})"
                )
        return found.result("relevance")

    # -- tone --------------------------------------------------------------------------

    def _tone(self, query: str, response: str, sentiment: str | None) -> QualityCheckResult:
        found = _Findings()
        prose = parse_response(response).prose_text if "```" in response else response
        for pattern, label in (
            (_BLAME, "blames the user"),
            (_SARCASM, "is sarcastic"),
            (_DISMISSIVE, "is dismissive"),
        ):
            match = pattern.search(prose)
            if match:
                found.errors.append(f'the answer {label}: "{match.group(0).strip()}"')
        slang = _SLANG.search(prose)
        if slang:
            found.errors.append(f'unprofessional wording: "{slang.group(0)}"')
        plain = re.sub(r"`[^`\n]*`|\[[^\]\n]*\]|\{[^}\n]*\}|\*\*[^*\n]*\*\*", " ", prose)
        shouted = sorted(
            {w for w in _SHOUTED_WORD.findall(plain) if w not in _ACRONYMS and not _looks_like_identifier(w)}
        )
        if len(shouted) >= 3:
            found.errors.append(f"the answer shouts in capitals ({', '.join(shouted[:3])})")
        if prose.count("!") >= 4:
            found.warnings.append("too many exclamation marks for a support answer")
        if _user_upset(query, sentiment) and not _EMPATHY.search(prose):
            found.errors.append(
                "the user is upset, but the answer does not acknowledge it (no empathy)"
            )
        return found.result("tone")

    # -- safety ------------------------------------------------------------------------

    def _safety(self, response: str) -> QualityCheckResult:
        found = _Findings()
        if self._output_guard is None:
            return found.result("safety")
        verdict = self._output_guard(response)
        for category in verdict.categories:
            spans = [f"{f.start}-{f.end}" for f in verdict.findings if f.category == category]
            found.errors.append(
                f"output guardrail: {category.replace('_', ' ')} ({_SAFETY_REASONS.get(category, category)}; "
                f"characters {', '.join(spans[:3])})"
            )
        return found.result("safety")


_SAFETY_REASONS = {
    "sensitive_data": "the answer contains a secret or personal data",
    "future_commitment": "the answer promises something the assistant cannot commit to",
    "competitor_disparagement": "the answer disparages a competitor",
}
_AMBIGUOUS_SERVICE_WORDS = frozenset(
    {
        "config",
        "support",
        "connect",
        "batch",
        "backup",
        "shield",
        "budgets",
        "billing",
        "lex",
        "polly",
        "translate",
        "inspector",
        "organizations",
        "amplify",
        "glue",
        "athena",
        "lambda",
    }
    - {"lambda"}
)
_ACRONYMS = frozenset(
    "AWS HTTP HTTPS JSON YAML HTML SAML OIDC CIDR IPV4 IPV6 NACL TCP UDP SSH RDP DNS VPC VPN UTC ARN "
    "MFA IAM KMS SSL TLS ECS EKS ECR SQS SNS SES RDS EBS EFS AMI CPU GPU RAM IOPS NOTE WARNING TIP "
    "IMPORTANT CAUTION GET PUT POST DELETE HEAD PATCH NULL TRUE FALSE ACL CORS SDK CLI API URL URI "
    "MySQL POSTGRES PEM DKIM SPF DMARC REST NAT SSO STS AZ FIFO".split()
)


def _looks_like_identifier(word: str) -> bool:
    return any(ch.isdigit() for ch in word) or "_" in word


def _default_output_guard() -> Callable[[str], GuardrailVerdict] | None:
    try:
        from pipeline.domain.guardrails import scan_output  # domain-internal, pure Python
    except ImportError:
        return None
    return scan_output


# ---------------------------------------------------------------------------
# Helpers (pure functions)
# ---------------------------------------------------------------------------


def _truncation(parsed: ParsedResponse) -> str | None:
    if not parsed.lines or not "".join(parsed.lines).strip():
        return "the answer is empty"
    last_index = max(i for i, line in enumerate(parsed.lines) if line.strip())
    last_number = last_index + 1
    prose_numbers = {n for n, _ in parsed.prose}
    if last_number not in prose_numbers:
        return None  # ends with a closed code block
    line = parsed.lines[last_index].strip()
    if line.startswith(("|", "#", ">", "<", "[")) or line.endswith(("```", "~~~")):
        return None
    words = _WORD.findall(line)
    last_word = words[-1].lower() if words else ""
    if re.search(r"[,;(\-\u2013\u2014]\s*$", line):
        return f'line {last_number}: the answer stops mid-sentence ("…{line[-40:]}")'
    if _TERMINAL.search(line):
        if (
            line.endswith(":")
            and last_number == len(parsed.lines)
            or line.endswith(":")
            and last_index == max(i for i, line_ in enumerate(parsed.lines) if line_.strip())
        ):
            return (
                f"line {last_number}: the answer ends with a colon and nothing follows (truncated?)"
            )
        return None
    is_item = bool(_LIST_ITEM.match(parsed.lines[last_index]))
    if last_word in _DANGLING_END or (not is_item and len(words) >= 5):
        return f'line {last_number}: the answer stops mid-sentence ("…{line[-40:]}")'
    return None


def _has_steps(parsed: ParsedResponse) -> bool:
    items = sum(1 for _, line in parsed.prose if _LIST_ITEM.match(line))
    if items >= 2 or any(b.text.strip() for b in parsed.blocks):
        return True
    if any(
        c.startswith(("aws ", "kubectl ", "ssh ", "sam ", "cdk ")) for _, c in parsed.inline_code
    ):
        return True
    if any("(" in c and ")" in c for _, c in parsed.inline_code):
        return True
    prose = parsed.prose_text
    return len(_SEQUENCE_WORDS.findall(prose)) >= 2 or bool(_IMPERATIVE.search(prose))


def _wall_of_text(parsed: ParsedResponse) -> str | None:
    paragraph: list[tuple[int, str]] = []
    paragraphs: list[list[tuple[int, str]]] = []
    for number, line in parsed.prose:
        if line.strip():
            paragraph.append((number, line))
        elif paragraph:
            paragraphs.append(paragraph)
            paragraph = []
    if paragraph:
        paragraphs.append(paragraph)
    has_list = any(_LIST_ITEM.match(line) for _, line in parsed.prose)
    for para in paragraphs:
        text = " ".join(line for _, line in para)
        if any(_LIST_ITEM.match(line) for _, line in para):
            continue
        words = len(_WORD.findall(text))
        steps = len(_SEQUENCE_WORDS.findall(text))
        if steps >= 3 and words >= 60 and not has_list:
            return (
                f"line {para[0][0]}: {steps} steps are written as one {words}-word paragraph; "
                "use a numbered list"
            )
        if words >= 220:
            return f"line {para[0][0]}: a {words}-word paragraph (wall of text); split it up or use a list"
    return None


_PART_SPLIT = re.compile(
    r"\?\s+|\?$|\n+|;\s+|\b(?:and also|also,?|plus|additionally|as well as)\b"
    r"|(?:^|\s)\(?(?:\d{1,2}|[a-e])\)\s+|(?:^|(?<=[\s:]))\d{1,2}\.\s+(?=[A-Za-z])"
    r"|,?\s+and\s+(?=(?:how|what|will|is|are|can|does|do|when|why|where|which|there|should|would|could)\b)",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"(?:how|what|will|is|are|can|does|do|when|why|where|which|should|would|could)\b", re.IGNORECASE
)
#: "… and <verb> …": a second action in the same question ("take a snapshot and copy it").
_AND_CLAUSE = re.compile(r",?\s+and\s+(?:then\s+)?", re.IGNORECASE)
_ASK_VERBS = frozenset(
    """copy move delete remove restore attach detach share connect enable disable set configure
    create update change monitor get send schedule automate rotate encrypt decrypt export import
    migrate replicate back backup upload download deploy roll rollback invoke trigger scale resize
    modify rename tag limit restrict allow block grant revoke test verify find list see view check
    track alert notify estimate reduce increase lower keep stop start restart terminate recover
    transfer sync mount expose route point add install clean clear purge retain archive""".split()
)
#: Words that say nothing about *what* a part of a question asks ("another", "extra" …).
_ASK_GENERIC = frozenset(
    """another extra long much many kept possible best default different difference between
    exactly actually currently anything everything somehow instead happen happens happened""".split()
)


def _question_parts(query: str) -> list[str]:
    """The separate asks in a question (sentences, "also", "1) … 2) …", "… and how …", "A and B")."""
    parts: list[str] = []
    for piece in _PART_SPLIT.split(query):
        if not piece or not piece.strip():
            continue
        parts.extend(_split_and(piece))
    return [
        p
        for p in parts
        if len(_WORD.findall(p)) >= 2
        and (_ask_terms(p) or any(asks.search(p) for asks, _, _ in _ASK_KINDS))
    ]


def _split_and(piece: str) -> list[str]:
    """Split "X and Y" when Y is its own ask: a new action ("and copy it to another region")
    or a second object of two or more content words ("EBS volumes and Elastic IPs in my
    account"). "between A and B" and short pairs ("read and write") stay together."""
    result: list[str] = []
    rest = piece
    while True:
        split = None
        for match in _AND_CLAUSE.finditer(rest):
            left, right = rest[: match.start()], rest[match.end() :]
            if re.search(r"\b(?:between|both|either|compare|comparing|vs|versus)\b", left, re.IGNORECASE):
                continue
            left_terms, right_terms = _ask_terms(left), _ask_terms(right)
            first = right.split(maxsplit=1)[0].lower() if right.split() else ""
            if len(left_terms) >= 2 and (
                (first in _ASK_VERBS and len(right_terms) >= 1 and len(_WORD.findall(right)) >= 2)
                or (len(right_terms) >= 2 and len(_WORD.findall(right)) >= 3)
            ):
                split = (left, right)
                break
        if split is None:
            result.append(rest)
            return result
        result.append(split[0])
        rest = split[1]


@lru_cache(maxsize=4096)
def _ask_terms(text: str) -> frozenset[str]:
    """Loosely stemmed content words of one ask, without words that carry no topic."""
    return frozenset(
        _loose_stem(w)
        for w in _WORD.findall(text)
        if w.lower() not in _STOPWORDS
        and w.lower() not in _ASK_GENERIC
        and (len(w) >= 3 or w.isupper() or any(ch.isdigit() for ch in w) or w.lower() in _SYNONYMS)
    )


_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ions", "ion", "ed", "es", "s", "ly")


def _loose_stem(word: str) -> str:
    """Suffix-stripped 5-letter prefix: "copies"/"copy", "deletion"/"delete", "backups"/"backup"."""
    w = word.lower()
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            if suffix in ("ed", "ing", "ings") and len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeiouls":
                w = w[:-1]  # "stopped" -> "stop"
            break
    stem = w[:5]
    return _SYNONYMS.get(stem, stem)


#: Loose stems that mean the same thing in a support answer (mapped to one representative).
_SYNONYM_GROUPS = (
    ("cost", "price", "prici", "charg", "pay", "bill", "invoi", "spend", "expen", "fee", "cheap"),
    ("disk", "stora", "ephem", "tmp", "volum"),
    ("slow", "speed", "fast", "faste", "throu", "perfo", "laten", "quick"),
    ("delet", "remov", "purge", "expir", "clean", "termi"),
    ("downt", "outag", "unava", "reboo", "inter", "disru"),
    ("backu", "back", "snaps", "resto", "recov"),
    ("permi", "acces", "denie", "autho", "allow", "polic"),
    ("log", "loggi", "trail", "audit"),
    ("limit", "quota", "maxim", "max"),
    ("encry", "kms", "crypt"),
    ("copy", "dupli", "repli", "clone"),
    ("uploa", "cp", "put"),
    ("regio", "cross"),
)
_SYNONYMS: dict[str, str] = {stem: group[0] for group in _SYNONYM_GROUPS for stem in group}

#: What kind of answer an ask needs, and how to see that the answer gives it.
_ASK_KINDS: tuple[tuple[re.Pattern[str], re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\bhow much\b[^?.]{0,60}\b(?:cost|charge|pay|extra|spend|price|money|bill)\w*"
            r"|\bhow much (?:does|will|would|do|is) (?:it|this|that)\b(?! take)"
            r"|\bwhat (?:does|will|would|do) (?:it|this|that|they)\b[^?.]{0,30}\bcost\b"
            r"|\bis (?:it|this|that|there) (?:free|a charge|a fee|an extra (?:cost|charge))\b",
            re.IGNORECASE,
        ),
        re.compile(
            r"[$€£]|\b(?:free|no (?:extra|additional) (?:cost|charge)|charg\w*|cost\w*|pric\w*|pay\w*|"
            r"bill\w*|fees?|per (?:gb|hour|month|request|million))\b",
            re.IGNORECASE,
        ),
        "how much it costs",
    ),
    (
        re.compile(r"\bhow long\b|\bretention period\b|\bhow many (?:days|hours|minutes|months)\b", re.IGNORECASE),
        re.compile(
            r"(?<![\w.-])\d|\b(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|indefinite\w*|forever|"
            r"until|never expire|instant\w*|immediate\w*|retention|retain\w*)\b",
            re.IGNORECASE,
        ),
        "how long",
    ),
    (
        re.compile(
            r"\bhow many\b|\b(?:is|are) there (?:a |any )?(?:limits?|maximum|max|quotas?)\b"
            r"|\bwhat(?:'s| is) the (?:limit|maximum|max|quota)\b|\bhow (?:big|large)\b"
            r"|\bhow much (?:memory|storage|data|space|disk|ram|cpu|traffic|throughput|bandwidth)\b",
            re.IGNORECASE,
        ),
        re.compile(
            r"(?<![\w.-])\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|dozens?|hundreds?|thousands?|"
            r"millions?|billions?|unlimited|limit\w*|quotas?|maximum|max|up to|no cap)\b",
            re.IGNORECASE,
        ),
        "how many or how much",
    ),
)
#: Verbs that say what to do, not what it is about ("delete" my account, "see" my bill).
_GENERIC_ACTIONS = frozenset(_loose_stem(w) for w in _ASK_VERBS | {"fix", "work", "do", "use", "go", "happen"})
_WHY = re.compile(r"^\s*(?:and\s+)?(?:why|what causes|what's causing|how come)\b", re.IGNORECASE)
_EXPLANATION = re.compile(
    r"\b(?:because|since|due to|reasons?|caused? by|causes|so that|that's why|this is why|as a result|"
    r"which means|means|cannot|can't|can not|doesn't|does not|don't|do not|isn't|is not|aren't|"
    r"only|by design|designed|instead|without)\b",
    re.IGNORECASE,
)


def _snippet(part: str) -> str:
    part = part.strip()
    return part if len(part) <= 60 else part[:57] + "..."


def _sentences(prose: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", prose) if s.strip()]


def _explained(inner: str, sentences: Sequence[str]) -> bool:
    bracketed = f"<{inner}>"
    loose = re.compile(
        r"\b" + r"[\s_-]?".join(re.escape(p) for p in re.split(r"[\s_-]+", inner)) + r"\b",
        re.IGNORECASE,
    )
    for sentence in sentences:
        if (bracketed in sentence or loose.search(sentence)) and _EXPLAIN_WORDS.search(sentence):
            # A sentence that only *uses* the placeholder in a command does not explain it.
            if bracketed in sentence and not _EXPLAIN_WORDS.search(
                sentence.replace(bracketed, " ")
            ):
                continue
            return True
    return False


def _has_prompts(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and lines[0].lstrip().startswith("$ ")


def _strip_doctest(text: str) -> str:
    if ">>> " not in text:
        return text
    return "\n".join(
        line.lstrip()[4:]
        for line in text.splitlines()
        if line.lstrip().startswith((">>> ", "... "))
    )


def _logical_lines(script: str) -> list[tuple[int, str]]:
    result: list[tuple[int, str]] = []
    buffer = ""
    start = 0
    for offset, raw in enumerate(script.splitlines()):
        if not buffer:
            start = offset
        if raw.rstrip().endswith("\\"):
            buffer += raw.rstrip()[:-1] + " "
            continue
        result.append((start, buffer + raw))
        buffer = ""
    if buffer:
        result.append((start, buffer))
    return result


def _tokens(segment: str) -> list[str]:
    segment = segment.split(" #", 1)[0]
    try:
        return shlex.split(segment)
    except ValueError:
        return segment.split()


def _dashed(name: str) -> str:
    if "-" in name or name.islower():
        return name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def _client_factory(call: ast.Call) -> tuple[str | None, str | None]:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in {"client", "resource"}:
        service = None
        if (
            call.args
            and isinstance(call.args[0], ast.Constant)
            and isinstance(call.args[0].value, str)
        ):
            service = call.args[0].value
        for keyword in call.keywords:
            if keyword.arg == "service_name" and isinstance(keyword.value, ast.Constant):
                service = str(keyword.value.value)
        return func.attr, service
    return None, None


def _expr_key(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _expr_key(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _service_from_variable(key: str | None, catalog: AwsApiCatalog) -> str | None:
    """``s3`` / ``s3_client`` / ``ec2client`` name a client of that service by convention."""
    if not key or "." in key:
        return None
    name = re.sub(r"_?client$", "", key.lower())
    if name in {"lambda_", "lambda", "awslambda", "lambda_client"}:
        name = "lambda"
    if name in _CONVENTIONAL_CLIENT_NAMES and catalog.has_service(name):
        return name
    return None


_CONVENTIONAL_CLIENT_NAMES = frozenset(
    "s3 ec2 iam sts rds lambda sqs sns ssm kms logs cloudwatch cloudformation ecs eks ecr "
    "secretsmanager route53 elbv2 autoscaling glue athena kinesis firehose bedrock ses "
    "stepfunctions events apigateway cognito dynamodb".split()
)


def _user_upset(query: str, sentiment: str | None) -> bool:
    if _UPSET_STRONG.search(query):
        return True
    shouted = {w for w in _SHOUTED_WORD.findall(query) if w not in _ACRONYMS and not _looks_like_identifier(w)}
    if len(shouted) >= 3 or (len(shouted) == 2 and len(shouted) * 4 >= len(_WORD.findall(query))):
        return True
    return (sentiment or "").upper() == "NEGATIVE" and bool(_UPSET_WEAK.search(query))


def _shlex_shell_check(script: str) -> str | None:
    """Pure fallback shell check: every logical line must tokenise (balanced quotes)."""
    for _, line in _logical_lines(script):
        try:
            shlex.split(line, comments=True)
        except ValueError as exc:
            return str(exc)
    return None


def _tabs_yaml_check(text: str) -> str | None:
    """Pure fallback YAML check: tabs in indentation are always a YAML error."""
    for number, line in enumerate(text.splitlines(), start=1):
        if "\t" in line[: len(line) - len(line.lstrip())]:
            return f"tab character in indentation (line {number})"
    return None
