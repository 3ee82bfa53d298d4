"""The REST API: POST /query, POST /feedback and GET /sessions/{session_id} (Lambda proxy,
the latter behind IAM auth) and GET /health (mock).

``POST /query`` is the ``query_api`` Lambda: the same :class:`~pipeline.domain.query_api.
QueryApi` as the local server (session tokens, per-session limit, Idempotency-Key), which
starts the Express workflow with ``StartSyncExecution``. API Gateway validates the body
against the model generated from ``api/openapi.yaml`` first; every error, API Gateway's own
included, is ``{"error": {"code", "message", "request_id"}}`` with the document's codes.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig
from stack.constructs.functions import retention_for

JSON = "application/json"

# ---------------------------------------------------------------------------
# Models generated from the one contract, api/openapi.yaml (OpenAPI 3.1 → JSON Schema draft 4)
# ---------------------------------------------------------------------------

OPENAPI_PATH = c.REPO_ROOT / "api" / "openapi.yaml"
#: JSON Schema keywords API Gateway models understand (draft 4) that the document uses.
_DRAFT4_KEYWORDS = ("type", "properties", "required", "additionalProperties", "minLength",
                    "maxLength", "pattern", "enum", "minimum", "maximum", "items", "description")


def openapi_document() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))


def _resolve(schema: Any, document: dict[str, Any]) -> Any:
    """Inline every ``$ref`` (API Gateway models cannot reference the document)."""
    if isinstance(schema, list):
        return [_resolve(item, document) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _resolve(target, document)
    return {key: _resolve(value, document) for key, value in schema.items()}


def draft4(schema: dict[str, Any]) -> dict[str, Any]:
    """A resolved OpenAPI 3.1 schema as the draft-4 JSON API Gateway stores (keys it knows)."""
    out: dict[str, Any] = {}
    for key in _DRAFT4_KEYWORDS:
        if key not in schema:
            continue
        value = schema[key]
        if key == "properties":
            value = {name: draft4(child) for name, child in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            value = draft4(value)
        out[key] = value
    return out


def model_schema(name: str, document: dict[str, Any] | None = None) -> dict[str, Any]:
    """``components.schemas[name]`` resolved and converted: what the stack's model holds."""
    document = document or openapi_document()
    return draft4(_resolve(document["components"]["schemas"][name], document))


_TYPES = {t.name.lower(): t for t in apigw.JsonSchemaType}
_SNAKE = {"additionalProperties": "additional_properties", "minLength": "min_length",
          "maxLength": "max_length"}


def _json_schema(schema: dict[str, Any], *, title: str | None = None) -> apigw.JsonSchema:
    kwargs: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            value = [_TYPES[v] for v in value] if isinstance(value, list) else _TYPES[value]
        elif key == "properties":
            value = {name: _json_schema(child) for name, child in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            value = _json_schema(value)
        kwargs[_SNAKE.get(key, key)] = value
    if title is not None:
        kwargs.update(schema=apigw.JsonSchemaVersion.DRAFT4, title=title)
    return apigw.JsonSchema(**kwargs)


def api_model_schema(name: str) -> apigw.JsonSchema:
    return _json_schema(model_schema(name), title=name)


#: POST /query's documented error statuses (api/openapi.yaml), each with the Error model.
QUERY_ERROR_STATUSES = ("400", "403", "404", "409", "413", "415", "429", "500", "503", "504")

#: The models the stack creates, by the document's schema name.
MODEL_NAMES = ("Error", "QueryRequest", "QueryResponse", "FeedbackRequest")


_VALIDATION = '"$context.error.validationErrorString"'
_MESSAGE = "$context.error.messageString"
#: API Gateway's own error responses: (type, code from the document's ErrorCode, status
#: override or None, message). An unknown route is MISSING_AUTHENTICATION_TOKEN (403) in API
#: Gateway; the contract answers 404 not_found.
GATEWAY_RESPONSES: tuple[tuple[apigw.ResponseType, str, str | None, str], ...] = (
    (apigw.ResponseType.BAD_REQUEST_BODY, "validation_error", None, _VALIDATION),
    (apigw.ResponseType.BAD_REQUEST_PARAMETERS, "validation_error", None, _VALIDATION),
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "not_found", "404", '"no such route"'),
    (apigw.ResponseType.ACCESS_DENIED, "forbidden", None, _MESSAGE),
    (apigw.ResponseType.INVALID_API_KEY, "forbidden", None, _MESSAGE),
    (apigw.ResponseType.THROTTLED, "throttled", None, _MESSAGE),
    (apigw.ResponseType.QUOTA_EXCEEDED, "throttled", None, _MESSAGE),
    (apigw.ResponseType.REQUEST_TOO_LARGE, "payload_too_large", None, _MESSAGE),
    (apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None, _MESSAGE),
    # POST /query's Lambda outlives API Gateway's 29 s only when an execution does: 504.
    (apigw.ResponseType.INTEGRATION_TIMEOUT, "workflow_timed_out", None, _MESSAGE),
    (apigw.ResponseType.DEFAULT_4_XX, "client_error", None, _MESSAGE),
    (apigw.ResponseType.DEFAULT_5_XX, "internal_error", None, _MESSAGE),
)


