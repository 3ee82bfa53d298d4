"""Parameters an API operation does not accept together, part of ``accuracy``.

``catalogue/exclusive_parameters.json`` (built by ``python -m evals.build_exclusive_catalogue``
from botocore's API documentation) lists, per service and operation, the pairs of input
members the API reference says cannot be given together (``launchType`` with
``capacityProviderStrategy`` for ECS ``CreateService``, ``TemplateBody`` with ``TemplateURL``).
A CLI call, a boto3 call or a CloudFormation resource (``AWS::ECS::Service`` is
``ecs`` ``CreateService``) that sets both names a step that would not work. Loaded on first use.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

EXCLUSIVE_FILE = Path(__file__).resolve().parent / "catalogue" / "exclusive_parameters.json"


def _norm(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


@cache
def _pairs() -> dict[tuple[str, str], tuple[tuple[str, str], ...]]:
    data = json.loads(EXCLUSIVE_FILE.read_text(encoding="utf-8"))
    return {
        (service, _norm(operation)): tuple((a, b) for a, b in pairs)
        for service, operations in data["pairs"].items()
        for operation, pairs in operations.items()
    }


def conflicting(service: str, operation: str, given: set[str] | frozenset[str]) -> tuple[str, str] | None:
    """The first pair of exclusive parameters that ``given`` (names in any case, with or
    without dashes) contains, for the botocore ``service`` and ``operation``; else None."""
    pairs = _pairs().get((service.lower(), _norm(operation)))
    if not pairs:
        return None
    normalised = {_norm(g) for g in given}
    for a, b in pairs:
        if _norm(a) in normalised and _norm(b) in normalised:
            return a, b
    return None
