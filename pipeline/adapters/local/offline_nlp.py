"""OfflineNlp: the NlpClient used locally, in tests and in the eval harness.

Without Comprehend it finds:

* **sentiment** with a small valence lexicon (negations, intensifiers, exclamation and
  all-caps emphasis), scored like VADER's compound score but with no dependency;
* **entities**: AWS service names (botocore's service list, loaded once and cached,
  plus a curated map of how customers write them: "ec2", "S3 bucket", "lambda
  function", "RDS", "aurora", "cloudfront", "route53" …), ARNs, error codes
  (``AccessDenied``, ``ThrottlingException``, HTTP 5xx …), regions, instance ids;
* **key phrases**: short noun-ish chunks between stop words.

Everything expensive (the botocore service list, the compiled patterns) is built once
per process; :meth:`OfflineNlp.analyze` is a few regex scans and dictionary lookups.

Example:
    >>> nlp = OfflineNlp()
    >>> [e.text for e in nlp.analyze("my ec2 instance in us-east-1 throws AccessDenied").entities]
    ['EC2', 'us-east-1', 'AccessDenied']
"""

from __future__ import annotations

import re
from functools import lru_cache

from pipeline.domain.models import Entity, NlpAnalysis

#: How customers write services, mapped to the name the assistant uses. Checked first;
#: botocore's service ids fill in the rest (e.g. "sagemaker", "kinesis").
CUSTOMER_SERVICE_NAMES: dict[str, str] = {
    "ec2": "EC2",
    "elastic compute cloud": "EC2",
    "ec2 instance": "EC2",
    "instance connect": "EC2",
    "ebs": "EBS",
    "ebs volume": "EBS",
    "ami": "EC2",
    "auto scaling": "EC2 Auto Scaling",
    "autoscaling": "EC2 Auto Scaling",
    "spot instance": "EC2",
    "s3": "S3",
    "s3 bucket": "S3",
    "simple storage service": "S3",
    "glacier": "S3 Glacier",
    "lambda": "Lambda",
    "lamda": "Lambda",
    "lambda function": "Lambda",
    "lambda@edge": "Lambda",
    "rds": "RDS",
    "aurora": "Aurora",
    "rds proxy": "RDS",
    "aurora serverless": "Aurora",
    "dms": "DMS",
    "database migration service": "DMS",
    "vpc": "VPC",
    "subnet": "VPC",
    "security group": "VPC",
    "nacl": "VPC",
    "network acl": "VPC",
    "nat gateway": "VPC",
    "internet gateway": "VPC",
    "transit gateway": "Transit Gateway",
    "vpn": "VPN",
    "site to site vpn": "VPN",
    "client vpn": "VPN",
    "direct connect": "Direct Connect",
    "alb": "Elastic Load Balancing",
    "nlb": "Elastic Load Balancing",
    "elb": "Elastic Load Balancing",
    "load balancer": "Elastic Load Balancing",
    "application load balancer": "Elastic Load Balancing",
    "network load balancer": "Elastic Load Balancing",
    "route53": "Route 53",
    "route 53": "Route 53",
    "privatelink": "PrivateLink",
    "iam": "IAM",
    "iam role": "IAM",
    "iam user": "IAM",
    "iam policy": "IAM",
    "sts": "STS",
    "kms": "KMS",
    "secrets manager": "Secrets Manager",
    "parameter store": "Systems Manager",
    "ssm": "Systems Manager",
    "session manager": "Systems Manager",
    "guardduty": "GuardDuty",
    "security hub": "Security Hub",
    "waf": "WAF",
    "acm": "Certificate Manager",
    "cognito": "Cognito",
    "identity center": "IAM Identity Center",
    "sso": "IAM Identity Center",
    "organizations": "Organizations",
    "control tower": "Control Tower",
    "cloudtrail": "CloudTrail",
    "cloudfront": "CloudFront",
    "cloud front": "CloudFront",
    "ecs": "ECS",
    "fargate": "Fargate",
    "eks": "EKS",
    "ecr": "ECR",
    "sqs": "SQS",
    "sns": "SNS",
    "ses": "SES",
    "eventbridge": "EventBridge",
    "cloudformation": "CloudFormation",
    "cfn": "CloudFormation",
    "cdk": "CDK",
    "sam": "SAM",
    "bedrock": "Bedrock",
    "sagemaker": "SageMaker",
    "dynamodb": "DynamoDB",
    "dynamo": "DynamoDB",
    "api gateway": "API Gateway",
    "apigateway": "API Gateway",
    "step functions": "Step Functions",
    "kinesis": "Kinesis",
    "glue": "Glue",
    "athena": "Athena",
    "redshift": "Redshift",
    "elastic beanstalk": "Elastic Beanstalk",
    "beanstalk": "Elastic Beanstalk",
    "codepipeline": "CodePipeline",
    "codebuild": "CodeBuild",
    "codedeploy": "CodeDeploy",
    "cloudwatch": "CloudWatch",
    "cloudwatch logs": "CloudWatch Logs",
    "efs": "EFS",
    "elasticache": "ElastiCache",
    "opensearch": "OpenSearch",
    "msk": "MSK",
    "lightsail": "Lightsail",
    "amplify": "Amplify",
    "app runner": "App Runner",
    "cost explorer": "Cost Explorer",
    "savings plans": "Savings Plans",
    "budgets": "Budgets",
    "service quotas": "Service Quotas",
    "trusted advisor": "Trusted Advisor",
    "textract": "Textract",
    "rekognition": "Rekognition",
    "transcribe": "Transcribe",
    "memorydb": "MemoryDB",
    "global accelerator": "Global Accelerator",
}

