"""Optional LLM rubric judge on Amazon Bedrock for prompt A/B (``python -m evals ab --judge``).

Off by default: CI and every offline run never need credentials. With ``--judge`` the A/B
command checks for AWS credentials before any suite runs (exit 2, naming what is missing).

- **Pairwise, both orders.** For each case whose answers differ (the most different first,
  at most ``--judge-limit``), the judge reads the question and the two answers twice: A as
  "Answer 1" and B as "Answer 2", then swapped. A win counts only when both orders pick the
  same answer; otherwise the pair is a tie, so a judge that prefers a position cancels out.
  B's preference (wins of B minus wins of A over judged pairs) is tested with the exact sign
  test (McNemar's exact test on the wins) and shown with its matching exact interval.
- **Validated before it is believed.** The same model, as a pointwise pass/fail reviewer with
  the same rubric, labels cases of the labelled quality set (``golden_sets/quality.jsonl``,
  dev split only, never blind); Cohen's κ against the labels (with its bootstrap interval,
  :func:`evals.metrics.kappa_with_ci`) is printed next to the judge's verdict.
- The rubric is GUIDE.md §5 (completeness, structure, accuracy, relevance, tone, safety).
  The judge reports; it never decides the A/B verdict.

Example:
    >>> parse_choice("WINNER: 2")
    '2'
    >>> parse_choice("I cannot decide")
    'tie'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from evals.stats import mcnemar_exact, mcnemar_interval
from stack.config import DEFAULT_MODEL_ID

#: The judge uses the model the stack deploys unless told otherwise: one setting to change
#: when a model's lifecycle changes.
DEFAULT_JUDGE_MODEL = DEFAULT_MODEL_ID
RUBRIC = (
    "Judge answers of an AWS support assistant as a senior AWS support engineer would before "
    "sending them. A defect is: a part of the question not answered or no actionable steps for a "
    "how-to or troubleshooting question; broken Markdown or steps written as one wall of text; an "
    "AWS CLI command, option, SDK method or fact that is wrong or does not exist; an answer about a "
    "different service or error; blame, sarcasm or no acknowledgement of an upset customer; a "
    "secret, personal data, a promise about the future, disparagement of competitors, or advice "
    "that weakens security."
)
_PAIR_INSTRUCTION = (
    "Which answer is better for the customer by the rubric? Reply with exactly one line: "
    "'WINNER: 1', 'WINNER: 2' or 'WINNER: TIE'."
)
_POINT_INSTRUCTION = "Does this answer have no defect by the rubric? Reply with exactly 'PASS' or 'FAIL'."
_CHOICE = re.compile(r"WINNER:\s*(1|2|TIE)\b", re.IGNORECASE)
_VERDICT = re.compile(r"\b(PASS|FAIL)\b")


class JudgeConfigError(RuntimeError):
    """The judge cannot run (no credentials, no model access); found before any suite runs."""


def parse_choice(text: str) -> str:
    """``'1'``, ``'2'`` or ``'tie'`` from the judge's reply (unparseable replies are ties)."""
    match = _CHOICE.search(text or "")
    if not match:
        return "tie"
    value = match.group(1).upper()
    return "tie" if value == "TIE" else value


def check_credentials() -> None:
    """Raise :class:`JudgeConfigError` when boto3 finds no AWS credentials."""
    import boto3

    if boto3.session.Session().get_credentials() is None:
        raise JudgeConfigError("--judge needs AWS credentials with Bedrock model access (none found: set "
                               "AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); the judge is optional")


class BedrockJudge:
    """Pairwise and pointwise rubric judgements through the Bedrock Converse API.

    Args:
        client: A ``bedrock-runtime`` client (``pipeline.adapters.aws.bedrock.make_bedrock_client``).
        model_id: The judge model or inference profile.
    """

    def __init__(self, client: Any, model_id: str = DEFAULT_JUDGE_MODEL) -> None:
        self._client = client
        self.model_id = model_id

    def _ask(self, user: str, max_tokens: int) -> str:
        response = self._client.converse(
            modelId=self.model_id,
            system=[{"text": RUBRIC}],
            messages=[{"role": "user", "content": [{"text": user}]}],
            inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0},
        )
        blocks = response["output"]["message"]["content"]
        return "".join(b.get("text", "") for b in blocks)

    def prefer(self, query: str, answer_a: str, answer_b: str) -> str:
        """``'A'``, ``'B'`` or ``'tie'``: the answer preferred in both orders, else a tie."""
        def ask(first: str, second: str) -> str:
            return parse_choice(self._ask(
                f"<question>\n{query}\n</question>\n<answer_1>\n{first}\n</answer_1>\n"
                f"<answer_2>\n{second}\n</answer_2>\n\n{_PAIR_INSTRUCTION}", 16))

        forward = {"1": "A", "2": "B"}.get(ask(answer_a, answer_b), "tie")
        backward = {"1": "B", "2": "A"}.get(ask(answer_b, answer_a), "tie")
        return forward if forward == backward else "tie"

    def passes(self, query: str, response: str) -> bool | None:
        """The judge's pass/fail for one answer (None when its reply names neither)."""
        reply = self._ask(f"<question>\n{query}\n</question>\n<answer>\n{response}\n</answer>\n\n"
                          f"{_POINT_INSTRUCTION}", 8)
        match = _VERDICT.search(reply.upper())
        return None if not match else match.group(1) == "PASS"


def pairwise(judge: BedrockJudge, per_case: Sequence[dict[str, Any]], limit: int,
             *, confidence: float = 0.95) -> dict[str, Any]:
    """Judge the most different answer pairs; B's preference with the exact sign test."""
    judged = [c for c in per_case if c.get("a_response") != c.get("b_response")][:limit]
    wins = {"A": 0, "B": 0, "tie": 0}
    per = []
    for case in judged:
        verdict = judge.prefer(case.get("query") or "", case["a_response"], case["b_response"])
        wins[verdict] += 1
        per.append({"id": case["id"], "winner": verdict})
    n = len(judged)
    lo, hi = mcnemar_interval(wins["A"], wins["B"], n, confidence=confidence) if n else (0.0, 0.0)
    return {"model_id": judge.model_id, "n": n, "wins_a": wins["A"], "wins_b": wins["B"], "ties": wins["tie"],
            "preference_b": (wins["B"] - wins["A"]) / n if n else 0.0, "ci": [lo, hi],
            "p_value": mcnemar_exact(wins["A"], wins["B"]), "method": "sign test (exact), both orders",
            "cases": per}


def agreement_on_quality(judge: BedrockJudge, cases: Sequence[Any], *, seed: int = 20261115) -> dict[str, Any]:
    """Cohen's κ between the judge's pass/fail and the labelled quality cases (dev only)."""
    from evals.metrics import kappa_with_ci

    labels, calls = [], []
    for case in cases:
        if case.split == "blind":
            raise ValueError("the judge is never validated on blind cases")
        verdict = judge.passes(case.input["query"], case.input["response"])
        if verdict is None:
            continue
        labels.append(bool(case.expected["passed"]))
        calls.append(verdict)
    if not labels:
        return {"n": 0, "kappa": None, "ci": [None, None]}
    kappa = kappa_with_ci(labels, calls, seed=seed)

    def finite(x: float) -> float | None:
        return None if x != x else float(x)  # NaN (one rater constant) is not JSON

    return {"n": len(labels), "kappa": finite(kappa.value), "ci": [finite(kappa.ci_low), finite(kappa.ci_high)],
            "agreement": sum(a == b for a, b in zip(labels, calls, strict=True)) / len(labels)}
