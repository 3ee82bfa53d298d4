"""CloudFormation resource properties and IAM action names in an answer's code, part of ``accuracy``.

GUIDE.md §5 counts "a CloudFormation property / IAM action that does not exist" as an
accuracy defect: CloudFormation rejects an unknown property at deploy time, and IAM accepts
a policy that names an action no service has, which then never grants anything. Both are
checked against ``catalogue/templates.json``, written by ``python -m
evals.build_template_catalogue`` from cfn-lint's bundled resource schemas and IAM action list
(MIT-0), loaded on first use (only answers with a template or a policy pay for it).

- **Templates**: a fenced JSON or YAML block with ``Type: AWS::…`` resources: every key
  under ``Properties`` (and in nested objects whose keys the schema closes) must be a
  property of that type. Intrinsic functions (``Fn::…``, ``Ref``, ``!Sub``) and unknown
  resource types (custom resources, SAM, new types) are left alone.
- **IAM actions**: the values of ``Action`` / ``NotAction`` in a policy (JSON or YAML block)
  and ``prefix:Action`` in inline code of a sentence that speaks of permissions must be an
  action of that service prefix (wildcards must match one). A prefix no service has is
  reported only inside a policy statement.

YAML is read by indentation, one pass over the lines (no YAML library in the Lambda; tags
such as ``!Ref`` are values), so the work is linear in the length of the block.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.domain.quality.exclusive import conflicting
from pipeline.domain.quality.parsing import ParsedResponse
from pipeline.domain.quality.scoring import Findings

TEMPLATES_FILE = Path(__file__).resolve().parent / "catalogue" / "templates.json"
#: Blocks longer than this are not an answer's example; they are not read (the review budget).
MAX_BLOCK = 40_000
_RESOURCE_TYPE = re.compile(r"^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$")
_ACTION = re.compile(r"^([a-z0-9][a-z0-9-]*):([A-Za-z0-9*?]+)$")
_INLINE_ACTION = re.compile(r"`([a-z0-9][a-z0-9-]*):([A-Z][A-Za-z0-9]*\*?)`")
#: A sentence that speaks of permissions: an inline ``prefix:Name`` in it is an action
#: (elsewhere it may be a condition key, ``ec2:Encrypted``, or an event, ``s3:ObjectCreated``).
_PERMISSION_WORDS = re.compile(
    r"\b(?:permissions?|actions?|allow(?:s|ed|ing)?|grants?|granting|deny|denies|policy|policies|"
    r"Berechtigung\w*|Aktion\w*|permisos?|permiss(?:ão|ões)|autoriza\w*)\b",
    re.IGNORECASE,
)
_CONDITION_WORDS = re.compile(
    r"\b(?:conditions?|condition\s+keys?|context\s+keys?|keys?|Bedingung\w*|condici[óo]n\w*|condi[çc][ãa]o\w*|cl[ée]s?|chaves?)\b",
    re.IGNORECASE,
)
_YAML_KEY = re.compile(r"""^(?P<dash>-\s+)?(?P<key>"[^"]*"|'[^']*'|[A-Za-z0-9_:.\-/]+)\s*:(?:\s+(?P<value>.*))?$""")


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: methods are cached
class TemplateCatalogue:
    """Resource types -> property words; nested shapes; IAM actions per service prefix."""

    resources: dict[str, str]
    shapes: list[str]
    iam_actions: dict[str, str]
    condition_keys: frozenset[str] = frozenset()
    values: dict[str, dict[str, int]] = field(default_factory=dict)
    value_rules: list[str] = field(default_factory=list)

    @cache  # noqa: B019 - one instance per process (template_catalogue is cached)
    def properties(self, shape: str) -> tuple[frozenset[str], dict[str, int], frozenset[str]]:
        """(names, nested shape by name, required names) of an encoded shape."""
        names: set[str] = set()
        nested: dict[str, int] = {}
        required: set[str] = set()
        for word in shape.split():
            name, _, index = word.partition(":")
            if name.startswith("!"):
                name = name[1:]
                required.add(name)
            names.add(name)
            if index:
                nested[name] = int(index)
        return frozenset(names), nested, frozenset(required)

    @cache  # noqa: B019
    def value_rule(self, index: int) -> tuple[frozenset[str], re.Pattern[str] | None]:
        """(allowed values, pattern) of a rule of ``value_rules``: one of the two is set."""
        kind, _, text = self.value_rules[index].partition(" ")
        if kind == "enum":
            return frozenset(text.split()), None
        return frozenset(), re.compile(text)

    @cache  # noqa: B019
    def type_by_lower_name(self) -> dict[str, str]:
        return {name.lower(): name for name in self.resources}

    @cache  # noqa: B019
    def actions(self, prefix: str) -> frozenset[str] | None:
        words = self.iam_actions.get(prefix)
        return frozenset(words.split()) if words is not None else None


