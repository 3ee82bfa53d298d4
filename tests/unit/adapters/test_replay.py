"""Tests for the record/replay model cache."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.local.replay import ReplayConflictError, ReplayModel, request_key
from pipeline.adapters.local.scripted_model import FailingModel, ScriptedModel
from pipeline.domain.models import Message, ModelParameters, ModelRequest
from pipeline.ports import ModelError


def _request(
    text="hello", temperature=0.7, system="sys", model_id="anthropic.claude-3-sonnet-20240229-v1:0"
):
    return ModelRequest(
        system,
        (Message("user", text),),
        ModelParameters(model_id=model_id, temperature=temperature),
    )


def test_key_is_stable_and_covers_every_input():
    base = request_key(_request())
    assert base == request_key(_request()) and len(base) == 64
    variants = [
        _request(text="other"),
        _request(temperature=0.2),
        _request(system="other"),
        _request(model_id="other-model"),
    ]
    assert len({base, *(request_key(r) for r in variants)}) == 5


def test_record_then_replay_without_inner(tmp_path):
    inner = ScriptedModel(["recorded answer"])
    recorder = ReplayModel(tmp_path, inner=inner, record=True)
    first = recorder.generate(_request())
    assert first.text == "recorded answer" and inner.calls == 1
    files = list(tmp_path.glob("*.json"))
    assert [f.name for f in files] == [f"{request_key(_request())}.json"]
    stored = json.loads(files[0].read_text())
    assert (
        stored["response"]["text"] == "recorded answer"
        and stored["request"]["messages"][0]["text"] == "hello"
    )

    replayer = ReplayModel(tmp_path)
    again = replayer.generate(_request())
    assert again.text == "recorded answer" and again.model_id == first.model_id
    assert replayer.hits == 1
    # Recording again replays; the inner model is not called a second time.
    recorder.generate(_request())
    assert inner.calls == 1


def test_miss_without_inner_names_the_key(tmp_path):
    with pytest.raises(ModelError) as info:
        ReplayModel(tmp_path).generate(_request())
    assert request_key(_request()) in str(info.value)
    assert info.value.transient is False


def test_passthrough_without_record_writes_nothing(tmp_path):
    model = ReplayModel(tmp_path, inner=ScriptedModel(["live"]))
    assert model.generate(_request()).text == "live"
    assert list(tmp_path.iterdir()) == []


def test_inner_errors_propagate_and_are_not_recorded(tmp_path):
    model = ReplayModel(tmp_path, inner=FailingModel(transient=True), record=True)
    with pytest.raises(ModelError) as info:
        model.generate(_request())
    assert info.value.transient
    assert list(tmp_path.glob("*.json")) == []


def test_never_overwrites_an_existing_entry_with_different_content(tmp_path):
    request = _request()
    ReplayModel(tmp_path, inner=ScriptedModel(["first"]), record=True).generate(request)
    path = tmp_path / f"{request_key(request)}.json"
    before = path.read_text()
    # Simulate a concurrent recorder that missed the read and now writes different content.
    racer = ReplayModel(tmp_path, inner=ScriptedModel(["second"]), record=True)
    racer._read = lambda key: None  # type: ignore[method-assign]
    with pytest.raises(ReplayConflictError):
        racer.generate(request)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left behind


def test_same_content_from_a_concurrent_recorder_is_accepted(tmp_path):
    request = _request()
    ReplayModel(tmp_path, inner=ScriptedModel(["same"]), record=True).generate(request)
    racer = ReplayModel(tmp_path, inner=ScriptedModel(["same"]), record=True)
    racer._read = lambda key: None  # type: ignore[method-assign]
    assert racer.generate(request).text == "same"


def test_corrupt_cassette_is_an_error(tmp_path):
    (tmp_path / f"{request_key(_request())}.json").write_text("{not json")
    with pytest.raises(ModelError, match="corrupt cassette"):
        ReplayModel(tmp_path).generate(_request())


def test_record_requires_inner(tmp_path):
    with pytest.raises(ValueError):
        ReplayModel(tmp_path, record=True)
