"""The REST API: POST /query (Step Functions StartSyncExecution), POST /feedback and
GET /sessions/{session_id} (Lambda proxy, the latter behind IAM auth) and GET /health.

``POST /query`` maps the request to the workflow input of docs/workflow-contract.md
(``session_id`` defaults to ``$context.requestId``; ``interaction_id`` and ``request_id``
are ``$context.requestId``) and maps the execution result back: SUCCEEDED → the workflow's
output as is; TIMED_OUT → 504, FAILED/ABORTED → 500, a Step Functions API error → 500,
each as ``{"error": {"code", "message", "request_id"}}``.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stack import constants as c
from stack.config import StackConfig
from stack.constructs.functions import retention_for

JSON = "application/json"

# Velocity: the workflow input. $input.json() yields a JSON literal; escapeJavaScript makes
# it a valid JSON *string* body for "input" (and the replaceAll undoes its \' escape,
# which JSON does not allow).
QUERY_REQUEST_TEMPLATE = """#set($sid = $input.path('$.session_id'))
#if("$!sid" == "")#set($sid = $context.requestId)#end
#set($uid = $input.path('$.user_id'))
{
  "stateMachineArn": "%(arn)s",
  "name": "$context.requestId",
  "input": "{\\"query\\": $util.escapeJavaScript($input.json('$.query')).replaceAll("\\\\'", "'"), \\"session_id\\": \\"$sid\\", \\"interaction_id\\": \\"$context.requestId\\", \\"user_id\\": #if("$!uid" == "")null#{else}$util.escapeJavaScript($input.json('$.user_id')).replaceAll("\\\\'", "'")#end, \\"request_id\\": \\"$context.requestId\\", \\"received_at_ms\\": $context.requestTimeEpoch}"
}"""

QUERY_RESPONSE_TEMPLATE = """#set($status = $input.path('$.status'))
#if($status == "SUCCEEDED")
$input.path('$.output')
#elseif($status == "TIMED_OUT")
#set($context.responseOverride.status = 504)
{"error": {"code": "workflow_timed_out", "message": "The assistant did not answer in time. Please retry.", "request_id": "$context.requestId"}}
#else
#set($context.responseOverride.status = 500)
{"error": {"code": "workflow_failed", "message": "The assistant failed to answer. Please retry.", "request_id": "$context.requestId"}}
#end"""

UPSTREAM_ERROR_TEMPLATE = (
    '{"error": {"code": "service_unavailable", "message": "The workflow could not be started.", '
    '"request_id": "$context.requestId"}}'
)

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
        state_machine: sfn.IStateMachine,
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

        # --- POST /query -> StartSyncExecution --------------------------------------
        self.sfn_role = iam.Role(
            self,
            "StartSyncExecutionRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="Lets API Gateway start the support workflow synchronously; nothing else.",
        )
        self.sfn_role.add_to_policy(
            iam.PolicyStatement(
                actions=["states:StartSyncExecution"],
                resources=[state_machine.state_machine_arn],
            )
        )
        integration_cors = {
            "method.response.header.Access-Control-Allow-Origin": cors_header,
        }
        query_integration = apigw.AwsIntegration(
            service="states",
            action="StartSyncExecution",
            integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=self.sfn_role,
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={
                    JSON: QUERY_REQUEST_TEMPLATE % {"arn": state_machine.state_machine_arn}
                },
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200",
                        response_templates={JSON: QUERY_RESPONSE_TEMPLATE},
                        response_parameters=integration_cors,
                    ),
                    apigw.IntegrationResponse(
                        status_code="500",
                        selection_pattern="[45]\\d{2}",
                        response_templates={JSON: UPSTREAM_ERROR_TEMPLATE},
                        response_parameters=integration_cors,
                    ),
                ],
            ),
        )
        query = api.root.add_resource(c.API_QUERY_PATH)
        self.query_method = query.add_method(
            "POST",
            query_integration,
            api_key_required=config.api_key_required,
            request_validator=self.body_validator,
            request_models={JSON: query_model},
            method_responses=[
                apigw.MethodResponse(status_code="200", response_models={JSON: query_response_model},
                                     response_parameters=cors_response_params),
                apigw.MethodResponse(status_code="400", response_models={JSON: error_model},
                                     response_parameters=cors_response_params),
                apigw.MethodResponse(status_code="500", response_models={JSON: error_model},
                                     response_parameters=cors_response_params),
                apigw.MethodResponse(status_code="504", response_models={JSON: error_model},
                                     response_parameters=cors_response_params),
            ],
        )

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
