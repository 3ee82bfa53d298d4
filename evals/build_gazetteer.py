"""Build the AWS product gazetteer from botocore's service models (shipped as data).

Usage::

    python -m evals.build_gazetteer          # writes pipeline/domain/intent/aws_gazetteer.json

Every service model names its product: ``serviceFullName`` ("Amazon Macie 2"),
``serviceAbbreviation`` ("Amazon EMR"), ``serviceId`` and the service code. Each name is
kept with and without its Amazon/AWS prefix, lower-cased, version numbers dropped. A name
is **weak** when it is an everyday English word or phrase (wordfreq's Zipf frequency ≥ 2.5
for every word: "forecast", "connect", "glue", "backup"): it counts only after "Amazon" /
"AWS" or with other AWS context. Other names ("macie", "sagemaker", "elastic compute
cloud") are **strong**: naming them is naming an AWS product.

Each service also carries the intent that owns it (golden_sets/GUIDE.md §2.1); services
not listed in :data:`SERVICE_INTENTS` are ``general_support``. The output is sorted and
deterministic for a given botocore version (recorded in the file).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent.parent / "pipeline" / "domain" / "intent" / "aws_gazetteer.json"
FORMAT = "aws-gazetteer-v1"
ZIPF_COMMON = 2.5

#: Owner intent of a service code, per GUIDE.md §2.1 (everything else: general_support).
SERVICE_INTENTS: dict[str, str] = {
    **dict.fromkeys(("ec2", "autoscaling", "ebs", "ec2-instance-connect", "imagebuilder", "compute-optimizer"),
                    "ec2_troubleshooting"),
    **dict.fromkeys(("s3", "s3control", "s3outposts", "glacier", "s3tables", "s3vectors"), "s3_troubleshooting"),
    "lambda": "lambda_troubleshooting",
    **dict.fromkeys(("rds", "rds-data", "pi"), "rds_database"),
    **dict.fromkeys(("elb", "elbv2", "route53", "route53domains", "route53resolver", "route53-recovery-control-config",
                     "route53-recovery-cluster", "route53profiles", "directconnect", "networkmanager", "network-firewall",
                     "globalaccelerator", "vpc-lattice", "networkmonitor", "ec2-vpc"), "networking"),
    **dict.fromkeys(("iam", "sts", "kms", "secretsmanager", "cloudtrail", "cloudtrail-data", "guardduty", "securityhub",
                     "waf", "wafv2", "waf-regional", "sso", "sso-admin", "sso-oidc", "identitystore", "accessanalyzer",
                     "rolesanywhere", "verifiedpermissions"), "iam_security"),
    **dict.fromkeys(("ce", "budgets", "cur", "pricing", "billing", "billingconductor", "savingsplans", "freetier",
                     "invoicing", "bcm-data-exports", "bcm-pricing-calculator", "costoptimizationhub",
                     "marketplace-metering"), "billing_cost"),
    **dict.fromkeys(("account", "organizations", "support", "support-app", "service-quotas"), "account_management"),
}
#: Names that are AWS products but also ordinary words or programming terms, whatever
#: their corpus frequency says ("lambda" in Python, "athena" the goddess).
ALWAYS_WEAK = frozenset({"lambda", "athena", "neptune", "aurora", "amplify", "config", "support", "account", "health",
                         "pricing", "billing", "budgets", "shield", "inspector", "forecast", "connect", "batch",
                         "backup", "transfer", "translate", "comprehend", "personalize", "detective", "polly", "lex",
                         "chime", "outposts", "snowball", "route", "cloud", "data", "service", "services", "api",
                         "apis", "events", "logs", "mq", "ram", "pi", "sms", "ses", "mwaa",
                         # service codes that are everyday tech words or name something else: a
                         # chatbot, Grafana the open-source tool, single sign-on, /dev/sdb, an M.2 drive
                         "chatbot", "schemas", "signin", "invoicing", "grafana", "sso", "sdb", "m2",
                         "firehose", "wickr"})
#: Short forms customers use that no service model spells out (name -> service code).
SHORT_FORMS: dict[str, str] = {
    "msk": "kafka", "elastic map reduce": "emr", "elastic mapreduce": "emr", "step functions": "stepfunctions",
    "cloudwatch logs": "logs", "ssm": "ssm", "systems manager": "ssm", "parameter store": "ssm",
    "session manager": "ssm", "q developer": "qbusiness", "amazon q": "qbusiness", "opensearch": "opensearch",
    "elasticsearch service": "es", "elastic beanstalk": "elasticbeanstalk", "beanstalk": "elasticbeanstalk",
    "cognito": "cognito-idp", "dynamo db": "dynamodb", "dynamo": "dynamodb", "ecr": "ecr", "fargate": "ecs",
    "app runner": "apprunner", "cloud9": "cloud9", "cloud shell": "cloudshell", "cloudshell": "cloudshell",
    "cdk": "cloudformation", "sam cli": "cloudformation", "well architected": "wellarchitected",
    "trusted advisor": "trustedadvisor", "control tower": "controltower", "iam identity center": "sso",
    "identity center": "sso", "sso": "sso", "nat gateway": "ec2-vpc", "vpc": "ec2-vpc", "security group": "ec2-vpc",
    "transit gateway": "ec2-vpc", "privatelink": "ec2-vpc", "vpc endpoint": "ec2-vpc", "elastic ip": "ec2-vpc",
    "ebs": "ebs", "ami": "ec2", "free tier": "freetier", "cost explorer": "ce", "savings plans": "savingsplans",
    "reserved instances": "ec2", "glacier deep archive": "glacier", "s3 glacier": "glacier",
}
#: Names too generic to mean a product even after "Amazon"/"AWS".
IGNORED = frozenset({"", "aws", "amazon", "service", "services", "api", "apis", "cloud", "data", "runtime",
                     "client", "internal", "v2", "v3"})


def normalise(name: str) -> str:
    """Lower case, punctuation to spaces, version suffixes and parentheses dropped."""
    name = re.sub(r"\(.*?\)", " ", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", name) if " " not in name and name[:1].isupper() else name
    name = name.lower().replace("&", " and ")
    name = re.sub(r"[^a-z0-9:]+", " ", name)
    name = re.sub(r"\b(?:v\d+|\d+)$", " ", name.strip())
    return " ".join(name.split())


def strip_prefix(name: str) -> str:
    return re.sub(r"^(?:amazon|aws)\s+", "", name)


def variants(code: str, metadata: dict[str, Any]) -> set[str]:
    raw = {metadata.get("serviceFullName") or "", metadata.get("serviceAbbreviation") or "",
           metadata.get("serviceId") or "", code.replace("-", " ")}
    found = set()
    for item in raw:
        for form in (normalise(item), normalise(item.replace(" ", ""))):
            for name in (form, strip_prefix(form)):
                if name not in IGNORED and len(name) >= 2:
                    found.add(name)
    return found


def is_weak(name: str, zipf: Any) -> bool:
    words = name.split()
    if any(ch.isdigit() for ch in name) and len(words) == 1 and any(ch.isalpha() for ch in name):
        return False  # ec2, s3, route53
    if name in ALWAYS_WEAK or len(name) <= 2:
        return True
    if len(words) >= 3:
        return False  # "elastic compute cloud", "relational database service"
    return all(zipf(w, "en") >= ZIPF_COMMON or w in ALWAYS_WEAK for w in words)


def build() -> dict[str, Any]:
    import botocore
    import botocore.session
    from wordfreq import zipf_frequency

    session = botocore.session.get_session()
    names: dict[str, dict[str, Any]] = {}
    services: dict[str, dict[str, Any]] = {}
    for code in sorted(session.get_available_services()):
        metadata = session.get_service_model(code).metadata
        intent = SERVICE_INTENTS.get(code, "general_support")
        services[code] = {"name": metadata.get("serviceFullName", code), "intent": intent}
        for name in variants(code, metadata):
            entry = names.setdefault(name, {"services": [], "weak": is_weak(name, zipf_frequency)})
            entry["services"].append(code)
    for name, code in SHORT_FORMS.items():
        if code not in services:  # a pseudo-service for the VPC part of EC2
            services[code] = {"name": code, "intent": SERVICE_INTENTS.get(code, "general_support")}
        entry = names.setdefault(name, {"services": [], "weak": is_weak(name, zipf_frequency)})
        if code not in entry["services"]:
            entry["services"].append(code)
    return {
        "format": FORMAT,
        "source": f"botocore {botocore.__version__} service models (serviceFullName, serviceAbbreviation, "
                  "serviceId, service code); weak = everyday English (wordfreq Zipf >= 2.5)",
        "services": services,
        "names": {k: {"services": sorted(v["services"]), "weak": v["weak"]} for k, v in sorted(names.items())},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.build_gazetteer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    data = build()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=0, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    strong = sum(1 for v in data["names"].values() if not v["weak"])
    print(f"wrote {args.output}: {len(data['services'])} services, {len(data['names'])} names ({strong} strong)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
