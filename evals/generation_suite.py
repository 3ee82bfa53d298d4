"""The ``generation`` suite: what the assistant's answers contain, scored per case.

Cases are the answerable queries of the intent set's held-out ``dev`` and ``test`` splits
(labels that are not ``out_of_scope``, clarification or escalation: those never reach an
answer template) and every answer turn of the ``dev``/``test`` conversations, with the
conversation's earlier turns as history. The ``blind`` split is never used: prompt
variants are written and compared on these cases.

Each case goes through the components the Lambdas build (``offline_services()``): input
guardrail → intent detector (with the history) → :class:`ResponseGenerator` in ``answer``
mode (output guardrail applied) → :class:`QualityValidator`. The **full** answer is stored
in the run record, as the output guardrail left it (redacted or replaced by the safe
reply); queries are stored as the input guardrail's redacted text.

Scores (:mod:`evals.answer_scoring`): ``answer_structure`` and ``answer_grounding``
(template-independent rubrics), ``answer_quality`` (the validator's score and pass rule),
``output_guardrail`` (no violation). Also per case: words, characters, latency, tokens and
an estimated cost.

The suite is not part of the default ``python -m evals`` run: run it with
``--suite generation`` or through ``python -m evals ab`` (see README "Prompt A/B").

Example:
    >>> suite = generation_suite()
    >>> suite.name, suite.splits
    ('generation', ('dev', 'test'))
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from evals.answer_scoring import (
    asks_for_steps,
    grounding_score,
    knowledge_from_articles,
    structure_score,
)
from evals.datasets import GOLDEN_DIR, GoldenCase, load_cases
from evals.metrics import descriptive, mean_score, rate
from evals.runner import (
    CaseResult,
    RunConfig,
    Score,
    Scorer,
    Solver,
    SolverSpec,
    Suite,
    SuiteMetrics,
)

SPLITS = ("dev", "test")
#: Estimated price per million tokens (USD): Claude 3 Sonnet on-demand list price in
#: us-east-1, the family the templates are written for (``parameters.model_family``). The
#: offline model costs nothing; this prices what its tokens would cost on Bedrock.
PRICE_PER_MTOK = {"input": 3.0, "output": 15.0}
#: Per-case pass thresholds of the rubric scores.
STRUCTURE_PASS = 0.75
GROUNDING_PASS = 0.5
#: Knowledge articles counted as "given" to the model: the top of its retrieval ranking.
KNOWLEDGE_TOP_K = 3
_NOT_ANSWERED = ("out_of_scope",)


@dataclass(frozen=True, slots=True)
class Arm:
    """Which prompts answer: the shipped ones, a pinned version, or a whole directory.

    Attributes:
        name: ``A``/``B`` in an A/B, ``shipped`` otherwise.
        prompt_dirs: Template folders, later ones overriding earlier ones for the same
            ``template_id``/``version`` (empty: the composition root's prompt store).
        versions: Version pins by template id (``ResponseGenerator`` ``template_versions``).
    """

    name: str = "shipped"
    prompt_dirs: tuple[Path, ...] = ()
    versions: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "prompt_dirs": [str(p) for p in self.prompt_dirs], "versions": dict(self.versions)}


class OverlayPromptStore:
    """Templates of several folders; a later folder's ``template_id``/``version`` wins."""

    def __init__(self, directories: Sequence[Path]) -> None:
        from pipeline.adapters.local.prompt_files import FilePromptStore

        self._stores = [FilePromptStore(d) for d in directories]

    def list_templates(self) -> list[Any]:
        merged: dict[tuple[str, str], Any] = {}
        for store in self._stores:
            for t in store.list_templates():
                merged[(t.template_id, t.version)] = t
        return list(merged.values())

    def get(self, template_id: str, version: str | None = None) -> Any:
        from pipeline.domain.generation import TemplateNotFoundError, natural_version_key

        found = [t for t in self.list_templates()
                 if t.template_id == template_id and (version is None or t.version == version)]
        if not found:
            raise TemplateNotFoundError(f"no template {template_id!r}" + (f" version {version!r}" if version else ""))
        return max(found, key=lambda t: natural_version_key(t.version))


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


def _answerable(expected: dict[str, Any]) -> bool:
    return (expected.get("intent") not in _NOT_ANSWERED and not expected.get("needs_clarification")
            and not expected.get("escalate"))


def load_generation_cases(golden_dir: Path = GOLDEN_DIR) -> list[GoldenCase]:
    """The suite's cases: answerable intent queries and conversation answer turns (dev, test)."""
    cases = [GoldenCase(c.id, {"query": c.input, "history": []}, {"intent": c.expected["intent"]},
                        (*c.tags, "source:intent"), c.split, c.source, c.line)
             for c in load_cases(golden_dir / "intent.jsonl", splits=SPLITS) if _answerable(c.expected)]
    for conv in load_cases(golden_dir / "conversations.jsonl", splits=SPLITS):
        queries = [t["query"] for t in conv.input["turns"]]
        for i, exp in enumerate(conv.expected["turns"]):
            if (exp.get("response_type") != "answer" or exp.get("guardrail_action", "allow") != "allow"
                    or exp.get("intent") in _NOT_ANSWERED):
                continue
            cases.append(GoldenCase(f"{conv.id}#t{i + 1}", {"query": queries[i], "history": queries[:i]},
                                    {"intent": exp.get("intent")}, (*conv.tags, "source:conversations"),
                                    conv.split, conv.source, conv.line))
    return cases


# ---------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------


def cost_usd(input_tokens: int, output_tokens: int) -> float:
    """Estimated cost of one call at :data:`PRICE_PER_MTOK`."""
    return (input_tokens * PRICE_PER_MTOK["input"] + output_tokens * PRICE_PER_MTOK["output"]) / 1_000_000


def _model_for(config: RunConfig, services: Any) -> Any:
    from evals.suites import _conversation_model

    return _conversation_model(config) or services.model


def build_generator(arm: Arm, config: RunConfig) -> tuple[Any, Any, Any]:
    """``(services, generator, model)`` for an arm, from the composition root's object graph.

    The shipped arm on the offline model is the composition root's own generator; other arms
    get a :class:`ResponseGenerator` built with the same model, output guard and history
    setting, and only the prompt store or version pins changed.
    """
    from pipeline.domain.generation import ResponseGenerator
    from pipeline.handlers.composition import offline_services

    services = offline_services()
    model = _model_for(config, services)
    if not arm.prompt_dirs and not arm.versions and model is services.model:
        return services, services.generator, model
    prompts = OverlayPromptStore(arm.prompt_dirs) if arm.prompt_dirs else services.prompts
    generator = ResponseGenerator(model, prompts, output_guard=services.output_guard,
                                  template_versions=dict(arm.versions),
                                  history_turns=services.settings.history_turns)
    return services, generator, model


def _knowledge_ids(model: Any, queries: Sequence[str], intent: str | None) -> list[str]:
    ranked = getattr(model, "ranked", None)
    if ranked is None:
        return []
    ids: list[str] = []
    for text in (queries[-1], " ".join(queries[-3:])):
        for _score, article in ranked(text, intent)[:KNOWLEDGE_TOP_K]:
            if article.article_id not in ids:
                ids.append(article.article_id)
    return ids


def _mask(text: str) -> str:
    from evals.suites import mask_long_tokens

    return mask_long_tokens(text)


def make_solver(arm: Arm) -> Any:
    """The solver factory for an arm (``SolverSpec.build``)."""

    def build(config: RunConfig) -> Solver:
        from pipeline.domain.models import GuardrailAction, Turn

        # The model's own retrieval ranking is "the knowledge it was given" for grounding.
        services, generator, model = build_generator(arm, config)
        validator = services.validator
        detector = services.detector
        scan_input = services.input_guard

        begin_case = getattr(model, "begin_case", None)  # the run's metered model (not the bare offline one)

        def solve(inp: dict[str, Any]) -> dict[str, Any]:
            if begin_case is not None:  # the case's requests, for the cassette manifest (--record / replay)
                begin_case("generation", inp)
            history: list[Any] = []
            queries: list[str] = []
            turns = [*inp.get("history", []), inp["query"]]
            out: dict[str, Any] = {}
            for i, text in enumerate(turns):
                verdict = scan_input(text)
                last = i == len(turns) - 1
                if verdict.action is GuardrailAction.BLOCK:
                    if last:
                        return {"response_type": "blocked", "query": None, "response": "",
                                "guardrail_input": list(verdict.categories)}
                    continue
                query = verdict.redacted_text
                queries.append(query)
                intent = detector.detect(query, history=tuple(history))
                started = time.perf_counter()
                generation, out_verdict = generator.generate(query, intent, history=tuple(history), mode="answer")
                latency_ms = (time.perf_counter() - started) * 1000.0
                if not last:
                    history.append(Turn("eval-generation", f"t{i}", i, "2026-01-01T00:00:00+00:00", query,
                                        assistant_text=generation.text, response_type="answer",
                                        intent=intent.intent))
                    continue
                report = validator.validate(query, generation.text, intent=intent.intent, sentiment=intent.sentiment)
                action = out_verdict.action.value if out_verdict is not None else "allow"
                out = {
                    "response_type": "answer",
                    "query": _mask(query),
                    "response": generation.text,
                    "intent": intent.intent,
                    "template": f"{generation.template_id}@{generation.template_version}",
                    "model_id": generation.model_id,
                    "words": len(generation.text.split()),
                    "chars": len(generation.text),
                    "latency_ms": round(generation.latency_ms or latency_ms, 3),
                    "input_tokens": generation.input_tokens,
                    "output_tokens": generation.output_tokens,
                    "cost_usd": round(cost_usd(generation.input_tokens, generation.output_tokens), 8),
                    "guardrail": {"action": action,
                                  "categories": list(out_verdict.categories) if out_verdict is not None else []},
                    "quality": {"score": round(float(report.score), 4), "passed": bool(report.passed),
                                "checks": {c.check: round(float(c.score), 4) for c in report.checks}},
                    "knowledge": _knowledge_ids(model, queries, intent.intent),
                    "asks_for_steps": asks_for_steps(query, intent.intent),
                }
            return out

        return solve

    return build


def _safe_input(case: GoldenCase, output: dict[str, Any] | None) -> Any:
    """Queries as the input guardrail redacted them (the last one from the output)."""
    from pipeline.domain.guardrails import scan_input

    history = [_mask(scan_input(q).redacted_text) for q in case.input.get("history", [])]
    query = (output or {}).get("query") or _mask(scan_input(case.input["query"]).redacted_text)
    return {"query": query, "history": history}


# ---------------------------------------------------------------------------
# Scorers and metrics
# ---------------------------------------------------------------------------


def _catalog() -> Any:
    from pipeline.handlers.composition import offline_services

    return offline_services().validator.catalog


@lru_cache(maxsize=512)
def _knowledge(ids: tuple[str, ...]) -> Any:
    from pipeline.adapters.local.offline_model import load_knowledge

    articles = load_knowledge()
    chosen = [a for a in articles if a.article_id in set(ids)] if ids else list(articles)
    return knowledge_from_articles(chosen)


def _answered(output: dict[str, Any]) -> bool:
    return output.get("response_type") == "answer"


def structure_scorer(*, threshold: float = STRUCTURE_PASS) -> Scorer:
    """Template-independent structure rubric (:func:`evals.answer_scoring.structure_score`)."""
    catalog: list[Any] = []

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        if not _answered(output):
            return Score(0.0, False, "no answer (blocked)")
        if not catalog:
            catalog.append(_catalog())
        s = structure_score(output.get("query") or "", output.get("intent"), output["response"], catalog[0])
        detail = ", ".join(f"{k}={v:.2f}" for k, v in s.parts.items() if v is not None)
        return Score(s.value, s.value >= threshold, "; ".join([detail, *s.notes]))

    return Scorer("answer_structure", fn, {"threshold": threshold})


def grounding_scorer(*, threshold: float = GROUNDING_PASS, top_k: int = KNOWLEDGE_TOP_K) -> Scorer:
    """Commands and claims traceable to the knowledge given (:func:`evals.answer_scoring.grounding_score`)."""

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        if not _answered(output):
            return Score(0.0, False, "no answer (blocked)")
        s = grounding_score(output["response"], _knowledge(tuple(output.get("knowledge") or ())))
        detail = ", ".join(f"{k}={v:.2f}" for k, v in s.parts.items() if v is not None)
        return Score(s.value, s.value >= threshold, "; ".join([detail, *s.notes]))

    return Scorer("answer_grounding", fn, {"threshold": threshold, "top_k": top_k,
                                           "claim_support": 0.6, "min_claim_terms": 5})


def quality_scorer() -> Scorer:
    """The QualityValidator's weighted score; passes by its own pass rule."""

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        q = output.get("quality")
        if not q:
            return Score(0.0, False, "no answer (blocked)")
        failing = [k for k, v in q["checks"].items() if v < 0.5]
        return Score(float(q["score"]), bool(q["passed"]), f"defects: {', '.join(failing)}" if failing else "")

    return Scorer("answer_quality", fn, {"validator": "offline_services().validator"})


def guardrail_scorer() -> Scorer:
    """1 when the output guardrail let the answer through untouched, 0 when it redacted or blocked."""

    def fn(case: GoldenCase, output: dict[str, Any]) -> Score:
        g = (output.get("guardrail") or {}).get("action", "allow")
        ok = g == "allow"
        return Score(1.0 if ok else 0.0, ok, "" if ok else f"output guardrail {g}: {output['guardrail']['categories']}")

    return Scorer("output_guardrail", fn, {})


SCORE_NAMES = ("answer_structure", "answer_grounding", "answer_quality")


def answer_score(case: dict[str, Any]) -> float:
    """The per-case summary score of a record case: mean of structure, grounding and quality."""
    scores = case.get("scores") or {}
    values = [scores[n]["value"] for n in SCORE_NAMES if n in scores]
    return float(np.mean(values)) if values else 0.0


def generation_metrics(results: Sequence[CaseResult]) -> SuiteMetrics:
    """Means with bootstrap intervals of the scores, rates with Wilson intervals, and costs."""
    answered = [r for r in results if r.output and r.output.get("response_type") == "answer"]
    m: dict[str, Any] = {}
    for name in SCORE_NAMES:
        m[f"mean_{name}"] = mean_score([r.scores[name].value for r in answered if name in r.scores])
    m["quality_pass_rate"] = rate(sum(1 for r in answered if r.output["quality"]["passed"]), len(answered))
    m["guardrail_violation_rate"] = rate(sum(1 for r in answered if r.output["guardrail"]["action"] != "allow"),
                                         len(answered), higher_is_better=False)
    steps_asked = [r for r in answered if r.output.get("asks_for_steps")]
    if steps_asked:
        # The structure scorer's detail lists its parts ("steps=1.00" = a numbered list of 2+ items).
        m["numbered_steps_rate"] = rate(sum(1 for r in steps_asked if "steps=1.00" in r.scores["answer_structure"].detail),
                                        len(steps_asked))
    for key, kind in (("words", "words"), ("output_tokens", "tokens"), ("input_tokens", "tokens")):
        values = [r.output[key] for r in answered]
        if values:
            m[f"mean_{key}"] = descriptive(float(np.mean(values)), len(values), kind)
    costs = [r.output["cost_usd"] for r in answered]
    if costs:
        m["cost_usd_total"] = descriptive(float(np.sum(costs)), len(costs), "usd")
    lat = [r.output["latency_ms"] for r in answered]
    if lat:
        m["generation_latency_p50_ms"] = descriptive(float(np.percentile(lat, 50)), len(lat))
        m["generation_latency_p95_ms"] = descriptive(float(np.percentile(lat, 95)), len(lat))
    by_template: dict[str, list[float]] = {}
    for r in answered:
        by_template.setdefault(r.output["template"], []).append(
            answer_score({"scores": {k: {"value": s.value} for k, s in r.scores.items()}}))
    details = {"by_template": {k: {"n": len(v), "mean_answer_score": round(float(np.mean(v)), 4)}
                               for k, v in sorted(by_template.items())},
               "price_per_mtok_usd": PRICE_PER_MTOK}
    return SuiteMetrics(m, details)


def generation_suite(arm: Arm | None = None) -> Suite:
    """The ``generation`` suite for an arm (default: the shipped prompts)."""
    arm = arm or Arm()
    return Suite(
        name="generation",
        description=("Generated answers (intent dev/test queries and conversation answer turns), stored in full and "
                     "scored: structure, grounding in the knowledge given, quality checks, output guardrail, length, "
                     "latency, tokens and estimated cost."),
        dataset=GOLDEN_DIR / "intent.jsonl",
        solver=SolverSpec("pipeline.domain.generation.ResponseGenerator", make_solver(arm),
                          params={"arm": arm.describe(), "mode": "answer", "price_per_mtok_usd": PRICE_PER_MTOK,
                                  "knowledge_top_k": KNOWLEDGE_TOP_K},
                          components=lambda: _components()),
        scorers=(structure_scorer(), grounding_scorer(), quality_scorer(), guardrail_scorer()),
        metrics=generation_metrics,
        splits=SPLITS,
        load=load_generation_cases,
        safe_input=_safe_input,
        components=("pipeline.domain.generation.ResponseGenerator", "pipeline.domain.quality.QualityValidator",
                    "pipeline.domain.intent.IntentDetector", "pipeline.adapters.local.offline_model.OfflineModel"),
        # --model replay|bedrock, --record, --epochs and --budget-usd apply; cassettes and Bedrock
        # access are checked before the run.
        generates=True,
    )


def _components() -> dict[str, Any]:
    from evals.suites import offline_components

    return offline_components("generator", "validator", "detector")