#: botocore ids that are ordinary English words or too generic to be an entity alone.
_AMBIGUOUS_SERVICE_IDS = frozenset(
    {
        "account",
        "budgets",
        "config",
        "connect",
        "batch",
        "backup",
        "health",
        "support",
        "pricing",
        "shield",
        "signer",
        "outposts",
        "pi",
        "rum",
        "scheduler",
        "tnb",
        "savingsplans",
        "mq",
        "mgn",
        "ce",
        "cur",
        "drs",
        "fis",
        "iot",
        "ivs",
        "m2",
        "oam",
        "osis",
        "pipes",
        "ram",
        "rbin",
        "sso",
        "sts",
        "swf",
        "synthetics",
        "textract",
        "translate",
        "wisdom",
        "chatbot",
        "glue",
        "lambda",
        "location",
        "identitystore",
        "evidently",
        "forecast",
        "finspace",
        "freetier",
        "invoicing",
        "billing",
        "notifications",
        "payment-cryptography",
        "repostspace",
        "route53",
        "s3",
        "ec2",
        # Everyday words and short acronyms with other meanings ("transfer 50 dollars",
        # "the detective", "my evs", "emr system"): not AWS services on their own.
        "transfer",
        "events",
        "logs",
        "payments",
        "discovery",
        "deadline",
        "detective",
        "inspector",
        "artifact",
        "schemas",
        "signin",
        "sustainability",
        "continuum",
        "interconnect",
        "chime",
        "polly",
        "proton",
        "personalize",
        "comprehend",
        "pinpoint",
        "firehose",
        "braket",
        "evs",
        "pcs",
        "emr",
        "fms",
        "mpa",
        "uxc",
        "odb",
        "mgh",
        "amp",
        "dax",
        "grafana",
        "kafka",
        "omics",
        "supplychain",
        "wickr",
    }
)

_REGION_RE = re.compile(
    r"\b(?:us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov)-(?:north|south|east|west|central|northeast|northwest|"
    r"southeast|southwest|gov-east|gov-west)-\d\b"
)
_ARN_RE = re.compile(r"\barn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:[^\s\"'<>,)]+")
_ERROR_CODE_RE = re.compile(
    r"\b(?:AccessDenied(?:Exception)?|[A-Z][a-zA-Z]+(?:Exception|Error|Exceeded|NotFound|Fault|Denied)"
    r"|(?:Invalid|Insufficient|Unauthorized|Throttling|Expired|Malformed|Incorrect|NoSuch|Entity)[A-Z][A-Za-z.]+"
    r"|SignatureDoesNotMatch|SlowDown|ExpiredToken|Runtime\.[A-Za-z]+|States\.[A-Za-z]+"
    r"|(?:CREATE|UPDATE|DELETE|UPDATE_ROLLBACK)_FAILED)\b"
)
_HTTP_STATUS_RE = re.compile(
    r"\b(?:HTTP\s*)?([45]\d\d)\b(?=\s*(?:error|bad|gateway|service|internal|forbidden|"
    r"not\s+found|too\s+many|errors?|s\b|from|on|when|unauthorized)|\W*$)",
    re.IGNORECASE,
)
_INSTANCE_ID_RE = re.compile(r"\bi-[0-9a-f]{8,17}\b")
_WORD_RE = re.compile(r"[a-z0-9@]+(?:[-'][a-z0-9]+)*")

