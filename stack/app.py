"""CDK entry point: ``python -m stack.app`` (what ``cdk.json`` runs).

:func:`build_app` is the one way to build the app: the CDK CLI, ``stack.checks``, the
snapshot, the tests and ``pipeline.local`` all call it, so they synthesize the same thing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import aws_cdk as cdk  # noqa: E402

from stack import constants as c  # noqa: E402
from stack.config import StackConfig  # noqa: E402
from stack.support_stack import SupportStack  # noqa: E402


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | Path | None = None,
    nag: bool = True,
) -> tuple[cdk.App, SupportStack]:
    """Build the app (not yet synthesized).

    ``context`` overrides cdk.json's ``context``; under the CDK CLI, ``-c key=value`` wins
    over both (CLI context has precedence over the App's ``context`` property).
    """
    kwargs: dict[str, Any] = {"context": _context_lookup(context)}
    if outdir is not None:
        kwargs["outdir"] = str(outdir)
    app = cdk.App(**kwargs)
    config = StackConfig.from_context(app.node.try_get_context)
    stack = SupportStack(
        app,
        c.stack_name(config.stage),
        config=config,
        description="AI customer-support assistant for AWS (support-assistant)",
    )
    cdk.Tags.of(stack).add("app", c.APP_NAME)
    cdk.Tags.of(stack).add("stage", config.stage)
    if nag:
        from stack.nag import apply_nag

        apply_nag(app, stack)
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()



@dataclass(frozen=True, slots=True)
class SynthResult:
    """What one synthesis produced: where, how long, and the findings it reported."""

    outdir: Path
    stack_name: str
    template_path: Path
    seconds: float
    nag_errors: list[str]
    nag_warnings: list[str]

    def template(self) -> dict[str, Any]:
        return json.loads(self.template_path.read_text(encoding="utf-8"))


def synthesize(
    outdir: str | Path = c.DEFAULT_OUTDIR,
    context: Mapping[str, Any] | None = None,
    *,
    nag: bool = True,
) -> SynthResult:
    """Synthesize into ``outdir`` and collect cdk-nag findings (annotations)."""
    start = time.perf_counter()
    app, stack = build_app(context, outdir=outdir, nag=nag)
    assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    errors, warnings = [], []
    for message in artifact.messages:
        text = f"{message.id}: {message.entry.data}"
        level = str(getattr(message.level, "value", message.level)).lower()
        if level == "error":
            errors.append(text)
        elif level == "warning":
            warnings.append(text)
    seconds = time.perf_counter() - start
    fingerprint_path(Path(outdir), stack.stack_name).write_text(
        json.dumps({"fingerprint": source_fingerprint(context), "seconds": seconds}), encoding="utf-8"
    )
    return SynthResult(
        outdir=Path(outdir),
        stack_name=stack.stack_name,
        template_path=Path(outdir) / artifact.template_file,
        seconds=seconds,
        nag_errors=errors,
        nag_warnings=warnings,
    )


def fingerprint_path(outdir: Path, name: str) -> Path:
    return outdir / f".{name}.fingerprint.json"


def source_fingerprint(context: Mapping[str, Any] | None = None) -> str:
    """A hash of what the local workflow needs from the template: the stack code,
    cdk.json, the prompt templates (deployed as an asset and indexed), plus ``context``.

    The Lambda code itself is left out on purpose: the local runner imports the handlers
    from the checkout, so editing a handler must not force a 5-second re-synth.
    """
    digest = hashlib.sha256(json.dumps(dict(context or {}), sort_keys=True, default=str).encode())
    files = [c.REPO_ROOT / "cdk.json"]
    for root in (c.REPO_ROOT / "stack", c.PROMPTS_DIR):
        files += [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix != ".pyc"]
    for path in sorted(files):
        if path.exists():
            digest.update(str(path.relative_to(c.REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_template(
    outdir: str | Path = c.DEFAULT_OUTDIR,
    context: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], str, bool]:
    """The synthesized template, synthesizing only when missing or stale.

    Returns ``(template, stack_name, synthesized_now)``.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    # One synth at a time per outdir (parallel test workers, several `ask` calls).
    with open(outdir / ".synth.lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        return _cached_template_locked(outdir, context)


def _cached_template_locked(
    outdir: Path, context: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str, bool]:
    config = StackConfig.from_context(_context_lookup(context))
    name = c.stack_name(config.stage)
    template_path = outdir / f"{name}.template.json"
    marker = fingerprint_path(outdir, name)
    if template_path.exists() and marker.exists():
        try:
            recorded = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            recorded = None
        if recorded == source_fingerprint(context):
            return json.loads(template_path.read_text(encoding="utf-8")), name, False
    # nag=True: the same template whoever synthesizes into the shared cdk.out.
    # Said on stderr: the first synth starts Node and jsii (10-60 s) and would look hung.
    import sys

    print(
        f"synthesizing the CDK stack into {outdir} (first run, or stack/ or the prompts "
        "changed; about 10-60 s) ...",
        file=sys.stderr, flush=True,
    )
    result = synthesize(outdir, context, nag=True)
    print(f"synthesized in {result.seconds:.0f} s", file=sys.stderr, flush=True)
    return result.template(), result.stack_name, True


def _context_lookup(context: Mapping[str, Any] | None) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    cdk_json = c.REPO_ROOT / "cdk.json"
    if cdk_json.exists():
        merged.update(json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {}))
    merged.update(context or {})
    return merged


if __name__ == "__main__":
    main()
