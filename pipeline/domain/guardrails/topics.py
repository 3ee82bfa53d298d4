"""Topic rules: credential requests and questions about unreleased features.

Both families are pure data (``catalogue/credential_request.toml`` and
``catalogue/future_features.toml``): phrase patterns in several languages run by the
engine's default regex detector, with a whole-text ``exempt`` pattern for announced
deprecations and the customer's own cases. Nothing here needs code.
"""

from __future__ import annotations

from pipeline.domain.guardrails.engine import Detector

DETECTORS: dict[str, Detector] = {}
