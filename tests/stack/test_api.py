from __future__ import annotations

import json

from stack import constants as c


def _methods(resources, template_json):
    return [m["Properties"] for m in resources(template_json, "AWS::ApiGateway::Method").values()]


def _method(resources, template_json, verb, needle):
    found = [m for m in _methods(resources, template_json)
             if m["HttpMethod"] == verb and needle in json.dumps(m)]
    assert len(found) == 1, (verb, needle)
    return found[0]


def test_routes(resources, template_json):
    paths = {r["Properties"]["PathPart"] for r in resources(template_json, "AWS::ApiGateway::Resource").values()}
    assert paths == {c.API_QUERY_PATH, c.API_FEEDBACK_PATH, c.API_SESSIONS_PATH, "{session_id}", c.API_HEALTH_PATH}
    verbs = sorted(m["HttpMethod"] for m in _methods(resources, template_json) if m["HttpMethod"] != "OPTIONS")
    assert verbs == ["GET", "GET", "POST", "POST"]


def test_query_starts_sync_execution_with_contract_mapping(resources, template_json):
    m = _method(resources, template_json, "POST", "StartSyncExecution")
    integration = m["Integration"]
    assert integration["Type"] == "AWS"
    assert "states:action/StartSyncExecution" in json.dumps(integration["Uri"])
    request = json.dumps(integration["RequestTemplates"])
    for needle in ("$context.requestId", "session_id", "interaction_id", "request_id", "user_id",
                   "$util.escapeJavaScript($input.json('$.query'))"):
        assert needle in request, needle
    assert integration["PassthroughBehavior"] == "NEVER"
    responses = {r["StatusCode"]: r for r in integration["IntegrationResponses"]}
    template = responses["200"]["ResponseTemplates"]["application/json"]
    assert "SUCCEEDED" in template and "$input.path('$.output')" in template
    assert "responseOverride.status = 504" in template and "TIMED_OUT" in template
    assert "responseOverride.status = 500" in template
    assert responses["500"]["SelectionPattern"]
    assert m["ApiKeyRequired"] is True
    assert {r["StatusCode"] for r in m["MethodResponses"]} == {"200", "400", "500", "504"}


def test_request_models_and_validators(resources, template_json):
    models = {m["Properties"]["Name"]: m["Properties"]["Schema"]
              for m in resources(template_json, "AWS::ApiGateway::Model").values()}
    query = models["QueryRequest"]
    assert query["required"] == ["query"] and query["additionalProperties"] is False
    assert query["properties"]["query"]["maxLength"] == c.QUERY_MAX_CHARS
    assert query["properties"]["query"]["minLength"] == 1
    assert query["properties"]["session_id"]["pattern"] == c.SESSION_ID_PATTERN
    assert set(models) >= {"QueryRequest", "QueryResponse", "FeedbackRequest", "Error"}
    validators = [v["Properties"] for v in resources(template_json, "AWS::ApiGateway::RequestValidator").values()]
    assert any(v["ValidateRequestBody"] for v in validators)
    for verb, needle in (("POST", "StartSyncExecution"), ("POST", "FeedbackApiFunction")):
        m = _method(resources, template_json, verb, needle)
        assert "RequestValidatorId" in m and "application/json" in m["RequestModels"]


def test_feedback_and_sessions_are_lambda_proxies_sessions_iam(resources, template_json):
    feedback = _method(resources, template_json, "POST", "FeedbackApiFunction")
    assert feedback["Integration"]["Type"] == "AWS_PROXY"
    sessions = _method(resources, template_json, "GET", "SessionsApiFunction")
    assert sessions["Integration"]["Type"] == "AWS_PROXY"
    assert sessions["AuthorizationType"] == "AWS_IAM"
    assert sessions["RequestParameters"] == {"method.request.path.session_id": True}
    health = _method(resources, template_json, "GET", "MOCK")
    assert health["Integration"]["Type"] == "MOCK"


def test_stage_logging_tracing_throttling(resources, template_json):
    (stage,) = resources(template_json, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    access = props["AccessLogSetting"]
    assert json.loads(access["Format"])["requestId"] == "$context.requestId"
    (settings,) = props["MethodSettings"]
    assert settings["LoggingLevel"] == "INFO" and settings["DataTraceEnabled"] is False
    assert (settings["ThrottlingBurstLimit"], settings["ThrottlingRateLimit"]) == (20, 10)


def test_usage_plan_key_cors_and_json_errors(resources, template_json):
    (plan,) = resources(template_json, "AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["Throttle"] == {"BurstLimit": 20, "RateLimit": 10}
    assert plan["Properties"]["Quota"]["Period"] == "DAY"
    assert resources(template_json, "AWS::ApiGateway::UsagePlanKey")
    options = [m for m in _methods(resources, template_json) if m["HttpMethod"] == "OPTIONS"]
    assert options, "CORS preflight methods"
    gateway = {g["Properties"]["ResponseType"]: g["Properties"]
               for g in resources(template_json, "AWS::ApiGateway::GatewayResponse").values()}
    assert set(gateway) >= {"BAD_REQUEST_BODY", "DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED",
                            "MISSING_AUTHENTICATION_TOKEN", "INVALID_API_KEY"}
    for g in gateway.values():
        assert '"request_id": "$context.requestId"' in g["ResponseTemplates"]["application/json"]
    assert gateway["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"  # unknown route


def test_api_role_only_starts_this_state_machine(resources, template_json):
    statements = [s for p in resources(template_json, "AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if "states:StartSyncExecution" in json.dumps(s["Action"])]
    assert len(statements) == 1
    assert statements[0]["Resource"] == {"Ref": next(iter(resources(template_json, "AWS::StepFunctions::StateMachine")))}
