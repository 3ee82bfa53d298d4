"""Exit codes of every ``python -m evals`` command, and argparse's own exit mapped onto them.

0: done (all gates passed, or the command did what it was asked); 1: a gate failed (or an A/B
found B worse); 2: bad input or configuration, named with file and line where there is one.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

EXIT_OK, EXIT_GATE_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """``parser.parse_args(argv)``, or the exit code when argparse exits instead of returning:
    ``--help`` is :data:`EXIT_OK`, a usage error :data:`EXIT_BAD_INPUT` (its message is already
    on stderr). Callers return an ``int`` result as it is."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_BAD_INPUT if exc.code else EXIT_OK
