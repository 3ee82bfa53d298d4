"""Topic rules: credential requests and questions about unreleased features.

Both families are pure data (``catalogue/credential_request.toml`` and
``catalogue/future_features.toml``): phrase patterns in several languages run by the
engine's default regex detector, with a whole-text ``exempt`` pattern for announced
deprecations and the customer's own cases, and *frames* (:mod:`.frames`: an act, an object
and whose it is, as per-language lexicons in ``catalogue/frames/``).
"""

from __future__ import annotations

from pipeline.domain.guardrails.engine import Detector
from pipeline.domain.guardrails.frames import frame_detector

DETECTORS: dict[str, Detector] = {"topics.frame": frame_detector}
