"""PromptStore over versioned JSON files: ``{directory}/{template_id}/{version}.json``.

Example:
    >>> store = FilePromptStore()                       # the repository's pipeline/prompts
    >>> store.get("compute_troubleshooting").version    # latest by natural sort
    'v2'
    >>> store.get("compute_troubleshooting", "v1").version
    'v1'
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.domain.generation import (
    PromptTemplateError,
    TemplateNotFoundError,
    natural_version_key,
    parse_template,
)
from pipeline.domain.models import PromptTemplate

#: The templates committed with the code (and deployed to the prompt bucket).
PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


class FilePromptStore:
    """Reads and validates every template once, on first use.

    Args:
        directory: The root folder; defaults to :data:`PROMPTS_DIR`.

    Raises:
        PromptTemplateError: (on first use) if a file is not valid JSON, fails validation,
            or its ``template_id``/``version`` do not match its folder/file name.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self._directory = Path(directory) if directory is not None else PROMPTS_DIR
        self._templates: dict[tuple[str, str], PromptTemplate] | None = None

    @property
    def directory(self) -> Path:
        return self._directory

    def _load(self) -> dict[tuple[str, str], PromptTemplate]:
        if self._templates is not None:
            return self._templates
        if not self._directory.is_dir():
            raise PromptTemplateError(
                f"{self._directory}: prompt directory does not exist. Fix: point FilePromptStore at pipeline/prompts."
            )
        templates: dict[tuple[str, str], PromptTemplate] = {}
        for path in sorted(self._directory.glob("*/*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise PromptTemplateError(
                    f"{path}: not valid JSON ({exc}). Fix: correct the JSON syntax."
                ) from exc
            template = parse_template(data, origin=str(path))
            if (template.template_id, template.version) != (path.parent.name, path.stem):
                raise PromptTemplateError(
                    f"{path}: declares {template.template_id}/{template.version} but is stored as "
                    f"{path.parent.name}/{path.stem}. Fix: rename the file or correct template_id/version."
                )
            templates[(template.template_id, template.version)] = template
        self._templates = templates
        return templates

    def get(self, template_id: str, version: str | None = None) -> PromptTemplate:
        """The given version of a template, or its latest (natural sort) when ``version`` is None.

        Raises:
            TemplateNotFoundError: If the template or version does not exist.
        """
        templates = self._load()
        if version is not None:
            try:
                return templates[(template_id, version)]
            except KeyError:
                raise TemplateNotFoundError(
                    f"no prompt template {template_id}/{version} in {self._directory}"
                ) from None
        versions = [v for (tid, v) in templates if tid == template_id]
        if not versions:
            raise TemplateNotFoundError(f"no prompt template {template_id!r} in {self._directory}")
        return templates[(template_id, max(versions, key=natural_version_key))]

    def list_templates(self) -> list[PromptTemplate]:
        """Every version of every template, sorted by id then version."""
        templates = self._load()
        return [
            templates[key]
            for key in sorted(templates, key=lambda k: (k[0], natural_version_key(k[1])))
        ]
