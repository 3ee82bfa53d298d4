from __future__ import annotations

import json

import pytest

from stack import constants as c
from stack.config import DEFAULT_MODEL_ID, INFERENCE_PROFILE_REGIONS, StackConfig

RESERVED_ENV = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER", "LAMBDA_TASK_ROOT"}
#: Actions that have no resource-level permissions: "*" is the only valid resource.
STAR_ALLOWED = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "comprehend:DetectSentiment", "comprehend:DetectEntities",
                "comprehend:DetectKeyPhrases", "comprehend:DetectDominantLanguage",
                "comprehend:DetectPiiEntities",
                "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"}
DATA_PREFIXES = ("dynamodb:", "s3:", "bedrock:", "lambda:", "states:", "sns:", "kms:")


def _project_functions(resources, template_json):
    return {k: r["Properties"] for k, r in resources(template_json, "AWS::Lambda::Function").items()
            if r["Properties"].get("Handler", "").startswith("pipeline.")}


def test_one_function_per_handler(resources, template_json):
    handlers = {p["Handler"] for p in _project_functions(resources, template_json).values()}
    assert handlers == {c.handler_path(h) for h in c.ALL_HANDLERS}


def test_runtime_sizing_tracing_layer_and_env(resources, template_json):
    for props in _project_functions(resources, template_json).values():
        name = props["Handler"].split(".")[2]
        memory, timeout = c.SIZING.get(name, c.DEFAULT_SIZING)
        if name in c.WORKFLOW_HANDLERS:  # derived from the latency budget
            timeout = StackConfig().workflow_task_timeout_seconds
        elif name == "query_api":  # waits for the execution it starts
            timeout = StackConfig().query_api_timeout_seconds
        assert props["Runtime"] == "python3.12"
        assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)
        assert props["TracingConfig"] == {"Mode": "Active"}
        layer = json.dumps(props["Layers"])
        assert "017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64" in layer
        assert '{"Ref": "AWS::Partition"}' in layer, "the layer ARN must follow the partition"
        assert "arn:aws:" not in layer
        env = props["Environment"]["Variables"]
        assert not RESERVED_ENV & set(env), "reserved Lambda variables must not be set"
        for key in ("CONVERSATIONS_TABLE", "FEEDBACK_TABLE", "PROMPTS_TABLE", "PROMPT_BUCKET",
                    "MODEL_BACKEND", "NLP_BACKEND", "MODEL_ID", "QUALITY_THRESHOLD",
                    "MAX_REGENERATIONS", "HISTORY_TURNS", "CONVERSATION_TTL_DAYS",
                    "STORE_BACKEND", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
            assert key in env, key
        assert env["MODEL_BACKEND"] == "bedrock" and env["STORE_BACKEND"] == "dynamodb"
        assert "LoggingConfig" in props and "LogGroup" in props["LoggingConfig"]


def test_code_asset_contains_pipeline_only(synth, resources, template_json):
    manifest = json.loads((synth.outdir / f"{synth.stack_name}.assets.json").read_text())
    fn = next(iter(_project_functions(resources, template_json).values()))
    key = fn["Code"]["S3Key"].removesuffix(".zip")
    folder = synth.outdir / manifest["files"][key]["source"]["path"]
    top = {p.name for p in folder.iterdir()}
    assert top == {"pipeline"}
    assert (folder / "pipeline" / "handlers" / "capture_query.py").exists()
    assert not list(folder.rglob("__pycache__"))
    assert not (folder / "pipeline" / "local").exists()


def test_log_groups_have_retention(resources, template_json):
    groups = resources(template_json, "AWS::Logs::LogGroup")
    assert groups and all(g["Properties"].get("RetentionInDays") for g in groups.values())


def _statements(resources, template_json):
    for logical, policy in resources(template_json, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            res = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            yield logical, actions, res


def test_no_star_resource_for_data_actions(resources, template_json):
    offenders = []
    for logical, actions, res in _statements(resources, template_json):
        if "*" in res:
            bad = [a for a in actions if a not in STAR_ALLOWED and a.startswith(DATA_PREFIXES)]
            bad += [a for a in actions if a not in STAR_ALLOWED and not a.startswith(DATA_PREFIXES)
                    and not logical.startswith(("AWS679f53fac", "CustomCDKBucketDeployment"))]
            if bad:
                offenders.append((logical, bad))
    assert not offenders, offenders


def test_bedrock_only_for_generate_and_only_the_model(resources, template_json):
    found = []
    for logical, actions, res in _statements(resources, template_json):
        if any(a.startswith("bedrock:") for a in actions):
            found.append(logical)
            assert actions == ["bedrock:InvokeModel"]
            text = json.dumps(res)
            # the default: a cross-Region inference profile -> the profile and the model in
            # every destination Region (Bedrock's prerequisites for inference profiles)
            assert f"inference-profile/{DEFAULT_MODEL_ID}" in text
            for region in INFERENCE_PROFILE_REGIONS["us"]:
                assert f"bedrock:{region}::foundation-model/{DEFAULT_MODEL_ID[3:]}" in text, region
    assert len(found) == 1 and found[0].startswith("FunctionsGenerateResponseFunctionRole")


def _resolved(arns: list[str]) -> list[str]:
    from aws_cdk import Stack

    stack = Stack()
    return [stack.resolve(a) if not isinstance(stack.resolve(a), str) else a for a in arns]


@pytest.mark.parametrize(
    ("model_id", "profile", "foundation_regions"),
    [
        (DEFAULT_MODEL_ID, True, INFERENCE_PROFILE_REGIONS["us"]),
        ("jp.anthropic.claude-sonnet-4-6", True, INFERENCE_PROFILE_REGIONS["jp"]),  # dateless id
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", True, INFERENCE_PROFILE_REGIONS["us"]),
        ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", True, INFERENCE_PROFILE_REGIONS["eu"]),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", True, ("*", "")),
        ("anthropic.claude-3-sonnet-20240229-v1:0", False, ()),  # the seed's model, still an option
    ],
)
def test_bedrock_grant_covers_both_kinds_of_model_id(model_id, profile, foundation_regions):
    from stack.config import StackConfig
    from stack.support_stack import bedrock_model_arns

    config = StackConfig(model_id=model_id)
    text = json.dumps(_resolved(bedrock_model_arns(config)))
    base = model_id.split(".", 1)[1] if profile else model_id
    assert (f"inference-profile/{model_id}" in text) is profile
    for region in foundation_regions:
        assert f"bedrock:{region}::foundation-model/{base}" in text, region
    if not profile:
        assert f"::foundation-model/{model_id}" in text and "AWS::Region" in text


def test_each_function_reaches_only_its_tables(resources, template_json):
    from stack.support_stack import TABLE_GRANTS

    for handler, grants in TABLE_GRANTS.items():
        access = {grant.table for grant in grants}
        prefix = f"Functions{c.function_id(handler)}Role"
        text = json.dumps([r for logical, a, r in _statements(resources, template_json)
                           if logical.startswith(prefix)])
        for table, construct in (("conversations", c.CONVERSATIONS_TABLE_ID),
                                 ("prompts", c.PROMPTS_TABLE_ID), ("feedback", c.FEEDBACK_TABLE_ID)):
            assert (f"Tables{construct}" in text) == (table in access), (handler, table)


def test_no_managed_policies_on_project_roles(resources, template_json):
    for logical, role in resources(template_json, "AWS::IAM::Role").items():
        if logical.startswith("Functions"):
            assert not role["Properties"].get("ManagedPolicyArns"), logical
