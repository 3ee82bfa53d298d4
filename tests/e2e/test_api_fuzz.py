"""Schemathesis against the local ASGI app, from ``api/openapi.yaml``.

Every operation of the document gets generated requests (schema-valid and -invalid ones);
each response must be documented for its operation, conform to its schema and never be a
5xx. The app is the one ``python -m pipeline serve`` runs, with the synthesized workflow on
the local engine behind it. Bounded: ``MAX_EXAMPLES`` per operation.

Not checked here: the API key (``x-api-key``). API Gateway's usage plan enforces it in AWS;
the local server, like ``sam local``, serves loopback without one, so schemathesis'
``ignored_auth`` check would only restate that.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from pipeline.local import server as server_module  # noqa: E402
from pipeline.local.api_runtime import LocalApi  # noqa: E402
from pipeline.local.workflow import LocalWorkflow  # noqa: E402

pytestmark = pytest.mark.xdist_group("api_fuzz")

MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def api_schema(stack_template: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    key_file = Path(tmp_path_factory.mktemp("fuzz")) / "session.key"
    with LocalApi(workflow=LocalWorkflow(stack_template), key_file=key_file) as opened:
        # schemathesis runs the app's lifespan around every call: each run gets the one
        # LocalApi opened here (one moto world for the whole module).
        app = server_module.create_app(lambda: _AlreadyOpen(opened))
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


class _AlreadyOpen:
    def __init__(self, api: LocalApi) -> None:
        self.api = api

    def __enter__(self) -> LocalApi:
        return self.api

    def __exit__(self, *exc: object) -> None:
        return None


def _operations() -> list[tuple[str, str]]:
    document = server_module.openapi_document()
    return [(method.upper(), path) for path, methods in document["paths"].items()
            for method in methods if method in {"get", "post", "put", "patch", "delete"}]


# schemathesis' own pytest plugin (``schema.parametrize``) reads a private pytest attribute
# that pytest 9 removed; the operation strategies and checks are its public API.
@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda value: str(value))
def test_every_response_is_documented_and_never_a_server_error(api_schema: Any, method: str, path: str) -> None:
    from hypothesis import given
    from schemathesis.checks import CHECKS

    excluded = [check for check in CHECKS.get_all() if check.__name__ == "ignored_auth"]
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def check(case: Any) -> None:
        case.call_and_validate(excluded_checks=excluded)

    check()
