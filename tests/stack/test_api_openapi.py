"""The deployed API and api/openapi.yaml agree route by route and field by field: the
synthesized template's methods, auth, request models, response statuses and error codes
are compared with the document."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pipeline.domain.api_contract import ERROR_CODES
from stack.constructs import api as api_module

DOCUMENT = api_module.openapi_document()


def _routes(template_json: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(METHOD, "/path/{param}"): method properties}`` rebuilt from the resource tree."""
    resources = {k: r for k, r in template_json["Resources"].items()
                 if r["Type"] == "AWS::ApiGateway::Resource"}

    def path_of(ref: Any) -> str:
        if isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in resources:
            props = resources[ref["Ref"]]["Properties"]
            return path_of(props["ParentId"]) + "/" + props["PathPart"]
        return ""  # the API's root resource

    routes = {}
    for resource in template_json["Resources"].values():
        if resource["Type"] == "AWS::ApiGateway::Method":
            props = resource["Properties"]
            if props["HttpMethod"] != "OPTIONS":
                routes[(props["HttpMethod"], path_of(props["ResourceId"]))] = props
    return routes


def _models(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["Name"]: r["Properties"]["Schema"]
            for r in template_json["Resources"].values() if r["Type"] == "AWS::ApiGateway::Model"}


def _model_name(template_json: dict[str, Any], ref: Any) -> str:
    return template_json["Resources"][ref["Ref"]]["Properties"]["Name"]


def _documented() -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, methods in DOCUMENT["paths"].items()
            for method, op in methods.items()}


def test_the_same_routes(template_json: dict[str, Any]) -> None:
    assert set(_routes(template_json)) == set(_documented())


@pytest.mark.parametrize("route", sorted(_documented()), ids=lambda r: f"{r[0]} {r[1]}")
def test_each_route_agrees_with_the_document(template_json: dict[str, Any], route: tuple[str, str]) -> None:
    method, operation = _routes(template_json)[route], _documented()[route]
    models = _models(template_json)
    body = operation.get("requestBody")
    if body is not None:  # the request model is the document's schema, field by field
        schema_name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        model = _model_name(template_json, method["RequestModels"]["application/json"])
        assert model == schema_name
        stored = {k: v for k, v in models[model].items() if k not in ("$schema", "title")}
        assert stored == api_module.model_schema(schema_name, DOCUMENT)
        assert "RequestValidatorId" in method
    else:
        assert "RequestModels" not in method
    for parameter in operation.get("parameters", []):
        parameter = api_module._resolve(parameter, DOCUMENT)
        if parameter["in"] == "path":
            assert method["RequestParameters"][f"method.request.path.{parameter['name']}"] is True
    documented = set(operation["responses"])
    for response in method.get("MethodResponses", []):
        assert response["StatusCode"] in documented, response["StatusCode"]
        for content, ref in response.get("ResponseModels", {}).items():
            name = _model_name(template_json, ref)
            schema = operation["responses"][response["StatusCode"]]
            schema = api_module._resolve(schema, DOCUMENT)["content"][content]["schema"]
            assert {k: v for k, v in models[name].items() if k not in ("$schema", "title")} \
                == api_module.draft4(schema)
    secured = operation.get("security", DOCUMENT.get("security")) != []
    if route == ("GET", "/sessions/{session_id}"):
        assert method["AuthorizationType"] == "AWS_IAM"  # documented: IAM in AWS
    else:
        assert method.get("ApiKeyRequired", False) is secured


def test_every_error_code_the_stack_answers_is_in_the_document(template_json: dict[str, Any]) -> None:
    text = json.dumps(template_json)
    codes = set(re.findall(r'\\"code\\": \\"([A-Za-z_]+)\\"', text))
    assert codes and codes <= set(DOCUMENT["components"]["schemas"]["ErrorCode"]["enum"])
    assert set(DOCUMENT["components"]["schemas"]["ErrorCode"]["enum"]) == set(ERROR_CODES)