# A compact valence lexicon in the spirit of VADER (scores in -4..4).
_VALENCE: dict[str, float] = {
    "thanks": 1.5,
    "thank": 1.5,
    "great": 3.1,
    "good": 1.9,
    "love": 3.2,
    "awesome": 3.1,
    "perfect": 2.7,
    "works": 0.8,
    "worked": 1.0,
    "helpful": 1.8,
    "appreciate": 2.0,
    "nice": 1.8,
    "happy": 2.7,
    "excellent": 3.2,
    "fine": 0.8,
    "cool": 1.3,
    "glad": 2.0,
    "solved": 1.5,
    "fixed": 1.2,
    "please": 0.3,
    "broken": -1.8,
    "broke": -1.8,
    "fail": -2.0,
    "fails": -2.0,
    "failing": -2.0,
    "failed": -2.0,
    "failure": -2.1,
    "error": -1.4,
    "errors": -1.4,
    "wrong": -2.1,
    "problem": -1.7,
    "problems": -1.7,
    "issue": -0.9,
    "bad": -2.5,
    "worst": -3.1,
    "terrible": -3.0,
    "awful": -3.1,
    "horrible": -3.1,
    "hate": -2.7,
    "angry": -2.3,
    "frustrated": -2.2,
    "frustrating": -2.2,
    "annoying": -2.0,
    "annoyed": -2.0,
    "useless": -2.4,
    "garbage": -2.5,
    "ridiculous": -2.0,
    "unacceptable": -2.8,
    "outrageous": -2.7,
    "scam": -3.0,
    "fraud": -3.0,
    "joke": -1.0,
    "pathetic": -2.9,
    "incompetent": -2.7,
    "crap": -2.5,
    "shit": -2.6,
    "fuck": -3.2,
    "fucking": -3.2,
    "damn": -1.7,
    "wtf": -2.8,
    "nightmare": -2.7,
    "sick": -1.8,
    "fed": -1.0,
    "lost": -1.3,
    "losing": -1.5,
    "down": -0.6,
    "stuck": -1.4,
    "slow": -1.2,
    "crash": -2.0,
    "crashed": -2.0,
    "crashes": -2.0,
    "killed": -2.2,
    "killing": -2.2,
    "dead": -2.4,
    "hacked": -2.9,
    "compromised": -2.6,
    "stolen": -2.6,
    "leaked": -2.2,
    "unauthorized": -1.8,
    "denied": -1.6,
    "refused": -1.7,
    "timeout": -1.2,
    "timed": -0.8,
    "urgent": -0.8,
    "disappointed": -2.2,
    "unhappy": -2.1,
    "upset": -2.0,
    "mad": -2.2,
    "furious": -3.1,
    "sucks": -2.7,
    "rubbish": -2.4,
    "outage": -1.8,
    "corrupted": -2.3,
    "vanished": -1.5,
    "gone": -1.0,
    "scared": -2.0,
    "worried": -1.6,
    "worry": -1.5,
    "confusing": -1.6,
    "confused": -1.5,
    "weird": -0.8,
    "impossible": -1.8,
}
_NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "dont",
        "don't",
        "doesnt",
        "doesn't",
        "didnt",
        "didn't",
        "isnt",
        "isn't",
        "cant",
        "can't",
        "wont",
        "won't",
    ]
)
_BOOSTERS = frozenset(
    [
        "very",
        "really",
        "so",
        "extremely",
        "totally",
        "completely",
        "absolutely",
        "super",
        "incredibly",
    ]
)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "i'm",
        "im",
        "my",
        "me",
        "we",
        "our",
        "us",
        "you",
        "your",
        "it",
        "it's",
        "its",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "how",
        "what",
        "why",
        "when",
        "where",
        "which",
        "who",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "from",
        "with",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "not",
        "no",
        "any",
        "some",
        "pls",
        "please",
        "help",
        "hi",
        "hello",
        "hey",
        "just",
        "still",
        "again",
        "after",
        "before",
        "since",
        "now",
        "get",
        "got",
        "have",
        "has",
        "had",
        "need",
        "want",
    ]
)


@lru_cache(maxsize=1)
def _service_index() -> tuple[dict[str, str], re.Pattern[str]]:
    """Surface form -> canonical service name, and one compiled alternation for all forms.

    Built once per process from the curated map and botocore's service list.
    """
    names: dict[str, str] = {}
    try:
        import botocore.session  # the local adapter may use botocore; the domain may not

        for service_id in botocore.session.get_session().get_available_services():
            if service_id in _AMBIGUOUS_SERVICE_IDS or len(service_id) < 3:
                continue
            names.setdefault(service_id.replace("-", " "), service_id)
            names.setdefault(service_id, service_id)
    except Exception:  # pragma: no cover - botocore missing: the curated map still works
        pass
    for surface, canonical in CUSTOMER_SERVICE_NAMES.items():
        names[surface] = canonical
    # Longest first so "s3 bucket" wins over "s3" and "lambda function" over "lambda".
    forms = sorted(names, key=lambda s: (-len(s), s))
    pattern = re.compile(
        r"(?<![a-z0-9])(?:"
        + "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in forms)
        + r")(?![a-z0-9])"
    )
    return names, pattern


