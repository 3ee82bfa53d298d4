"""The native-wheel layer: the pip command, the local bundler and the synthesized asset.

What cannot be checked offline: that the manylinux2014 wheel loads inside the real Lambda
python3.12 image (it needs libstdc++ from the image); the asset test only checks that the
extension module built for CPython 3.12 on x86_64 Linux is what gets shipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_lambda as lambda_

from stack.constructs.functions import RUNTIME
from stack.constructs.native_layer import (
    PLATFORM,
    PipPlatformBundling,
    native_requirements,
    pip_arguments,
    python_version,
)


def test_the_layer_pins_what_pyproject_pins() -> None:
    (requirement,) = native_requirements()
    assert requirement.startswith("google-re2")


def test_pip_fetches_wheels_for_the_lambda_runtime_and_platform(tmp_path: Path) -> None:
    args = pip_arguments(tmp_path / "python", RUNTIME, ["google-re2>=1.1,<2"])
    assert args[0] == "install"
    assert args[args.index("--platform") + 1] == PLATFORM == "manylinux2014_x86_64"
    assert "--only-binary=:all:" in args
    assert args[args.index("--python-version") + 1] == python_version(RUNTIME) == "3.12"
    assert args[args.index("--target") + 1] == str(tmp_path / "python")
    assert args[-1] == "google-re2>=1.1,<2"


def test_python_version_follows_the_runtime() -> None:
    assert python_version(lambda_.Runtime.PYTHON_3_13) == "3.13"
    with pytest.raises(ValueError, match="not a Python runtime"):
        python_version(lambda_.Runtime.NODEJS_20_X)


def test_the_bundler_installs_once_into_its_cache_and_copies(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake_pip(command: Sequence[str]) -> None:
        calls.append(list(command))
        target = Path(command[command.index("--target") + 1])
        target.mkdir(parents=True)
        (target / "re2.py").write_text("# stand-in\n")

    bundler = PipPlatformBundling(RUNTIME, ["google-re2>=1.1,<2"], cache_root=tmp_path / "cache", run=fake_pip)
    first, second = tmp_path / "out1", tmp_path / "out2"
    assert bundler.try_bundle(str(first)) is True
    assert bundler.try_bundle(str(second)) is True
    assert len(calls) == 1, "the second synth must reuse the cache, not the registry"
    assert "--only-binary=:all:" in calls[0]
    assert (first / "python" / "re2.py").is_file() and (second / "python" / "re2.py").is_file()


def test_a_failed_install_names_the_way_out(tmp_path: Path) -> None:
    def failing_pip(command: Sequence[str]) -> None:
        raise OSError("registry unreachable")

    bundler = PipPlatformBundling(RUNTIME, ["google-re2"], cache_root=tmp_path, run=failing_pip)
    with pytest.raises(RuntimeError, match="bundling-stacks"):
        bundler.try_bundle(str(tmp_path / "out"))
    assert not any(tmp_path.glob("*/python")), "nothing half-built may be cached"


def _layer_id(template_json: dict[str, Any]) -> str:
    (layer,) = [k for k, v in template_json["Resources"].items()
                if v["Type"] == "AWS::Lambda::LayerVersion" and "NativeWheels" in k]
    return layer


def test_every_pipeline_function_gets_the_layer(template_json: dict[str, Any]) -> None:
    layer = _layer_id(template_json)
    props = template_json["Resources"][layer]["Properties"]
    assert props["CompatibleRuntimes"] == [RUNTIME.name]
    assert props["CompatibleArchitectures"] == ["x86_64"]
    handlers = [v["Properties"] for v in template_json["Resources"].values()
                if v["Type"] == "AWS::Lambda::Function" and str(v["Properties"].get("Handler", "")).startswith("pipeline.")]
    assert handlers
    for fn in handlers:
        assert {"Ref": layer} in fn["Layers"]
        assert fn["Runtime"] == RUNTIME.name


def test_the_layer_asset_holds_the_cpython_312_x86_64_extension(synth: Any, template_json: dict[str, Any]) -> None:
    layer = _layer_id(template_json)
    outdir = Path(synth.outdir)
    assets = json.loads(next(outdir.glob("*.assets.json")).read_text())
    s3_key = template_json["Resources"][layer]["Properties"]["Content"]["S3Key"]
    asset_hash = s3_key.split(".")[0]
    folder = outdir / assets["files"][asset_hash]["source"]["path"]
    modules = sorted(p.name for p in (folder / "python").iterdir())
    assert "re2.py" in modules
    assert "_re2.cpython-312-x86_64-linux-gnu.so" in modules
