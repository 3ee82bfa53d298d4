"""BedrockModel: the ModelClient for Amazon Bedrock's Converse API.

The client is injected (the composition root builds it with :func:`make_bedrock_client`,
whose botocore ``adaptive`` retry mode already retries throttling with client-side rate
limiting); this adapter only translates requests and errors:

- ThrottlingException, ServiceUnavailableException, ModelTimeoutException,
  InternalServerException, ModelNotReadyException and connection/read timeouts →
  ``TransientModelError`` (Step Functions retries the task by that error name).
- the model cannot be invoked at all (end of life, no model access, unknown id, an id that
  needs an inference profile: ResourceNotFoundException, AccessDeniedException, or a
  ValidationException saying so) → ``ModelUnavailableError``, so it is counted and
  alarmed instead of quietly becoming a fallback answer forever;
- other ValidationExceptions and anything else → ``ModelError(transient=False)``.

The model id is the deployment's one setting (``MODEL_ID``, e.g. the cross-Region inference
profile ``us.anthropic.claude-sonnet-4-6``); templates only name the family
their prompts are written for, and a configured id outside that family is refused.

Example:
    >>> model = BedrockModel(make_bedrock_client("us-east-1"))       # doctest: +SKIP
    >>> model.generate(request).text                                 # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from pipeline.domain.budget import model_call_timeout
from pipeline.domain.models import ModelParameters, ModelRequest, ModelResponse
from pipeline.ports import ModelError, ModelUnavailableError, TransientModelError, model_error

TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "ModelTimeoutException",
        "InternalServerException",
        "ModelNotReadyException",
    }
)
#: botocore exception class names (no error code) that mean the network, not the request, failed.
_TRANSIENT_EXCEPTION_NAMES = frozenset(
    {"ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError", "ConnectionClosedError"}
)
#: Error codes that mean "this model cannot be invoked from this account", whatever the request.
UNAVAILABLE_ERROR_CODES = frozenset({"ResourceNotFoundException", "AccessDeniedException"})
#: ValidationException messages that mean the same (end of life, unknown id, profile needed).
_UNAVAILABLE_MESSAGE = re.compile(
    r"end of (its )?life|end-of-life|legacy|model identifier is invalid|"
    r"(do not|don't) have access|on-demand throughput isn.t supported|inference profile",
    re.IGNORECASE,
)
_STOP_REASONS = {"end_turn": "end_turn", "stop_sequence": "end_turn", "max_tokens": "max_tokens"}


def make_bedrock_client(
    region: str,
    *,
    max_attempts: int = 4,
    read_timeout: float = 60.0,
    connect_timeout: float = 5.0,
    max_pool_connections: int = 10,
) -> Any:
    """Build a ``bedrock-runtime`` client with adaptive retries and bounded timeouts.

    boto3 is imported here, not at module import, to keep Lambda cold starts cheap for
    code paths that never call Bedrock.

    Args:
        region: AWS Region with access to the model.
        max_attempts: Total attempts including the first. Passed as botocore's
            ``total_max_attempts``: its ``max_attempts`` key counts retries only (one fewer).
        read_timeout: Seconds to wait for the model's reply.
        connect_timeout: Seconds to wait for the connection.
        max_pool_connections: HTTP connections kept open (one per concurrent caller).

    Returns:
        A boto3 ``bedrock-runtime`` client.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=region,
        retries={"mode": "adaptive", "total_max_attempts": max_attempts},
        read_timeout=read_timeout,
        connect_timeout=connect_timeout,
        max_pool_connections=max_pool_connections,
    )
    return boto3.client("bedrock-runtime", config=config)


def inference_config(params: ModelParameters) -> dict[str, Any]:
    """Converse ``inferenceConfig`` for a template's parameters: ``temperature`` and
    ``maxTokens``, never ``topP`` with them.

    Claude models from Sonnet 4.5 on refuse a request that sets both temperature and top_p
    (ValidationException "`temperature` and `top_p` cannot both be specified for this
    model. Please use only one."): sending both turned every answer of the default model
    into the fallback. The templates tune temperature; ``top_p`` stays a template field
    (the offline model and the cassette keys read it) but is not sent to Bedrock.
    """
    return {"temperature": params.temperature, "maxTokens": params.max_tokens}


