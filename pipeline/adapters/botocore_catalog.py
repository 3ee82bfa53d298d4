"""``AwsApiCatalog`` backed by botocore's bundled service models (fully offline).

The quality check asks this catalog whether ``aws ec2 describe-instance`` or
``s3.get_objects(...)`` names a real service, operation and parameters. Everything is
answered from the JSON models that ship inside botocore; nothing calls AWS.

Cost model (DESIGN.md §6): listing services costs ~0.05-0.1 s and each service model
10-150 ms, so nothing is loaded at import or construction time. The service list, the
region list and every service model are loaded on first use and cached for the life of
the process (a warm Lambda keeps them).

The AWS CLI is not a one-to-one mirror of the API, so three things need their own lists
here: CLI service aliases (``s3api`` is the ``s3`` API, ``configservice`` is ``config``,
``deploy`` is ``codedeploy``), the CLI's hand-written high-level commands
(``aws s3 cp``, ``aws logs tail``, ``aws eks update-kubeconfig`` …), and its global
options (``--region``, ``--output``, ``--query`` …). High-level commands whose options
are listed here are checked; the others accept any option (``open_parameters``).

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: CLI command name -> botocore service name, for the services the CLI renames.
CLI_SERVICE_ALIASES: dict[str, str] = {
    "s3api": "s3",
    "configservice": "config",
    "deploy": "codedeploy",
}

#: Options every ``aws`` command accepts. Values: True when the option takes a value.
GLOBAL_OPTIONS: dict[str, bool] = {
    "--region": True,
    "--output": True,
    "--query": True,
    "--profile": True,
    "--endpoint-url": True,
    "--color": True,
    "--ca-bundle": True,
    "--cli-read-timeout": True,
    "--cli-connect-timeout": True,
    "--cli-binary-format": True,
    "--cli-input-json": True,
    "--cli-input-yaml": True,
    "--generate-cli-skeleton": False,  # takes an optional value: input|output|yaml-input
    "--max-items": True,
    "--starting-token": True,
    "--page-size": True,
    "--debug": False,
    "--no-verify-ssl": False,
    "--no-paginate": False,
    "--no-sign-request": False,
    "--no-cli-pager": False,
    "--cli-auto-prompt": False,
    "--no-cli-auto-prompt": False,
    "--version": False,
    "--help": False,
}

_S3_TRANSFER_OPTIONS = (
    "--dryrun --quiet --include --exclude --acl --follow-symlinks --no-follow-symlinks "
    "--no-guess-mime-type --sse --sse-c --sse-c-key --sse-kms-key-id --sse-c-copy-source "
    "--sse-c-copy-source-key --storage-class --grants --website-redirect --content-type "
    "--cache-control --content-disposition --content-encoding --content-language --expires "
    "--source-region --only-show-errors --no-progress --page-size --ignore-glacier-warnings "
    "--force-glacier-transfer --request-payer --metadata --metadata-directive --copy-props "
    "--expected-size --recursive --checksum-mode --checksum-algorithm --no-overwrite "
    "--case-conflict"
)

#: The CLI's high-level (customisation) commands: service -> command -> known options.
#: ``None`` means the options are not listed here, so any option is accepted.
HIGH_LEVEL_COMMANDS: dict[str, dict[str, str | None]] = {
    "s3": {
        "cp": _S3_TRANSFER_OPTIONS,
        "mv": _S3_TRANSFER_OPTIONS,
        "sync": _S3_TRANSFER_OPTIONS + " --delete --exact-timestamps --size-only",
        "rm": "--dryrun --quiet --recursive --request-payer --include --exclude --only-show-errors --page-size",
        "ls": "--recursive --human-readable --summarize --request-payer --page-size --bucket-name-prefix "
              "--bucket-region",
        "mb": "--tags",
        "rb": "--force",
        "presign": "--expires-in",
        "website": "--index-document --error-document",
    },
    "logs": {"tail": "--follow --since --format --filter-pattern --log-stream-names "
                     "--log-stream-name-prefix"},
    "ecr": {"get-login-password": "", "get-login": None},
    "ecr-public": {"get-login-password": ""},
    "eks": {"update-kubeconfig": "--name --kubeconfig --role-arn --dry-run --verbose --alias --user-alias",
            "get-token": "--cluster-name --role-arn --cluster-id"},
    "configure": {"": None, "list": None, "get": None, "set": None, "sso": None, "sso-session": None,
                  "import": None, "list-profiles": None, "export-credentials": None, "add-model": None},
    "sso": {"login": "--sso-session --no-browser --use-device-code", "logout": ""},
    "deploy": {"push": None, "register": None, "deregister": None, "install": None, "uninstall": None},
    "cloudformation": {
        "deploy": "--template-file --stack-name --s3-bucket --s3-prefix --force-upload --kms-key-id "
                  "--parameter-overrides --capabilities --no-execute-changeset --disable-rollback "
                  "--role-arn --notification-arns --fail-on-empty-changeset --no-fail-on-empty-changeset "
                  "--tags --resolve-s3",
        "package": "--template-file --s3-bucket --s3-prefix --kms-key-id --output-template-file "
                   "--use-json --force-upload --metadata",
    },
    "rds": {"generate-db-auth-token": "--hostname --port --username"},
    "emr": {"create-cluster": None, "add-steps": None, "ssh": None, "socks": None, "get": None,
            "put": None, "create-default-roles": None, "add-instance-groups": None,
            "install-applications": None, "restore-from-hbase-backup": None,
            "schedule-hbase-backup": None, "disable-hbase-backups": None, "create-hbase-backup": None},
    "codeartifact": {"login": None},
    "codecommit": {"credential-helper": None},
    "cloudfront": {"sign": None, "create-invalidation": None},
    "cloudtrail": {"validate-logs": None},
    "ec2-instance-connect": {"ssh": None, "open-tunnel": None},
    "ecs": {"deploy": None},
    "dynamodb": {"wizard": None},
    "gamelift": {"upload-build": None, "get-game-session-log": None},
    "opsworks": {"register": None},
    "datapipeline": {"list-runs": None, "create-default-roles": None},
    "history": {"list": None, "show": None},
    "cli": {},
    "help": {"": None},
}

#: Options the CLI adds to API operations (customisations), with the required API members
#: they can stand in for: ``aws lambda create-function --zip-file`` fills ``Code``.
CLI_EXTRA_OPTIONS: dict[tuple[str, str], dict[str, str | None]] = {
    ("lambda", "CreateFunction"): {"zip-file": "Code"},
    ("lambda", "PublishLayerVersion"): {"zip-file": "Content"},
    ("ec2", "RunInstances"): {"associate-public-ip-address": None, "secondary-private-ip-addresses": None,
                              "secondary-private-ip-address-count": None},
    ("ec2", "GetPasswordData"): {"priv-launch-key": None},
    ("iam", "CreateVirtualMFADevice"): {"outfile": None, "bootstrap-method": None},
    ("cloudwatch", "PutMetricData"): {"metric-name": "MetricData", "value": None, "unit": None,
                                      "timestamp": None, "dimensions": None, "statistic-values": None,
                                      "storage-resolution": None},
}

#: Top-level CLI commands that are not AWS services.
CLI_ONLY_TOP_LEVEL: frozenset[str] = frozenset({"configure", "history", "help", "ddb", "cli-dev"})

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
            ``cli_options``, e.g. ``--zip-file`` fills ``Code``).
    """

    name: str
    parameters: frozenset[str]
    required: frozenset[str]
    open_parameters: bool = False
    high_level: bool = False
    cli_options: frozenset[str] = frozenset()
    cli_required: frozenset[str] = frozenset()


