"""Build the catalogue of mutually exclusive API parameters from botocore's service models.

The API reference says, in a parameter's documentation, which other parameter it cannot be
given with ("If a ``capacityProviderStrategy`` is specified, the ``launchType`` parameter must
be omitted", "``TemplateBody`` and ``TemplateURL`` are mutually exclusive", "specify either
``A`` or ``B``, but not both"). This script reads those sentences from every operation's input
members (botocore, Apache-2.0) and keeps the pairs whose two names are members of the same
operation, so the quality check never imports botocore's models for it:

    python -m evals.build_exclusive_catalogue            # write pipeline/domain/quality/catalogue/exclusive_parameters.json
    python -m evals.build_exclusive_catalogue --stdout   # print instead (the test compares)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evals.catalogue_builder import catalogue_main

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "pipeline" / "domain" / "quality" / "catalogue" / "exclusive_parameters.json"
_CODE = r"<code>(\w+)</code>"
SENTENCES = (
    re.compile(rf"If (?:a |an |the )?{_CODE}(?: parameter)? is specified, (?:then )?(?:the )?{_CODE} parameter must be omitted", re.I),
    re.compile(rf"{_CODE} and {_CODE} (?:parameters )?are mutually exclusive", re.I),
    re.compile(rf"(?:specify|use) either {_CODE} or {_CODE},? but not both", re.I),
    re.compile(rf"(?:can't|cannot|can not) (?:specify|use) both {_CODE} and {_CODE}", re.I),
)


def build() -> dict[str, Any]:
    import botocore
    import botocore.session

    session = botocore.session.get_session()
    pairs: dict[str, dict[str, list[list[str]]]] = {}
    for service in session.get_available_services():
        model = session.get_service_model(service)
        for operation in model.operation_names:
            shape = model.operation_model(operation).input_shape
            if shape is None:
                continue
            names = {k.lower(): k for k in shape.members}
            found: set[tuple[str, str]] = set()
            for member in shape.members.values():
                for sentence in SENTENCES:
                    for a, b in sentence.findall(member.documentation or ""):
                        if a.lower() in names and b.lower() in names and a.lower() != b.lower():
                            found.add(tuple(sorted((names[a.lower()], names[b.lower()]))))  # type: ignore[arg-type]
            if found:
                pairs.setdefault(service, {})[operation] = [list(p) for p in sorted(found)]
    return {
        "source": "botocore service models (Apache-2.0): input members whose documentation says another "
                  "member cannot be given with them",
        "botocore_version": botocore.__version__,
        "pairs": dict(sorted(pairs.items())),
    }


def main(argv: list[str] | None = None) -> int:
    return catalogue_main(argv, doc=__doc__, output=OUTPUT, render=lambda: json.dumps(build(), sort_keys=True, indent=1) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