class Api(Construct):
    """The REST API, its stage, validators, models, usage plan and access logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        query_fn: lambda_.IFunction,
        feedback_fn: lambda_.IFunction,
        sessions_fn: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention_for(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.is_prod else RemovalPolicy.DESTROY,
        )
        cors_origins = list(config.cors_origins)
        self.api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{c.APP_NAME}-{config.stage}",
            description="AI customer-support assistant for AWS",
            # AWS::ApiGateway::Account is one setting per account and Region, shared by every
            # REST API there: deleting it with this stack would stop execution logging for
            # all of them. Created only when asked (a fresh account), and then retained.
            cloud_watch_role=config.api_cloudwatch_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if config.api_cloudwatch_role else None,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            deploy_options=apigw.StageOptions(
                stage_name=config.stage,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,
                throttling_burst_limit=config.throttle_burst,
                throttling_rate_limit=config.throttle_rate,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Content-Type", "Authorization", "X-Amz-Date", "X-Api-Key",
                               "X-Amz-Security-Token", "X-Session-Token", "Idempotency-Key"],
            ),
        )
        api = self.api
        cors_header = "'*'" if cors_origins == ["*"] else f"'{cors_origins[0]}'"

        # JSON errors for API Gateway's own responses, with the document's lower_snake codes.
        # $context.error.messageString is already a quoted JSON string;
        # validationErrorString is not (AWS's own examples quote it).
        for response_type, code, status, message in GATEWAY_RESPONSES:
            api.add_gateway_response(
                f"GatewayResponse{response_type.response_type}",
                type=response_type,
                status_code=status,
                response_headers={"Access-Control-Allow-Origin": cors_header},
                templates={
                    JSON: '{"error": {"code": "' + code + '", "message": ' + message
                    + ', "request_id": "$context.requestId"}}'
                },
            )

        self.body_validator = api.add_request_validator(
            "BodyValidator", validate_request_body=True, validate_request_parameters=True
        )
        self.params_validator = api.add_request_validator(
            "ParamsValidator", validate_request_body=False, validate_request_parameters=True
        )
        error_model = api.add_model(
            "ErrorModel", content_type=JSON, model_name="Error", schema=api_model_schema("Error")
        )
        query_model = api.add_model(
            "QueryRequestModel", content_type=JSON, model_name="QueryRequest",
            schema=api_model_schema("QueryRequest"),
        )
        query_response_model = api.add_model(
            "QueryResponseModel", content_type=JSON, model_name="QueryResponse",
            schema=api_model_schema("QueryResponse"),
        )
        feedback_model = api.add_model(
            "FeedbackRequestModel", content_type=JSON, model_name="FeedbackRequest",
            schema=api_model_schema("FeedbackRequest"),
        )
        cors_response_params = {"method.response.header.Access-Control-Allow-Origin": True}

        # --- POST /query -> query_api (proxy) -----------------------------------------
        error_response = {JSON: error_model}
        query = api.root.add_resource(c.API_QUERY_PATH)
        self.query_method = query.add_method(
            "POST",
            apigw.LambdaIntegration(query_fn, proxy=True),
            api_key_required=config.api_key_required,
            request_validator=self.body_validator,
            request_models={JSON: query_model},
            method_responses=[
                apigw.MethodResponse(status_code="200", response_models={JSON: query_response_model},
                                     response_parameters=cors_response_params),
                *(
                    apigw.MethodResponse(status_code=status, response_models=error_response,
                                         response_parameters=cors_response_params)
                    for status in QUERY_ERROR_STATUSES
                ),
            ],
        )
        integration_cors = {
            "method.response.header.Access-Control-Allow-Origin": cors_header,
        }

        # --- POST /feedback -> feedback_api (proxy) -----------------------------------
        feedback = api.root.add_resource(c.API_FEEDBACK_PATH)
        self.feedback_method = feedback.add_method(
            "POST",
            apigw.LambdaIntegration(feedback_fn, proxy=True),
            api_key_required=config.api_key_required,
            request_validator=self.body_validator,
            request_models={JSON: feedback_model},
        )

        # --- GET /sessions/{session_id} -> sessions_api (proxy, IAM auth) -------------
        session = api.root.add_resource(c.API_SESSIONS_PATH).add_resource("{session_id}")
        self.sessions_method = session.add_method(
            "GET",
            apigw.LambdaIntegration(sessions_fn, proxy=True),
            authorization_type=apigw.AuthorizationType.IAM,
            request_validator=self.params_validator,
            request_parameters={"method.request.path.session_id": True},
        )

        # --- GET /health -> mock ---------------------------------------------------------
        health = api.root.add_resource(c.API_HEALTH_PATH)
        self.health_method = health.add_method(
            "GET",
            apigw.MockIntegration(
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={JSON: '{"statusCode": 200}'},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200",
                        response_templates={JSON: '{"status": "ok"}'},
                        response_parameters=integration_cors,
                    )
                ],
            ),
            request_validator=self.params_validator,
            method_responses=[apigw.MethodResponse(status_code="200", response_parameters=cors_response_params)],
        )

        # --- usage plan + API key ----------------------------------------------------------
        self.usage_plan = api.add_usage_plan(
            "UsagePlan",
            name=f"{c.APP_NAME}-{config.stage}",
            description="Default plan for support-assistant clients",
            throttle=apigw.ThrottleSettings(burst_limit=config.throttle_burst, rate_limit=config.throttle_rate),
            quota=apigw.QuotaSettings(limit=config.quota_per_day, period=apigw.Period.DAY),
            api_stages=[apigw.UsagePlanPerApiStage(api=api, stage=api.deployment_stage)],
        )
        self.api_key = api.add_api_key("ApiKey", description="Default support-assistant client key")
        self.usage_plan.add_api_key(self.api_key)
