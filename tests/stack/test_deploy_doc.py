"""The defaults a newcomer reads are the defaults the stack synthesizes.

docs/deploy.md lists the context values with their defaults in parentheses, and
stack/config.py's docstring has the table; both are written by hand. The deploy doc said
``quality_threshold`` (0.7) after the stack moved to 0.75: this test reads both against
:class:`stack.config.StackConfig`.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from stack import config as config_module
from stack.config import StackConfig
from stack.constants import REPO_ROOT

DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"
#: Fields that are not context settings a deployer passes.
NOT_CONTEXT = {"service_name"}


def _rendered(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _defaults() -> dict[str, str]:
    defaults = StackConfig()
    return {f.name: _rendered(getattr(defaults, f.name)) for f in fields(StackConfig)
            if f.name not in NOT_CONTEXT}


def _context_paragraph() -> str:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    start = text.index("Context values (")
    return text[start:text.index("\n\n", start)]


def test_deploy_doc_names_every_context_value_with_its_default():
    paragraph = _context_paragraph()
    documented = {key: quoted or plain for key, quoted, plain in
                  re.findall(r"`(\w+)`(?: \((?:`([^`]+)`|([^`)]+))\))?", paragraph)}
    defaults = _defaults()
    assert set(defaults) <= set(documented), f"not in docs/deploy.md: {set(defaults) - set(documented)}"
    for key, value in documented.items():
        if value:  # a default is given: it must be the one the stack uses
            assert value == defaults[key], f"docs/deploy.md says {key} ({value}), the stack uses {defaults[key]}"


def test_config_table_defaults_are_the_dataclass_defaults():
    rows = re.findall(r"^\| ``(\w+)`` \| ``([^`]+)`` \|", config_module.__doc__ or "", flags=re.M)
    assert rows, "stack/config.py's docstring has no table of defaults"
    defaults = _defaults()
    for key, value in rows:
        assert value == defaults[key], f"stack/config.py's table says {key}={value}, the default is {defaults[key]}"
