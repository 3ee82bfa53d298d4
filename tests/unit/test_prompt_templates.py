"""Every committed prompt template loads, validates and covers the intents and modes."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.local.prompt_files import PROMPTS_DIR, FilePromptStore
from pipeline.domain.generation import MODE_TEMPLATE_IDS, parse_template, select_template
from pipeline.domain.models import INTENTS

FILES = sorted(PROMPTS_DIR.glob("*/*.json"))


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_template_file_validates(path):
    template = parse_template(json.loads(path.read_text()), origin=str(path))
    assert (template.template_id, template.version) == (path.parent.name, path.stem)
    assert template.description
    # Templates name the family their prompts are written for; the model id is one
    # deployment setting (stack context model_id -> MODEL_ID), never hard-coded here.
    assert template.parameters.model_family == "anthropic.claude"
    assert template.parameters.model_id == ""
    assert any(d.startswith("mode:") for d in template.format_instructions)


def test_every_intent_has_exactly_one_answer_template_family():
    templates = FilePromptStore().list_templates()
    answer_templates = [t for t in templates if t.template_id not in MODE_TEMPLATE_IDS.values()]
    for intent in INTENTS:
        families = {t.template_id for t in answer_templates if intent in t.intents}
        assert len(families) == 1, (intent, families)


def test_mode_templates_exist():
    templates = FilePromptStore().list_templates()
    for mode, template_id in MODE_TEMPLATE_IDS.items():
        assert select_template("general_support", templates, mode).template_id == template_id
    assert (
        "mode:static"
        in select_template("general_support", templates, "fallback").format_instructions
    )


def test_some_template_has_a_v2_with_a_different_format():
    store = FilePromptStore()
    with_v2 = {t.template_id for t in store.list_templates() if t.version == "v2"}
    assert with_v2
    for template_id in with_v2:
        v1, v2 = store.get(template_id, "v1"), store.get(template_id, "v2")
        assert set(v1.format_instructions) != set(v2.format_instructions)
