"""Response-quality validation: six checks, a weighted score and a pass/fail decision.

Every check has a stable id (``models.QUALITY_CHECKS``), one module here, and scores 0..1.
A check starts at 1.0 and loses :data:`ERROR_PENALTY` for each *defect* it finds and
:data:`WARNING_PENALTY` for each lesser *warning*, with a message saying what and where
("line 3: `aws ec2 describe-instance` is not an EC2 operation (did you mean
describe-instances?)"). The checks follow ``golden_sets/GUIDE.md`` §5:

- :mod:`.completeness`: every part of the question answered, steps when asked, not cut off.
- :mod:`.structure`: Markdown that renders, steps as lists, a sensible length.
- :mod:`.accuracy`: no unexplained placeholders; code blocks parse; every ``aws …``
  command (fenced, inline or in plain prose) and boto3 call exists (:mod:`.aws_calls`);
  region names are real.
- :mod:`.relevance`: the answer is about the question (shared terms and services).
- :mod:`.tone`: no blame, sarcasm, dismissiveness or slang; empathy when the user is upset.
- :mod:`.safety`: the output guardrail (``scan_output``) finds nothing.

Patterns and word lists are data (``catalogue/*.toml``, loaded and validated by
:mod:`.catalogue`, every rule with ``must_match`` / ``must_not_match`` examples). Pure
stdlib: AWS knowledge comes from the ``AwsApiCatalog`` port, shell and YAML syntax from
injected callables (defaults in ``pipeline.adapters.local.code_checks``).

Example:
    >>> from pipeline.adapters.botocore_catalog import BotocoreApiCatalog
    >>> validator = QualityValidator(BotocoreApiCatalog())
    >>> report = validator.validate("How do I list my buckets?", "Run `aws s3 ls`.")
    >>> report.passed
    True
"""

from pipeline.domain.quality.parsing import CodeBlock, ParsedResponse, parse_response
from pipeline.domain.quality.scoring import (
    CHECK_WEIGHTS,
    DEFAULT_THRESHOLD,
    ERROR_PENALTY,
    HARD_FAIL_LEVEL,
    WARNING_PENALTY,
)
from pipeline.domain.quality.structure import MAX_WORDS
from pipeline.domain.quality.text import SERVICE_ALIASES, content_terms, question_parts
from pipeline.domain.quality.validator import QualityValidator

__all__ = [
    "CHECK_WEIGHTS",
    "DEFAULT_THRESHOLD",
    "ERROR_PENALTY",
    "HARD_FAIL_LEVEL",
    "MAX_WORDS",
    "SERVICE_ALIASES",
    "WARNING_PENALTY",
    "CodeBlock",
    "ParsedResponse",
    "QualityValidator",
    "content_terms",
    "parse_response",
    "question_parts",
]
