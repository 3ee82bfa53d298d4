"""Prefix-filtered similarity join: exactly the pairs that comparing every pair finds."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evals.similarity import jaccard, similar_pairs


def every_pair(sets: list[frozenset[str]], threshold: float) -> list[tuple[int, int, float]]:
    return [(i, j, jaccard(a, b)) for (i, a), (j, b) in combinations(enumerate(sets), 2)
            if a and b and jaccard(a, b) >= threshold]


# Small alphabets and many near-identical sets, so that pairs at and around the threshold occur.
token_sets = st.lists(st.frozensets(st.sampled_from("abcdefghijkl"), max_size=12), max_size=40)


@settings(max_examples=300, deadline=None)
@given(token_sets, st.sampled_from([0.5, 0.75, 0.8, 0.9, 0.95, 1.0]))
def test_the_same_pairs_as_comparing_every_pair(sets: list[frozenset[str]], threshold: float) -> None:
    assert similar_pairs(sets, threshold) == every_pair(sets, threshold)


def test_finds_a_pair_exactly_at_the_threshold() -> None:
    a = frozenset(f"t{i}" for i in range(10))
    b = a - {"t0"}  # 9 / 10 = 0.9
    c = frozenset({"x", "y", "z"})
    assert similar_pairs([a, c, b], 0.9) == [(0, 2, 0.9)]
    assert similar_pairs([a, c, b], 0.91) == []


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5])
def test_a_threshold_outside_0_1_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold must be in"):
        similar_pairs([frozenset("ab")], threshold)