@cache
def template_catalogue(path: Path = TEMPLATES_FILE) -> TemplateCatalogue:
    """The catalogue file, validated (a malformed file is a ValueError naming the key)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("resources", "shapes", "iam_actions"):
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}")
    if not all(isinstance(v, str) for v in data["resources"].values()):
        raise ValueError(f"{path}: 'resources' values must be strings")
    return TemplateCatalogue(data["resources"], data["shapes"], data["iam_actions"],
                             frozenset(data.get("iam_condition_keys", "").split()),
                             data.get("values", {}), data.get("value_rules", []))


def check_templates(parsed: ParsedResponse, found: Findings) -> None:
    """Unknown CloudFormation properties and IAM actions in the answer's code (one defect each)."""
    reported: set[str] = set()
    for block in parsed.blocks:
        text = block.text
        if not block.closed or len(text) > MAX_BLOCK:
            continue
        has_resources = "AWS::" in text and "Properties" in text
        has_actions = "Action" in text
        if not has_resources and not has_actions:
            continue
        document = _read_document(text)
        if document is None:
            continue
        catalogue = template_catalogue()
        if has_resources:
            for message in _resource_errors(document, catalogue):
                if message not in reported:
                    reported.add(message)
                    found.errors.append(f"line {block.start_line}: {message}")
        if has_actions:
            for message in _policy_errors(document, catalogue):
                if message not in reported:
                    reported.add(message)
                    found.errors.append(f"line {block.start_line}: {message}")
    for block in parsed.blocks:
        if block.closed and len(block.text) <= MAX_BLOCK and ('"source"' in block.text or '"detail-type"' in block.text):
            message = event_pattern_error(block.text)
            if message:
                found.errors.append(f"line {block.start_line}: {message}")
    for number, line in parsed.prose:
        if "`" not in line or ":" not in line or not _PERMISSION_WORDS.search(line):
            continue
        if _CONDITION_WORDS.search(line):
            continue  # `ec2:Encrypted`, `sts:ExternalId`: condition keys are written the same way
        for match in _INLINE_ACTION.finditer(line):
            if f"{match.group(1)}:{match.group(2)}".lower() in template_catalogue().condition_keys:
                continue
            message = _action_error(match.group(1), match.group(2), template_catalogue(), in_policy=False)
            if message and message not in reported:
                reported.add(message)
                found.errors.append(f"line {number}: {message}")


#: The top-level fields of an event that an EventBridge pattern matches on.
_EVENT_FIELDS = frozenset({"source", "detail-type", "account", "region", "resources", "time", "id", "version"})


def event_pattern_error(text: str) -> str | None:
    """An EventBridge event pattern (a JSON object on ``source`` / ``detail-type`` …) whose
    match values are not arrays: EventBridge rejects ``"source": "aws.ec2"`` (it must be
    ``["aws.ec2"]``), in ``detail`` at any depth too. A whole event (``"id"``, ``"time"``,
    ``"time"`` as strings, or no array anywhere) is an example event, not a pattern, and is
    left alone.
    Source: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html"""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not ({"source", "detail-type"} & set(data)) or not set(data) <= _EVENT_FIELDS | {"detail"}:
        return None
    if isinstance(data.get("id"), str) or isinstance(data.get("time"), str):
        return None  # an event, not a pattern
    wrong: list[str] = []
    stack: list[tuple[str, Any]] = [(k, v) for k, v in data.items()]
    while stack and len(wrong) < 5:
        path, value = stack.pop()
        if isinstance(value, dict) and (path == "detail" or path.startswith("detail.")):
            stack.extend((f"{path}.{k}", v) for k, v in value.items())
        elif not isinstance(value, list):
            wrong.append(path)
    if not wrong or len(wrong) == _leaf_count(data):
        return None  # no value in an array at all: an example event ("What the function receives")
    return f"EventBridge event patterns match values in arrays: {', '.join(f'`{w}`' for w in sorted(wrong))} is not one"