def _options_to_parameters(options: str) -> frozenset[str]:
    return frozenset(o.lstrip("-") for o in options.split())


class BotocoreApiCatalog:
    """Offline AWS API knowledge from botocore's service models; lazy and cached.

    Args:
        session: A ``botocore.session.Session``; one is created on first use when None
            (creating it is deferred because importing botocore costs ~0.1 s).
    """

    def __init__(self, session: Any | None = None) -> None:
        self._session = session
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
        key = CLI_SERVICE_ALIASES.get(key, key)
        if key in self._service_set():
            return key
        return None

    def has_service(self, name: str) -> bool:
        """True for a boto3 client name (``s3``), a CLI name (``s3api``) or CLI-only command."""
        key = name.strip().lower()
        return key in CLI_ONLY_TOP_LEVEL or self.resolve_service(key) is not None

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
        high_level = HIGH_LEVEL_COMMANDS.get(service, {})
        if operation in high_level:
            options = high_level[operation]
            parameters = _options_to_parameters(options or "")
            return BotocoreOperation(
                name=operation,
                parameters=parameters,
                required=frozenset(),
                open_parameters=options is None,
                high_level=True,
            )
        if operation == "wait" or operation == "help":
            return BotocoreOperation(operation, frozenset(), frozenset(), open_parameters=True, high_level=True)
        # In the CLI, ``s3`` is the high-level namespace: ``aws s3 get-object`` is wrong.
        if service == "s3" and "-" in operation:
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
        extras = CLI_EXTRA_OPTIONS.get((botocore_name, api_name), {})
        return BotocoreOperation(
            name=api_name, parameters=members, required=required,
            cli_options=frozenset(extras),
            cli_required=required - {member for member in extras.values() if member},
        )

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

    def service_ids(self) -> Sequence[str]:
        """Every botocore service name plus the CLI aliases."""
        return tuple(sorted(self._service_set() | set(CLI_SERVICE_ALIASES)))


def _normalise(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


def _xform(name: str, sep: str) -> str:
    import botocore  # lazy; already imported once a model was loaded

    return botocore.xform_name(name, sep)
