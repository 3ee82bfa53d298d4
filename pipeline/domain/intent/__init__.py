"""Intent detection: a hybrid of precise rules and a small calibrated classifier.

The package is an engine with its catalogues as data (golden_sets/GUIDE.md §2):

* ``catalogue.toml`` + :mod:`.catalogue`: topic lexicons and the precise rule patterns;
* ``escalation.toml`` + :mod:`.escalation`: the six escalation triggers (multilingual);
* ``aws_gazetteer.json`` + :mod:`.gazetteer`: AWS product names from botocore;
* ``model.json`` + :mod:`.core`: features, the pure-Python classifier, calibration and the
  detector that combines them (trained by ``python -m evals.train_intent``).

Public API::

    from pipeline.domain.intent import IntentDetector, load_intent_model, route
"""

from pipeline.domain.intent.core import (
    DEFAULT_CLARIFY_THRESHOLD,
    FOLLOW_UP_CONTINUATION,
    MAX_FEATURE_CHARS,
    MODEL_FORMAT,
    MODEL_PATH,
    RULE_IDS,
    TOPIC_LEXICON,
    IntentDetector,
    IntentModel,
    IntentModelError,
    aws_evidence,
    deciding_rule,
    escalation_features,
    extract_features,
    follow_up_confidence,
    has_aws_context,
    is_generic_banking,
    is_other_world,
    is_too_vague,
    load_intent_model,
    out_of_scope_vetoed,
    route,
    rule_intent,
)
from pipeline.domain.intent.escalation import escalation_reasons, frustration_signals
from pipeline.domain.intent.gazetteer import find_products

__all__ = [
    "DEFAULT_CLARIFY_THRESHOLD", "FOLLOW_UP_CONTINUATION", "MAX_FEATURE_CHARS", "MODEL_FORMAT", "MODEL_PATH",
    "RULE_IDS", "TOPIC_LEXICON", "IntentDetector", "IntentModel", "IntentModelError", "aws_evidence", "deciding_rule",
    "escalation_features", "escalation_reasons", "extract_features", "find_products", "follow_up_confidence", "frustration_signals",
    "has_aws_context", "is_generic_banking", "is_other_world", "is_too_vague", "load_intent_model",
    "out_of_scope_vetoed", "route", "rule_intent",
]
