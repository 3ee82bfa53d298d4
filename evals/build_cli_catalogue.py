"""Build the AWS CLI catalogue the quality check uses, from the ``awscli`` package itself.

The AWS CLI is not a mirror of botocore's API models: it adds commands of its own
(``aws s3 cp``, ``aws cloudformation deploy``, ``aws eks update-kubeconfig``), adds options
to API operations (``aws ec2 authorize-security-group-ingress --protocol --port --cidr``,
``aws ec2 run-instances --count``), and changes which options are required (``--count``
stands in for ``MinCount``/``MaxCount``). This script walks the CLI driver's own command
table, customisations included, and writes only what botocore cannot tell the checker:

- ``global_options``: every option the ``aws`` command itself takes (True = takes a value);
- ``services``: CLI top-level command -> botocore service name (null for CLI-only commands);
- ``operations``: for API operations where the CLI differs from the model, the extra
  options (``add``), model members the CLI does not accept (``remove``) and the CLI's
  required options (``required``), dashed;
- ``commands``: the CLI's own commands per top-level command with their options (null
  when they take subcommands or options that cannot be listed, e.g. ``wait``).

Commands and global options only AWS CLI v2 has (it is not on PyPI: ``aws logs tail``,
``aws ddb``, ``--no-cli-pager``) come from ``cli_v2_commands.toml`` (hand-kept, each with
the documentation page it was read from), merged under ``v2_commands`` and
``global_options``.

Run it in its own process (importing ``awscli`` swaps ``botocore`` for the copy it vendors):

    python -m evals.build_cli_catalogue            # write pipeline/domain/quality/catalogue/cli_commands.json
    python -m evals.build_cli_catalogue --stdout   # print instead (the test compares)
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from evals.catalogue_builder import catalogue_main

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_DIR = REPO_ROOT / "pipeline" / "domain" / "quality" / "catalogue"
OUTPUT = CATALOGUE_DIR / "cli_commands.json"
V2_COMMANDS = CATALOGUE_DIR / "cli_v2_commands.toml"
#: Options the CLI adds to every API operation (or to every paginated one): listed once.
OPERATION_OPTIONS = ("--cli-input-json", "--cli-input-yaml", "--generate-cli-skeleton")
PAGINATION_OPTIONS = ("--max-items", "--page-size", "--starting-token")
_COMMON = frozenset(o[2:] for o in OPERATION_OPTIONS + PAGINATION_OPTIONS)


def _options(arg_table: Any) -> list[str]:
    """Option names of an argument table (positional arguments such as ``s3 cp``'s paths left out)."""
    return sorted(f"--{name}" for name, arg in arg_table.items() if not getattr(arg, "positional_arg", False))


def _takes_value(argument: Any) -> bool:
    return getattr(argument, "_action", None) not in ("store_true", "store_false", "version")


def _basic_command(command: Any) -> list[str] | None:
    """A CLI-only command: its options, or None when it only dispatches to subcommands (open).

    (``aws cloudformation deploy`` shows codedeploy's subcommands too, an awscli quirk of
    two commands named ``deploy``: a command with options of its own keeps them.)
    """
    # The subcommand table first: building it emits ``building-command-table.<name>``, where
    # awscli's plugins add options (``s3 sync``'s --delete, --size-only, --exact-timestamps
    # come from its sync strategies); the argument table read before that lacks them.
    subcommands = getattr(command, "subcommand_table", None)
    options = _options(command.arg_table)
    if not options and subcommands:
        return None
    return options


def _operation_delta(operation: Any, xform_name: Any) -> dict[str, list[str]] | None:
    model = operation._operation_model
    shape = model.input_shape
    members = {xform_name(m, "-"): m for m in (shape.members if shape is not None else {})}
    required_model = {xform_name(m, "-") for m in (shape.required_members if shape is not None else ())}
    table = operation.arg_table
    names = {n for n, a in table.items() if not getattr(a, "positional_arg", False)}
    positives = {n for n in names if not (n.startswith("no-") and n[3:] in names)}
    add = sorted(positives - set(members) - _COMMON)
    remove = sorted(set(members) - names)
    required = sorted(n for n in names if getattr(table[n], "required", False))
    delta: dict[str, list[str]] = {}
    if add:
        delta["add"] = [f"--{n}" for n in add]
    if remove:
        delta["remove"] = [f"--{n}" for n in remove]
    if set(required) != required_model:
        delta["required"] = [f"--{n}" for n in required]
    return delta or None


def build() -> dict[str, Any]:
    """Walk the installed awscli's command table (imports awscli: run in its own process)."""
    import awscli
    from awscli.clidriver import ServiceCommand, ServiceOperation, create_clidriver
    from botocore import xform_name  # the copy awscli vendors, once awscli is imported

    driver = create_clidriver()
    global_options = {f"--{n}": _takes_value(a) for n, a in sorted(driver._get_argument_table().items())}
    global_options.update(load_v2_global_options())
    services: dict[str, str | None] = {}
    operations: dict[str, dict[str, Any]] = {}
    commands: dict[str, dict[str, list[str] | None]] = {}
    for name, top in sorted(driver._get_command_table().items()):
        if isinstance(top, ServiceCommand):
            services[name] = top._service_name
            for command, sub in sorted(top._get_command_table().items()):
                if isinstance(sub, ServiceOperation):
                    delta = _operation_delta(sub, xform_name)
                    if delta:
                        operations.setdefault(name, {})[command] = delta
                else:
                    commands.setdefault(name, {})[command] = _basic_command(sub)
        else:
            services[name] = None
            subcommands = getattr(top, "subcommand_table", {}) or {}
            table = {sub: _basic_command(cmd) for sub, cmd in sorted(subcommands.items())}
            table[""] = _options(top.arg_table)  # the command on its own (`aws configure`)
            commands[name] = table
    return {
        "source": f"awscli {awscli.__version__}: the CLI driver's command table, customisations included",
        "awscli_version": awscli.__version__,
        "global_options": global_options,
        "operation_options": list(OPERATION_OPTIONS),
        "pagination_options": list(PAGINATION_OPTIONS),
        "services": services,
        "operations": operations,
        "commands": commands,
        "v2_commands": load_v2_commands(),
    }


def load_v2_commands(path: Path = V2_COMMANDS) -> dict[str, dict[str, list[str] | None]]:
    """The hand-kept AWS CLI v2-only commands (validated: each needs a source page)."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    result: dict[str, dict[str, list[str] | None]] = {}
    for entry in data.get("commands", ()):
        service, command, source = entry.get("service"), entry.get("command"), entry.get("source")
        if not (isinstance(service, str) and isinstance(command, str) and isinstance(source, str) and source):
            raise ValueError(f"{path}: every [[commands]] needs service, command and source")
        options = entry.get("options")
        result.setdefault(service, {})[command] = None if options is None else sorted(options)
    return result


def load_v2_global_options(path: Path = V2_COMMANDS) -> dict[str, bool]:
    """Global options only AWS CLI v2 has (``--cli-binary-format``, ``--no-cli-pager`` …)."""
    with path.open("rb") as handle:
        options = tomllib.load(handle).get("global_options", {})
    if not all(k.startswith("--") and isinstance(v, bool) for k, v in options.items()):
        raise ValueError(f"{path}: [global_options] maps '--option' to true/false")
    return dict(options)


def render(catalogue: dict[str, Any]) -> str:
    """The file's exact text: compact, one top-level section per line, sorted keys."""
    lines = ["{"]
    items = list(catalogue.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        lines.append(f"{json.dumps(key)}: {json.dumps(value, sort_keys=True, separators=(',', ':'))}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return catalogue_main(argv, doc=__doc__, output=OUTPUT, render=lambda: render(build()))


if __name__ == "__main__":
    raise SystemExit(main())
