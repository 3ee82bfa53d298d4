"""``python -m pipeline prompts publish|list|promote|rollback``: the prompt registry CLI.

Two registries, one set of commands:

* ``--store files`` (default): ``pipeline/prompts/`` (or ``--prompts-dir``). Commit the
  result; the stack deploys the versions and experiments (S3 + the Prompts table).
* ``--store aws --table PROMPTS_TABLE --bucket PROMPT_BUCKET``: the deployed registry,
  live (Lambdas pick a change up within ``EXPERIMENT_REFRESH_SECONDS``). The table and
  bucket default to ``PROMPTS_TABLE`` / ``PROMPT_BUCKET`` from the environment.

Commands:

* ``publish FILE [--weight W]``: validate the template (a bad one is refused with the file,
  the problem and the fix; nothing is written) and store it as a new, immutable version.
  Publishing never moves traffic by itself: when the template already serves, its current
  version is pinned first (an experiment with that version as the control at 100 %), then
  the version is stored (S3 body, then a conditional index put; a failed put deletes the
  body and the pin it added), then it joins the experiment with weight ``W`` (default 0).
* ``list [--json]``: templates, versions, experiments and traffic shares.
* ``promote TEMPLATE VERSION [--weight W]``: ``W`` % of the template's sessions to
  ``VERSION`` (a canary; the other variants share the rest in their current proportions);
  ``W`` = 100 (the default) decides the experiment: ``VERSION`` becomes the control.
* ``rollback TEMPLATE [--to VERSION]``: all traffic back to the control (or ``VERSION``).

Every experiment write is conditional on the revision that was read, so two operators
cannot overwrite each other's change. Exit status: 0 done, 1 refused (invalid template or
experiment, version exists, concurrent change), 2 bad arguments or configuration.

Example:
    $ python -m pipeline prompts publish pipeline/prompts/networking/v3.json --weight 10
    $ python -m pipeline prompts promote networking v3 --weight 50
    $ python -m pipeline prompts rollback networking
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pipeline.domain.experiments import (
    PRIMARY_METRICS,
    Experiment,
    ExperimentError,
    parse_experiment,
)
from pipeline.domain.generation import (
    PromptTemplateError,
    TemplateNotFoundError,
    natural_version_key,
    parse_template,
)
from pipeline.domain.models import PromptTemplate
from pipeline.domain.workflow.errors import RecordExistsError
from pipeline.ports import PromptRegistry

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"


class RegistryError(Exception):
    """A command was refused; the message says what, where, and how to fix it."""


class RegistryConfigError(RegistryError):
    """The registry cannot be opened with these arguments (exit 2, not a refusal)."""


@dataclass(frozen=True, slots=True)
class Published:
    template: PromptTemplate
    experiment: Experiment | None


def _experiment_of(registry: PromptRegistry, template_id: str) -> Experiment | None:
    return next((e for e in registry.list_experiments() if e.template_id == template_id), None)


def _versions(registry: PromptRegistry, template_id: str) -> list[str]:
    return sorted(
        (t.version for t in registry.list_templates() if t.template_id == template_id),
        key=natural_version_key,
    )


def _with_share(experiment: Experiment, version: str, percent: float) -> Experiment:
    """``version`` gets ``percent`` % of traffic; the others keep their proportions."""
    if not 0 <= percent <= 100:
        raise RegistryError(f"--weight {percent} is out of range. Fix: give a percentage from 0 to 100.")
    others = {v: w for v, w in experiment.weights if v != version}
    total = sum(others.values())
    rest = 100.0 - percent
    if total > 0:
        scaled = {v: rest * w / total for v, w in others.items()}
    elif experiment.control != version:
        scaled = {v: (rest if v == experiment.control else 0.0) for v in others}
    else:
        scaled = dict.fromkeys(others, 0.0)
    if percent < 100 and sum(scaled.values()) == 0:
        raise RegistryError(
            f"{experiment.template_id}: no other version could take the remaining {rest:g} %. "
            "Fix: promote with --weight 100, or give another version a weight first."
        )
    return experiment.with_weights({**scaled, version: percent})


def publish(
    registry: PromptRegistry, body: bytes, *, origin: str, weight: float = 0.0,
    experiment_id: str | None = None, hypothesis: str = "", now: datetime | None = None,
    already_stored: bool = False, primary_metric: str = "csat", min_samples: int | None = None,
) -> Published:
    """Validate and publish one template version without moving traffic unless ``weight``.

    ``already_stored``: the body is the registry's own file (a version written in place in
    ``pipeline/prompts/``): it is validated and joins the experiment, nothing is copied.

    Raises:
        RegistryError: invalid template or weight (nothing written), or version exists.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{origin}: not valid JSON ({exc}). Fix: correct the JSON syntax.") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{origin}: a template must be a JSON object. Fix: wrap the fields in {{...}}.")
    try:
        template = parse_template(data, origin=origin)
    except PromptTemplateError as exc:
        raise RegistryError(str(exc)) from exc
    if not 0 <= weight <= 100:
        raise RegistryError(f"--weight {weight} is out of range. Fix: give a percentage from 0 to 100.")
    tid = template.template_id
    existing = [v for v in _versions(registry, tid) if not (already_stored and v == template.version)]
    if template.version in existing:
        raise RegistryError(
            f"{origin}: {tid}/{template.version} is already published and versions are immutable. "
            "Fix: give the changed template a new version (e.g. the next vN) and publish that."
        )
    experiment = _experiment_of(registry, tid)
    pinned: Experiment | None = None
    if experiment is None and existing:
        started = (now or datetime.now(UTC)).isoformat()
        control = existing[-1]  # what serves today: the latest version
        draft = Experiment(
            experiment_id=experiment_id or f"{tid.replace('_', '-')}-{template.version}",
            template_id=tid, control=control, weights=((control, 100.0),),
            hypothesis=hypothesis, started_at=started, primary_metric=primary_metric,
            **({"min_samples_per_variant": min_samples} if min_samples else {}),
        )
        draft = parse_experiment(draft.to_dict(), origin=f"{origin} (experiment)")  # validates the options
        pinned = experiment = registry.put_experiment(draft, expected_revision=None)
    try:
        if not already_stored:
            registry.publish(body)
    except Exception as exc:
        if pinned is not None:  # leave the registry as it was
            registry.delete_experiment(tid, expected_revision=pinned.revision)
        if isinstance(exc, RecordExistsError | PromptTemplateError):
            raise RegistryError(f"{origin}: {exc}") from exc
        raise
    if experiment is not None and template.version in experiment.variants:
        return Published(template, experiment)  # already registered: nothing to change
    if experiment is None:  # a new template: nothing served before, nothing to pin
        return Published(template, None)
    grown = replace(experiment, weights=(*experiment.weights, (template.version, 0.0)))
    if hypothesis and not grown.hypothesis:
        grown = replace(grown, hypothesis=hypothesis)
    updated = _with_share(grown, template.version, weight) if weight > 0 else grown
    stored = registry.put_experiment(updated, expected_revision=experiment.revision)
    return Published(template, stored)


