"""The command line every catalogue builder shares: build, then write the file or print it.

``python -m evals.build_cli_catalogue``, ``build_template_catalogue`` and
``build_exclusive_catalogue`` each derive a data file that ships in ``pipeline/`` from a public
catalogue installed at build time (awscli, cfn-lint's schemas, botocore). ``--stdout`` prints
what would be written, so a test can check the committed file is up to date.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def catalogue_main(argv: Sequence[str] | None, *, doc: str | None, output: Path, render: Callable[[], str]) -> int:
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--stdout", action="store_true", help="print the catalogue instead of writing it")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output} ({len(text):,} bytes)")
    return 0
