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
import os
import tomllib
from dataclasses import replace
from pathlib import Path

from pipeline.domain.experiments import (
    EXPERIMENT_FILE,
    Experiment,
    ExperimentError,
    check_versions_exist,
    parse_experiment,
)
from pipeline.domain.generation import (
    PromptTemplateError,
    TemplateNotFoundError,
    natural_version_key,
    parse_template,
    parse_template_body,
)
from pipeline.domain.models import PromptTemplate
from pipeline.domain.workflow.errors import RecordExistsError

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

    def list_experiments(self) -> list[Experiment]:
        """Every ``{template_id}/experiment.toml``, validated against the template's versions.

        Raises:
            ExperimentError: a file is not valid TOML, fails validation, names a template
                other than its folder, or weights a version that does not exist.
        """
        experiments = []
        for path in sorted(self._directory.glob(f"*/{EXPERIMENT_FILE}")):
            experiment = read_experiment_file(path)
            check_versions_exist(experiment, self.list_templates(), origin=str(path))
            experiments.append(experiment)
        return experiments


def read_experiment_file(path: Path) -> Experiment:
    """Parse and validate one ``experiment.toml`` (its folder must be its template id)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ExperimentError(f"{path}: not valid TOML ({exc}). Fix: correct the TOML syntax.") from exc
    data.setdefault("template_id", path.parent.name)
    experiment = parse_experiment(data, origin=str(path))
    if experiment.template_id != path.parent.name:
        raise ExperimentError(
            f"{path}: declares template {experiment.template_id} but is stored under "
            f"{path.parent.name}/. Fix: move the file or correct template_id."
        )
    return experiment


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


class FilePromptRegistry(FilePromptStore):
    """The prompt registry over the repository's files (commit them; the stack deploys them)."""

    def publish(self, body: bytes) -> PromptTemplate:
        """Validate ``body`` and write it as ``{template_id}/{version}.json``.

        Raises:
            PromptTemplateError: the body is not a valid template.
            RecordExistsError: that version exists already (versions are immutable).
        """
        template = parse_template_body(body, origin="publish")
        folder = self._directory / template.template_id
        path = folder / f"{template.version}.json"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("xb") as handle:  # exclusive create: never overwrite a version
                handle.write(body)
        except FileExistsError:
            raise RecordExistsError(
                f"{path} exists: versions are immutable. Fix: publish it as a new version."
            ) from None
        self._templates = None
        return template

    def put_experiment(self, experiment: Experiment, *, expected_revision: int | None) -> Experiment:
        """Write ``{template_id}/experiment.toml`` if its revision is still ``expected_revision``."""
        check_versions_exist(experiment, self.list_templates(), origin=f"experiment {experiment.experiment_id}")
        path = self._directory / experiment.template_id / EXPERIMENT_FILE
        current = read_experiment_file(path).revision if path.exists() else None
        if current != expected_revision:
            raise RecordExistsError(
                f"{path} is at revision {current}, not {expected_revision}: someone changed it. "
                "Fix: run the command again on the current experiment."
            )
        stored = replace(experiment, revision=(expected_revision or 0) + 1)
        _write_atomically(path, stored.to_toml())
        return stored

    def delete_experiment(self, template_id: str, *, expected_revision: int) -> None:
        """Remove ``{template_id}/experiment.toml`` if it is still at ``expected_revision``."""
        path = self._directory / template_id / EXPERIMENT_FILE
        current = read_experiment_file(path).revision if path.exists() else None
        if current != expected_revision:
            raise RecordExistsError(
                f"{path} is at revision {current}, not {expected_revision}: someone changed it. "
                "Fix: run the command again."
            )
        path.unlink()