def _sentiment(words: list[str], text: str) -> tuple[str, dict[str, float]]:
    positive = negative = 0.0
    for index, word in enumerate(words):
        valence = _VALENCE.get(word)
        if valence is None:
            continue
        window = words[max(0, index - 3) : index]
        if any(w in _NEGATIONS for w in window):
            valence *= -0.74
        if index and words[index - 1] in _BOOSTERS:
            valence += 0.293 if valence > 0 else -0.293
        if valence > 0:
            positive += valence
        else:
            negative -= valence
    emphasis = min(text.count("!"), 4) * 0.292
    shouted = sum(1 for w in text.split() if len(w) > 2 and w.isupper() and w.isalpha())
    if shouted >= 2:
        emphasis += 0.733
    if negative > positive:
        negative += emphasis
    elif positive > negative:
        positive += emphasis
    total = positive + negative
    if total == 0:
        return "NEUTRAL", {"POSITIVE": 0.0, "NEGATIVE": 0.0, "NEUTRAL": 1.0, "MIXED": 0.0}
    compound = (positive - negative) / ((positive - negative) ** 2 + 15) ** 0.5
    strength = min(1.0, total / 4.0)
    pos_share, neg_share = positive / total * strength, negative / total * strength
    mixed = min(pos_share, neg_share) * 2 if positive and negative else 0.0
    neutral = max(0.0, 1.0 - pos_share - neg_share)
    scores = {
        "POSITIVE": round(pos_share, 4),
        "NEGATIVE": round(neg_share, 4),
        "NEUTRAL": round(neutral, 4),
        "MIXED": round(mixed, 4),
    }
    if mixed >= 0.5:
        label = "MIXED"
    elif compound <= -0.3:
        label = "NEGATIVE"
    elif compound >= 0.3:
        label = "POSITIVE"
    else:
        label = "NEUTRAL"
    return label, scores


def _key_phrases(words: list[str]) -> tuple[str, ...]:
    phrases: list[str] = []
    chunk: list[str] = []
    for word in words + ["."]:
        if word in _STOP or word == "." or len(chunk) >= 4:
            if chunk:
                phrase = " ".join(chunk)
                if phrase not in phrases and (len(chunk) > 1 or len(phrase) > 3):
                    phrases.append(phrase)
                chunk = []
            if word in _STOP or word == ".":
                continue
        chunk.append(word)
    return tuple(phrases[:10])


class OfflineNlp:
    """Sentiment, entities and key phrases without any network call.

    Implements :class:`pipeline.ports.NlpClient`. Instances are cheap: the service index
    is shared by every instance of the process.
    """

    def __init__(self) -> None:
        self._services, self._service_re = _service_index()

    def analyze(self, text: str) -> NlpAnalysis:
        """Analyse one text.

        Args:
            text: The (redacted) message.

        Returns:
            An :class:`NlpAnalysis`; entity types are ``AWS_SERVICE``, ``ARN``,
            ``ERROR_CODE``, ``REGION`` and ``INSTANCE_ID``.
        """
        lowered = text.lower()
        entities: list[Entity] = []
        seen: set[tuple[str, str]] = set()

        def add(value: str, kind: str, score: float = 1.0) -> None:
            if (value, kind) not in seen:
                seen.add((value, kind))
                entities.append(Entity(text=value, type=kind, score=score))

        arn_spans = []
        for match in _ARN_RE.finditer(text):
            add(match.group(0), "ARN")
            arn_spans.append(match.span())
        for match in self._service_re.finditer(lowered):
            if any(start <= match.start() < end for start, end in arn_spans):
                continue
            surface = " ".join(match.group(0).split())
            add(
                self._services[surface],
                "AWS_SERVICE",
                0.99 if surface in CUSTOMER_SERVICE_NAMES else 0.9,
            )
        for match in _REGION_RE.finditer(lowered):
            add(match.group(0), "REGION")
        for match in _ERROR_CODE_RE.finditer(text):
            add(match.group(0), "ERROR_CODE")
        for match in _HTTP_STATUS_RE.finditer(text):
            add(match.group(1), "ERROR_CODE", 0.8)
        for match in _INSTANCE_ID_RE.finditer(lowered):
            add(match.group(0), "INSTANCE_ID")

        words = _WORD_RE.findall(lowered)
        sentiment, scores = _sentiment(words, text)
        return NlpAnalysis(
            sentiment=sentiment,
            sentiment_scores=scores,
            entities=tuple(entities),
            key_phrases=_key_phrases(words),
        )
