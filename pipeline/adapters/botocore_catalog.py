"""``AwsApiCatalog`` backed by botocore's bundled service models (fully offline).

The quality check asks this catalog whether ``aws ec2 describe-instance`` or
``s3.get_objects(...)`` names a real service, operation and parameters. Everything is
answered from the JSON models that ship inside botocore; nothing calls AWS.

Cost model (DESIGN.md §6): listing services costs ~0.05-0.1 s and each service model
10-150 ms, so nothing is loaded at import or construction time. The service list, the
region list and every service model are loaded on first use and cached for the life of
the process (a warm Lambda keeps them).

The AWS CLI is not a one-to-one mirror of the API: its top-level names (``s3api`` is the
``s3`` API, ``configservice`` is ``config``), its own commands (``aws s3 cp``,
``aws eks update-kubeconfig``, ``aws logs tail``), the options it adds to API operations
(``aws ec2 authorize-security-group-ingress --protocol --port --cidr``) and the required
options it changes (``aws ec2 run-instances --count``) come from the CLI catalogue
(:mod:`pipeline.domain.quality.cli_catalogue`), built from the ``awscli`` package's own
command table by ``python -m evals.build_cli_catalogue``. CLI commands whose options are
not listed accept any option (``open_parameters``).

Example:
    >>> catalog = BotocoreApiCatalog()
    >>> catalog.operation("ec2", "describe-instances").name
    'DescribeInstances'
    >>> catalog.operation("ec2", "describe-instance") is None
    True
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.domain.quality.cli_catalogue import CliCatalogue, cli_catalogue

#: Names customers use for services (the catalog also accepts botocore's own ids).
CUSTOMER_SERVICE_NAMES: tuple[str, ...] = (
    "EC2", "S3", "Lambda", "RDS", "Aurora", "DynamoDB", "IAM", "VPC", "CloudFront", "Route 53",
    "CloudWatch", "CloudFormation", "CloudTrail", "SNS", "SQS", "SES", "ECS", "EKS", "ECR",
    "Fargate", "Elastic Beanstalk", "API Gateway", "Step Functions", "EventBridge", "Kinesis",
    "Redshift", "Athena", "Glue", "EMR", "ElastiCache", "Bedrock", "SageMaker", "Comprehend",
    "Secrets Manager", "Systems Manager", "SSM", "KMS", "Cognito", "ACM", "WAF", "Shield",
    "GuardDuty", "Security Hub", "Organizations", "Control Tower", "Config", "Backup", "EFS",
    "FSx", "EBS", "Glacier", "Storage Gateway", "Direct Connect", "Transit Gateway",
    "Elastic Load Balancing", "ELB", "ALB", "NLB", "Auto Scaling", "Lightsail", "Amplify",
    "AppSync", "Cost Explorer", "Budgets", "Billing", "Trusted Advisor", "CodeBuild",
    "CodePipeline", "CodeDeploy", "CodeCommit", "CodeArtifact", "OpenSearch", "MSK", "MQ",
    "Batch", "Inspector", "Macie", "Textract", "Rekognition", "Polly", "Transcribe",
    "Translate", "Lex", "Connect", "WorkSpaces", "AppRunner", "App Runner", "X-Ray",
    "CloudShell", "Cloud9", "DataSync", "DMS", "Snowball", "IoT Core", "Timestream",
    "Neptune", "DocumentDB", "Keyspaces", "QuickSight", "Lake Formation", "STS", "SSO",
    "IAM Identity Center", "Certificate Manager", "Service Quotas", "Support", "Savings Plans",
)

_REGION_SHAPE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


@dataclass(frozen=True, slots=True)
class BotocoreOperation:
    """One operation (or CLI high-level command) as the quality check sees it.

    Attributes:
        name: The API name (``DescribeInstances``), or the CLI command for high-level
            commands (``cp``).
        parameters: Accepted parameter names: boto3 names (``InstanceIds``) for API
            operations, CLI option names without dashes for high-level commands.
        required: Parameters the call cannot omit.
        open_parameters: True when the option list is unknown, so any option passes.
        high_level: True for CLI customisations, which boto3 does not have.
        cli_options: Extra options the CLI accepts for this operation (dashed names).
        cli_required: Required members as the CLI sees them (some are filled by
            ``cli_options``, e.g. ``--count`` fills ``MinCount`` and ``MaxCount``).
        cli_removed: API members the CLI does not accept as options (dashed names).
    """

    name: str
    parameters: frozenset[str]
    required: frozenset[str]
    open_parameters: bool = False
    high_level: bool = False
    cli_options: frozenset[str] = frozenset()
    cli_required: frozenset[str] = frozenset()
    cli_removed: frozenset[str] = frozenset()


class BotocoreApiCatalog:
    """Offline AWS API knowledge from botocore's service models; lazy and cached.

    Args:
        session: A ``botocore.session.Session``; one is created on first use when None
            (creating it is deferred because importing botocore costs ~0.1 s).
        cli: What the AWS CLI adds to the models; the shipped catalogue when None.
    """

    def __init__(self, session: Any | None = None, cli: CliCatalogue | None = None) -> None:
        self._session = session
        self._cli = cli if cli is not None else cli_catalogue()
        #: CLI top-level name -> botocore name, where they differ (``s3api`` -> ``s3``).
        self._cli_aliases = {k: v for k, v in self._cli.services.items() if v is not None and v != k}
        self._lock = threading.Lock()
        self._services: frozenset[str] | None = None
        self._regions: frozenset[str] | None = None
        self._models: dict[str, Any] = {}
        # (service, normalised op) -> BotocoreOperation | None; misses are cached too.
        self._operations: dict[tuple[str, str], BotocoreOperation | None] = {}
        self._op_index: dict[str, dict[str, str]] = {}

    # -- lazy loading ------------------------------------------------------------------

    def _get_session(self) -> Any:
        if self._session is None:
            import botocore.session  # lazy: keeps Lambda import time low

            self._session = botocore.session.get_session()
        return self._session

    def _service_set(self) -> frozenset[str]:
        if self._services is None:
            with self._lock:
                if self._services is None:
                    self._services = frozenset(self._get_session().get_available_services())
        return self._services

    def _region_set(self) -> frozenset[str]:
        if self._regions is None:
            with self._lock:
                if self._regions is None:
                    data = self._get_session().get_data("endpoints")
                    regions: set[str] = set()
                    for partition in data.get("partitions", ()):
                        regions.update(partition.get("regions", {}))
                    self._regions = frozenset(regions)
        return self._regions

    def _model(self, service: str) -> Any:
        model = self._models.get(service)
        if model is None:
            model = self._get_session().get_service_model(service)
            self._models[service] = model
        return model

    def _operation_index(self, service: str) -> dict[str, str]:
        """Maps a normalised operation name (no dashes/underscores, lower) to the API name."""
        index = self._op_index.get(service)
        if index is None:
            index = {_normalise(op): op for op in self._model(service).operation_names}
            self._op_index[service] = index
        return index

    # -- AwsApiCatalog -----------------------------------------------------------------

    def resolve_service(self, name: str) -> str | None:
        """The botocore service name for a CLI or boto3 name, or None if unknown."""
        key = name.strip().lower()
        key = self._cli_aliases.get(key, key)
        if key in self._service_set():
            return key
        return None

    def has_service(self, name: str) -> bool:
        """True for a boto3 client name (``s3``), a CLI name (``s3api``) or CLI-only command."""
        key = name.strip().lower()
        return self._cli.is_top_level(key) or self.resolve_service(key) is not None

    def operation(self, service: str, operation: str) -> BotocoreOperation | None:
        """Look up an operation by CLI name (``describe-instances``) or boto3 name.

        ``aws s3 cp`` and other CLI high-level commands resolve too (``high_level``); the
        ``s3`` CLI namespace holds only those, so ``("s3", "get-object")`` resolves only
        through ``s3api``, while boto3's ``("s3", "get_object")`` resolves to the API.
        """
        cache_key = (service.lower(), operation)
        if cache_key in self._operations:
            return self._operations[cache_key]
        result = self._lookup(service.lower(), operation)
        self._operations[cache_key] = result
        return result

    def _lookup(self, service: str, operation: str) -> BotocoreOperation | None:
        found, options = self._cli.command(service, operation)
        if found:
            return BotocoreOperation(
                name=operation,
                parameters=options or frozenset(),
                required=frozenset(),
                open_parameters=options is None,
                high_level=True,
            )
        if operation in ("wait", "help"):
            return BotocoreOperation(operation, frozenset(), frozenset(), open_parameters=True, high_level=True)
        # In the CLI, ``s3`` holds only the CLI's own commands: ``aws s3 get-object`` is wrong.
        if self._cli.botocore_service(service) is None and service in self._cli.services and "-" in operation:
            return None
        botocore_name = self.resolve_service(service)
        if botocore_name is None:
            return None
        api_name = self._operation_index(botocore_name).get(_normalise(operation))
        if api_name is None:
            return None
        # Reject mixed spellings such as ``describe_Instances`` or ``Describe-Instances``.
        if operation not in (api_name, _xform(api_name, "-"), _xform(api_name, "_")):
            return None
        shape = self._model(botocore_name).operation_model(api_name).input_shape
        members = frozenset(shape.members) if shape is not None else frozenset()
        required = frozenset(shape.required_members) if shape is not None else frozenset()
        delta = self._cli.operation_delta(self._cli_name(service, botocore_name), _xform(api_name, "-"))
        cli_required = required if delta.required is None else delta.required
        return BotocoreOperation(
            name=api_name,
            parameters=members,
            required=required,
            cli_options=delta.add,
            cli_required=cli_required,
            cli_removed=delta.remove,
        )

    def _cli_name(self, service: str, botocore_name: str) -> str:
        """The CLI top-level name of a service (``s3`` -> ``s3api`` for API operations)."""
        if self._cli.botocore_service(service) == botocore_name:
            return service
        for cli_name, target in self._cli_aliases.items():
            if target == botocore_name:
                return cli_name
        return botocore_name

    def cli_options(self) -> dict[str, bool]:
        """Options every ``aws`` command takes (True: takes a value), from the CLI catalogue."""
        return dict(self._cli.global_options)

    def is_region(self, name: str) -> bool:
        """True for a region in any partition (``us-east-1``, ``cn-north-1``, ``us-gov-west-1``)."""
        key = name.strip().lower()
        return bool(_REGION_SHAPE.match(key)) and key in self._region_set()

    def service_names(self) -> Sequence[str]:
        """Customer-facing service names (``EC2``, ``Route 53`` …), curated, stable order."""
        return CUSTOMER_SERVICE_NAMES

    def operation_names(self, service: str) -> Sequence[str]:
        """CLI names of a service's operations, for "did you mean" suggestions."""
        botocore_name = self.resolve_service(service)
        if botocore_name is None:
            return ()
        return tuple(_xform(op, "-") for op in self._model(botocore_name).operation_names)

    def waiter_names(self, service: str) -> frozenset[str] | None:
        """A service's waiters, normalised (``instanceRunning`` -> ``instancerunning``): the
        CLI writes them ``instance-running``, boto3 ``instance_running``. None when the
        service is unknown; empty when it has no waiters."""
        return self._model_names(service, "waiters")

    def paginator_names(self, service: str) -> frozenset[str] | None:
        """The operations a boto3 paginator exists for, normalised; see :meth:`waiter_names`."""
        return self._model_names(service, "paginators")

    def _model_names(self, service: str, kind: str) -> frozenset[str] | None:
        botocore_name = self.resolve_service(service)
        if botocore_name is None:
            return None
        cache_key = (f"{kind}:{botocore_name}", "")
        cached = self._operations.get(cache_key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        session = self._get_session()
        try:
            if kind == "waiters":
                raw = session.get_waiter_model(botocore_name).waiter_names
            else:
                raw = session.get_paginator_model(botocore_name)._paginator_config
            names = frozenset(_normalise(n) for n in raw)
        except Exception:  # noqa: BLE001 - botocore's DataNotFoundError: the service has none
            names = frozenset()
        self._operations[cache_key] = names  # type: ignore[assignment]
        return names

    def resource_methods(self, service: str, resource: str | None) -> frozenset[str] | None:
        """What a boto3 resource object can be called with, by boto3's resource model
        (``boto3/data/<service>/<version>/resources-1.json``): its actions, ``wait_until_*``
        waiters, sub-resources (``Table``, ``Object``) and ``load``/``reload``, normalised.
        ``resource`` None is the service resource (``boto3.resource("dynamodb")``). None when
        boto3 or the resource model is not there: nothing can be said then."""
        return self._resource_names("resources", _resource_methods, service, resource)

    def client_config_options(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]] | None:
        """What ``botocore.config.Config(...)`` accepts: its keyword arguments
        (``Config.OPTION_DEFAULTS``), the keys of ``retries`` and its modes (botocore's own
        validation, ``Config._validate_retry_configuration``; the boto3 retries guide). None
        without botocore."""
        try:
            from botocore.config import Config
        except ImportError:
            return None
        return (frozenset(Config.OPTION_DEFAULTS), frozenset({"max_attempts", "mode", "total_max_attempts"}),
                frozenset({"legacy", "standard", "adaptive"}))

    def resource_members(self, service: str, resource: str | None) -> frozenset[str] | None:
        """Every public name of a boto3 resource object as boto3 builds it (normalised):
        the model's actions and attributes plus what boto3 injects (``batch_writer``,
        ``upload_file``), read from an offline instance of the class. None when boto3 or
        the resource is not there."""
        return self._resource_names("members", _resource_members, service, resource)

    def _resource_names(self, kind: str, read: Callable[[str, str | None], frozenset[str] | None],
                        service: str, resource: str | None) -> frozenset[str] | None:
        """``read(botocore_name, resource)`` once per service, resource and kind (cached
        with the operations, under a key no operation has)."""
        botocore_name = self.resolve_service(service)
        if botocore_name is None:
            return None
        cache_key = (f"{kind}:{botocore_name}:{resource or ''}", "")
        if cache_key not in self._operations:
            self._operations[cache_key] = read(botocore_name, resource)  # type: ignore[assignment]
        return self._operations[cache_key]  # type: ignore[return-value]

    def unknown_keys(self, service: str, operation: str, parameter: str, value: Any) -> list[str] | None:
        """The keys of ``value`` (a parameter's value as literal dicts and lists) that its
        shape in the service model does not have, as paths (``inferenceConfig.max_tokens``).
        ``parameter`` in any spelling (``--cors-configuration``, ``CORSConfiguration``). None
        when the operation or the parameter is unknown: nothing can be said then. Maps and
        documents take any key; only structures are checked."""
        member = self._input_member(service, operation, parameter)
        if member is None:
            return None
        unknown: list[str] = []
        _walk_shape(member, value, parameter.lstrip("-"), unknown)
        return unknown

    def output_members(self, service: str, operation: str) -> frozenset[str] | None:
        """The top-level keys of an operation's response (``describe_instances`` ->
        ``Reservations``, ``NextToken``), plus ``ResponseMetadata`` that boto3 adds; None when
        the operation is unknown or has no output shape."""
        model = self._operation_model(service, operation)
        shape = None if model is None else model.output_shape
        if shape is None or shape.type_name != "structure":
            return None
        return frozenset(shape.members) | {"ResponseMetadata"}

    def enum_values(self, service: str, operation: str, parameter: str) -> frozenset[str] | None:
        """The values a top-level string parameter accepts when its shape is an enum
        (``StorageClass``: ``STANDARD``, ``GLACIER_IR`` …), ``parameter`` in any spelling; None
        when the operation, the parameter or an enum is not there (any value passes then)."""
        member = self._input_member(service, operation, parameter)
        if member is None or member.type_name != "string":
            return None
        values = getattr(member, "enum", None)
        return frozenset(values) if values else None

    def parameter_type(self, service: str, operation: str, parameter: str) -> str | None:
        """The botocore type of a top-level input parameter (``boolean``, ``string``,
        ``structure`` …), ``parameter`` in any spelling; None when it is unknown. EC2's
        ``AttributeBooleanValue`` (a structure whose one member is a boolean ``Value``) is
        ``boolean``: the CLI gives it a flag and its ``--no-`` negation."""
        member = self._input_member(service, operation, parameter)
        if member is None:
            return None
        members = getattr(member, "members", None) if member.type_name == "structure" else None
        if members and list(members) == ["Value"] and members["Value"].type_name == "boolean":
            return "boolean"
        return member.type_name

    def value_range(self, service: str, operation: str, parameter: str) -> tuple[float | None, float | None] | None:
        """The documented range of a top-level number parameter, ``parameter`` in any spelling:
        the shape's ``min``/``max`` and the limits its documentation states ("Valid values: 1 to
        10", "Values range: 0 to 43200", "Must be a value from 1 to 35"), whichever is
        narrower. None when the operation or parameter is unknown or not a number, or no limit is
        documented (any value passes then)."""
        member = self._input_member(service, operation, parameter)
        if member is None or member.type_name not in _NUMBER_TYPES:
            return None
        low, high = member.metadata.get("min"), member.metadata.get("max")
        documented = documented_range(getattr(member, "documentation", "") or "")
        if documented is not None:
            low = documented[0] if low is None else max(low, documented[0])
            high = documented[1] if high is None else min(high, documented[1])
        if low is None and high is None:
            return None
        return low, high

    def _operation_model(self, service: str, operation: str) -> Any | None:
        """botocore's model of a low-level operation; None when it is unknown or a high-level
        command (``s3 cp``) that has no model of its own."""
        info = self.operation(service, operation)
        botocore_name = self.resolve_service(service)
        if info is None or info.high_level or botocore_name is None:
            return None
        return self._model(botocore_name).operation_model(info.name)

    def _input_member(self, service: str, operation: str, parameter: str) -> Any | None:
        """The shape of one top-level input parameter, ``parameter`` in any spelling
        (``--cors-configuration``, ``CORSConfiguration``); None when it is not there."""
        model = self._operation_model(service, operation)
        shape = None if model is None else model.input_shape
        if shape is None:
            return None
        wanted = _normalise(parameter.lstrip("-"))
        return next((m for name, m in shape.members.items() if _normalise(name) == wanted), None)

    def service_ids(self) -> Sequence[str]:
        """Every botocore service name plus the CLI aliases."""
        return tuple(sorted(self._service_set() | set(self._cli_aliases)))


