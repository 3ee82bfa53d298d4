"""Which failed answers are unusable (replaced by the fallback reply) and which are still
delivered: pipeline/domain/quality/usable.py."""

from __future__ import annotations

import pytest

from pipeline.domain.models import QualityCheckResult, QualityReport
from pipeline.domain.quality.usable import UNUSABLE_REASONS, unusable_reasons

GOOD = "Open the S3 console, check the bucket policy and the IAM role's s3:GetObject permission."


def report(passed: bool = False, **scores: float) -> QualityReport:
    checks = tuple(QualityCheckResult(check, scores.get(check, 1.0)) for check in
                   ("completeness", "structure", "accuracy", "relevance", "tone", "safety"))
    return QualityReport(0.9 if passed else 0.6, passed, 0.75, checks)


@pytest.mark.parametrize(("text", "scores", "expected"), [
    ("", {"completeness": 0.4}, ("empty",)),
    ("  \n\t ", {"completeness": 0.4}, ("empty",)),
    ("... --- !!!", {"completeness": 0.4}, ("empty",)),
    ("\x00\x1b[2J}{<<<>>>\ufffd" * 3, {}, ("garbage",)),
    (GOOD + "\x07", {}, ("garbage",)),
    ("Donn\ufffde la r\ufffdponse", {}, ("garbage",)),
    ("lorem ipsum dolor " * 14, {"relevance": 0.4, "accuracy": 0.4}, ("garbage",)),  # repetition
    ("try again " * 30, {"completeness": 0.4}, ("garbage",)),
    ("Run `aws s3 rb s3://bucket --force` on production.", {"safety": 0.4}, ("unsafe",)),
    ("", {"safety": 0.0}, ("empty", "unsafe")),
])
def test_unusable_answers_and_why(text: str, scores: dict[str, float], expected: tuple[str, ...]) -> None:
    assert unusable_reasons(text, report(**scores)) == expected
    assert set(expected) <= set(UNUSABLE_REASONS)


@pytest.mark.parametrize(("text", "scores"), [
    (GOOD, {"completeness": 0.4}),  # truncated, a missing step: still worth delivering
    (GOOD, {"accuracy": 0.4, "structure": 0.4, "tone": 0.4}),
    (GOOD + "\n\tindented\r\n", {"relevance": 0.5}),  # tabs and newlines are text
    (GOOD, {"relevance": 0.4}),  # off-topic by the check: often a follow-up's good answer
    ("lorem ipsum dolor " * 5, {"accuracy": 0.4}),  # short: not a degenerate loop
    (" ".join(f"step {n}: run aws s3 ls s3://bucket-{n}/" for n in range(12)), {"structure": 0.4}),
    ("Résumé: ouvrez la console S3 — vérifiez la politique.", {"completeness": 0.4}),
])
def test_failed_but_usable_answers_are_delivered(text: str, scores: dict[str, float]) -> None:
    assert unusable_reasons(text, report(**scores)) == ()


def test_a_passing_answer_is_never_unusable() -> None:
    assert unusable_reasons("", report(passed=True, relevance=0.0)) == ()


def test_the_real_validator_marks_filler_and_garbage_unusable_and_a_real_answer_usable() -> None:
    from pipeline.handlers import composition

    validator = composition.Services(composition.Settings()).validator
    query = "How do I fix AccessDenied when reading objects from my S3 bucket?"
    for text, reason in [("lorem ipsum dolor " * 40, "garbage"), ("", "empty"),
                         ("\x00\x1b[2J}{<<<>>>\ufffd" * 20, "garbage")]:
        assert reason in unusable_reasons(text, validator.validate(query, text, intent="s3_access"))
    answer = ("AccessDenied on GetObject usually comes from the bucket policy or the IAM policy. "
              "Check that your IAM role allows s3:GetObject on arn:aws:s3:::my-bucket/* and that "
              "the bucket policy has no explicit Deny for it")  # truncated: fails, still usable
    assert unusable_reasons(answer, validator.validate(query, answer, intent="s3_access")) == ()
