"""Scorer factories. Each returns a :class:`~evals.runner.Scorer` whose ``args`` are the
factory's arguments, so the run record says exactly how every case was scored.

Example:
    >>> from evals.datasets import GoldenCase
    >>> scorer = guardrail_match(categories="subset")
    >>> case = GoldenCase("g1", "text", {"action": "block", "categories": ["password"]}, (), "test", "doc")
    >>> scorer.fn(case, {"action": "block", "categories": ["password", "pii"]}).passed
    True
"""

from __future__ import annotations

from typing import Any

from evals.datasets import GoldenCase
from evals.runner import Score, Scorer

CATEGORY_MODES = ("subset", "exact", "ignore")


def exact_match(key: str) -> Scorer:
    """Pass when ``output[key] == expected[key]``."""

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        ok = output.get(key) == case.expected.get(key)
        return Score(1.0 if ok else 0.0, ok)

    return Scorer(f"{key}_match", fn, {"key": key})


def guardrail_match(*, categories: str = "subset", name: str = "guardrail_match", required: bool = True) -> Scorer:
    """Guardrail verdict against the label.

    Args:
        categories: ``subset``: every expected category must be found (extra ones are
            allowed); ``exact``: the sets must be equal; ``ignore``: only the action counts.
            Categories are not checked when the expected action is ``allow``.
        name: The scorer's id in the run record.
        required: Whether the score decides the case's ``passed``.

    Returns:
        A scorer worth 1.0 when action and categories agree, 0.5 when only the action does.
    """
    if categories not in CATEGORY_MODES:
        raise ValueError(f"categories must be one of {CATEGORY_MODES}, got {categories!r}")

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        exp_action = case.expected["action"]
        action_ok = output.get("action") == exp_action
        if not action_ok:
            return Score(0.0, False, f"action {output.get('action')} != {exp_action}")
        if categories == "ignore" or exp_action == "allow":
            return Score(1.0, True)
        exp = set(case.expected.get("categories") or ())
        got = set(output.get("categories") or ())
        cat_ok = exp <= got if categories == "subset" else exp == got
        if cat_ok:
            return Score(1.0, True)
        return Score(0.5, False, f"categories {sorted(got)} vs expected {sorted(exp)}")

    return Scorer(name, fn, {"categories": categories}, required)


def intent_match() -> Scorer:
    """Pass when the predicted intent equals the labelled one."""

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        ok = output.get("intent") == case.expected.get("intent")
        return Score(1.0 if ok else 0.0, ok, "" if ok else f"{output.get('intent')} != {case.expected.get('intent')}")

    return Scorer("intent_match", fn, {})


def flag_match(flag: str, *, required: bool = True) -> Scorer:
    """Pass when a boolean routing flag (``needs_clarification``, ``escalate``) matches the label.

    Cases whose label does not mention the flag pass.
    """

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        if flag not in case.expected:
            return Score(1.0, True)
        ok = bool(output.get(flag)) == bool(case.expected[flag])
        return Score(1.0 if ok else 0.0, ok)

    return Scorer(f"{flag}_match", fn, {"flag": flag}, required)


def routed_to(*, intents: tuple[str, ...] = ("out_of_scope",), clarification_counts: bool = True) -> Scorer:
    """Pass when the detector routes the query to one of ``intents`` (or asks to clarify).

    Args:
        intents: Acceptable predicted intents.
        clarification_counts: A clarification question also keeps the query out of scope.
    """

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        ok = output.get("intent") in intents or (clarification_counts and bool(output.get("needs_clarification")))
        return Score(1.0 if ok else 0.0, ok, "" if ok else f"routed to {output.get('intent')}")

    return Scorer("routed_out_of_scope", fn, {"intents": list(intents), "clarification_counts": clarification_counts})


def blocked(*, category: str | None = None, name: str = "blocked", required: bool = True) -> Scorer:
    """Pass when the guardrail blocks the text (and, if given, names ``category``)."""

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        if output.get("action") != "block":
            return Score(0.0, False, f"action {output.get('action')}")
        if category is not None and category not in (output.get("categories") or ()):
            return Score(0.5, False, f"blocked as {output.get('categories')}, not {category}")
        return Score(1.0, True)

    return Scorer(name, fn, {"category": category}, required)


def quality_agreement(*, defect_below: float = 0.5) -> Scorer:
    """``passed`` of the QualityValidator against the label; per-check defects in the detail.

    Args:
        defect_below: A check whose score is below this counts as a detected defect.
    """

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        ok = bool(output.get("passed")) == bool(case.expected["passed"])
        return Score(1.0 if ok else 0.0, ok, "" if ok else f"passed={output.get('passed')} score={output.get('score')}")

    return Scorer("quality_passed_agrees", fn, {"defect_below": defect_below})


def quality_defects(*, defect_below: float = 0.5, required: bool = False) -> Scorer:
    """Share of the six checks whose defect/no-defect call agrees with the labels."""

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        labelled = set(case.expected.get("defects") or ())
        checks = output.get("checks") or {}
        if not checks:
            return Score(0.0, False, "no checks in output")
        agree = [(c in labelled) == (float(s) < defect_below) for c, s in checks.items()]
        share = sum(agree) / len(agree)
        return Score(share, share == 1.0)

    return Scorer("quality_defects_agree", fn, {"defect_below": defect_below}, required)


def invariance() -> Scorer:
    """Robustness: pass when the mutated text gets the same label as the original."""

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        ok = output.get("label") == case.expected.get("label")
        return Score(1.0 if ok else 0.0, ok, "" if ok else f"{case.expected.get('label')} → {output.get('label')}")

    return Scorer("label_invariant", fn, {})


TURN_FIELDS = ("response_type", "intent", "guardrail_action")


def conversation_turns(*, min_quality_default: float | None = None) -> Scorer:
    """Multi-turn path: every turn's response type, intent, guardrail action and quality.

    The value is the share of turn-level checks that hold; the case passes when all do.

    Args:
        min_quality_default: Quality floor applied to answer turns without ``min_quality``.
    """

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        expected_turns = case.expected["turns"]
        got_turns = output.get("turns") or []
        checks = 0
        ok = 0
        problems = []
        for i, exp in enumerate(expected_turns):
            got = got_turns[i] if i < len(got_turns) else {}
            for key in TURN_FIELDS:
                if key in exp and exp[key] is not None:
                    checks += 1
                    if got.get(key) == exp[key]:
                        ok += 1
                    else:
                        problems.append(f"turn {i + 1} {key}: {got.get(key)} != {exp[key]}")
            floor = exp.get("min_quality", min_quality_default if exp.get("response_type") == "answer" else None)
            if floor is not None:
                checks += 1
                q = got.get("quality_score")
                if q is not None and q >= floor:
                    ok += 1
                else:
                    problems.append(f"turn {i + 1} quality {q} < {floor}")
        value = ok / checks if checks else 0.0
        return Score(value, checks > 0 and ok == checks, "; ".join(problems[:5]))

    return Scorer("conversation_path", fn, {"fields": list(TURN_FIELDS), "min_quality_default": min_quality_default})