def promote(registry: PromptRegistry, template_id: str, version: str, *, weight: float = 100.0) -> Experiment:
    """Give ``version`` ``weight`` % of the template's traffic (100: it becomes the control)."""
    experiment = _require_experiment(registry, template_id)
    if version not in _versions(registry, template_id):
        raise RegistryError(
            f"{template_id} has no version {version} (have {', '.join(_versions(registry, template_id))}). "
            "Fix: publish it first (python -m pipeline prompts publish FILE)."
        )
    if version not in experiment.variants:
        experiment = replace(experiment, weights=(*experiment.weights, (version, 0.0)))
    try:
        changed = experiment.promoted(version) if weight >= 100 else _with_share(experiment, version, weight)
    except ExperimentError as exc:
        raise RegistryError(str(exc)) from exc
    return registry.put_experiment(changed, expected_revision=experiment.revision)


def rollback(registry: PromptRegistry, template_id: str, *, to: str | None = None) -> Experiment:
    """All of the template's traffic back to its control (or to ``to``)."""
    experiment = _require_experiment(registry, template_id)
    target = to or experiment.control
    if target not in experiment.variants:
        raise RegistryError(
            f"{template_id}: {target} is not a variant of experiment {experiment.experiment_id} "
            f"({', '.join(experiment.variants)}). Fix: roll back to one of those."
        )
    return registry.put_experiment(experiment.promoted(target), expected_revision=experiment.revision)


def _require_experiment(registry: PromptRegistry, template_id: str) -> Experiment:
    experiment = _experiment_of(registry, template_id)
    if experiment is None:
        if not _versions(registry, template_id):
            raise RegistryError(f"no template {template_id!r}. Fix: check the id with `prompts list`.")
        raise RegistryError(
            f"{template_id} has no experiment: its latest version serves every session. "
            "Fix: publish a new version first (prompts publish FILE --weight N)."
        )
    return experiment


def listing(registry: PromptRegistry) -> dict[str, Any]:
    """Templates, versions and experiments (``list --json``)."""
    experiments = {e.template_id: e for e in registry.list_experiments()}
    templates: dict[str, Any] = {}
    for template in registry.list_templates():
        templates.setdefault(template.template_id, []).append(template.version)
    result = {}
    for tid, versions in sorted(templates.items()):
        experiment = experiments.get(tid)
        result[tid] = {
            "versions": versions,
            "serving": {v: round(experiment.share(v), 4) for v in experiment.variants} if experiment
            else {versions[-1]: 1.0},
            "experiment": experiment.to_dict() if experiment else None,
        }
    return result


