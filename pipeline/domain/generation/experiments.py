"""Deterministic, sticky A/B bucketing of sessions into prompt variants."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

# ---------------------------------------------------------------------------
# A/B assignment
# ---------------------------------------------------------------------------


def assign_variant(
    session_id: str,
    experiment: str,
    variants: Sequence[str],
    weights: Sequence[float] | None = None,
) -> str:
    """Deterministically assign a session to a variant of an experiment.

    The bucket is a sha256 of ``experiment`` and ``session_id``, so a session keeps its
    variant across turns and Lambda instances, and different experiments are independent.

    Args:
        session_id: The session to bucket.
        experiment: The experiment's name, e.g. ``"compute_prompt_v2"``.
        variants: The variant names, e.g. ``("v1", "v2")``.
        weights: Relative, non-negative weights (equal when omitted).

    Returns:
        One of ``variants``.

    Raises:
        ValueError: On no variants, mismatched or invalid weights.
    """
    if not variants:
        raise ValueError("assign_variant needs at least one variant")
    if weights is None:
        weights = [1.0] * len(variants)
    if len(weights) != len(variants) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be non-negative, one per variant, with a positive sum")
    digest = hashlib.sha256(f"{experiment}\x00{session_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(weights)
    cumulative = 0.0
    for variant, weight in zip(variants, weights, strict=True):
        cumulative += weight
        if point < cumulative:
            return variant
    return next(v for v, w in zip(reversed(variants), reversed(weights), strict=True) if w > 0)
