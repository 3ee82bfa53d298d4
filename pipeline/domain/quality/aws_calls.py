"""AWS CLI commands and boto3 calls checked against the :class:`~pipeline.ports.AwsApiCatalog`.

Part of ``accuracy``: ``aws <service> <command> --option`` must name a real CLI service,
command and options (the CLI's own customisations included), with the required options
given when the call is complete; ``client.method(Param=…)`` must be a real boto3 client
method with real parameters. Literal values must be accepted: an enum parameter's value is
one of the model's, a number parameter's value lies in its documented range.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Sequence

from pipeline.domain.quality.catalogue import catalogue
from pipeline.domain.quality.cli_catalogue import cli_catalogue, removed_in_v2
from pipeline.domain.quality.exclusive import conflicting
from pipeline.domain.quality.parsing import shell_tokens
from pipeline.domain.quality.scoring import Findings
from pipeline.ports import AwsApiCatalog

_CATALOGUE = catalogue()
_BOTO3_CLIENT_HELPERS = _CATALOGUE.words("boto3_client_helpers")
_CONVENTIONAL_CLIENT_NAMES = _CATALOGUE.words("conventional_client_names")
_CLI = cli_catalogue()
#: Options any command accepts: the ``aws`` globals, the skeleton options every API
#: operation has, and pagination (accepted everywhere: paginated operations are many).
_CLI_VALUE_GLOBALS = frozenset(
    {o for o, takes_value in _CLI.global_options.items() if takes_value}
    | {f"--{o}" for o in _CLI.pagination_options}
    | {"--cli-input-json", "--cli-input-yaml"}
)
_CLI_FLAG_GLOBALS = frozenset(
    {o for o, takes_value in _CLI.global_options.items() if not takes_value} | {"--generate-cli-skeleton"}
)
_CLI_SKELETON_INPUTS = frozenset(f"--{o}" for o in _CLI.operation_options)
#: Words that may stand before a command on a shell line (``do aws s3api …`` in a loop).
_COMMAND_PREFIXES = frozenset({"sudo", "$", "time", "exec", "do", "then", "else", "nohup", "!", "{", "(", "command"})
_SHELL_SPLIT = re.compile(r"\|\||&&|[|;]|\$\(|`")
_ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_MAX_SUBSTITUTIONS = 20  # a shell line with more is not an answer's example; the rest is split as before
#: CLI spellings of the negative side of a required boolean parameter (``--ingress`` is
#: ``Egress=false`` for the network ACL entry commands); ``--no-x`` is handled generally.
_NEGATED_FLAGS = {"ingress": "egress"}
_CLI_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_INLINE_BOTO3 = re.compile(r"\s*([a-z][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\((.*)\)\s*")
_KEYWORD = re.compile(r"(?:^|,)\s*([A-Za-z_]\w*)\s*=")


def _norm(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


def _dashed(name: str) -> str:
    if "-" in name or name.islower():
        return name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


class CliChecker:
    """Checks ``aws …`` command lines against the catalogue."""

    def __init__(self, catalog: AwsApiCatalog) -> None:
        self._catalog = catalog

    def check_line(self, line: str, number: int, found: Findings, *, inline: bool) -> None:
        """Check every ``aws`` command of one shell line (pipes, ``&&``, ``$(…)`` split)."""
        # A command substitution is its own command: `--start-time $(date +%s) --end-time …`
        # keeps its later options (innermost first, replaced by a placeholder word).
        segments: list[str] = []
        for _ in range(_MAX_SUBSTITUTIONS):
            inner = _SUBSTITUTION.search(line)
            if inner is None:
                break
            segments.append(inner.group(1))
            line = f"{line[: inner.start()]}SUBSTITUTION{line[inner.end() :]}"
        for segment in [*segments, *_SHELL_SPLIT.split(line)]:
            tokens = shell_tokens(segment)
            while tokens and (tokens[0] in _COMMAND_PREFIXES or _ENV_ASSIGNMENT.match(tokens[0])):
                tokens = tokens[1:]
            if not tokens or tokens[0] != "aws":
                continue
            self._check_call(tokens, number, found, inline=inline)

    def _check_call(self, tokens: list[str], number: int, found: Findings, *, inline: bool) -> None:
        index = 1
        while index < len(tokens) and tokens[index].startswith("--"):
            option = tokens[index].split("=", 1)[0]
            index += 2 if option in _CLI_VALUE_GLOBALS and "=" not in tokens[index] else 1
        if index >= len(tokens):
            return
        service = tokens[index]
        if service.startswith("-") or not _CLI_NAME.fullmatch(service):
            return
        if not self._catalog.has_service(service):
            found.errors.append(f"line {number}: `aws {service}` is not an AWS CLI service")
            return
        if index + 1 >= len(tokens) or tokens[index + 1].startswith("-"):
            return
        command = tokens[index + 1]
        call = f"aws {service} {command}"
        if command == "wait" and index + 2 < len(tokens) and _CLI_NAME.fullmatch(tokens[index + 2]):
            self._check_waiter(service, tokens[index + 2], f"{call} {tokens[index + 2]}", number, found)
            return
        if not _CLI_NAME.fullmatch(command):
            if re.fullmatch(r"[A-Za-z0-9_]+", command):
                found.errors.append(
                    f"line {number}: `{call}` is not a CLI command (CLI commands are lower-case with dashes)"
                )
            return
        instead = removed_in_v2().get((service, command))
        if instead is not None:
            found.errors.append(f"line {number}: `{call}` was removed in AWS CLI v2 (use `{instead}`)")
            return
        info = self._catalog.operation(service, command)
        if info is None:
            found.errors.append(f"line {number}: `{call}` is not {self._op_hint(service, command)}")
            return
        if info.open_parameters:
            return
        args = tokens[index + 2 :]
        options = [a.split("=", 1)[0] for a in args if a.startswith("--")]
        removed = {_norm(p) for p in info.cli_removed}
        accepted = ({_norm(p) for p in info.parameters} - removed) | {_norm(p) for p in info.cli_options}
        given: set[str] = set()
        unknown_before = len(found.errors)
        for option in options:
            name = _norm(option[2:])
            if option in _CLI_VALUE_GLOBALS or option in _CLI_FLAG_GLOBALS:
                if name in accepted:  # the operation's own MaxItems (wafv2 get-sampled-requests)
                    given.add(name)
                continue
            if name in accepted:
                given.update((name, _NEGATED_FLAGS.get(name, name)))
                value = _option_value(args, option)
                self._check_enum(service, command, option, value, call, number, found)
                self._check_range(service, command, option, value, call, number, found)
                continue
            # `--no-x` negates a boolean API member; the CLI's own commands (`s3 sync`) list
            # every negation they have (`--no-progress`), so `--no-delete` is not one of them.
            if name.startswith("no") and name[2:] in accepted and not info.high_level:
                if _negatable(self._catalog, service, command, name[2:]):
                    given.add(name[2:])
                    continue
                found.errors.append(f"line {number}: `{call}` has no parameter {option} "
                                    f"(--{option[5:]} takes a value, it is not a flag)")
                continue
            suggestion = difflib.get_close_matches(name, sorted(accepted), n=1, cutoff=0.7)
            hint = ""
            if suggestion:
                original = next(
                    p for p in (*info.parameters, *info.cli_options) if _norm(p) == suggestion[0] and _norm(p) not in removed
                )
                hint = f" (did you mean --{_dashed(original)}?)"
            found.errors.append(f"line {number}: `{call}` has no parameter {option}{hint}")
        if info.high_level or _CLI_SKELETON_INPUTS & set(options):
            return
        self._exclusive(service, info.name, given, call, number, found)
        # Inline code that only names a command (`aws s3api put-object`) is prose, not a call;
        # with its own options it is a call and must be complete.
        if inline and (not given or any(a in {"...", "…"} or a.endswith(("...", "…")) for a in args)):
            return
        if len(found.errors) > unknown_before:
            return  # a misspelt parameter already explains the "missing" one
        if _has_positional(args):
            given.add(_norm("outfile"))  # streaming output: `aws lambda invoke ... response.json`
        missing = sorted(p for p in info.cli_required if _norm(p) not in given)
        if missing:
            names = ", ".join(f"--{_dashed(p)}" for p in missing)
            found.errors.append(f"line {number}: `{call}` is missing required parameter(s) {names}")

    def _exclusive(self, service: str, operation: str, given: set[str], call: str, number: int,
                   found: Findings) -> None:
        resolve = getattr(self._catalog, "resolve_service", None)
        pair = conflicting(resolve(service) or service if resolve else service, operation, given)
        if pair:
            names = " and ".join(f"--{_dashed(p)}" for p in pair)
            found.errors.append(f"line {number}: `{call}` cannot take both {names} (the API rejects the pair)")

    def _check_enum(self, service: str, command: str, option: str, value: str | None, call: str, number: int,
                    found: Findings) -> None:
        """A literal value of an enum parameter (``--storage-class GLACIER_IR``) must be one of
        the model's values; variables, placeholders and structured values are not judged."""
        if value is None or not _ENUM_LITERAL.fullmatch(value):
            return
        allowed = _enum_values(self._catalog, service, command, option)
        if allowed and value not in allowed:
            hint = difflib.get_close_matches(value, sorted(allowed), n=1, cutoff=0.6)
            suffix = f" (did you mean {hint[0]}?)" if hint else ""
            found.errors.append(f"line {number}: `{call} {option}` does not accept `{value}`{suffix}")

    def _check_range(self, service: str, command: str, option: str, value: str | None, call: str, number: int,
                     found: Findings) -> None:
        """A literal number given to a number parameter (``--max-number-of-messages 20``) must
        lie in the range the service model documents (shape limits, "Valid values: 1 to 10")."""
        if value is None or not _NUMBER_LITERAL.fullmatch(value):
            return
        outside = _out_of_range(self._catalog, service, command, option, float(value))
        if outside:
            found.errors.append(f"line {number}: `{call} {option} {value}` is {outside}")

    def _check_waiter(self, service: str, waiter: str, call: str, number: int, found: Findings) -> None:
        """``aws <service> wait <waiter>``: the waiter must exist (botocore's waiter models)."""
        names = _waiters(self._catalog, service)
        if names and _norm(waiter) not in names:
            suggestion = difflib.get_close_matches(_norm(waiter), sorted(names), n=1, cutoff=0.7)
            hint = f" (the closest is {suggestion[0]})" if suggestion else ""
            found.errors.append(f"line {number}: `{call}` is not a waiter of `aws {service}`{hint}")

    def _op_hint(self, service: str, command: str) -> str:
        label = service.upper() if len(service) <= 3 else service
        if service == "s3":
            if self._catalog.operation("s3api", command) is not None:
                return f"an `aws s3` command (use `aws s3api {command}`)"
            return "an `aws s3` command (high-level commands: cp, ls, mb, mv, rb, rm, sync, presign, website)"
        suggestion = difflib.get_close_matches(command, list(self._catalog.operation_names(service)), n=1, cutoff=0.75)
        hint = f" (did you mean {suggestion[0]}?)" if suggestion else ""
        return f"an {label} operation{hint}" if label[0] in "AEIOU" else f"a {label} operation{hint}"