def _print_listing(data: dict[str, Any], out: IO[str]) -> None:
    for tid, entry in data.items():
        shares = ", ".join(f"{v} {s:.0%}" for v, s in entry["serving"].items())
        experiment = entry["experiment"]
        label = f"experiment {experiment['experiment_id']} (control {experiment['control']}, " \
                f"revision {experiment['revision']})" if experiment else "latest serves"
        out.write(f"{tid:<26} versions {','.join(entry['versions']):<10} serving {shares:<22} {label}\n")


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def open_registry(args: argparse.Namespace) -> PromptRegistry:
    """The registry the arguments name (boto3 only for ``--store aws``)."""
    if args.store == "files":
        from pipeline.adapters.local.prompt_files import FilePromptRegistry

        return FilePromptRegistry(args.prompts_dir or PROMPTS_DIR)
    table = args.table or os.environ.get("PROMPTS_TABLE")
    bucket = args.bucket or os.environ.get("PROMPT_BUCKET")
    if not table or not bucket:
        raise RegistryConfigError(
            "--store aws needs the Prompts table and the prompt bucket. Fix: pass --table and "
            "--bucket (the stack outputs PromptBucketName) or set PROMPTS_TABLE and PROMPT_BUCKET."
        )
    import boto3

    from pipeline.adapters.aws.dynamodb import DynamoS3PromptStore

    options = {k: v for k, v in (("region_name", args.region), ("endpoint_url", args.endpoint_url)) if v}
    return DynamoS3PromptStore(
        boto3.resource("dynamodb", **options).Table(table), boto3.client("s3", **options), bucket
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline prompts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("files", "aws"), default="files")
    parser.add_argument("--prompts-dir", help="files store root (default: pipeline/prompts)")
    parser.add_argument("--table", help="aws store: the Prompts table (default: $PROMPTS_TABLE)")
    parser.add_argument("--bucket", help="aws store: the prompt bucket (default: $PROMPT_BUCKET)")
    parser.add_argument("--region")
    parser.add_argument("--endpoint-url", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    pub = commands.add_parser("publish", help="validate and publish a template version")
    pub.add_argument("file", type=Path)
    pub.add_argument("--weight", type=float, default=0.0, help="percent of traffic for it (default 0)")
    pub.add_argument("--experiment-id", help="id of the experiment it starts (default: <template>-<version>)")
    pub.add_argument("--hypothesis", default="", help="what the new version is expected to improve")
    pub.add_argument("--primary-metric", choices=PRIMARY_METRICS, default="csat",
                     help="what decides the experiment it starts (default csat)")
    pub.add_argument("--min-samples", type=int, help="judged interactions per variant before a verdict (default 200)")
    lst = commands.add_parser("list", help="templates, versions, experiments and traffic")
    lst.add_argument("--json", action="store_true")
    pro = commands.add_parser("promote", help="move traffic to a version (100: it becomes the control)")
    pro.add_argument("template_id")
    pro.add_argument("version")
    pro.add_argument("--weight", type=float, default=100.0)
    rol = commands.add_parser("rollback", help="all traffic back to the control")
    rol.add_argument("template_id")
    rol.add_argument("--to", help="a variant other than the control")
    return parser


def main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """Entry point of ``python -m pipeline prompts``; returns the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = _parser().parse_args(list(argv) if argv is not None else None)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    try:
        registry = open_registry(args)
        if args.command == "publish":
            try:
                body = args.file.read_bytes()
            except OSError as exc:
                raise RegistryError(f"{args.file}: cannot read ({exc.strerror}). Fix: check the path.") from None
            directory = getattr(registry, "directory", None)
            in_place = directory is not None and args.file.resolve().parent.parent == Path(directory).resolve()
            done = publish(registry, body, origin=str(args.file), weight=args.weight,
                           experiment_id=args.experiment_id, hypothesis=args.hypothesis,
                           already_stored=in_place and args.file.exists(),
                           primary_metric=args.primary_metric, min_samples=args.min_samples)
            ref = f"{done.template.template_id}/{done.template.version}"
            share = f"{done.experiment.share(done.template.version):.0%}" if done.experiment else "100% (new template)"
            out.write(f"published {ref}; serving {share} of its sessions\n")
        elif args.command == "list":
            data = listing(registry)
            if args.json:
                out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
            else:
                _print_listing(data, out)
        elif args.command == "promote":
            experiment = promote(registry, args.template_id, args.version, weight=args.weight)
            out.write(f"{args.template_id}: {args.version} now serves {experiment.share(args.version):.0%} "
                      f"(control {experiment.control}, revision {experiment.revision})\n")
        else:
            experiment = rollback(registry, args.template_id, to=args.to)
            out.write(f"{args.template_id}: rolled back; {experiment.control} serves 100% "
                      f"(revision {experiment.revision})\n")
    except (RegistryError, ExperimentError, TemplateNotFoundError) as exc:
        err.write(f"prompts {args.command}: {exc}\n")
        return EXIT_USAGE if isinstance(exc, RegistryConfigError) else EXIT_REFUSED
    except RecordExistsError as exc:
        err.write(f"prompts {args.command}: {exc}\n")
        return EXIT_REFUSED
    return EXIT_OK
