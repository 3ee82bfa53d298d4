"""What the AWS CLI adds on top of botocore's models, as data (``catalogue/cli_commands.json``).

Written by ``python -m evals.build_cli_catalogue`` from the ``awscli`` package's own
command table (customisations included) plus the hand-kept v2-only commands; see that
script for the format. Validated on load; errors name the file and the key.

Example:
    >>> cli = load_cli_catalogue()
    >>> "--protocol" in cli.operation_delta("ec2", "authorize-security-group-ingress").add
    True
    >>> cli.botocore_service("s3api")
    's3'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CLI_CATALOGUE = Path(__file__).resolve().parent / "catalogue" / "cli_commands.json"
_KEYS = (
    "source", "awscli_version", "global_options", "operation_options", "pagination_options",
    "services", "operations", "commands", "v2_commands",
)


class CliCatalogueError(ValueError):
    """The CLI catalogue file is malformed; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class OperationDelta:
    """How the CLI differs from the API model for one operation (option names dashed, no ``--``)."""

    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    required: frozenset[str] | None = None  # None: the model's required members


@dataclass(frozen=True, slots=True)
class CliCatalogue:
    """The CLI's global options, top-level commands, its own commands and operation deltas."""

    awscli_version: str
    global_options: Mapping[str, bool]  # "--region" -> takes a value
    operation_options: frozenset[str]  # "--cli-input-json" …: every API operation
    pagination_options: frozenset[str]  # "--max-items" …: paginated operations
    services: Mapping[str, str | None]  # CLI top-level command -> botocore service (None: CLI-only)
    operations: Mapping[tuple[str, str], OperationDelta]
    commands: Mapping[str, Mapping[str, frozenset[str] | None]]  # CLI-only commands -> options (None: open)

    def botocore_service(self, cli_name: str) -> str | None:
        """The botocore service behind a CLI top-level command (None when CLI-only or unknown)."""
        return self.services.get(cli_name)

    def is_top_level(self, cli_name: str) -> bool:
        """A top-level ``aws`` command (service or CLI-only)."""
        return cli_name in self.services or cli_name in self.commands

    def command(self, cli_name: str, command: str) -> tuple[bool, frozenset[str] | None]:
        """``(found, options)`` of a CLI-only command; options None means any option passes."""
        table = self.commands.get(cli_name, {})
        if command not in table:
            return False, None
        return True, table[command]

    def operation_delta(self, cli_name: str, command: str) -> OperationDelta:
        return self.operations.get((cli_name, command), OperationDelta())


def _names(values: Any, where: str) -> frozenset[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) and v.startswith("--") for v in values):
        raise CliCatalogueError(f"{where}: expected a list of '--option' names")
    return frozenset(v[2:] for v in values)


def load_cli_catalogue(path: Path = CLI_CATALOGUE) -> CliCatalogue:
    """Read and validate the CLI catalogue."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CliCatalogueError(f"{path}: {exc}") from exc
    missing = [k for k in _KEYS if k not in data]
    if missing:
        raise CliCatalogueError(f"{path}: missing key(s) {', '.join(missing)}")
    globals_ = data["global_options"]
    if not isinstance(globals_, dict) or not all(isinstance(v, bool) and k.startswith("--") for k, v in globals_.items()):
        raise CliCatalogueError(f"{path}: 'global_options' maps '--option' to true/false (takes a value)")
    services = data["services"]
    if not isinstance(services, dict) or not all(v is None or isinstance(v, str) for v in services.values()):
        raise CliCatalogueError(f"{path}: 'services' maps a CLI command to a botocore service or null")
    operations: dict[tuple[str, str], OperationDelta] = {}
    for service, table in data["operations"].items():
        for command, delta in table.items():
            where = f"{path}: operations.{service}.{command}"
            if not isinstance(delta, dict) or set(delta) - {"add", "remove", "required"}:
                raise CliCatalogueError(f"{where}: expected an object with add/remove/required")
            operations[(service, command)] = OperationDelta(
                _names(delta.get("add", []), where),
                _names(delta.get("remove", []), where),
                _names(delta["required"], where) if "required" in delta else None,
            )
    commands: dict[str, dict[str, frozenset[str] | None]] = {}
    for section in ("commands", "v2_commands"):
        for service, table in data[section].items():
            for command, options in table.items():
                where = f"{path}: {section}.{service}.{command}"
                commands.setdefault(service, {})[command] = None if options is None else _names(options, where)
    return CliCatalogue(
        str(data["awscli_version"]),
        dict(globals_),
        _names(data["operation_options"], f"{path}: operation_options"),
        _names(data["pagination_options"], f"{path}: pagination_options"),
        dict(services),
        operations,
        commands,
    )


@cache
def cli_catalogue() -> CliCatalogue:
    """The shipped CLI catalogue, loaded once per process."""
    return load_cli_catalogue()


CLI_V2_COMMANDS = Path(__file__).resolve().parent / "catalogue" / "cli_v2_commands.toml"


@cache
def removed_in_v2(path: Path = CLI_V2_COMMANDS) -> dict[tuple[str, str], str]:
    """``(service, command) -> what to run instead`` for commands AWS CLI v2 removed
    (``[[removed]]`` in ``cli_v2_commands.toml``, each with its documentation source)."""
    import tomllib

    with path.open("rb") as handle:
        entries = tomllib.load(handle).get("removed", [])
    removed: dict[tuple[str, str], str] = {}
    for entry in entries:
        if not all(entry.get(k) for k in ("service", "command", "instead", "source")):
            raise CliCatalogueError(f"{path}: [[removed]] entries need service, command, instead and source")
        removed[(entry["service"], entry["command"])] = entry["instead"]
    return removed
