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


def test_the_api_is_regional(resources, template_json):
    """docs/deploy.md's option for long answers, raising the 29 s integration timeout with a
    Service Quotas request, exists for Regional and private REST APIs only (not edge-optimized)."""
    (api,) = resources(template_json, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]


def test_query_is_the_query_api_lambda_behind_the_body_validator(resources, template_json):
    """POST /query runs the same QueryApi as the local server (session tokens, per-session
    limit, Idempotency-Key) in the query_api Lambda; API Gateway validates the body first."""
    m = _method(resources, template_json, "POST", c.function_id("query_api"))
    assert m["Integration"]["Type"] == "AWS_PROXY"
    assert m["ApiKeyRequired"] is True and "RequestValidatorId" in m
    assert {r["StatusCode"] for r in m["MethodResponses"]} == {
        "200", "400", "403", "404", "409", "413", "415", "429", "500", "503", "504"}
    # No integration starts the state machine directly any more.
    assert "StartSyncExecution" not in json.dumps(_methods(resources, template_json))


def _function(resources, template_json, handler):
    (fn,) = [f["Properties"] for f in resources(template_json, "AWS::Lambda::Function").values()
             if f["Properties"].get("Handler") == c.handler_path(handler)]
    return fn


def test_query_api_function_environment_and_timeout(resources, template_json):
    from stack.config import API_INTEGRATION_TIMEOUT_SECONDS, StackConfig

    config = StackConfig()
    fn = _function(resources, template_json, "query_api")
    env = fn["Environment"]["Variables"]
    (machine,) = resources(template_json, "AWS::StepFunctions::StateMachine")
    (secret,) = resources(template_json, "AWS::SecretsManager::Secret")
    assert env["STATE_MACHINE_ARN"] == {"Ref": machine}
    assert env["SESSION_KEY_SECRET_ARN"] == {"Ref": secret}
    tables = {k for k in resources(template_json, "AWS::DynamoDB::Table")}
    assert env["IDEMPOTENCY_TABLE"]["Ref"] in tables and env["SESSION_THROTTLE_TABLE"]["Ref"] in tables
    assert env["SESSION_THROTTLE_LIMIT"] == str(config.session_requests_per_minute)
    assert int(env["IDEMPOTENCY_LEASE_SECONDS"]) > fn["Timeout"]  # a live claim is never taken over
    # It outlives the execution it waits for; API Gateway ends the request at 29 s anyway.
    assert fn["Timeout"] > config.state_machine_timeout_seconds
    assert config.state_machine_timeout_seconds < API_INTEGRATION_TIMEOUT_SECONDS
    for handler in c.API_HANDLERS:  # proxy integrations send their own CORS header
        assert _function(resources, template_json, handler)["Environment"]["Variables"][
            "CORS_ALLOW_ORIGIN"] == config.cors_origins[0]
    feedback_env = _function(resources, template_json, "feedback_api")["Environment"]["Variables"]
    assert feedback_env["SESSION_KEY_SECRET_ARN"] == {"Ref": secret}
    for handler in set(c.ALL_HANDLERS) - set(c.SESSION_KEY_READERS):
        env = _function(resources, template_json, handler)["Environment"]["Variables"]
        assert "SESSION_KEY_SECRET_ARN" not in env, handler


def test_session_key_secret_is_generated_never_in_the_template(resources, template_json, prod_template):
    (secret,) = resources(template_json, "AWS::SecretsManager::Secret").values()
    props = secret["Properties"]
    assert "SecretString" not in props
    generated = props["GenerateSecretString"]
    assert generated["PasswordLength"] >= 64 and generated["ExcludePunctuation"] is True
    assert secret["DeletionPolicy"] == "Delete"
    (prod_secret,) = resources(prod_template, "AWS::SecretsManager::Secret").values()
    assert prod_secret["DeletionPolicy"] == "Retain"


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
    for verb, needle in (("POST", "QueryApiFunction"), ("POST", "FeedbackApiFunction")):
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


def _role_statements(resources, template_json, handler):
    fn = _function(resources, template_json, handler)
    role = fn["Role"]["Fn::GetAtt"][0]
    return [s for p in resources(template_json, "AWS::IAM::Policy").values()
            if {"Ref": role} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_only_query_api_starts_this_state_machine(resources, template_json):
    statements = [s for p in resources(template_json, "AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if "states:StartSyncExecution" in json.dumps(s["Action"])]
    assert len(statements) == 1
    machine = next(iter(resources(template_json, "AWS::StepFunctions::StateMachine")))
    assert statements[0]["Resource"] == {"Ref": machine}
    assert statements[0] in _role_statements(resources, template_json, "query_api")
    assert not resources(template_json, "AWS::IAM::Role").keys() & {"ApiStartSyncExecutionRole"}


def test_query_api_least_privilege(resources, template_json):
    """GetSecretValue on the one secret, the idempotency and throttle tables' item calls,
    a Query of Conversations (403 vs 404), StartSyncExecution: nothing else."""
    (secret,) = resources(template_json, "AWS::SecretsManager::Secret")
    granted = {}
    for statement in _role_statements(resources, template_json, "query_api"):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            if not action.startswith(("logs:", "xray:")):
                granted.setdefault(action, []).append(statement["Resource"])
    assert set(granted) == {"secretsmanager:GetSecretValue", "states:StartSyncExecution",
                            "dynamodb:Query", "dynamodb:PutItem", "dynamodb:GetItem",
                            "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert granted["secretsmanager:GetSecretValue"] == [{"Ref": secret}]
    secret_readers = {h for h in c.ALL_HANDLERS
                      if any("secretsmanager" in json.dumps(s["Action"])
                             for s in _role_statements(resources, template_json, h))}
    assert secret_readers == set(c.SESSION_KEY_READERS)
