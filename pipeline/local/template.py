"""The synthesized CloudFormation template, read with local physical names.

:class:`StackTemplate` resolves what the local engine needs from the template ``stack/``
synthesizes (``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``): the state machine's ASL,
the project's functions with their environment, tables, buckets, the prompt index items
and bucket deployments. :func:`load_template` synthesizes only when the cached one is
missing or stale. Used by :mod:`pipeline.local.workflow`, which re-exports these names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
PARTITION = "aws"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTDIR = REPO_ROOT / "cdk.out"
_PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "local",
    "AWS::NoValue": None,
}



class LocalWorkflowError(RuntimeError):
    """The template cannot be run locally, or an execution did not finish."""




@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    handler: str  # "pipeline.handlers.capture_query.handler"
    environment: dict[str, str]
    timeout: int

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def short_name(self) -> str:
        """``capture_query`` for ``pipeline.handlers.capture_query.handler``."""
        return self.module.rsplit(".", 1)[-1]

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id)


def function_arn(logical_id: str) -> str:
    return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


def bucket_name(logical_id: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", logical_id.lower())[:63]


class StackTemplate:
    """Read-only view of a synthesized template with local physical names.

    Physical names: a table is named after its logical id, a bucket after its lowercased
    logical id, a function's ARN ends in its logical id.
    """

    def __init__(self, template: Mapping[str, Any], *, stack_name: str = "local",
                 outdir: Path | None = None) -> None:
        self.template = template
        self.stack_name = stack_name
        self.outdir = outdir
        self.resources: dict[str, dict[str, Any]] = dict(template.get("Resources", {}))

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r.get("Type") == kind}

    # -- names -------------------------------------------------------------------------

    def ref(self, logical_id: str) -> Any:
        if logical_id in _PSEUDO:
            return _PSEUDO[logical_id]
        resource = self.resources.get(logical_id)
        if resource is None:
            raise LocalWorkflowError(f"Ref to unknown resource {logical_id}")
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            return resource.get("Properties", {}).get("TableName", logical_id)
        if kind == "AWS::S3::Bucket":
            return bucket_name(logical_id)
        if kind == "AWS::Lambda::Function":
            return logical_id
        if kind == "AWS::StepFunctions::StateMachine":
            return f"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:stateMachine:{logical_id}"
        return logical_id

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise LocalWorkflowError(f"GetAtt of unknown resource {logical_id}")
        kind = resource["Type"]
        if attribute == "Arn":
            if kind == "AWS::Lambda::Function":
                return function_arn(logical_id)
            if kind == "AWS::DynamoDB::Table":
                return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{self.ref(logical_id)}"
            if kind == "AWS::S3::Bucket":
                return f"arn:{PARTITION}:s3:::{self.ref(logical_id)}"
        raise LocalWorkflowError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute} locally")

    def resolve(self, value: Any) -> Any:
        """Resolve Ref, Fn::GetAtt, Fn::Join and Fn::Sub to plain values."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in parts)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def sub(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in variables:
                        return str(self.resolve(variables[name]))
                    if "." in name:
                        return str(self.get_att(*name.split(".", 1)))
                    return str(self.ref(name))

                return re.sub(r"\$\{([^}]+)\}", sub, text)
        return {k: self.resolve(v) for k, v in value.items()}

    # -- parts of the stack ------------------------------------------------------------

    def state_machine(self) -> tuple[str, dict[str, Any], str]:
        """``(logical id, resolved ASL, type)`` of the (single) state machine."""
        machines = self.of_type("AWS::StepFunctions::StateMachine")
        if len(machines) != 1:
            raise LocalWorkflowError(f"expected one state machine, found {len(machines)}")
        (logical, resource), = machines.items()
        props = resource["Properties"]
        definition = self.resolve(props["DefinitionString"])
        return logical, json.loads(definition), props.get("StateMachineType", "STANDARD")

    def functions(self) -> dict[str, FunctionSpec]:
        """The project's functions (Handler under ``pipeline.``), by logical id."""
        found = {}
        for logical, resource in self.of_type("AWS::Lambda::Function").items():
            props = resource.get("Properties", {})
            handler = props.get("Handler", "")
            if not handler.startswith("pipeline."):
                continue
            env = self.resolve(props.get("Environment", {}).get("Variables", {}))
            found[logical] = FunctionSpec(
                logical_id=logical,
                handler=handler,
                environment={k: str(v) for k, v in env.items()},
                timeout=int(props.get("Timeout", 3)),
            )
        return found

    def tables(self) -> dict[str, dict[str, Any]]:
        return {k: r.get("Properties", {}) for k, r in self.of_type("AWS::DynamoDB::Table").items()}

    def buckets(self) -> list[str]:
        return [self.ref(k) for k in self.of_type("AWS::S3::Bucket")]

    def sdk_calls(self) -> list[dict[str, Any]]:
        """The ``Create`` calls of the template's ``Custom::AWS`` resources (resolved)."""
        calls = []
        for resource in self.of_type("Custom::AWS").values():
            create = resource.get("Properties", {}).get("Create")
            if create is not None:
                calls.append(json.loads(self.resolve(create)))
        return calls

    def index_items(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """``(table name, items)`` of each ``Custom::PromptIndex`` (what its loader writes)."""
        return [
            (self.resolve(props["TableName"]), self.resolve(props.get("Items") or []))
            for props in (r.get("Properties", {}) for r in self.of_type("Custom::PromptIndex").values())
        ]

    def bucket_deployments(self) -> list[tuple[Path, str, str]]:
        """``(source folder, bucket, key prefix)`` for each ``BucketDeployment``."""
        found = []
        for resource in self.of_type("Custom::CDKBucketDeployment").values():
            props = resource["Properties"]
            bucket = self.resolve(props["DestinationBucketName"])
            prefix = props.get("DestinationBucketKeyPrefix", "")
            for key in props.get("SourceObjectKeys", []):
                asset_hash = key.removesuffix(".zip")
                found.append((self.asset_path(asset_hash), bucket, prefix))
        return found

    def asset_path(self, asset_hash: str) -> Path:
        """The staged folder of an asset, via ``<Stack>.assets.json``."""
        if self.outdir is None:
            raise LocalWorkflowError("the template's cdk.out folder is unknown; pass outdir=")
        manifest = self.outdir / f"{self.stack_name}.assets.json"
        if manifest.exists():
            files = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
            entry = files.get(asset_hash)
            if entry:
                return self.outdir / entry["source"]["path"]
        return self.outdir / f"asset.{asset_hash}"


def load_template(
    outdir: str | Path = DEFAULT_OUTDIR, context: Mapping[str, Any] | None = None
) -> tuple[StackTemplate, bool]:
    """The synthesized template, synthesized only when missing or stale.

    Returns ``(template, synthesized_now)``.
    """
    try:
        from stack.app import cached_template
    except ModuleNotFoundError:  # an editable install made before stack/ existed
        import sys

        sys.path.insert(0, str(REPO_ROOT))
        from stack.app import cached_template

    template, name, synthesized = cached_template(outdir, context)
    return StackTemplate(template, stack_name=name, outdir=Path(outdir)), synthesized

