"""``cdk deploy`` starts: the app command of cdk.json, run the way the CDK CLI runs it.

The CLI runs ``cdk.json``'s ``app`` through a shell with ``CDK_OUTDIR`` (and the context
in ``CDK_CONTEXT_JSON``) and then reads the cloud assembly the app wrote. Importing
``stack.app`` (what the other stack tests do) never executes its ``__main__`` block, which
is how a NameError there went unnoticed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stack import constants as c

CDK_JSON = c.REPO_ROOT / "cdk.json"
DEPLOY_DOC = c.REPO_ROOT / "docs" / "deploy.md"


def _env(outdir: Path, context: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # `python` in the app command must be this interpreter (the project's environment).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CDK_OUTDIR"] = str(outdir)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    if context is not None:
        env["CDK_CONTEXT_JSON"] = json.dumps(context)
    return env


def _check_assembly(outdir: Path, stage: str) -> dict:
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    name = c.stack_name(stage)
    artifact = manifest["artifacts"][name]
    assert artifact["type"] == "aws:cloudformation:stack"
    template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text(encoding="utf-8"))
    assert template["Resources"], "the stack template has no resources"
    errors = [
        entry
        for entries in artifact.get("metadata", {}).values()
        for entry in entries
        if entry.get("type") == "aws:cdk:error"
    ]
    assert not errors, errors
    return template


@pytest.mark.slow
def test_the_app_command_of_cdk_json_writes_a_cloud_assembly(tmp_path):
    app_command = json.loads(CDK_JSON.read_text(encoding="utf-8"))["app"]
    proc = subprocess.run(
        app_command, shell=True, cwd=c.REPO_ROOT, env=_env(tmp_path, {"stage": "dev"}),
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_assembly(tmp_path, "dev")


def _documented_commands(prefix: str) -> list[str]:
    """Every command starting with ``prefix`` in docs/deploy.md's code blocks."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
    return [
        line.split("#", 1)[0].strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip().startswith(prefix)
    ]


def _documented_cdk_commands() -> list[str]:
    """Every ``npx aws-cdk@…`` command in docs/deploy.md's code blocks."""
    return _documented_commands("npx aws-cdk@")


@pytest.mark.slow
def test_the_documented_offline_checks_say_ok(tmp_path):
    """docs/deploy.md's first deploy step (synth + cfn-lint + cdk-nag, offline) as written,
    with only the output folder moved; it must end with OK."""
    commands = _documented_commands("python -m stack.checks")
    assert commands, "docs/deploy.md shows no python -m stack.checks command"
    for command in commands:
        args = command.split()[1:]  # without "python": this interpreter runs it
        proc = subprocess.run(
            [sys.executable, *args, "--outdir", str(tmp_path)], cwd=c.REPO_ROOT,
            env=_env(tmp_path), capture_output=True, text=True, timeout=600, check=False,
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        assert proc.stdout.strip().splitlines()[-1] == "OK", proc.stdout[-2000:]


def test_deploy_doc_pins_the_cdk_cli_version():
    commands = _documented_cdk_commands()
    assert commands, "docs/deploy.md shows no npx aws-cdk@<version> command"
    for command in commands:
        assert command.startswith(f"npx aws-cdk@{c.CDK_CLI_VERSION} "), command


def _cached_cli() -> bool:
    if shutil.which("npx") is None:
        return False
    proc = subprocess.run(
        ["npx", "--offline", f"aws-cdk@{c.CDK_CLI_VERSION}", "--version"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    return proc.returncode == 0 and c.CDK_CLI_VERSION in proc.stdout


@pytest.mark.slow
def test_the_documented_cdk_synth_runs_offline(tmp_path):
    """docs/deploy.md's `cdk synth` through the pinned CLI (skipped when npm has no cached copy:
    run `npx aws-cdk@<version> --version` once with network)."""
    synths = [cmd for cmd in _documented_cdk_commands() if " synth" in cmd]
    assert synths, "docs/deploy.md shows no cdk synth command"
    if not _cached_cli():
        pytest.skip(f"aws-cdk@{c.CDK_CLI_VERSION} is not in the npm cache")
    for command in synths:
        args = command.split()[1:]  # without "npx"
        proc = subprocess.run(
            ["npx", "--offline", *args, "--no-notices", "-o", str(tmp_path)],
            cwd=c.REPO_ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        stage = re.search(r"-c stage=(\S+)", command)
        _check_assembly(tmp_path, stage.group(1) if stage else "dev")


def test_the_first_synth_says_so_before_it_starts(tmp_path, monkeypatch, capsys):
    """A first `nox -s eval` or `ask` synthesizes the stack (10-60 s of Node and jsii): it
    says so on stderr first instead of looking hung."""
    import stack.app as app

    def fake_synthesize(outdir, context=None, *, nag=True):
        assert "synthesizing the CDK stack" in capsys.readouterr().err, "announced before, not after"
        template = Path(outdir) / f"{c.stack_name('dev')}.template.json"
        template.write_text('{"Resources": {}}', encoding="utf-8")
        return app.SynthResult(Path(outdir), c.stack_name("dev"), template, 12.0, [], [])

    monkeypatch.setattr(app, "synthesize", fake_synthesize)
    _, _, synthesized_now = app.cached_template(tmp_path)
    assert synthesized_now
    assert "synthesized in 12 s" in capsys.readouterr().err