_NUMBER_TYPES = frozenset({"integer", "long", "float", "double"})
_TAG = re.compile(r"<[^>]+>")
#: How botocore's documentation states a number parameter's limits: "Valid values: 1 to 10",
#: "Values range: 0 to 43200", "Must be a value from 1 to 35", "Valid Range: Minimum value of
#: 1. Maximum value of 100", "The range is 2-10"; a range said to be reserved ("The range
#: 32767 to 65535 is reserved for internal use") is not the parameter's.
_DOC_RANGES = (
    re.compile(
        r"\b(?:valid values?(?: are| range(?: is)?)?|values? range|valid range(?: is)?|the range is|can range"
        r"|must be (?:a value |an integer |a number )?(?:from|between))"
        r"\s*:?\s*(?:from\s+)?(-?\d[\d,]*(?:\.\d+)?)\s*(?:to|through|-|\u2013|and)\s*(-?\d[\d,]*(?:\.\d+)?)\b"
        r"(?![^.]{0,40}\breserved\b)",
        re.IGNORECASE,
    ),
    re.compile(
        r"\bminimum value of\s+(-?\d[\d,]*(?:\.\d+)?)\.?,?\s*maximum value of\s+(-?\d[\d,]*(?:\.\d+)?)\b",
        re.IGNORECASE,
    ),
)


