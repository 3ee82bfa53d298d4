"""A Lambda layer with the native wheels the pipeline uses (google-re2), built without Docker.

CDK's *local* bundling runs :class:`PipPlatformBundling` at synth time:
``pip install --platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.12
--implementation cp --target <layer>/python <requirement>`` fetches the wheel built for
Lambda's platform whatever machine synthesizes, so no Docker image is ever pulled (the
``image`` CDK requires is never used: local bundling reports success).

The wheels are installed once per machine into a cache keyed by the command
(``$XDG_CACHE_HOME/support-assistant/lambda-layers/<key>``) and copied from there, so
only the first synth needs the package registry. Stacks left out of CDK's
``aws:cdk:bundling-stacks`` context are not bundled at all (CDK skips the bundler).

The requirement is read from ``pyproject.toml``, so the layer and the tests pin the same
range. Without the layer the pipeline still runs: the guardrails fall back to their
pure-Python anchor pass (identical verdicts, slower).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stack import constants as c

#: The distributions the layer carries (matched by name in pyproject's dependencies).
NATIVE_DISTRIBUTIONS = ("google-re2",)
PLATFORM = "manylinux2014_x86_64"
_SOURCE_DIR = Path(__file__).resolve().parent / "native_layer_source"

Runner = Callable[[Sequence[str]], None]


def native_requirements(pyproject: Path | None = None) -> list[str]:
    """The pyproject requirement strings of :data:`NATIVE_DISTRIBUTIONS`."""
    data = tomllib.loads((pyproject or c.REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = data["project"]["dependencies"]
    found = [r for r in requirements for name in NATIVE_DISTRIBUTIONS
             if re.match(rf"{re.escape(name)}\s*(?:[<>=!~\[;]|$)", r)]
    if len(found) != len(NATIVE_DISTRIBUTIONS):
        raise ValueError(f"pyproject.toml must list {NATIVE_DISTRIBUTIONS}, found {found}")
    return found


def python_version(runtime: lambda_.Runtime) -> str:
    """``"3.12"`` for ``Runtime.PYTHON_3_12`` (the layer's wheels follow the runtime)."""
    match = re.fullmatch(r"python(\d+\.\d+)", runtime.name)
    if not match:
        raise ValueError(f"not a Python runtime: {runtime.name}")
    return match.group(1)


def pip_executable() -> list[str]:
    """How to run pip: this interpreter's, else the first ``pip3``/``pip`` on PATH."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        path = shutil.which(name)
        if path:
            return [path]
    raise RuntimeError("building the native Lambda layer needs pip (python -m pip or pip3 on PATH)")


def pip_arguments(target: Path, runtime: lambda_.Runtime, requirements: Sequence[str]) -> list[str]:
    """The ``pip install`` arguments that fetch Lambda-platform wheels into ``target``."""
    return [
        "install", "--quiet", "--no-compile", "--disable-pip-version-check",
        "--platform", PLATFORM, "--only-binary=:all:", "--implementation", "cp",
        "--python-version", python_version(runtime),
        "--target", str(target), *requirements,
    ]


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "support-assistant" / "lambda-layers"


def _run(command: Sequence[str]) -> None:
    subprocess.run(list(command), check=True, stdout=subprocess.DEVNULL)


@jsii.implements(ILocalBundling)
class PipPlatformBundling:
    """Local bundling: the layer's ``python/`` folder from Lambda-platform wheels."""

    def __init__(self, runtime: lambda_.Runtime, requirements: Sequence[str],
                 cache_root: Path | None = None, run: Runner | None = None) -> None:
        self.runtime = runtime
        self.requirements = list(requirements)
        self.cache_root = cache_root or _cache_root()
        self.run = run or _run

    def cache_dir(self) -> Path:
        key = hashlib.sha256("\n".join(pip_arguments(Path("."), self.runtime, self.requirements)).encode())
        return self.cache_root / key.hexdigest()[:16]

    def try_bundle(self, output_dir: str, *_options: object, **_kwargs: object) -> bool:
        cached = self.cache_dir()
        if not (cached / "python").is_dir():
            staging = cached.with_name(cached.name + f".tmp{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            try:
                self.run([*pip_executable(), *pip_arguments(staging / "python", self.runtime, self.requirements)])
            except (OSError, subprocess.CalledProcessError) as exc:
                raise RuntimeError(
                    f"could not build the native Lambda layer ({' '.join(self.requirements)}): {exc}. "
                    "It needs the package registry once per machine; to synthesize without it, "
                    "pass -c aws:cdk:bundling-stacks=[] (the layer is then not built)"
                ) from exc
            if cached.exists():  # another process finished first
                shutil.rmtree(staging)
            else:
                staging.rename(cached)
        shutil.copytree(cached / "python", Path(output_dir) / "python", dirs_exist_ok=True)
        return True


def native_layer(scope: Construct, construct_id: str, runtime: lambda_.Runtime) -> lambda_.LayerVersion:
    """The layer, for ``runtime`` on x86_64 (the functions' architecture)."""
    requirements = native_requirements()
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=lambda_.Code.from_asset(
            str(_SOURCE_DIR),
            # The asset changes exactly when the command does (requirements, runtime).
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=hashlib.sha256(" ".join(pip_arguments(Path("."), runtime, requirements)).encode()).hexdigest(),
            bundling=BundlingOptions(
                image=DockerImage.from_registry("local-bundling-only"),
                local=PipPlatformBundling(runtime, requirements),
            ),
        ),
        compatible_runtimes=[runtime],
        compatible_architectures=[lambda_.Architecture.X86_64],
        description=f"native wheels for {runtime.name} on {PLATFORM}: {', '.join(requirements)}",
    )
