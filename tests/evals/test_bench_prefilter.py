"""The prefilter benchmark measures the groups the pipeline builds, each text once."""

from __future__ import annotations

import math
import re

import pytest

from evals.benchmarks import prefilter
from pipeline.domain.prefilter import RE2_AVAILABLE, PatternGroup


def test_finds_the_pipelines_groups_including_the_ungated_escalation_triggers() -> None:
    names = {name: group for name, group in prefilter.groups()}
    assert "intent.core._GROUP" in names and "intent.escalation._GROUP" in names
    assert names["intent.escalation._GROUP"].use_re2 is False  # see the comment where it is built
    assert all(group.patterns for group in names.values())


@pytest.mark.skipif(not RE2_AVAILABLE, reason="google-re2 not installed")
def test_measure_times_a_cold_set_of_the_same_members_and_the_python_searches() -> None:
    group = PatternGroup(use_re2=False)
    group.gate_all([re.compile(r"\brefund\b"), re.compile(r"\bspeak to (?:a|an) (?:human|agent)\b")])
    set_us, python_us = prefilter.measure(group, ["warm text"], ["i want a refund", "hello", "speak to a human"])
    assert set_us > 0 and python_us > 0 and not math.isnan(set_us)
    assert group._set is None  # the group measured is not changed: the probe is a copy


def test_run_reports_a_ratio_per_group_with_a_target_only_where_re2_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefilter, "WARM_TEXTS", 5)
    monkeypatch.setattr(prefilter, "MEASURED_TEXTS", 20)
    rows = prefilter.run()
    assert len(rows) == len(prefilter.groups())
    for row in rows:
        assert row.unit == "x" and row.value >= 0
        gated = "gated by RE2" in row.detail
        assert (row.meets_target is not None) == (gated and RE2_AVAILABLE)
