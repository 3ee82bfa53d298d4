"""Normalised template snapshot: ``python -m stack.snapshot [--update]``.

The snapshot (``tests/stack/snapshots/template.json``) is the synthesized template with
volatile values normalised: asset hashes (Lambda code, prompt asset, S3 keys), the API
deployment's content-hash suffix, prompt ``sha256`` digests and CDK's asset metadata.
What remains is the infrastructure; ``tests/stack/test_snapshot.py`` compares it with
deepdiff, so an unintended change shows up as a readable diff in review. Updating it is
deliberate: ``python -m stack.snapshot --update`` (review the git diff, commit it).
Without ``--update`` the command prints the diff and exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stack import constants as c

SNAPSHOT_PATH = c.REPO_ROOT / "tests" / "stack" / "snapshots" / "template.json"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-f]{64}"), "<hash>"),
    (re.compile(r"(Deployment)[0-9a-f]{32,40}"), r"\1<hash>"),
)
_DROPPED_METADATA = ("aws:asset:path", "aws:asset:is-bundled", "aws:asset:property", "aws:cdk:path")


def normalise(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``template`` without volatile values (see the module docstring)."""
    data = json.loads(json.dumps(template))
    data.get("Resources", {}).pop("CDKMetadata", None)
    data.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    for resource in data.get("Resources", {}).values():
        metadata = resource.get("Metadata")
        if isinstance(metadata, dict):
            for key in _DROPPED_METADATA:
                metadata.pop(key, None)
            if not metadata:
                resource.pop("Metadata")
    text = json.dumps(data, sort_keys=True)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return json.loads(text)


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def diff(expected: dict[str, Any], actual: dict[str, Any], max_lines: int = 60) -> str:
    """A readable deepdiff of two normalised templates ("" when equal)."""
    from deepdiff import DeepDiff

    result = DeepDiff(expected, actual, ignore_order=False, verbose_level=1)
    if not result:
        return ""
    lines = result.pretty().splitlines()
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... and {len(lines) - max_lines} more differences"]
    return "\n".join(line if len(line) < 400 else line[:400] + " ..." for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.snapshot", description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the snapshot from a fresh synth")
    parser.add_argument("--outdir", default=str(c.DEFAULT_OUTDIR))
    parser.add_argument("--snapshot", default=str(SNAPSHOT_PATH))
    args = parser.parse_args(argv)

    from stack.app import synthesize

    current = normalise(synthesize(args.outdir, nag=True).template())
    path = Path(args.snapshot)
    if args.update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(current), encoding="utf-8")
        print(f"snapshot written: {path}")
        return 0
    if not path.exists():
        print(f"no snapshot at {path}; run python -m stack.snapshot --update")
        return 1
    text = diff(json.loads(path.read_text(encoding="utf-8")), current)
    print(text or "snapshot matches")
    return 1 if text else 0


if __name__ == "__main__":
    sys.exit(main())
