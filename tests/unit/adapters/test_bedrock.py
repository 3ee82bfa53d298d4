"""Tests for the Bedrock Converse adapter, with botocore's Stubber (no network)."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from pipeline.adapters.aws.bedrock import BedrockModel, make_bedrock_client
from pipeline.domain.models import Message, ModelParameters, ModelRequest
from pipeline.ports import ModelError, ModelUnavailableError

MODEL_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # a cross-Region inference profile


@pytest.fixture
def client():
    # No retries: the adapter's error mapping is under test, not botocore's retry loop.
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


def _request():
    return ModelRequest(
        system="You are the AWS Support Assistant.",
        messages=(
            Message("user", "earlier"),
            Message("assistant", "reply"),
            Message("user", "SSH times out"),
        ),
        parameters=ModelParameters(model_id=MODEL_ID, temperature=0.7, max_tokens=2048, top_p=0.9),
    )


def _reply(text="Check the security group.", stop="end_turn"):
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": 42, "outputTokens": 7, "totalTokens": 49},
        "metrics": {"latencyMs": 321},
    }


def test_converse_request_shape_and_response_mapping(client):
    expected = {
        "modelId": MODEL_ID,
        "system": [{"text": "You are the AWS Support Assistant."}],
        "messages": [
            {"role": "user", "content": [{"text": "earlier"}]},
            {"role": "assistant", "content": [{"text": "reply"}]},
            {"role": "user", "content": [{"text": "SSH times out"}]},
        ],
        "inferenceConfig": {"temperature": 0.7, "maxTokens": 2048},  # never topP with it
    }
    with Stubber(client) as stubber:
        stubber.add_response("converse", _reply(), expected)
        response = BedrockModel(client).generate(_request())
        stubber.assert_no_pending_responses()
    assert response.text == "Check the security group."
    assert response.model_id == MODEL_ID
    assert (response.input_tokens, response.output_tokens) == (42, 7)
    assert response.stop_reason == "end_turn" and response.latency_ms == 321


def test_temperature_and_top_p_are_never_sent_together(client):
    """Claude models from Sonnet 4.5 on refuse a request with both (ValidationException
    "`temperature` and `top_p` cannot both be specified for this model"): the default
    model would answer every query with the fallback. Templates tune temperature."""
    config = BedrockModel(client).converse_arguments(_request())["inferenceConfig"]
    assert config == {"temperature": 0.7, "maxTokens": 2048}


OTHER_PROFILE = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_model_id_override(client):
    with Stubber(client) as stubber:
        stubber.add_response(
            "converse",
            _reply(),
            {**BedrockModel(client, model_id=OTHER_PROFILE).converse_arguments(_request())},
        )
        assert (
            BedrockModel(client, model_id=OTHER_PROFILE).generate(_request()).model_id
            == OTHER_PROFILE
        )


def test_max_tokens_stop_reason(client):
    with Stubber(client) as stubber:
        stubber.add_response("converse", _reply(stop="max_tokens"))
        assert BedrockModel(client).generate(_request()).stop_reason == "max_tokens"


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("ThrottlingException", 429, True),
        ("ServiceUnavailableException", 503, True),
        ("ModelTimeoutException", 408, True),
        ("InternalServerException", 500, True),
        ("ValidationException", 400, False),
        ("AccessDeniedException", 403, False),
        ("ResourceNotFoundException", 404, False),
    ],
)
def test_errors_map_to_model_error(client, code, status, transient):
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "converse", service_error_code=code, service_message="nope", http_status_code=status
        )
        with pytest.raises(ModelError) as info:
            BedrockModel(client).generate(_request())
    assert info.value.transient is transient
    # Step Functions retries on the error's class name, so transient failures need their own.
    assert (type(info.value).__name__ == "TransientModelError") is transient
    assert code in str(info.value)


def test_empty_reply_is_a_permanent_error(client):
    with Stubber(client) as stubber:
        stubber.add_response("converse", _reply(text=""))
        with pytest.raises(ModelError) as info:
            BedrockModel(client).generate(_request())
    assert info.value.transient is False


def test_connection_errors_are_transient():
    from botocore.exceptions import ReadTimeoutError

    class TimingOutClient:
        def converse(self, **kwargs):
            raise ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com")

    with pytest.raises(ModelError) as info:
        BedrockModel(TimingOutClient()).generate(_request())
    assert info.value.transient is True


def test_make_bedrock_client_uses_adaptive_retries():
    client = make_bedrock_client("eu-west-1", max_attempts=5)
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.service_model.service_name == "bedrock-runtime"
    retries = client.meta.config.retries
    assert retries["mode"] == "adaptive"
    assert retries["total_max_attempts"] == 5  # the first call plus four retries


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationException", "This model version has reached the end of its life. Please "
                                "refer to the AWS documentation for more details."),
        ("ValidationException", "The provided model identifier is invalid."),
        ("ValidationException", "Invocation of model ID anthropic.claude-sonnet-4-5-20250929-v1:0 "
                                "with on-demand throughput isn't supported. Retry your request "
                                "with the ID or ARN of an inference profile that contains this model."),
        ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
        ("ResourceNotFoundException", "Access denied. This Model is marked by provider as Legacy "
                                      "and you have not been actively using the model in the last 30 days."),
    ],
)
def test_a_model_that_cannot_be_invoked_is_reported_as_unavailable(client, code, message):
    with Stubber(client) as stubber:
        stubber.add_client_error("converse", service_error_code=code, service_message=message,
                                 http_status_code=400)
        with pytest.raises(ModelUnavailableError) as info:
            BedrockModel(client).generate(_request())
    assert info.value.transient is False and MODEL_ID in str(info.value)


def test_a_bad_request_is_not_reported_as_an_unavailable_model(client):
    with Stubber(client) as stubber:
        stubber.add_client_error("converse", service_error_code="ValidationException",
                                 service_message="messages: text field is blank", http_status_code=400)
        with pytest.raises(ModelError) as info:
            BedrockModel(client).generate(_request())
    assert not isinstance(info.value, ModelUnavailableError)


def test_the_model_id_comes_from_the_setting_and_must_match_the_template_family(client):
    request = ModelRequest(system="s", messages=(Message("user", "q"),), parameters=ModelParameters())
    assert request.parameters.model_id == ""  # templates name a family, not an id
    assert BedrockModel(client, model_id=MODEL_ID).converse_arguments(request)["modelId"] == MODEL_ID
    with pytest.raises(ModelUnavailableError, match="no model configured"):
        BedrockModel(client).converse_arguments(request)
    with pytest.raises(ModelUnavailableError, match="family"):
        BedrockModel(client, model_id="us.meta.llama3-3-70b-instruct-v1:0").converse_arguments(request)


def test_a_budgeted_call_uses_a_client_with_the_time_left_as_read_timeout(client):
    """Under a latency budget the read timeout is the time left (whole seconds) and the
    client does not retry by itself: attempts x 60 s could never fit 29 s."""
    from pipeline.domain.budget import model_call_timeout

    asked: list[int] = []

    def client_for_timeout(seconds):
        asked.append(seconds)
        budgeted = make_bedrock_client("us-east-1", max_attempts=1, read_timeout=float(seconds))
        assert budgeted.meta.config.read_timeout == seconds
        assert budgeted.meta.config.retries["total_max_attempts"] == 1
        return client

    model = BedrockModel(client, client_for_timeout=client_for_timeout)
    token = model_call_timeout.set(17.8)
    try:
        with Stubber(client) as stubber:
            stubber.add_response("converse", _reply())
            model.generate(_request())
        model_call_timeout.set(0.4)
        with pytest.raises(ModelError) as info:
            model.generate(_request())
    finally:
        model_call_timeout.reset(token)
    assert asked == [17]
    assert info.value.transient is True  # the workflow decides: fallback when nothing fits