def _error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", ""))
    return ""


def is_model_unavailable(code: str | None, message: str) -> bool:
    """True when Bedrock says the model itself cannot be used (not this one request)."""
    if code in UNAVAILABLE_ERROR_CODES:
        return True
    return code == "ValidationException" and bool(_UNAVAILABLE_MESSAGE.search(message))


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


class BedrockModel:
    """ModelClient over ``bedrock-runtime`` Converse.

    Args:
        client: A boto3 ``bedrock-runtime`` client (see :func:`make_bedrock_client`).
        model_id: Overrides the template's model id (e.g. an inference profile ARN);
            ``None`` uses ``request.parameters.model_id``.
    """

    def __init__(
        self,
        client: Any,
        *,
        model_id: str | None = None,
        client_for_timeout: Any = None,
    ) -> None:
        self._client = client
        self._model_id = model_id
        #: ``(read_timeout_seconds) -> client`` for calls under a latency budget: a client
        #: with that read timeout and no retries of its own (the workflow retries only when
        #: its budget holds another attempt).
        self._client_for_timeout = client_for_timeout

    def _client_now(self) -> Any:
        """The client for this call: bounded by the request's remaining budget, if any."""
        timeout = model_call_timeout.get()
        if timeout is None or self._client_for_timeout is None:
            return self._client
        seconds = math.floor(timeout)
        if seconds < 1:
            raise TransientModelError("no time left in the latency budget for a model call")
        return self._client_for_timeout(seconds)

    def converse_arguments(self, request: ModelRequest) -> dict[str, Any]:
        """The keyword arguments passed to ``client.converse`` for a request."""
        params = request.parameters
        model_id = self._model_id or params.model_id
        if not model_id:
            raise ModelUnavailableError("no model configured: set MODEL_ID (stack context model_id)")
        if params.model_family and params.model_family not in model_id:
            raise ModelUnavailableError(
                f"model {model_id} is not of the family {params.model_family!r} the prompt "
                "templates are written for: change the templates' model_family with them"
            )
        arguments: dict[str, Any] = {
            "modelId": model_id,
            "messages": [{"role": m.role, "content": [{"text": m.text}]} for m in request.messages],
            "inferenceConfig": inference_config(params),
        }
        if request.system:
            arguments["system"] = [{"text": request.system}]
        return arguments

    def generate(self, request: ModelRequest) -> ModelResponse:
        """Call Converse and translate the reply.

        Raises:
            ModelError: ``transient`` for throttling, unavailability and timeouts; not
                transient for validation, access and unknown errors, or an empty reply.
        """
        arguments = self.converse_arguments(request)
        started = time.perf_counter()
        try:
            reply = self._client_now().converse(**arguments)
        except Exception as exc:  # botocore raises many classes; classify by code or name
            code = _error_code(exc)
            if is_model_unavailable(code, _error_message(exc)):
                raise ModelUnavailableError(
                    f"Bedrock model {arguments['modelId']} is not available: {code}: "
                    f"{_error_message(exc)[:200]}"
                ) from exc
            transient = (
                code in TRANSIENT_ERROR_CODES
                if code
                else type(exc).__name__ in _TRANSIENT_EXCEPTION_NAMES
            )
            if code is None and not transient and not type(exc).__module__.startswith("botocore"):
                raise
            raise model_error(
                f"Bedrock converse failed for {arguments['modelId']}: {code or type(exc).__name__}",
                transient=transient,
            ) from exc
        elapsed_ms = (time.perf_counter() - started) * 1000.0

        content = reply.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block.get("text", "") for block in content)
        stop_reason = reply.get("stopReason", "end_turn")
        if not text.strip():
            raise ModelError(
                f"Bedrock returned no text (stopReason={stop_reason})", transient=False
            )
        usage = reply.get("usage", {})
        return ModelResponse(
            text=text,
            model_id=arguments["modelId"],
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
            stop_reason=_STOP_REASONS.get(stop_reason, stop_reason),
            latency_ms=float(reply.get("metrics", {}).get("latencyMs", elapsed_ms)),
        )
