"""Build the CloudFormation and IAM catalogue the quality check uses, from ``cfn-lint``'s data.

``cfn-lint`` (MIT-0, https://github.com/aws-cloudformation/cfn-lint) bundles the public
CloudFormation resource provider schemas (``cfnlint/data/schemas``) and the IAM policy
generator's list of actions per service prefix (``cfnlint/data/AdditionalSpecs/Policies.json``,
the Service Authorization Reference's actions). This script keeps only what the accuracy
check needs, so the Lambda ships a small file and never imports ``cfn-lint``:

- ``resources``: every resource type of the us-east-1 provider list and SAM's -> its properties as
  ``"Name Other:7 !Required"``: ``:n`` is the index in ``shapes`` of a nested object whose
  keys are known (arrays of objects: their items), ``!`` marks a required property;
- ``shapes``: the nested objects in the same form, identical ones stored once;
- ``iam_actions``: service prefix -> every action name, lower-cased, space-separated;
- ``iam_condition_keys``: the service condition keys the list names (``ec2:encrypted``), so
  that a key written in prose is not taken for a misspelt action;
- ``values``: resource type -> ``{"Prop.Sub": n}``, ``n`` the index in ``value_rules`` of the
  property's allowed values: ``"enum A B C"`` (a string enum) or ``"pattern ^…$"`` (a string
  pattern that Python's ``re`` compiles), as cfn-lint checks them (E3030, E3031); identical
  rules stored once.

Run it where cfn-lint is installed (the test environment):

    python -m evals.build_template_catalogue            # write pipeline/domain/quality/catalogue/templates.json
    python -m evals.build_template_catalogue --stdout   # print instead (the test compares)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evals.catalogue_builder import catalogue_main

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "pipeline" / "domain" / "quality" / "catalogue" / "templates.json"
#: How deep nested shapes are followed (BucketEncryption → ServerSideEncryptionConfiguration
#: → ServerSideEncryptionByDefault is 3); deeper objects are left unchecked.
MAX_DEPTH = 3


def _data_dir() -> Path:
    import cfnlint

    return Path(cfnlint.__file__).resolve().parent / "data"


def _object_keys(node: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """A schema node's declared keys and required keys, or None when it accepts any key."""
    if node.get("type") not in (None, "object") or "properties" not in node:
        return None
    if node.get("additionalProperties", False) not in (False, None) or node.get("patternProperties"):
        return None
    return node["properties"], sorted(set(node.get("required") or []) & set(node["properties"]))


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Follow ``$ref`` (``#/definitions/X``) and array ``items``; the definition name and node."""
    name = None
    for _ in range(5):
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            node = node["items"]
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            name = ref.rsplit("/", 1)[-1]
            node = (schema.get("definitions") or {}).get(name) or {}
            continue
        break
    return name, node


class _Shapes:
    """Nested object shapes, interned: identical shapes (every ``Tag``) are stored once."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self._index: dict[str, int] = {}
        self._done: dict[tuple[str, str], int | None] = {}

    def encode(self, resource: str, node: dict[str, Any], schema: dict[str, Any], depth: int) -> str | None:
        """``"Name Other:7 !Required"``: property names, ``:n`` the shape of a nested object,
        ``!`` a required property; None when the node accepts any key."""
        keys = _object_keys(node)
        if keys is None:
            return None
        properties, required = keys
        words = []
        for prop, sub in sorted(properties.items()):
            word = ("!" if prop in required else "") + prop
            if depth < MAX_DEPTH and isinstance(sub, dict):
                name, target = _resolve(sub, schema)
                if name:
                    marker = (resource, name)
                    if marker not in self._done:
                        self._done[marker] = None  # a cycle stops here
                        text = self.encode(resource, target, schema, depth + 1)
                        self._done[marker] = self._intern(text) if text else None
                    if self._done[marker] is not None:
                        word += f":{self._done[marker]}"
            words.append(word)
        return " ".join(words)

    def _intern(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.table)
            self.table.append(text)
        return self._index[text]


class _ValueRules:
    """String enums and patterns of scalar properties, by dotted path, rules interned."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self._index: dict[str, int] = {}

    def collect(self, node: dict[str, Any], schema: dict[str, Any], path: str, depth: int,
                out: dict[str, int]) -> None:
        properties = node.get("properties")
        if not isinstance(properties, dict):
            return
        for prop, sub in sorted(properties.items()):
            if not isinstance(sub, dict):
                continue
            _, target = _resolve(sub, schema)
            where = f"{path}.{prop}" if path else prop
            rule = self._rule(target)
            if rule is not None:
                out[where] = self._intern(rule)
            if depth < MAX_DEPTH:
                self.collect(target, schema, where, depth + 1, out)

    @staticmethod
    def _rule(node: dict[str, Any]) -> str | None:
        if node.get("type") not in ("string", None):
            return None
        enum = node.get("enum")
        if isinstance(enum, list) and enum and all(isinstance(v, str) and v and " " not in v for v in enum):
            return "enum " + " ".join(enum)
        pattern = node.get("pattern")
        if node.get("type") == "string" and isinstance(pattern, str):
            try:
                re.compile(pattern)
            except re.error:
                return None
            return "pattern " + pattern
        return None

    def _intern(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.table)
            self.table.append(text)
        return self._index[text]


def build() -> dict[str, Any]:
    data = _data_dir()
    schemas = data / "schemas"
    types: dict[str, str] = json.loads((schemas / "providers" / "us-east-1.json").read_text())
    types.update(json.loads((schemas / "providers" / "sam.json").read_text()))
    resources: dict[str, str] = {}
    shapes = _Shapes()
    rules = _ValueRules()
    values: dict[str, dict[str, int]] = {}
    for resource, digest in sorted(types.items()):
        path = schemas / "resources" / f"{digest}.json"
        if not path.exists():
            continue
        schema = json.loads(path.read_text())
        entry = shapes.encode(resource, schema, schema, 1)
        if entry is not None:
            resources[resource] = entry
        found: dict[str, int] = {}
        rules.collect(schema, schema, "", 1, found)
        if found:
            values[resource] = found
    policies = json.loads((data / "AdditionalSpecs" / "Policies.json").read_text())
    service_map = policies.get("serviceMap", policies)
    actions: dict[str, set[str]] = {}
    condition_keys: set[str] = set()
    for key, service in service_map.items():
        prefix = service.get("StringPrefix", key)
        actions.setdefault(prefix, set()).update(a.lower() for a in service.get("Actions", {}))
        for resource in (service.get("Resources") or {}).values():
            condition_keys.update(k.lower() for k in resource.get("ConditionKeys", ()) if "$" not in k)
    import cfnlint.version

    return {
        "source": "cfn-lint (MIT-0) bundled CloudFormation resource schemas (us-east-1) and IAM policy "
                  "actions (AdditionalSpecs/Policies.json)",
        "cfn_lint_version": cfnlint.version.__version__,
        "resources": resources,
        "shapes": shapes.table,
        "iam_actions": {p: " ".join(sorted(a)) for p, a in sorted(actions.items()) if a},
        "iam_condition_keys": " ".join(sorted(condition_keys)),
        "values": values,
        "value_rules": rules.table,
    }


def main(argv: list[str] | None = None) -> int:
    return catalogue_main(argv, doc=__doc__, output=OUTPUT, render=lambda: json.dumps(build(), sort_keys=True, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
