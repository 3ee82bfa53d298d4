"""Dependencies point inward: the domain imports nothing from AWS SDKs or outer layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "pipeline" / "domain"
FORBIDDEN_IN_DOMAIN = (
    "boto3",
    "botocore",
    "aws_lambda_powertools",
    "pipeline.adapters",
    "pipeline.handlers",
    "pipeline.local",
    "evals",
    "stack",
)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            # A relative import that climbs out of the domain package is an outer layer.
            names.add("pipeline." + (node.module or ""))
    return names


def forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN_IN_DOMAIN)


@pytest.mark.parametrize("path", sorted(DOMAIN.rglob("*.py")), ids=lambda p: str(p.relative_to(DOMAIN)))
def test_domain_module_imports_nothing_from_outer_layers(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path) if forbidden(m))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: pipeline/domain must stay pure"


def test_the_import_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import json\n\ndef f():\n    import boto3\n    from pipeline.adapters.aws import x\n")
    assert {m for m in imported_modules(sample) if forbidden(m)} == {"boto3", "pipeline.adapters.aws"}


def test_importing_the_whole_domain_loads_no_aws_sdk() -> None:
    modules = [
        "pipeline.domain." + ".".join(p.relative_to(DOMAIN).with_suffix("").parts).removesuffix(".__init__")
        for p in DOMAIN.rglob("*.py")
    ]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = [m for m in ('boto3', 'botocore', 'aws_lambda_powertools', 'numpy', 'pandas', "
        "'jinja2', 'sklearn') if m in sys.modules]\nprint(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "", f"importing the domain loaded: {result.stdout.strip()}"


SERVER_ONLY = ("starlette", "uvicorn", "httpx", "yaml")


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (ROOT / "pipeline").rglob("*.py") if "local" not in p.relative_to(ROOT).parts),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_local_server_imports_server_libraries(path: Path) -> None:
    """pipeline/local is excluded from the Lambda asset; nothing the Lambdas ship may need these."""
    assert not [m for m in imported_modules(path) if m.split(".")[0] in SERVER_ONLY]
