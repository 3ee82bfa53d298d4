"""Amazon States Language definitions in an answer's code, part of ``accuracy``.

GUIDE.md §5 counts code that would not work as an accuracy defect. Step Functions rejects a
definition whose states carry fields their type does not have (the States Language spec and
the developer guide's state pages; the field lists are ``lexicons.toml`` ``asl_*_fields``):

- **Fields by state type**: ``"Mode": "DISTRIBUTED"`` or ``"ExecutionType"`` written on the
  Map state itself (they belong in ``ItemProcessor.ProcessorConfig``), ``"Retry"`` on a Pass.
- **Query language**: a JSONata state (``"QueryLanguage": "JSONata"`` on the state or the
  machine) has no ``Parameters``, ``ResultSelector``, ``ResultPath``, ``InputPath`` or
  ``OutputPath`` (it uses ``Arguments`` and ``Output``); a JSONPath state has no
  ``Arguments`` / ``Output``.
- **Service integrations**: ``arn:aws:states:::<service>:<action>`` (optimized) and
  ``arn:aws:states:::aws-sdk:<service>:<action>`` name an API action of that service
  (``lambda:invoke``, not ``lambda:invokeFunction``); checked against the API catalogue.

A block is read when it parses as JSON (a whole machine, or one ``"Name": {…}`` state).
The walk visits each node once.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.domain.quality.catalogue import catalogue
from pipeline.domain.quality.parsing import ParsedResponse, json_object
from pipeline.domain.quality.scoring import Findings
from pipeline.ports import AwsApiCatalog

_CATALOGUE = catalogue()
_COMMON = _CATALOGUE.words("asl_state_fields")
_FIELDS = {
    kind: _COMMON | _CATALOGUE.words(f"asl_{kind.lower()}_fields")
    for kind in ("Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
}
_JSONPATH_ONLY = _CATALOGUE.words("asl_jsonpath_only_fields")
_JSONATA_ONLY = _CATALOGUE.words("asl_jsonata_only_fields")
_INTEGRATION = re.compile(
    r"arn:aws:states:::(?P<sdk>aws-sdk:)?(?P<service>[a-z0-9-]+):(?P<action>[A-Za-z0-9]+)"
    r"(?:\.sync(?::2)?|\.waitForTaskToken)?(?![\w:.-])"
)
#: Optimized integrations named after the service's namespace, not its API client, and the
#: ones whose actions are not API operations (developer guide, "Integrating optimized services").
_SERVICE_NAMES = {"states": ("stepfunctions",), "bedrock": ("bedrock", "bedrock-runtime"), "sfn": ("stepfunctions",)}
_NOT_API = frozenset({"apigateway", "eks", "http", "elasticmapreduce", "emr", "mediapackage"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def check_asl(parsed: ParsedResponse, found: Findings, catalog: AwsApiCatalog) -> None:
    """Add one defect per block for state fields, query-language fields and integration ARNs."""
    for block in parsed.blocks:
        text = block.text
        if not block.closed or '"Type"' not in text or len(text) > 40_000:
            continue
        data = json_object(text)
        if data is None:
            continue
        problems: list[str] = []
        language = data.get("QueryLanguage", "JSONPath") if isinstance(data.get("States"), dict) else "JSONPath"
        _walk(data, language if isinstance(language, str) else "JSONPath", problems, catalog, 0)
        if problems:
            found.errors.append(f"line {block.start_line}: Step Functions definition: {'; '.join(dict.fromkeys(problems))}")


def _walk(node: dict[str, Any], language: str, problems: list[str], catalog: AwsApiCatalog, depth: int) -> None:
    """Check every state of ``node`` (a machine, a States map or one named state)."""
    if depth > 6 or len(problems) > 5:
        return
    states = node.get("States")
    if isinstance(states, dict):
        for name, state in states.items():
            if isinstance(state, dict):
                _state(name, state, language, problems, catalog, depth)
        return
    for name, state in node.items():  # a fragment: "Name": {"Type": "Task", …}
        if isinstance(state, dict) and isinstance(state.get("Type"), str) and state["Type"] in _FIELDS:
            _state(name, state, language, problems, catalog, depth)


def _state(name: str, state: dict[str, Any], language: str, problems: list[str], catalog: AwsApiCatalog,
           depth: int) -> None:
    kind = state.get("Type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        return
    own = state.get("QueryLanguage")
    language = own if isinstance(own, str) else language
    unknown = sorted(k for k in state if k not in _FIELDS[kind])
    if unknown:
        problems.append(f"a {kind} state has no field(s) {', '.join(f'`{k}`' for k in unknown)} (state `{name}`)")
    wrong = sorted((_JSONPATH_ONLY if language == "JSONata" else _JSONATA_ONLY) & set(state))
    if wrong:
        problems.append(f"{', '.join(f'`{k}`' for k in wrong)} cannot be used in a {language} state (state `{name}`)")
    resource = state.get("Resource")
    if kind == "Task" and isinstance(resource, str):
        message = _integration_error(resource, catalog)
        if message:
            problems.append(message)
    for key in ("ItemProcessor", "Iterator"):
        if isinstance(state.get(key), dict):
            inner = state[key].get("QueryLanguage", language)
            _walk(state[key], inner if isinstance(inner, str) else language, problems, catalog, depth + 1)
    for branch in state.get("Branches") or ():
        if isinstance(branch, dict):
            _walk(branch, language, problems, catalog, depth + 1)


def _integration_error(resource: str, catalog: AwsApiCatalog) -> str | None:
    match = _INTEGRATION.fullmatch(resource)
    if match is None:
        return None
    service, action = match.group("service"), match.group("action")
    if not match.group("sdk") and service in _NOT_API:
        return None
    names = _SERVICE_NAMES.get(service, (service,))
    known = [n for n in names if catalog.has_service(n)]
    if not known:
        return None
    method = _CAMEL.sub("_", action).lower()
    if any(catalog.operation(n, method) is not None for n in known):
        return None
    return f"`{resource}`: `{action}` is not an API action of `{service}`"
