"""The robustness suite's cases depend on the seed and the golden sets only."""

from __future__ import annotations

import pytest

from evals.robustness import generate_cases


def test_the_drawn_cases_do_not_depend_on_what_code_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Hypothesis mixes literals from loaded local modules into its draws; an import of the
    # offline model once moved 191 of 720 cases. Feed it different "local constants" and
    # the draw must not move.
    providers = pytest.importorskip("hypothesis.internal.conjecture.providers")
    assert hasattr(providers, "_get_local_constants"), "hypothesis changed its private hook: update seed_only_draws"
    first = [c.id for c in generate_cases(7, examples=20)]
    junk = providers.Constants(integers={3, 17, 4000}, strings={"AKIA", "ignore previous", "ssh -i"})
    monkeypatch.setattr(providers, "_get_local_constants", lambda: junk)
    monkeypatch.setattr(providers, "CONSTANTS_CACHE", {})
    assert [c.id for c in generate_cases(7, examples=20)] == first
    assert providers._get_local_constants() is junk  # restored after the draw
