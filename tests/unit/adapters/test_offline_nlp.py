"""OfflineNlp: entities (services, ARNs, error codes, regions), sentiment, key phrases."""

from __future__ import annotations

import pytest

from pipeline.adapters.local.offline_nlp import OfflineNlp, _service_index
from pipeline.ports import NlpClient


@pytest.fixture(scope="module")
def nlp() -> OfflineNlp:
    return OfflineNlp()


def _of_type(analysis, kind):
    return [e.text for e in analysis.entities if e.type == kind]


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("my ec2 won't boot", "EC2"),
        ("the S3 bucket is public", "S3"),
        ("lambda function times out", "Lambda"),
        ("RDS storage full", "RDS"),
        ("aurora failover slow", "Aurora"),
        ("cloudfront caching", "CloudFront"),
        ("route53 record missing", "Route 53"),
        ("Route 53 health check", "Route 53"),
        ("my lamda keeps failing", "Lambda"),
        ("sagemaker endpoint 500", "SageMaker"),
        ("kinesis shard iterator", "Kinesis"),
        ("application load balancer 502", "Elastic Load Balancing"),
    ],
)
def test_customer_spellings_of_services(nlp, text, service):
    assert service in _of_type(nlp.analyze(text), "AWS_SERVICE")


def test_botocore_service_ids_are_known(nlp):
    names, _ = _service_index()
    assert "cloudtrail" in names and "stepfunctions" in names
    assert "stepfunctions" in _of_type(nlp.analyze("stepfunctions execution failed"), "AWS_SERVICE")


def test_ordinary_words_are_not_services(nlp):
    analysis = nlp.analyze(
        "please support me, I need a backup of my config and a batch of health tips"
    )
    assert _of_type(analysis, "AWS_SERVICE") == []


def test_arns_regions_error_codes_and_instance_ids(nlp):
    text = (
        "User: arn:aws:iam::123456789012:user/bob is not authorized; AccessDenied in eu-west-1 "
        "on i-0abc1234def567890, then ThrottlingException and a 503 error"
    )
    analysis = nlp.analyze(text)
    assert _of_type(analysis, "ARN") == ["arn:aws:iam::123456789012:user/bob"]
    assert _of_type(analysis, "REGION") == ["eu-west-1"]
    assert {"AccessDenied", "ThrottlingException", "503"} <= set(_of_type(analysis, "ERROR_CODE"))
    assert _of_type(analysis, "INSTANCE_ID") == ["i-0abc1234def567890"]
    # A service name inside an ARN is part of the ARN, not a separate mention.
    assert "IAM" not in _of_type(analysis, "AWS_SERVICE")


def test_entities_are_deduplicated(nlp):
    assert _of_type(nlp.analyze("s3 and S3 and s3 again"), "AWS_SERVICE") == ["S3"]


@pytest.mark.parametrize(
    ("text", "sentiment"),
    [
        ("thanks, that worked great!", "POSITIVE"),
        ("this is garbage, completely broken and useless", "NEGATIVE"),
        ("how do I enable versioning on a bucket", "NEUTRAL"),
        ("it is not bad", "POSITIVE"),  # negation flips valence, as in VADER
    ],
)
def test_sentiment(nlp, text, sentiment):
    assert nlp.analyze(text).sentiment == sentiment


def test_shouting_and_exclamations_strengthen_negativity(nlp):
    calm = nlp.analyze("my instance failed").negativity
    loud = nlp.analyze("MY INSTANCE FAILED AGAIN!!!").negativity
    assert loud > calm > 0


def test_sentiment_scores_are_probabilities(nlp):
    scores = nlp.analyze("great but it keeps failing").sentiment_scores
    assert set(scores) == {"POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_key_phrases(nlp):
    phrases = nlp.analyze("how do I restore an rds snapshot to a new instance").key_phrases
    assert "restore" in phrases and "rds snapshot" in phrases and "new instance" in phrases


def test_empty_text(nlp):
    analysis = nlp.analyze("")
    assert (
        analysis.sentiment == "NEUTRAL" and analysis.entities == () and analysis.key_phrases == ()
    )


def test_implements_the_port(nlp):
    assert isinstance(nlp, NlpClient)


def test_service_index_is_built_once():
    assert _service_index() is _service_index()


@pytest.mark.parametrize(
    "text",
    [
        "transfer 50 dollars from my checking account",
        "the detective solved the case",
        "my evs need charging",
        "firehose on the fire truck",
    ],
)
def test_everyday_words_are_not_service_entities(text):
    entities = OfflineNlp().analyze(text).entities
    assert not [e for e in entities if e.type == "AWS_SERVICE"], entities


def test_unambiguous_botocore_services_are_still_found():
    names = {e.text for e in OfflineNlp().analyze("kinesis and sagemaker and quicksight").entities}
    assert {"Kinesis", "SageMaker", "quicksight"} <= names
