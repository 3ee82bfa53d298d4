"""ComprehendNlp with botocore's Stubber (moto's Comprehend is an empty stub)."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import ANY, Stubber

from pipeline.adapters.aws.comprehend import (
    ENTITIES_MAX_BYTES,
    SENTIMENT_MAX_BYTES,
    ComprehendNlp,
    NlpError,
    truncate_utf8,
)
from pipeline.ports import NlpClient


@pytest.fixture()
def client():
    session = botocore.session.get_session()
    return session.create_client(
        "comprehend",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _sentiment(label="NEGATIVE"):
    return {
        "Sentiment": label,
        "SentimentScore": {"Positive": 0.01, "Negative": 0.9, "Neutral": 0.08, "Mixed": 0.01},
    }


def test_analyze_maps_all_three_calls(client):
    text = "My EC2 instance in us-east-1 cannot reach the S3 bucket"
    with Stubber(client) as stub:
        stub.add_response("detect_sentiment", _sentiment(), {"Text": text, "LanguageCode": "en"})
        stub.add_response(
            "detect_entities",
            {
                "Entities": [
                    {
                        "Text": "EC2",
                        "Type": "COMMERCIAL_ITEM",
                        "Score": 0.8,
                        "BeginOffset": 3,
                        "EndOffset": 6,
                    },
                    {
                        "Text": "S3 bucket",
                        "Type": "OTHER",
                        "Score": 0.7,
                        "BeginOffset": 40,
                        "EndOffset": 49,
                    },
                    {
                        "Text": "us-east-1",
                        "Type": "LOCATION",
                        "Score": 0.6,
                        "BeginOffset": 19,
                        "EndOffset": 28,
                    },
                ]
            },
            {"Text": text, "LanguageCode": "en"},
        )
        stub.add_response(
            "detect_key_phrases",
            {
                "KeyPhrases": [
                    {"Text": "My EC2 instance", "Score": 0.99, "BeginOffset": 0, "EndOffset": 15},
                    {"Text": "the S3 bucket", "Score": 0.99, "BeginOffset": 36, "EndOffset": 49},
                ]
            },
            {"Text": text, "LanguageCode": "en"},
        )
        analysis = ComprehendNlp(client).analyze(text)
        stub.assert_no_pending_responses()
    assert analysis.sentiment == "NEGATIVE"
    assert analysis.sentiment_scores["NEGATIVE"] == pytest.approx(0.9)
    assert analysis.negativity == pytest.approx(0.9)
    assert [(e.text, e.type) for e in analysis.entities] == [
        ("EC2", "AWS_SERVICE"),
        ("S3", "AWS_SERVICE"),
        ("us-east-1", "LOCATION"),
    ]
    assert analysis.key_phrases == ("My EC2 instance", "the S3 bucket")


def test_long_text_is_truncated_to_each_operation_limit(client):
    text = "é" * 60_000  # 120,000 UTF-8 bytes
    with Stubber(client) as stub:
        stub.add_response(
            "detect_sentiment",
            _sentiment("NEUTRAL"),
            {"Text": "é" * (SENTIMENT_MAX_BYTES // 2), "LanguageCode": "en"},
        )
        stub.add_response(
            "detect_entities",
            {"Entities": []},
            {"Text": "é" * (ENTITIES_MAX_BYTES // 2), "LanguageCode": "en"},
        )
        stub.add_response(
            "detect_key_phrases", {"KeyPhrases": []}, {"Text": ANY, "LanguageCode": "en"}
        )
        ComprehendNlp(client).analyze(text)
        stub.assert_no_pending_responses()


def test_truncation_never_splits_a_character():
    assert truncate_utf8("aé", 2) == "a"
    assert truncate_utf8("abc", 10) == "abc"
    assert len(truncate_utf8("😀" * 3000, 5000).encode("utf-8")) <= 5000


def test_language_code_is_passed(client):
    with Stubber(client) as stub:
        stub.add_response("detect_sentiment", _sentiment(), {"Text": "hola", "LanguageCode": "es"})
        stub.add_response(
            "detect_entities", {"Entities": []}, {"Text": "hola", "LanguageCode": "es"}
        )
        stub.add_response(
            "detect_key_phrases", {"KeyPhrases": []}, {"Text": "hola", "LanguageCode": "es"}
        )
        ComprehendNlp(client, language_code="es").analyze("hola")


def test_empty_text_does_not_call_comprehend(client):
    with Stubber(client):
        analysis = ComprehendNlp(client).analyze("   ")
    assert analysis.sentiment == "NEUTRAL"


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("ThrottlingException", 400, True),
        ("InternalServerException", 500, True),
        ("TextSizeLimitExceededException", 400, False),
        ("UnsupportedLanguageException", 400, False),
        ("AccessDeniedException", 400, False),
    ],
)
def test_errors_are_mapped(client, code, status, transient):
    with Stubber(client) as stub:
        stub.add_client_error(
            "detect_sentiment",
            service_error_code=code,
            service_message="nope",
            http_status_code=status,
        )
        with pytest.raises(NlpError) as raised:
            ComprehendNlp(client).analyze("hello")
    assert raised.value.transient is transient
    assert raised.value.code == code
    assert "detect_sentiment" in str(raised.value)


def test_network_timeouts_are_transient():
    class TimingOut:
        def detect_sentiment(self, **_):
            raise ReadTimeoutError(endpoint_url="https://comprehend.us-east-1.amazonaws.com")

    with pytest.raises(NlpError) as raised:
        ComprehendNlp(TimingOut()).analyze("hello")
    assert raised.value.transient


def test_implements_the_port(client):
    assert isinstance(ComprehendNlp(client), NlpClient)
