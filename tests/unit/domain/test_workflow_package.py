"""The workflow package: its public names, and which of its modules an import loads."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline.domain.workflow as workflow

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "pipeline" / "domain" / "workflow"
#: Public in their module because several of the package's modules use them; not part of
#: the package's interface.
SHARED_INSIDE_THE_PACKAGE = {"require_dict", "optional_dict", "nonnegative_int", "earlier_turns"}


def defined_names(path: Path) -> set[str]:
    """The public names a module defines itself (classes, functions, assignments)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("name", workflow.__all__)
def test_each_public_name_is_the_object_its_module_defines(name: str) -> None:
    module_name = workflow._MODULE_OF[name]
    module = importlib.import_module(f"pipeline.domain.workflow.{module_name}")
    assert name in defined_names(PACKAGE / f"{module_name}.py")
    assert getattr(workflow, name) is getattr(module, name)


def test_every_public_name_of_the_modules_is_exported_or_shared_inside() -> None:
    defined = set().union(*(defined_names(p) for p in PACKAGE.glob("*.py") if p.name != "__init__.py"))
    assert defined - SHARED_INSIDE_THE_PACKAGE == set(workflow.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    assert not hasattr(workflow, "QueryCaptur")
    with pytest.raises(ImportError):
        exec("from pipeline.domain.workflow import require_dict", {})


def test_importing_one_module_does_not_load_the_steps() -> None:
    """What the capture handler imports (the state records) loads no step module."""
    code = (
        "import sys\n"
        "import pipeline.domain.workflow.state\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('pipeline.domain.workflow'))))\n"
        "from pipeline.domain.workflow import QueryCapture\n"
        "print('pipeline.domain.workflow.capture_step' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    loaded, capture_step_loaded = result.stdout.split("\n")[:2]
    assert loaded.split() == [
        "pipeline.domain.workflow",
        "pipeline.domain.workflow.errors",
        "pipeline.domain.workflow.state",
    ]
    assert capture_step_loaded == "True"