def documented_range(documentation: str) -> tuple[float, float] | None:
    """The limits a parameter's HTML documentation states, as ``(low, high)``; when several are
    given (one per engine or mode), the widest span of them all; None when it states none (a
    "range" whose low end is above its high end is not one)."""
    text = " ".join(_TAG.sub(" ", documentation).split())
    best: tuple[float, float] | None = None
    for pattern in _DOC_RANGES:
        for match in pattern.finditer(text):
            low, high = (float(g.replace(",", "")) for g in match.groups())
            if low > high:
                continue
            best = (low, high) if best is None else (min(best[0], low), max(best[1], high))
    return best


def _normalise(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


def _xform(name: str, sep: str) -> str:
    import botocore  # lazy; already imported once a model was loaded

    return botocore.xform_name(name, sep)


def _resource_methods(botocore_name: str, resource: str | None) -> frozenset[str] | None:
    import json
    from pathlib import Path

    try:
        import boto3  # lazy, like botocore: only an answer with a resource object needs it
    except ImportError:
        return None
    versions = sorted((Path(boto3.__file__).parent / "data" / botocore_name).glob("*/resources-1.json"))
    if not versions:
        return None
    model = json.loads(versions[-1].read_text(encoding="utf-8"))
    entry = model.get("service") if resource is None else (model.get("resources") or {}).get(resource)
    if entry is None:
        return None
    names = {_normalise(a) for a in entry.get("actions") or {}}
    names |= {_normalise(f"WaitUntil{w}") for w in entry.get("waiters") or {}}
    names |= {_normalise(h) for h in entry.get("has") or {}}
    names |= {"getavailablesubresources"}
    if "load" in entry:
        names |= {"load", "reload"}
    return frozenset(names)


def _resource_members(botocore_name: str, resource: str | None) -> frozenset[str] | None:
    import json
    from pathlib import Path

    try:
        import boto3

        versions = sorted((Path(boto3.__file__).parent / "data" / botocore_name).glob("*/resources-1.json"))
        if not versions:
            return None
        model = json.loads(versions[-1].read_text(encoding="utf-8"))
        # Offline: a fixed region and dummy keys only build the classes; nothing is called.
        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="offline",
                                        aws_secret_access_key="offline")  # noqa: S106 - not a credential
        target: Any = session.resource(botocore_name)
        if resource is not None:
            entry = (model.get("resources") or {}).get(resource)
            if entry is None:
                return None
            identifiers = ["x"] * len(entry.get("identifiers") or [])
            target = getattr(target, resource)(*identifiers)
    except Exception:  # noqa: BLE001 - any failure: the resource is unknown here, nothing is judged
        return None
    return frozenset(_normalise(n) for n in dir(target) if not n.startswith("_"))


#: How deep a literal is walked: API parameters nest a few levels; deeper is not an answer's.
_MAX_DEPTH = 12


def _walk_shape(shape: Any, value: Any, path: str, unknown: list[str], depth: int = 0) -> None:
    if depth > _MAX_DEPTH or getattr(shape, "is_document_type", False):
        return
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                continue
            member = shape.members.get(key)
            if member is None:
                unknown.append(f"{path}.{key}")
                continue
            _walk_shape(member, item, f"{path}.{key}", unknown, depth + 1)
    elif kind == "list" and isinstance(value, list):
        for item in value:
            _walk_shape(shape.member, item, f"{path}[]", unknown, depth + 1)
