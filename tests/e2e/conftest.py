"""End-to-end: the synthesized workflow on moto with the real handlers.

The template comes from ``cdk.out/`` (synthesized once, under a lock, only when stack/,
cdk.json or the prompts changed); every test gets a fresh moto world.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # an editable install made before stack/ existed
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def stack_template() -> Any:
    from pipeline.local.workflow import load_template

    template, _ = load_template()
    return template


@pytest.fixture
def make_workflow(stack_template: Any) -> Iterator[Callable[..., Any]]:
    """``make_workflow(model=..., faults=...)`` -> an entered LocalWorkflow."""
    from pipeline.local.workflow import LocalWorkflow

    opened: list[Any] = []

    def make(**kwargs: Any) -> Any:
        workflow = LocalWorkflow(stack_template, **kwargs)
        workflow.__enter__()
        opened.append(workflow)
        return workflow

    yield make
    for workflow in reversed(opened):
        workflow.__exit__(None, None, None)


@pytest.fixture
def workflow(make_workflow: Callable[..., Any]) -> Any:
    return make_workflow()
