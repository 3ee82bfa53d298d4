"""Tests for the file-backed PromptStore."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.local.prompt_files import PROMPTS_DIR, FilePromptStore
from pipeline.domain.generation import PromptTemplateError, TemplateNotFoundError

TEMPLATE = {
    "template_id": "general",
    "version": "v1",
    "intents": ["general_support"],
    "system_prompt": "sys",
    "user_template": "{query}",
    "parameters": {},
}


def _write(root, template_id, version, **changes):
    data = {**TEMPLATE, "template_id": template_id, "version": version, **changes}
    path = root / template_id / f"{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_latest_is_highest_natural_version(tmp_path):
    for version in ("v2", "v10", "v9"):
        _write(tmp_path, "general", version)
    store = FilePromptStore(tmp_path)
    assert store.get("general").version == "v10"
    assert store.get("general", "v2").version == "v2"
    assert [t.version for t in store.list_templates()] == ["v2", "v9", "v10"]


def test_missing_template_or_version(tmp_path):
    _write(tmp_path, "general", "v1")
    store = FilePromptStore(tmp_path)
    with pytest.raises(TemplateNotFoundError):
        store.get("general", "v3")
    with pytest.raises(TemplateNotFoundError):
        store.get("billing")


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "general" / "v1.json"
    path.parent.mkdir()
    path.write_text("{oops")
    with pytest.raises(PromptTemplateError, match="general/v1.json.*not valid JSON"):
        FilePromptStore(tmp_path).list_templates()


def test_invalid_template_names_the_file(tmp_path):
    _write(tmp_path, "general", "v1", user_template="{query} {nope}")
    with pytest.raises(PromptTemplateError, match=r"general/v1.json.*\{nope\}"):
        FilePromptStore(tmp_path).get("general")


def test_file_name_must_match_declared_id_and_version(tmp_path):
    path = _write(tmp_path, "general", "v1")
    path.rename(tmp_path / "general" / "v2.json")
    with pytest.raises(
        PromptTemplateError, match="declares general/v1 but is stored as general/v2"
    ):
        FilePromptStore(tmp_path).list_templates()


def test_missing_directory(tmp_path):
    with pytest.raises(PromptTemplateError, match="does not exist"):
        FilePromptStore(tmp_path / "nothing").list_templates()


def test_default_directory_is_the_repository_prompts():
    store = FilePromptStore()
    assert store.directory == PROMPTS_DIR
    assert store.get("fallback").template_id == "fallback"