def _leaf_count(data: dict[str, Any]) -> int:
    count = 0
    stack: list[Any] = list(data.values())
    while stack and count < 1_000:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        else:
            count += 1
    return count


def _read_document(text: str) -> Any:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            return None
    return read_yaml(text)


def _resource_errors(document: Any, catalogue: TemplateCatalogue) -> list[str]:
    errors: list[str] = []
    for resource in _resource_nodes(document):
        kind = resource.get("Type")
        properties = resource.get("Properties")
        shape = catalogue.resources.get(kind) if isinstance(kind, str) else None
        if shape is None and isinstance(kind, str):
            known = catalogue.type_by_lower_name().get(kind.lower())
            if known is not None:  # resource types are case-sensitive: AWS::Athena::Workgroup fails
                errors.append(f"`{kind}` is not a CloudFormation resource type (did you mean `{known}`?)")
            continue
        if shape is None or not isinstance(properties, dict):
            continue
        _check_object(kind, "", properties, shape, catalogue, errors, 0)
        _, namespace, name = kind.split("::")
        pair = conflicting(namespace.lower(), f"Create{name}", set(properties))
        if pair:
            errors.append(f"`{kind}` cannot set both `{pair[0][:1].upper() + pair[0][1:]}` and "
                          f"`{pair[1][:1].upper() + pair[1][1:]}` (the API rejects the pair)")
    return errors


def _resource_nodes(document: Any) -> list[dict[str, Any]]:
    """Mappings with ``Type: AWS::…`` (a template's resources, or one resource on its own)."""
    found: list[dict[str, Any]] = []
    stack = [document]
    while stack and len(found) < 200:
        node = stack.pop()
        if isinstance(node, dict):
            kind = node.get("Type")
            if isinstance(kind, str) and _RESOURCE_TYPE.match(kind) and "Properties" in node:
                found.append(node)
                continue
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _check_object(kind: str, path: str, value: dict[str, Any], shape: str, catalogue: TemplateCatalogue,
                  errors: list[str], depth: int) -> None:
    names, nested, _ = catalogue.properties(shape)
    if any(_intrinsic(k) for k in value):
        return
    rules = catalogue.values.get(kind, {})
    for key, sub in value.items():
        if key not in names:
            where = f"{path}.{key}" if path else key
            errors.append(f"`{kind}` has no property `{where}`")
            continue
        where = f"{path}.{key}" if path else key
        if where in rules and isinstance(sub, str) and _literal(sub):
            allowed, pattern = catalogue.value_rule(rules[where])
            if allowed and sub not in allowed:
                errors.append(f"`{kind}` property `{where}` must be one of {', '.join(sorted(allowed))}, not `{sub}`")
            elif pattern is not None and not pattern.search(sub):
                errors.append(f"`{kind}` property `{where}` does not match the pattern its schema requires: `{sub}`")
        if key in nested and depth < 4:
            items = sub if isinstance(sub, list) else [sub]
            for item in items:
                if isinstance(item, dict):
                    _check_object(kind, f"{path}.{key}" if path else key, item,
                                  catalogue.shapes[nested[key]], catalogue, errors, depth + 1)


#: A value that stands for something else: a tag (``!Ref``), a substitution (``${X}``,
#: ``{{resolve:…}}``), a placeholder (``<bucket-name>``, ``YOUR_…``, ``…``).
_NOT_LITERAL = re.compile(r"^!|\$\{|\{\{|<|>|\.\.\.|…|\bYOUR|\byour|\bEXAMPLE|\bexample|xxx|XXX")


def _literal(value: str) -> bool:
    return bool(value) and not _NOT_LITERAL.search(value)


def _intrinsic(key: str) -> bool:
    return key.startswith(("Fn::", "!")) or key in {"Ref", "Condition"}


def _policy_errors(document: Any, catalogue: TemplateCatalogue) -> list[str]:
    errors: list[str] = []
    stack = [document]
    seen = 0
    while stack and seen < 5_000:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            statement = "Effect" in node
            for key, value in node.items():
                if key in {"Action", "NotAction"} and statement:
                    for action in value if isinstance(value, list) else [value]:
                        if isinstance(action, str):
                            match = _ACTION.match(action.strip())
                            if match:
                                message = _action_error(match.group(1), match.group(2), catalogue, in_policy=True)
                                if message:
                                    errors.append(message)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return errors


