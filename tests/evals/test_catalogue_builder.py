"""The catalogue builders' shared command line: --stdout prints, otherwise the file is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.catalogue_builder import catalogue_main


def test_stdout_prints_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "catalogue.json"
    assert catalogue_main(["--stdout"], doc="Build it.\n\nMore.", output=output, render=lambda: "{}\n") == 0
    assert capsys.readouterr().out == "{}\n"
    assert not output.exists()


def test_without_stdout_the_file_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "catalogue.json"
    assert catalogue_main([], doc=None, output=output, render=lambda: '{"a": 1}\n') == 0
    assert output.read_text(encoding="utf-8") == '{"a": 1}\n'
    assert f"wrote {output}" in capsys.readouterr().out
