"""``accuracy`` (GUIDE.md §5): placeholders, code that parses, real AWS calls and regions.

**Placeholder rule.** ``[INSERT …]``, ``[PLACEHOLDER]``, ``TODO``/``FIXME``/``TBD``,
``{{var}}`` (except CloudFormation's ``{{resolve:…}}``) and "lorem ipsum" are always
defects. Generic angle-bracket placeholders (``<value>``, ``<xxx>``) pass only when
the prose explains them: a sentence that names the placeholder together with "replace",
"substitute", "where", "is your", "is the" …, or a blanket sentence such as "replace the
placeholders in angle brackets with your values". Self-describing example values without
brackets (``my-bucket``, ``YOUR_BUCKET_NAME``) and Markdown links are not placeholders.
Self-describing angle-bracket names (``<bucket-name>``, ``<instance-id>``) are the AWS
documentation's own convention and pass; only names that say nothing (``<value>``,
``<xxx>``, lexicon ``generic_placeholders``) must be explained.

Code blocks: Python parses (``ast``), JSON loads, YAML and shell pass the injected
checkers, C-family code (JavaScript, TypeScript, Java, Go …) and HCL (Terraform) have
balanced brackets; ``aws …`` commands (in shell blocks, inline code and plain prose) and boto3
calls are checked by :mod:`~pipeline.domain.quality.aws_calls`; region names are real;
well-known facts (limits, defaults, behaviour) are not contradicted (:mod:`.facts`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Sequence

from pipeline.domain.models import QualityCheckResult
from pipeline.domain.quality.asl import check_asl
from pipeline.domain.quality.aws_calls import Boto3Checker, CliChecker
from pipeline.domain.quality.catalogue import catalogue
from pipeline.domain.quality.facts import check_code_values, check_facts
from pipeline.domain.quality.parsing import (
    CodeBlock,
    ParsedResponse,
    brace_mismatch,
    has_prompts,
    json_object,
    logical_lines,
    sentences,
    strip_doctest,
)
from pipeline.domain.quality.quantities import check_quantities
from pipeline.domain.quality.scoring import Findings
from pipeline.domain.quality.templates import check_templates, read_yaml
from pipeline.ports import AwsApiCatalog

_CATALOGUE = catalogue()
_PLACEHOLDER_ALWAYS = _CATALOGUE.regex("accuracy.placeholder")
_CASE_SENSITIVE_TODO = _CATALOGUE.regex("accuracy.todo_upper")
_ANGLE = _CATALOGUE.regex("accuracy.angle_placeholder")
_EXPLAIN_WORDS = _CATALOGUE.regex("accuracy.explain_words")
_BLANKET_EXPLAIN = _CATALOGUE.regex("accuracy.blanket_explain")
_REGION_LIKE = _CATALOGUE.regex("accuracy.region_like")
_REGION_ARGUMENT = _CATALOGUE.regex("accuracy.region_argument")
_CONDITION_KEY = _CATALOGUE.regex("accuracy.condition_key")
_ELASTIC_ONLY_API = _CATALOGUE.regex("accuracy.elastic_only_api")
#: The question or answer is about Amazon OpenSearch Service (any domain there, OpenSearch or
#: legacy Elasticsearch OSS).
_OPENSEARCH_SERVICE = re.compile(r"\bOpenSearch\b|\bAmazon\s+Elasticsearch\s+Service\b|\bes\.amazonaws\.com\b")
_GLOBAL_CONDITION_KEYS = _CATALOGUE.words("global_condition_keys")
_HTML_TAGS = _CATALOGUE.words("html_tags")
_GENERIC_PLACEHOLDERS = _CATALOGUE.words("generic_placeholders")
_SHELL_LANGUAGES = _CATALOGUE.words("shell_languages")
_PYTHON_LANGUAGES = _CATALOGUE.words("python_languages")
_YAML_LANGUAGES = _CATALOGUE.words("yaml_languages")
_JSON_LANGUAGES = _CATALOGUE.words("json_languages")
_BRACE_LANGUAGES = _CATALOGUE.words("brace_languages")
_HCL_LANGUAGES = _CATALOGUE.words("hcl_languages")
_SESSION_LANGUAGES = frozenset({"console", "shell-session", "terminal"})
_INLINE_CODE_SPAN = re.compile(r"`[^`\n]*`")
#: ``aws <service> <command> [--option [value]] …`` written in plain prose (lower-case ``aws``).
_PROSE_CLI = re.compile(
    r"(?<![\w./@-])aws\s+[a-z0-9][a-z0-9-]*\s+[a-z0-9][a-z0-9-]*(?:\s+--[a-z0-9][\w-]*(?:[ =](?!-)[^\s,;`]+)?)*"
)


#: An option written alone in inline code (`` `--force` ``) and where a prose sentence ends.
_INLINE_OPTION = re.compile(r"`(--[a-z0-9][a-z0-9-]*)`")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+")


#: An ``aws <service> <operation> …`` command of a script (continuations joined) and its
#: ``--option file://name.json`` inputs.
_CLI_FILE_COMMAND = re.compile(r"\baws\s+(?P<service>[a-z0-9][a-z0-9-]*)\s+(?P<operation>[a-z0-9][a-z0-9-]*)[^\n|;&]*")
_FILE_OPTION = re.compile(r"--(?P<option>[a-z0-9][a-z0-9-]*)[ =]+file://(?P<file>[\w./-]+\.json)\b")


class AccuracyCheck:
    """Scores ``accuracy``.

    Args:
        catalog: Offline AWS API knowledge for CLI and boto3 calls and regions.
        shell_checker: ``script -> None | message`` for shell blocks.
        yaml_checker: ``text -> None | message`` for YAML blocks.
    """

    def __init__(
        self,
        catalog: AwsApiCatalog,
        shell_checker: Callable[[str], str | None],
        yaml_checker: Callable[[str], str | None],
    ) -> None:
        self._catalog = catalog
        self._shell_checker = shell_checker
        self._yaml_checker = yaml_checker
        self._cli = CliChecker(catalog)
        self._boto3 = Boto3Checker(catalog)

    def __call__(self, response: str, parsed: ParsedResponse) -> QualityCheckResult:
        found = Findings()
        self._placeholders(parsed, found)
        for block in parsed.blocks:
            if block.closed:
                self._code_block(block, found)
        for number, code in parsed.inline_code:
            if code.startswith("aws "):
                self._cli.check_line(code, number, found, inline=True)
            else:
                self._boto3.check_inline(code, number, found)
        self._prose_commands(parsed, found)
        self._options_named_apart(parsed, found)
        self._file_inputs(parsed, found)
        _asl_error_handlers(parsed, found)
        check_asl(parsed, found, self._catalog)
        _s3_resource_types(parsed, found)
        check_templates(parsed, found)
        check_facts(parsed, found)
        check_code_values(parsed, found)
        check_quantities(parsed.prose, found)
        self._regions(parsed, found)
        _condition_keys(parsed, found)
        _elastic_only_apis(response, parsed, found)
        _cname_at_apex(parsed, found)
        # One defect per distinct message: the same wrong call twice is one mistake.
        found.errors = list(dict.fromkeys(found.errors))
        return found.result("accuracy")

    def _prose_commands(self, parsed: ParsedResponse, found: Findings) -> None:
        """``aws …`` commands written in plain text: the command and its options must exist.

        Prose is not a script, so a command named without its required options passes, and
        a word after ``aws <service>`` counts as a command only when it has a dash
        (``describe-instances``) or is one ("aws s3 sync", not "aws account settings").
        """
        for number, line in parsed.prose:
            if "aws " not in line:
                continue
            for match in _PROSE_CLI.finditer(_INLINE_CODE_SPAN.sub(" ", line)):
                tokens = match.group(0).split()
                service, command = tokens[1], tokens[2]
                if not self._catalog.has_service(service):
                    continue
                if "-" not in command and self._catalog.operation(service, command) is None:
                    continue
                self._cli.check_line(match.group(0).rstrip(".:"), number, found, inline=True)

    def _options_named_apart(self, parsed: ParsedResponse, found: Findings) -> None:
        """An option named on its own beside one command in the same sentence ("add
        `--force-export-update` to `aws cloudformation deploy`") must be an option of it.
        A sentence naming several commands is not judged (which one takes the option?)."""
        for number, line in parsed.prose:
            if "`--" not in line or "aws " not in line:
                continue
            for sentence in _SENTENCE_SPLIT.split(line):
                options = [m.group(1) for m in _INLINE_OPTION.finditer(sentence)]
                if not options:
                    continue
                commands = {" ".join(m.group(0).split()[:3]) for m in _PROSE_CLI.finditer(sentence.replace("`", " "))}
                if len(commands) != 1:
                    continue
                command = commands.pop()
                service, operation = command.split()[1:3]
                if not self._catalog.has_service(service) or self._catalog.operation(service, operation) is None:
                    continue
                # "…" marks an excerpt: the options are checked, required ones are not asked for.
                self._cli.check_line(f"{command} {' '.join(options)} …", number, found, inline=True)

    def _file_inputs(self, parsed: ParsedResponse, found: Findings) -> None:
        """A JSON block the answer saves to a file and passes to a command
        (``--cors-configuration file://cors.json``): its keys must be the parameter's fields.
        The block is the one whose file name is written just above it or inside it, or the
        only JSON object of the answer."""
        documents: list[tuple[int, str, dict[str, object]]] = []
        for block in parsed.blocks:
            if not block.closed or "{" not in block.text:
                continue
            try:
                data = json.loads(block.text)
            except ValueError:
                continue
            if isinstance(data, dict):
                around = " ".join(parsed.lines[max(0, block.start_line - 4) : block.start_line - 1])
                documents.append((block.start_line, around, data))
        if not documents:
            return
        for block in parsed.blocks:
            if "file://" not in block.text:
                continue
            script = block.text.replace("\\\n", " ")
            for command in _CLI_FILE_COMMAND.finditer(script):
                service, operation = command.group("service"), command.group("operation")
                for option in _FILE_OPTION.finditer(command.group(0)):
                    name = option.group("file").rsplit("/", 1)[-1]
                    named = [d for d in documents if name in d[1]]
                    chosen = named[0] if len(named) == 1 else documents[0] if len(documents) == 1 else None
                    if chosen is not None:
                        self._boto3.check_value(service, operation, option.group("option"), chosen[2], chosen[0], found)

    def _placeholders(self, parsed: ParsedResponse, found: Findings) -> None:
        for number, line in enumerate(parsed.lines, start=1):
            for match in _PLACEHOLDER_ALWAYS.finditer(line):
                if match.group("todo") and not _CASE_SENSITIVE_TODO.search(match.group(0)):
                    continue  # "todo" in lower case is an ordinary word (a todo app)
                found.errors.append(f"line {number}: placeholder `{match.group(0).strip()}` left in the answer")
        prose = parsed.prose_text
        blanket = bool(_BLANKET_EXPLAIN.search(prose))
        prose_sentences = sentences(prose)
        reported: set[str] = set()
        for number, line in enumerate(parsed.lines, start=1):
            for match in _ANGLE.finditer(line):
                inner = match.group(1)
                if inner.lower() in _HTML_TAGS or inner in reported:
                    continue
                # `<bucket-name>`, `<instance-id>`: the documentation convention, clear as written.
                if inner.lower() not in _GENERIC_PLACEHOLDERS:
                    continue
                if blanket or _explained(inner, prose_sentences):
                    continue
                reported.add(inner)
                found.errors.append(
                    f"line {number}: placeholder `<{inner}>` is not explained (say what to replace it with)"
                )

    def _code_block(self, block: CodeBlock, found: Findings) -> None:
        language = block.language
        text = block.text
        first = text.lstrip().split("\n", 1)[0] if text.strip() else ""
        if not language:
            if first.startswith(("aws ", "$ ")):
                language = "bash"
            elif first.startswith(("{", "[")) and text.rstrip().endswith(("}", "]")) and '"' in text:
                language = "json"
            elif first.startswith(("import ", "from ")) and "boto3" in text:
                language = "python"
        if language in _PYTHON_LANGUAGES:
            try:
                tree = ast.parse(strip_doctest(text))
            except SyntaxError as exc:
                line_no = block.start_line + (exc.lineno or 1) - 1
                found.errors.append(f"line {line_no}: Python code block does not parse ({exc.msg})")
                return
            self._boto3.check_tree(tree, block.start_line, found)
        elif language in _JSON_LANGUAGES:
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                console = _console_request_error(text)
                if console is not None:
                    if console:
                        found.errors.append(f"line {block.start_line}: {console}")
                elif not _json_fragment(text):
                    line_no = block.start_line + exc.lineno - 1
                    found.errors.append(f"line {line_no}: JSON code block is not valid JSON ({exc.msg})")
        elif language in _BRACE_LANGUAGES or language in _HCL_LANGUAGES:
            mismatch = brace_mismatch(text, hash_comments=language in _HCL_LANGUAGES)
            if mismatch is not None:
                offset, message = mismatch
                found.errors.append(
                    f"line {block.start_line + offset}: {language} code block does not parse ({message})"
                )
        elif language in _YAML_LANGUAGES:
            error = self._yaml_checker(text)
            if error:
                found.errors.append(f"line {block.start_line}: YAML code block does not parse ({error})")
        elif language in _SHELL_LANGUAGES:
            script = text
            if language in _SESSION_LANGUAGES or has_prompts(text):
                script = "\n".join(
                    line.lstrip()[2:] for line in text.splitlines() if line.lstrip().startswith("$ ")
                )
            # `<bucket-name>` placeholders are words to the reader, redirections to bash.
            checked = _ANGLE.sub(lambda m: m.group(1).replace(" ", "_"), script)
            error = self._shell_checker(checked) if script.strip() else None
            if error:
                found.errors.append(f"line {block.start_line}: shell code block does not parse ({error})")
                return
            for offset, line in logical_lines(script):
                if "aws" in line:
                    self._cli.check_line(line, block.start_line + offset, found, inline=False)

    def _regions(self, parsed: ParsedResponse, found: Findings) -> None:
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


def _condition_keys(parsed: ParsedResponse, found: Findings) -> None:
    """Global condition keys (``aws:SourceVpce``) in policies and prose must exist: a policy
    with a misspelt key is accepted by IAM and then never matches (GUIDE.md §5, a step that
    would not work)."""
    reported: set[str] = set()
    for number, line in enumerate(parsed.lines, start=1):
        if "aws:" not in line:
            continue
        for match in _CONDITION_KEY.finditer(line):
            key = match.group(1)
            if key.lower() not in _GLOBAL_CONDITION_KEYS and key not in reported:
                reported.add(key)
                found.errors.append(f"line {number}: `aws:{key}` is not an AWS global condition key")


_ELISION = re.compile(r"(?:\.\.\.|…)")
_ELIDED_ITEM = re.compile(r"([\[{,])\s*(?:\.\.\.|…)\s*(?=[\]},])|,\s*(?:\.\.\.|…)\s*(?=[\]}])")


#: A request line of the OpenSearch Dashboards / Kibana Dev Tools console (``PUT _index_template/x``).
_CONSOLE_REQUEST = re.compile(r"^(?:GET|PUT|POST|DELETE|HEAD|PATCH)\s+/?[\w*.,%/?&=:+-]*\s*$", re.MULTILINE)


#: Second-level labels of multi-label public suffixes (``example.co.uk`` is an apex too).
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "ac", "edu", "ne", "or", "gob", "gouv"})


#: A JSON document passed to a command in single quotes (``--change-batch '{…}'``).
_QUOTED_JSON = re.compile(r"'(\{[^']{0,20000}\})'")


def _apex(name: str) -> bool:
    labels = name.strip().rstrip(".").lower().split(".")
    if any(not label or label == "*" for label in labels) or not labels[-1].isalpha():
        return False
    return len(labels) == 2 or (len(labels) == 3 and labels[1] in _SECOND_LEVEL and len(labels[2]) == 2)


def _cname_at_apex(parsed: ParsedResponse, found: Findings) -> None:
    """A DNS record of type CNAME named like a zone apex (``example.com``) in a Route 53 change
    batch or template: RFC 1034 §3.6.2 forbids a CNAME beside the apex's SOA and NS records,
    and Route 53 rejects it; the apex takes an alias record. One defect."""
    for block in parsed.blocks:
        if not block.closed or "CNAME" not in block.text or len(block.text) > 40_000:
            continue
        document = json_object(block.text) if block.text.lstrip().startswith("{") else read_yaml(block.text)
        stack: list[object] = [document, *(json_object(m.group(1)) for m in _QUOTED_JSON.finditer(block.text))]
        while stack and len(stack) < 5_000:
            node = stack.pop()
            if isinstance(node, dict):
                name = node.get("Name")
                if node.get("Type") == "CNAME" and isinstance(name, str) and _apex(name):
                    found.errors.append(f"line {block.start_line}: `{name}` is a zone apex: it cannot have a CNAME "
                                        "record (use an alias record)")
                    return
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)


def _elastic_only_apis(response: str, parsed: ParsedResponse, found: Findings) -> None:
    """An Elasticsearch X-Pack API (``PUT _ilm/policy/…``) or setting in the code of an answer
    about Amazon OpenSearch Service, which has none of them (one defect)."""
    if "_" not in response or not _OPENSEARCH_SERVICE.search(response):
        return
    for block in parsed.blocks:
        match = _ELASTIC_ONLY_API.search(block.text)
        if match:
            name = (match.group("api") or match.group("setting") or "").strip()
            found.errors.append(
                f"line {block.start_line}: `{name}` is an Elasticsearch X-Pack API or setting; "
                "Amazon OpenSearch Service does not have it (lifecycle: ISM, `_plugins/_ism`)"
            )
            return


def _console_request_error(text: str) -> str | None:
    """None when ``text`` is not in the Dev Tools console format (a request line, then an
    optional JSON body, repeated); else ``""`` when every body is JSON (``_bulk`` bodies: one
    JSON document a line) or a message naming the first body that is not.
    Source: https://opensearch.org/docs/latest/dashboards/dev-tools/run-queries/"""
    if not _CONSOLE_REQUEST.match(text.lstrip()):
        return None
    starts = [m.start() for m in _CONSOLE_REQUEST.finditer(text)]
    for number, start in enumerate(starts, 1):
        end = starts[number] if number < len(starts) else len(text)
        body = text[start:end].split("\n", 1)[1].strip() if "\n" in text[start:end] else ""
        if not body:
            continue
        try:
            json.loads(body)
        except json.JSONDecodeError:
            try:
                for line in body.splitlines():
                    if line.strip():
                        json.loads(line)
            except json.JSONDecodeError as exc:
                return f"the body of console request {number} is not valid JSON ({exc.msg})"
    return ""


def _json_fragment(text: str) -> bool:
    """An excerpt of a larger document (``"key": value, …``), valid once wrapped in braces,
    or a document with elided parts (``"containerDefinitions": [ ... ]``), valid without them."""
    if _ELISION.search(text):
        elided = _ELIDED_ITEM.sub(lambda m: m.group(1) or "", text)
        try:
            json.loads(elided)
            return True
        except json.JSONDecodeError:
            pass
    if not text.lstrip().startswith('"'):
        return False
    try:
        json.loads("{" + text + "}")
    except json.JSONDecodeError:
        return False
    return True


def _explained(inner: str, prose_sentences: Sequence[str]) -> bool:
    bracketed = f"<{inner}>"
    loose = re.compile(
        r"\b" + r"[\s_-]?".join(re.escape(p) for p in re.split(r"[\s_-]+", inner)) + r"\b",
        re.IGNORECASE,
    )
    for sentence in prose_sentences:
        if (bracketed in sentence or loose.search(sentence)) and _EXPLAIN_WORDS.search(sentence):
            # A sentence that only *uses* the placeholder in a command does not explain it.
            if bracketed in sentence and not _EXPLAIN_WORDS.search(sentence.replace(bracketed, " ")):
                continue
            return True
    return False


_ASL_FIELDS = {"Retry": _CATALOGUE.words("asl_retrier_fields"), "Catch": _CATALOGUE.words("asl_catcher_fields")}


def _asl_error_handlers(parsed: ParsedResponse, found: Findings) -> None:
    """A state's ``Retry`` and ``Catch`` entries have a fixed set of fields (``MaxAttempts``,
    not ``MaxRetries``): an unknown one is ignored or rejected by Step Functions. A block that
    is one state (``"CallUpstream": {…}``) is read as an object too."""
    for block in parsed.blocks:
        if not block.closed or ('"Retry"' not in block.text and '"Catch"' not in block.text):
            continue
        data = json_object(block.text)
        if data is None:
            continue
        wrong: list[str] = []
        stack: list[object] = [data]
        while stack and len(stack) < 10_000:
            node = stack.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in _ASL_FIELDS and isinstance(value, list):
                        for entry in value:
                            if isinstance(entry, dict):
                                wrong += [f"{key}.{field}" for field in entry if field not in _ASL_FIELDS[key]]
                    stack.append(value)
            elif isinstance(node, list):
                stack.extend(node)
        if wrong:
            fields = ", ".join(f"`{w}`" for w in dict.fromkeys(wrong))
            found.errors.append(f"line {block.start_line}: Step Functions retriers and catchers have no field(s) {fields}")


_S3_BUCKET_ACTIONS = frozenset(a.lower() for a in _CATALOGUE.words("s3_bucket_actions"))
_S3_OBJECT_ACTIONS = frozenset(a.lower() for a in _CATALOGUE.words("s3_object_actions"))


def _s3_resource_types(parsed: ParsedResponse, found: Findings) -> None:
    """An Allow statement whose S3 actions are all of one resource type and whose S3
    resources are all of the other grants nothing: ``s3:ListBucket`` on
    ``arn:aws:s3:::bucket/prefix/*`` (it needs the bucket ARN, with an ``s3:prefix``
    condition to limit it), ``s3:GetObject`` on ``arn:aws:s3:::bucket`` (it needs ``/*``)."""
    for block in parsed.blocks:
        if not block.closed or "arn:aws:s3:::" not in block.text or '"Statement"' not in block.text:
            continue
        data = json_object(block.text)
        statements = data.get("Statement") if isinstance(data, dict) else None
        if isinstance(statements, dict):
            statements = [statements]
        for statement in statements if isinstance(statements, list) else []:
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            actions = _strings(statement.get("Action"))
            resources = [r for r in _strings(statement.get("Resource")) if r.startswith("arn:aws:s3:::")]
            if not actions or not resources or any("*" in a.split(":", 1)[-1] for a in actions):
                continue
            lowered = {a.lower() for a in actions}
            objects = all("/" in r for r in resources)
            buckets = all("/" not in r for r in resources)
            bucket_only = sorted(a for a in actions if a.lower() in _S3_BUCKET_ACTIONS)
            object_only = sorted(a for a in actions if a.lower() in _S3_OBJECT_ACTIONS)
            if objects and bucket_only and lowered <= _S3_BUCKET_ACTIONS | _S3_OBJECT_ACTIONS:
                found.errors.append(f"line {block.start_line}: {', '.join(bucket_only)} applies to the bucket ARN "
                                    f"(arn:aws:s3:::bucket), but the statement names only object ARNs")
            elif buckets and object_only and lowered <= _S3_BUCKET_ACTIONS | _S3_OBJECT_ACTIONS:
                found.errors.append(f"line {block.start_line}: {', '.join(object_only)} applies to object ARNs "
                                    f"(arn:aws:s3:::bucket/*), but the statement names only the bucket")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