def _action_error(prefix: str, action: str, catalogue: TemplateCatalogue, *, in_policy: bool) -> str | None:
    actions = catalogue.actions(prefix)
    if actions is None:
        return f"`{prefix}:{action}`: IAM has no service prefix `{prefix}`" if in_policy else None
    name = action.lower()
    if "*" in name or "?" in name:
        pattern = re.compile(re.escape(name).replace(r"\*", ".*").replace(r"\?", "."))
        if any(pattern.fullmatch(a) for a in actions):
            return None
    elif name in actions:
        return None
    return f"`{prefix}:{action}` is not an IAM action of `{prefix}`"


def read_yaml(text: str) -> Any:
    """A YAML document read by indentation: block mappings, block sequences and scalars.

    Enough for CloudFormation templates and policies in answers: flow collections are kept
    as scalars except a one-line ``[a, b]`` list, block scalars (``|``, ``>``) are skipped,
    tags (``!Ref x``) stay in the value. Returns None when a line cannot be read as a key, a
    list item or a continuation. One pass over the lines.
    """
    root: dict[str, Any] = {}
    # (column of the container's entries, container): a mapping's keys, a list's dashes.
    stack: list[tuple[int, Any]] = []
    pending: tuple[int, Any, str] | None = None  # a key without a value: (its column, owner, key)
    block_scalar_indent: int | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        content = line.lstrip(" ")
        if not content or content.startswith("#") or content in {"---", "..."}:
            continue
        indent = len(line) - len(content)
        if block_scalar_indent is not None:
            if indent > block_scalar_indent:
                continue
            block_scalar_indent = None
        if "\t" in line[:indent]:
            return None
        if not stack:
            stack.append((indent, root))
        dash = content.startswith("- ") or content == "-"
        if pending is not None:
            p_indent, owner, key = pending
            pending = None
            if (dash and indent >= p_indent) or indent > p_indent:
                container: Any = [] if dash else {}
                owner[key] = container
                stack.append((indent, container))
        while len(stack) > 1:
            column, container = stack[-1]
            if indent < column or (isinstance(container, list) and indent == column and not dash):
                stack.pop()
            else:
                break
        parent = stack[-1][1]
        if dash:
            if not isinstance(parent, list):
                return None
            item_text = content[1:].lstrip()
            item_indent = indent + (len(content) - len(item_text))
            if not item_text:
                parent.append(None)
                pending = (indent, _ListSlot(parent), "")
                continue
            key_match = _YAML_KEY.match(item_text)
            if key_match is not None:
                mapping: dict[str, Any] = {}
                parent.append(mapping)
                stack.append((item_indent, mapping))
                pending = _set_key(mapping, key_match, item_indent)
                if _block_scalar(key_match.group("value")):
                    block_scalar_indent = item_indent
            else:
                parent.append(_scalar(item_text))
            continue
        key_match = _YAML_KEY.match(content)
        if key_match is None or not isinstance(parent, dict):
            if isinstance(parent, dict) and parent:
                continue  # a folded continuation of the previous value
            return None
        pending = _set_key(parent, key_match, indent)
        if _block_scalar(key_match.group("value")):
            block_scalar_indent = indent
    return root


def _block_scalar(value: str | None) -> bool:
    return bool(value) and value.strip().split(" ")[-1] in {"|", ">", "|-", ">-", "|+", ">+"}


class _ListSlot:
    """A ``-`` on its own line: the item is the block below it (written into the list's last slot)."""

    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def __setitem__(self, _key: str, value: Any) -> None:
        self._items[-1] = value


def _set_key(mapping: dict[str, Any], match: re.Match[str], indent: int) -> tuple[int, Any, str] | None:
    key = match.group("key").strip("'\"")
    value = match.group("value")
    if value is None or not value.strip() or value.strip().startswith("#"):
        mapping[key] = None
        return (indent, mapping, key)
    mapping[key] = _scalar(value)
    return None


def _scalar(value: str) -> Any:
    value = value.strip()
    if value.startswith("[") and value.endswith("]") and "[" not in value[1:]:
        return [_scalar(v) for v in value[1:-1].split(",") if v.strip()]
    if value.startswith("{"):
        return value
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.split(" #", 1)[0].strip()