class Boto3Checker:
    """Checks boto3 client calls in Python code and in inline code (``s3.list_buckets()``)."""

    def __init__(self, catalog: AwsApiCatalog) -> None:
        self._catalog = catalog

    def check_tree(self, tree: ast.AST, start_line: int, found: Findings) -> None:
        """Check every client call of a parsed Python block."""
        clients: dict[str, str] = {}
        resources: set[str] = set()
        #: Resource objects whose type is known: variable -> (service, resource name or None
        #: for the service resource): ``dynamodb = boto3.resource("dynamodb")``,
        #: ``table = dynamodb.Table("orders")``.
        typed: dict[str, tuple[str, str | None]] = {}
        assignments = [n for n in ast.walk(tree) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)]
        for node in sorted(assignments, key=lambda n: (n.lineno, n.col_offset)):
            kind, service = _client_factory(node.value)
            sub = _sub_resource(node.value, typed)
            for target in node.targets:
                key = _expr_key(target)
                if key and kind == "client" and service:
                    clients[key] = service
                elif key and kind == "resource":
                    resources.add(key)
                    if service:
                        typed[key] = (service, None)
                elif key and sub is not None:
                    resources.add(key)
                    typed[key] = sub
        nodes = list(ast.walk(tree))  # walked once: the checks below each read the list
        self._check_response_keys(nodes, clients, start_line, found)
        self._check_client_config(nodes, start_line, found)
        for node in nodes:
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            method = node.func.attr
            owner = node.func.value
            service = None
            if isinstance(owner, ast.Call):
                kind, service = _client_factory(owner)
                if kind != "client":
                    service = None
                sub = _sub_resource(owner, typed)  # dynamodb.Table("orders").batch_get(...)
                if sub is not None and not method.startswith("_"):
                    label = f"{_expr_key(owner.func) or 'resource'}(…)"
                    self._check_resource_call(*sub, label, method, start_line + node.lineno - 1, found)
                    continue
            else:
                key = _expr_key(owner)
                if key in typed and not method.startswith("_"):
                    self._check_resource_call(*typed[key], key or "", method, start_line + node.lineno - 1, found)
                if key in resources:
                    continue
                service = clients.get(key or "") or self._service_from_variable(key)
            if service is not None and method in {"get_waiter", "get_paginator"}:
                self._check_helper(service, method, node, start_line + node.lineno - 1, found)
                continue
            if service is None or method in _BOTO3_CLIENT_HELPERS or method.startswith("_"):
                continue
            keywords = [k.arg for k in node.keywords if k.arg is not None]
            has_star = any(k.arg is None for k in node.keywords) or bool(node.args)
            number = start_line + node.lineno - 1
            if self._check_call(service, method, keywords, has_star, number, found):
                for keyword in node.keywords:
                    if keyword.arg is not None and isinstance(keyword.value, (ast.Dict, ast.List)):
                        self.check_value(service, method, keyword.arg, _literal(keyword.value), number, found)
                    elif (keyword.arg is not None and isinstance(keyword.value, ast.Constant)
                          and isinstance(keyword.value.value, str) and _ENUM_LITERAL.fullmatch(keyword.value.value)):
                        allowed = _enum_values(self._catalog, service, method, keyword.arg)
                        if allowed and keyword.value.value not in allowed:
                            hint = difflib.get_close_matches(keyword.value.value, sorted(allowed), n=1, cutoff=0.6)
                            suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                            found.errors.append(f"line {number}: `{service}.{method}()` {keyword.arg} does not accept "
                                                f"{keyword.value.value!r}{suffix}")
                    elif (keyword.arg is not None and isinstance(keyword.value, ast.Constant)
                          and isinstance(keyword.value.value, (int, float))
                          and not isinstance(keyword.value.value, bool)):
                        outside = _out_of_range(self._catalog, service, method, keyword.arg, keyword.value.value)
                        if outside:
                            found.errors.append(f"line {number}: `{service}.{method}()` {keyword.arg}="
                                                f"{keyword.value.value} is {outside}")

    def _check_client_config(self, nodes: list[ast.AST], start_line: int, found: Findings) -> None:
        """``Config(retry_policy=…)``: botocore's client ``Config`` rejects a keyword it does not
        know (TypeError), a ``retries`` key other than max_attempts / total_max_attempts / mode,
        and a retry mode other than legacy / standard / adaptive."""
        lookup = getattr(self._catalog, "client_config_options", None)  # optional on the port
        schema = lookup() if lookup else None
        if schema is None:
            return
        options, retry_keys, retry_modes = schema
        # Only botocore's Config: `from botocore.config import Config [as X]` or `botocore.config.Config`.
        local = {alias.asname or alias.name for node in nodes
                 if isinstance(node, ast.ImportFrom) and node.module == "botocore.config"
                 for alias in node.names if alias.name == "Config"}
        if not local and not any(isinstance(n, ast.Import) and any(a.name.startswith("botocore") for a in n.names)
                                 for n in nodes):
            return
        for node in nodes:
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if not ((isinstance(func, ast.Name) and func.id in local)
                    or (isinstance(func, ast.Attribute) and _expr_key(func) == "botocore.config.Config")):
                continue
            number = start_line + node.lineno - 1
            for keyword in node.keywords:
                if keyword.arg is None:
                    continue
                if keyword.arg not in options:
                    hint = difflib.get_close_matches(keyword.arg, sorted(options), n=1, cutoff=0.6)
                    suffix = f" (did you mean {hint[0]}?)" if hint else ""
                    found.errors.append(f"line {number}: botocore `Config()` has no option {keyword.arg!r}{suffix}")
                elif keyword.arg == "retries" and isinstance(keyword.value, ast.Dict):
                    for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                        if not isinstance(key, ast.Constant) or not isinstance(key.value, str):
                            continue
                        if key.value not in retry_keys:
                            found.errors.append(f"line {number}: botocore retries have no option {key.value!r} "
                                                f"(max_attempts, total_max_attempts, mode)")
                        elif (key.value == "mode" and isinstance(value, ast.Constant)
                              and isinstance(value.value, str) and value.value not in retry_modes):
                            found.errors.append(f"line {number}: botocore has no retry mode {value.value!r} "
                                                f"(legacy, standard, adaptive)")

    def _check_response_keys(self, nodes: list[ast.AST], clients: dict[str, str], start_line: int,
                             found: Findings) -> None:
        """``resp = ec2.describe_instances()`` then ``resp["Instances"]``: a key the response
        does not have (it has ``Reservations``) raises KeyError, so the step would not work.
        Only top-level keys of a variable assigned once, straight from a client call."""
        lookup = getattr(self._catalog, "output_members", None)  # optional on the port
        if lookup is None:
            return
        responses: dict[str, tuple[str, str] | None] = {}
        for node in nodes:
            if isinstance(node, (ast.For, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                targets = [node.target]
            else:
                targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                call = node.value if isinstance(node, ast.Assign) else None
                source = None
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                    owner = _expr_key(call.func.value)
                    service = clients.get(owner or "") or self._service_from_variable(owner)
                    if service is not None and call.func.attr not in _BOTO3_CLIENT_HELPERS:
                        source = (service, call.func.attr)
                # assigned twice, or from anything else: not judged
                responses[target.id] = source if target.id not in responses else None
        if not any(responses.values()):
            return
        reported: set[str] = set()
        shapes: dict[tuple[str, str], frozenset[str] | None] = {}
        for node in nodes:
            key = None
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                    name, key = node.value.id, node.slice.value
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                  and isinstance(node.func.value, ast.Name) and node.args
                  and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                name, key = node.func.value.id, node.args[0].value
            if key is None or responses.get(name) is None:
                continue
            service, method = responses[name]  # type: ignore[misc]
            if (service, method) not in shapes:
                shapes[(service, method)] = lookup(service, method)
            members = shapes[(service, method)]
            if members and key not in members and f"{method}.{key}" not in reported:
                reported.add(f"{method}.{key}")
                hint = difflib.get_close_matches(key, sorted(members), n=1, cutoff=0.6)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else f" (it has {', '.join(sorted(members - {'ResponseMetadata'})[:4])})"
                found.errors.append(f"line {start_line + node.lineno - 1}: the response of `{service}.{method}()` "
                                    f"has no key {key!r}{suffix}")

    def _check_helper(self, service: str, method: str, node: ast.Call, number: int, found: Findings) -> None:
        """``client.get_waiter("instance_running")`` / ``client.get_paginator("list_objects_v2")``:
        the name must be one of the service's waiters / paginated operations."""
        if not node.args or not isinstance(node.args[0], ast.Constant) or not isinstance(node.args[0].value, str):
            return
        name = node.args[0].value
        if method == "get_waiter":
            names, what = _waiters(self._catalog, service), "waiter"
        else:
            lookup = getattr(self._catalog, "paginator_names", None)
            names, what = (lookup(service) if lookup else None), "paginator"
        if names and _norm(name) not in names:
            suggestion = difflib.get_close_matches(_norm(name), sorted(names), n=1, cutoff=0.7)
            hint = f" (the closest is {suggestion[0]})" if suggestion else ""
            found.errors.append(f"line {number}: `{service}.{method}({name!r})`: boto3 {service} has no {what} {name!r}{hint}")

    def _check_resource_call(self, service: str, resource: str | None, variable: str, method: str, number: int,
                             found: Findings) -> None:
        """A resource object called with a client method it does not have (``table.batch_get_item``:
        a Table has get_item, query, scan…; batch_get_item is the service resource's and the
        client's). Only a name that is a real client operation is reported: boto3 adds helpers
        to resources (``batch_writer``, ``upload_file``) that no model lists."""
        lookup = getattr(self._catalog, "resource_methods", None)  # optional on the port
        names = lookup(service, resource) if lookup else None
        if names is None or _norm(method) in names or not method.islower():
            return
        what = f"a boto3 {service} {resource} resource" if resource else f"the boto3 {service} service resource"
        members_lookup = getattr(self._catalog, "resource_members", None)  # optional on the port
        members = members_lookup(service, resource) if members_lookup else None
        info = self._catalog.operation(service, method)
        if (info is None or info.high_level) and members is not None and _norm(method) not in members:
            found.errors.append(f"line {number}: `{variable}.{method}()` is not a method of {what}")
            return
        if info is None or info.high_level:
            return
        found.errors.append(f"line {number}: `{variable}.{method}()` is not a method of {what} "
                            f"(it is a {service} client method)")

    def check_inline(self, code: str, number: int, found: Findings) -> None:
        """Check inline code shaped like ``client.method(Param=…)``."""
        match = _INLINE_BOTO3.fullmatch(code)
        if not match:
            return
        service = self._service_from_variable(match.group(1))
        if service is None or match.group(2) in _BOTO3_CLIENT_HELPERS:
            return
        keywords = _KEYWORD.findall(match.group(3))
        self._check_call(service, match.group(2), keywords, True, number, found)

    def _service_from_variable(self, key: str | None) -> str | None:
        """``s3`` / ``s3_client`` / ``ec2client`` name a client of that service by convention."""
        if not key or "." in key:
            return None
        name = re.sub(r"_?client$", "", key.lower())
        if name in {"lambda_", "lambda", "awslambda", "lambda_client"}:
            name = "lambda"
        if name in _CONVENTIONAL_CLIENT_NAMES and self._catalog.has_service(name):
            return name
        return None

    def check_value(self, service: str, operation: str, parameter: str, value: object, number: int,
                    found: Findings) -> None:
        """A parameter's literal value (``inferenceConfig={"max_tokens": 400}``, a JSON file given
        to ``--cors-configuration file://cors.json``): its keys must be members of the
        parameter's shape (``maxTokens``, ``AllowedOrigins``)."""
        lookup = getattr(self._catalog, "unknown_keys", None)  # optional on the port
        unknown = lookup(service, operation, parameter, value) if lookup else None
        if unknown:
            paths = ", ".join(f"`{p}`" for p in unknown[:3]) + (" …" if len(unknown) > 3 else "")
            found.errors.append(f"line {number}: {service} {operation} {parameter} has no field(s) {paths}")

    def _check_call(
        self, service: str, method: str, keywords: Sequence[str], has_star: bool, number: int, found: Findings
    ) -> bool:
        """Check one call; True when the method exists (its values can be checked too)."""
        if not self._catalog.has_service(service):
            found.errors.append(f"line {number}: boto3 has no service client {service!r}")
            return False
        call = f"{service}.{method}()"
        info = self._catalog.operation(service, method) if method.islower() else None
        if info is None or info.high_level:
            candidates = [n.replace("-", "_") for n in self._catalog.operation_names(service)]
            suggestion = difflib.get_close_matches(method, candidates, n=1, cutoff=0.75)
            hint = f" (did you mean {suggestion[0]}?)" if suggestion else ""
            found.errors.append(f"line {number}: `{call}` is not a boto3 {service} client method{hint}")
            return False
        for keyword in keywords:
            if keyword not in info.parameters:
                suggestion = difflib.get_close_matches(keyword, sorted(info.parameters), n=1, cutoff=0.6)
                hint = f" (did you mean {suggestion[0]}?)" if suggestion else ""
                found.errors.append(f"line {number}: `{call}` has no parameter {keyword}{hint}")
        resolve = getattr(self._catalog, "resolve_service", None)
        pair = conflicting(resolve(service) or service if resolve else service, info.name, set(keywords))
        if pair:
            found.errors.append(f"line {number}: `{call}` cannot take both {pair[0]} and {pair[1]} (the API rejects the pair)")
        if not has_star:
            missing = sorted(info.required - set(keywords))
            if missing:
                found.errors.append(f"line {number}: `{call}` is missing required parameter(s) {', '.join(missing)}")
        return True


#: A value that is a literal enum word: no variable, placeholder, quote, path or structure.
_ENUM_LITERAL = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")


def _enum_values(catalog: AwsApiCatalog, service: str, operation: str, parameter: str) -> frozenset[str] | None:
    lookup = getattr(catalog, "enum_values", None)  # optional on the port: fakes may lack it
    return lookup(service, operation, parameter) if lookup else None


_NUMBER_LITERAL = re.compile(r"-?\d+(?:\.\d+)?")


def _out_of_range(catalog: AwsApiCatalog, service: str, operation: str, parameter: str, value: float) -> str | None:
    """Why ``value`` is outside the parameter's documented range ("above the maximum 10"), or
    None when it is inside or no range is known."""
    lookup = getattr(catalog, "value_range", None)  # optional on the port: fakes may lack it
    limits = lookup(service, operation, parameter) if lookup else None
    if not limits:
        return None
    low, high = limits
    if high is not None and value > high:
        return f"above the documented maximum {_plain(high)}"
    if low is not None and value < low:
        return f"below the documented minimum {_plain(low)}"
    return None


def _negatable(catalog: AwsApiCatalog, service: str, operation: str, parameter: str) -> bool:
    """``--no-<parameter>`` exists: the parameter is a boolean (or its type is unknown)."""
    lookup = getattr(catalog, "parameter_type", None)  # optional on the port: fakes may lack it
    kind = lookup(service, operation, parameter) if lookup else None
    return kind is None or kind == "boolean"


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _option_value(args: list[str], option: str) -> str | None:
    """The value written after ``option`` (``--opt value`` or ``--opt=value``), quotes removed."""
    for index, token in enumerate(args):
        if token.startswith(option + "="):
            return token.split("=", 1)[1].strip("'\"")
        if token == option:
            following = args[index + 1] if index + 1 < len(args) else None
            if following is None or following.startswith("--"):
                return None
            return following.strip("'\"")
    return None


def _waiters(catalog: AwsApiCatalog, service: str) -> frozenset[str] | None:
    """The service's waiter names (normalised), when the catalogue knows them."""
    lookup = getattr(catalog, "waiter_names", None)  # optional on the port: fakes may lack it
    return lookup(service) if lookup else None


def _client_factory(call: ast.Call) -> tuple[str | None, str | None]:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in {"client", "resource"}:
        service = None
        if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
            service = call.args[0].value
        for keyword in call.keywords:
            if keyword.arg == "service_name" and isinstance(keyword.value, ast.Constant):
                service = str(keyword.value.value)
        return func.attr, service
    return None, None


def _literal(node: ast.AST, depth: int = 0) -> object:
    """A literal dict/list as Python values (keys that are string constants; anything that is
    not a literal is None, which any shape accepts)."""
    if depth > 12:
        return None
    if isinstance(node, ast.Dict):
        return {k.value: _literal(v, depth + 1) for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e, depth + 1) for e in node.elts]
    return None


def _sub_resource(call: ast.Call, typed: dict[str, tuple[str, str | None]]) -> tuple[str, str | None] | None:
    """``dynamodb.Table("orders")`` on a known resource object: (service, "Table")."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr[:1].isupper():
        owner = _expr_key(func.value)
        if owner in typed:
            return typed[owner][0], func.attr
    return None


def _expr_key(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _expr_key(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _has_positional(args: list[str]) -> bool:
    """True when a CLI call has a positional argument: a token that is neither an option nor
    the value of the option before it. Operations with a streaming output (``lambda invoke``,
    ``s3api get-object``) take the output file that way; the catalogue lists it as
    ``--outfile``."""
    for i, token in enumerate(args):
        if token.startswith("-") or token in {"\\", "|", ">", ">>", "&&", ";"}:
            continue
        previous = args[i - 1] if i else ""
        if not previous.startswith("--") or "=" in previous or previous in _CLI_FLAG_GLOBALS:
            return True
    return False
