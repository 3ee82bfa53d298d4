"""Synthesize the stack ONCE per test session (~5-8 s) and share the results."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # an editable install made before stack/ existed
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from stack.app import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk.out"), nag=True)


@pytest.fixture(scope="session")
def prod_synth(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A second synth for the prod stage (~5-8 s), on an account that already has the API
    Gateway CloudWatch role: what a prod deploy next to dev really produces."""
    from stack.app import synthesize

    result = synthesize(
        tmp_path_factory.mktemp("cdk.out.prod"),
        {"stage": "prod", "api_cloudwatch_role": "false"},
        nag=True,
    )
    assert result.nag_errors == [], result.nag_errors
    return result


@pytest.fixture(scope="session")
def prod_template(prod_synth: Any) -> dict[str, Any]:
    return prod_synth.template()


@pytest.fixture(scope="session")
def template_json(synth: Any) -> dict[str, Any]:
    return synth.template()


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(template_json)


@pytest.fixture(scope="session")
def stack_template(synth: Any, template_json: dict[str, Any]) -> Any:
    from pipeline.local.workflow import StackTemplate

    return StackTemplate(template_json, stack_name=synth.stack_name, outdir=synth.outdir)


@pytest.fixture(scope="session")
def definition(stack_template: Any) -> dict[str, Any]:
    """The state machine's ASL with function ARNs resolved."""
    return stack_template.state_machine()[1]


def _resources(template_json: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template_json["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="session")
def resources() -> Any:
    """``resources(template_json, "AWS::S3::Bucket")`` -> {logical id: resource}."""
    return _resources


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
