"""``python -m evals ab``: offline prompt A/B comparisons on the generation suite.

Usage::

    python -m evals ab --template compute_troubleshooting --a v1 --b v2
    python -m evals ab --all                       # every template with two or more versions
    python -m evals ab --a-dir pipeline/prompts --b-dir /tmp/my-prompts

Both arms run the same cases (the generation suite's, restricted with ``--template`` to
the cases that template answers), the same model and seed, and the same inputs; only the
prompts differ. Versions come from ``pipeline/prompts`` (what ships: the latest version of
each template) and ``evals/prompt_variants`` (candidates that are never deployed). Each
comparison writes ``A/run.json`` and ``B/run.json`` (ordinary run records), ``ab.json`` (the
analysis) and ``index.html`` under ``reports/out/<run-id>-ab/``, copied to
``reports/out/ab-latest/``.

Exit codes: 0 no comparison found B worse; 1 at least one did (a regression); 2 bad input.
With ``--expect-worse`` (canaries: prompts known to be worse, ``evals/ab_canaries``) the
meaning of 0 and 1 turns round: 0 every canary was caught, 1 one was missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from evals.ab_analysis import AB_CONFIG, ABAnalysis, ABConfigError, analyse, load_ab_config
from evals.datasets import GoldenCase, GoldenSetError
from evals.exits import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK, parse_args
from evals.generation_suite import Arm, OverlayPromptStore, build_generator, generation_suite
from evals.record import REPO_ROOT, build_record, copy_latest, new_run_id, write_json_atomic
from evals.runner import RunConfig, SuiteResult, run_suite

#: An A/B that finds B worse fails like a gate.
EXIT_WORSE = EXIT_GATE_FAILED
PROMPTS_DIR = REPO_ROOT / "pipeline" / "prompts"
VARIANTS_DIR = REPO_ROOT / "evals" / "prompt_variants"
DEFAULT_REPORT_DIR = REPO_ROOT / "reports" / "out"
MODELS = ("offline", "replay", "bedrock")

EPILOG = """\
examples:
  python -m evals ab --template compute_troubleshooting --a v1 --b v2
  python -m evals ab --all
  python -m evals ab --a-dir pipeline/prompts --b-dir /tmp/candidate-prompts
  nox -s ab -- --all
  python -m evals ab --template compute_troubleshooting --a v2 --b v9 --variants-dir evals/ab_canaries --expect-worse
                            the degraded-prompt canary CI runs: must be caught as B worse

decision (evals/ab_analysis.py; settings in evals/ab.toml):
  B worse                   answer_score's paired-bootstrap 95% CI is below 0, or McNemar's exact
                            test finds more pass->fail than fail->pass, or B's output-guardrail
                            violations exceed A's by more than the margin (non-inferiority)
  B better                  score CI above 0 or McNemar finds more fixes, and nothing is worse
  no detectable difference  neither; the smallest effect this sample detects is printed

exit codes:
  0  no comparison found B worse (--expect-worse: every comparison found B worse)
  1  B worse in at least one comparison, a regression (--expect-worse: a canary not caught)
  2  bad input or configuration"""


@dataclass(frozen=True, slots=True)
class Comparison:
    """One A/B to run: a label, two arms, and the template whose cases count (None: all)."""

    label: str
    a: Arm
    b: Arm
    template: str | None = None
    hypothesis: str = ""
    #: Two model ids (``--a-model-id``/``--b-model-id``): the same prompts, a model per arm.
    a_model_id: str = ""
    b_model_id: str = ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals ab", description=__doc__.split("\n\n")[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", help="template id whose versions are compared (with --a and --b)")
    parser.add_argument("--a", dest="a_version", metavar="VERSION", help="version of arm A, e.g. v1")
    parser.add_argument("--b", dest="b_version", metavar="VERSION", help="version of arm B, e.g. v2")
    parser.add_argument("--all", action="store_true",
                        help="every template with two or more versions: each candidate in evals/prompt_variants "
                             "against the shipped version, or the previous shipped version against the latest")
    parser.add_argument("--a-dir", type=Path, help="a whole prompt directory for arm A (with --b-dir)")
    parser.add_argument("--b-dir", type=Path, help="a whole prompt directory for arm B (with --a-dir)")
    parser.add_argument("--variants-dir", type=Path, default=VARIANTS_DIR,
                        help="candidate versions overlaid on pipeline/prompts (default evals/prompt_variants)")
    parser.add_argument("--model", choices=MODELS, default="offline", help="model behind both arms (default offline)")
    parser.add_argument("--model-id", default=None,
                        help="with --model bedrock or replay, the model behind both arms of a prompt comparison")
    parser.add_argument("--a-model-id", default="", help="a model id for arm A (with --b-model-id and --model "
                                                           "bedrock or replay): the shipped prompts, two models")
    parser.add_argument("--b-model-id", default="", help="the model id for arm B (with --a-model-id)")
    parser.add_argument("--region", default=None, help="Bedrock Region of both models (default $AWS_REGION)")
    parser.add_argument("--cassettes", type=Path, default=None,
                        help="cassette folder for --model replay (default evals/cassettes)")
    parser.add_argument("--limit", type=int, help="only the first N cases (sorted by id) of each comparison")
    parser.add_argument("--expect-worse", action="store_true",
                        help="the comparisons are canaries, B a known regression (evals/ab_canaries): exit 0 only "
                             "when every one is called B worse, 1 when one is not (CI: .ci/run)")
    parser.add_argument("--config", type=Path, default=AB_CONFIG, help="A/B settings (default evals/ab.toml)")
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR, help="default reports/out")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML report")
    judge = parser.add_argument_group("optional LLM judge (Amazon Bedrock; needs credentials; reported, never decides)")
    judge.add_argument("--judge", action="store_true",
                       help="judge the most different answer pairs in both orders, and report the judge's "
                            "Cohen's kappa against the labelled quality set (dev split)")
    judge.add_argument("--judge-model-id", default=None, help="judge model or inference profile")
    judge.add_argument("--judge-region", default="us-east-1", help="Region of the judge model (default us-east-1)")
    judge.add_argument("--judge-limit", type=int, default=30, help="answer pairs judged per comparison (default 30)")
    judge.add_argument("--judge-quality-cases", type=int, default=40,
                       help="labelled quality cases (dev split) used to measure the judge's agreement (default 40)")
    return parser


def make_judge(model_id: str | None, region: str) -> Any:
    """The Bedrock judge (checked for credentials first: :class:`evals.judge.JudgeConfigError`)."""
    from evals.judge import DEFAULT_JUDGE_MODEL, BedrockJudge, check_credentials
    from pipeline.adapters.aws.bedrock import make_bedrock_client

    check_credentials()
    return BedrockJudge(make_bedrock_client(region), model_id or DEFAULT_JUDGE_MODEL)


def judge_quality_cases(limit: int) -> list[GoldenCase]:
    """The first ``limit`` dev cases of the labelled quality set (by id; never blind)."""
    from evals.datasets import GOLDEN_DIR, load_cases

    return sorted(load_cases(GOLDEN_DIR / "quality.jsonl", splits=("dev",)), key=lambda c: c.id)[:limit]


class ABInputError(ValueError):
    """Bad arguments or prompts (exit 2)."""


def _versions(dirs: Sequence[Path]) -> dict[str, list[str]]:
    from pipeline.domain.generation import natural_version_key

    out: dict[str, set[str]] = {}
    for t in OverlayPromptStore([d for d in dirs if d.is_dir()]).list_templates():
        out.setdefault(t.template_id, set()).add(t.version)
    return {k: sorted(v, key=natural_version_key) for k, v in out.items()}


def _template(dirs: Sequence[Path], template_id: str, version: str) -> Any:
    return OverlayPromptStore([d for d in dirs if d.is_dir()]).get(template_id, version)


def plan(args: argparse.Namespace) -> list[Comparison]:
    """The comparisons the arguments ask for; raises :class:`ABInputError` on bad input."""
    from pipeline.domain.generation import PromptTemplateError

    two_models = bool(args.a_model_id or args.b_model_id)
    modes = sum([bool(args.template), bool(args.all), bool(args.a_dir or args.b_dir), two_models])
    if modes != 1:
        raise ABInputError("choose one of --template ID --a V --b V, --all, --a-dir DIR --b-dir DIR, "
                           "or --a-model-id ID --b-model-id ID")
    if args.model_id and (two_models or args.model == "offline"):
        raise ABInputError("--model-id names the one model of a prompt comparison with --model bedrock or replay; "
                           "two models take --a-model-id and --b-model-id")
    if two_models:
        if not (args.a_model_id and args.b_model_id):
            raise ABInputError("--a-model-id and --b-model-id go together")
        if args.model == "offline":
            raise ABInputError("two model ids need --model bedrock or --model replay (the offline model has one id)")
        if args.a_model_id == args.b_model_id:
            raise ABInputError("--a-model-id and --b-model-id are the same model")
        return [Comparison(f"model {args.a_model_id} vs {args.b_model_id}", Arm("A"), Arm("B"),
                           a_model_id=args.a_model_id, b_model_id=args.b_model_id)]
    try:
        if args.a_dir or args.b_dir:
            if not (args.a_dir and args.b_dir):
                raise ABInputError("--a-dir and --b-dir go together")
            for d in (args.a_dir, args.b_dir):
                if not Path(d).is_dir():
                    raise ABInputError(f"{d}: not a directory of prompt templates")
                OverlayPromptStore([Path(d)]).list_templates()  # validates every file
            return [Comparison(f"{args.a_dir} vs {args.b_dir}", Arm("A", (Path(args.a_dir),)),
                               Arm("B", (Path(args.b_dir),)))]
        dirs = (PROMPTS_DIR, Path(args.variants_dir))
        available = _versions(dirs)
        if args.template:
            if not (args.a_version and args.b_version):
                raise ABInputError("--template needs --a VERSION and --b VERSION")
            have = available.get(args.template)
            if have is None:
                raise ABInputError(f"unknown template {args.template!r}; known: {', '.join(sorted(available))}")
            for v in (args.a_version, args.b_version):
                if v not in have:
                    raise ABInputError(f"template {args.template!r} has no version {v!r} (have {', '.join(have)})")
            return [_version_comparison(dirs, args.template, args.a_version, args.b_version)]
        shipped = _versions([PROMPTS_DIR])
        comparisons = []
        for template_id, versions in sorted(available.items()):
            if len(versions) < 2:
                continue
            ships = shipped[template_id][-1]
            candidates = [v for v in versions if v not in shipped[template_id]]
            pairs = [(ships, v) for v in candidates] or [(shipped[template_id][-2], ships)]
            comparisons += [_version_comparison(dirs, template_id, a, b) for a, b in pairs]
        if not comparisons:
            raise ABInputError("no template has two versions")
        return comparisons
    except PromptTemplateError as exc:
        raise ABInputError(str(exc)) from exc


def _version_comparison(dirs: Sequence[Path], template_id: str, a: str, b: str) -> Comparison:
    hypothesis = _template(dirs, template_id, b).hypothesis
    return Comparison(f"{template_id}: {a} vs {b}", Arm("A", tuple(dirs), {template_id: a}),
                      Arm("B", tuple(dirs), {template_id: b}), template_id, hypothesis)


def cases_for(comparison: Comparison, cases: list[GoldenCase], config: RunConfig) -> list[GoldenCase]:
    """The cases a comparison runs: all, or those its template answers (decided by arm A's routing).

    Routing (input guardrail, intent with the conversation's history, template selection)
    does not depend on the template version, so both arms answer these cases with it.
    """
    if comparison.template is None:
        return cases
    from pipeline.domain.models import GuardrailAction, Turn

    services, generator, _model = build_generator(comparison.a, config)
    chosen = []
    for case in cases:
        history: list[Any] = []
        template_id = None
        turns = [*case.input.get("history", []), case.input["query"]]
        for i, text in enumerate(turns):
            verdict = services.input_guard(text)
            if verdict.action is GuardrailAction.BLOCK:
                template_id = None
                continue
            intent = services.detector.detect(verdict.redacted_text, history=tuple(history))
            template_id = generator.select(intent.intent, "answer").template_id
            history.append(Turn("ab-routing", f"t{i}", i, "2026-01-01T00:00:00+00:00", verdict.redacted_text,
                                assistant_text="", intent=intent.intent))
        if template_id == comparison.template:
            chosen.append(case)
    return chosen


def _run_arm(arm: Arm, cases: list[GoldenCase], config: RunConfig, run_dir: Path,
             progress: Any = None) -> tuple[SuiteResult, dict]:
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    suite = generation_suite(arm)
    label = f"arm {arm.name}"
    if progress is not None:  # a bar on a terminal, start/end lines in CI logs (evals.cli.Progress)
        progress.start(label, len(cases))
    result = run_suite(suite, config, cases=cases,
                       progress=(lambda _s, done, total: progress(label, done, total)) if progress else None)
    if progress is not None:
        progress.end(result, label)
    record = build_record([result], config, run_id=f"{run_dir.name}-{arm.name}", started_at=started,
                          wall_s=time.perf_counter() - t0, model=_model_info(result, config))
    record["ab_arm"] = arm.describe()
    write_json_atomic(record, run_dir / arm.name / "run.json")
    return result, record


def _model_info(result: SuiteResult, config: RunConfig) -> dict[str, Any]:
    ids = sorted({c.output.get("model_id") for c in result.cases if c.output and c.output.get("model_id")})
    session_id = getattr(config.models, "model_id", "") if config.models is not None else ""
    return {"id": ", ".join(ids) or session_id or config.model, "backend": config.model, "params": {}}


def arm_configs(comparison: Comparison, config: RunConfig, *, region: str | None = None,
                cassettes: Path | None = None, client_factory: Any = None) -> tuple[RunConfig, RunConfig]:
    """The run settings of each arm: the shared ones, or (two model ids) one model session per arm."""
    if not comparison.a_model_id:
        return config, config
    from evals.models import ModelSession

    def arm(model_id: str) -> RunConfig:
        extra: dict[str, Any] = {"client_factory": client_factory} if client_factory is not None else {}
        if cassettes is not None:
            extra["cassettes"] = cassettes
        session = ModelSession(backend=config.model, model_id=model_id, region=region, **extra)
        return RunConfig(model=config.model, seed=config.seed, models=session)

    return arm(comparison.a_model_id), arm(comparison.b_model_id)


def run_comparison(comparison: Comparison, cases: list[GoldenCase], config: RunConfig, cfg: Any,
                   run_dir: Path, *, limit: int | None = None,
                   configs: tuple[RunConfig, RunConfig] | None = None,
                   progress: Any = None) -> tuple[ABAnalysis, dict[str, Any]]:
    """Run both arms on the same cases, write both run records and the analysis.

    ``configs``: per-arm settings (two model ids, see :func:`arm_configs`); each arm's model
    session is checked (cassettes, credentials, model access) before either arm runs.
    """
    config_a, config_b = configs or (config, config)
    chosen = cases_for(comparison, cases, config_a)
    chosen = sorted(chosen, key=lambda c: c.id)[:limit] if limit else chosen
    if not chosen:
        raise ABInputError(f"{comparison.label}: no case is answered by template {comparison.template!r}")
    arms = (config_a,) if config_b is config_a else (config_a, config_b)  # equal settings, maybe two models
    if config_a.model != "offline":
        from evals.models import ModelConfigError, preflight

        try:
            for arm_config in arms:
                preflight(arm_config.model_session(), {"generation": chosen})
        except ModelConfigError as exc:
            raise ABInputError(str(exc)) from exc
    _, rec_a = _run_arm(comparison.a, chosen, config_a, run_dir, progress)
    _, rec_b = _run_arm(comparison.b, chosen, config_b, run_dir, progress)
    for arm_config in arms:
        misses = arm_config.model_session().usage().replay_misses if arm_config.model == "replay" else 0
        if misses:  # the manifest holds one recording per case: an arm with other prompts finds none
            raise ABInputError(f"{comparison.label}: {misses} model request(s) had no cassette (a recording holds one "
                               "prompt version per case); compare prompts with --model offline or bedrock, or "
                               "replay two recorded models with --a-model-id/--b-model-id. No result is comparable")
    for arm, record in (("A", rec_a), ("B", rec_b)):
        errors = [c["error"] for c in record["suites"]["generation"]["cases"] if c["error"]]
        if len(errors) == len(chosen):  # nothing was answered: a verdict would compare two failures
            raise ABInputError(f"{comparison.label}: arm {arm}: all {len(chosen)} cases failed, e.g. {errors[0]}")
    analysis = analyse(rec_a["suites"]["generation"], rec_b["suites"]["generation"], cfg)
    summary = {
        "label": comparison.label, "template": comparison.template, "hypothesis": comparison.hypothesis,
        "a": comparison.a.describe(), "b": comparison.b.describe(),
        "model": rec_a["model"], "model_b": rec_b["model"], "seed": config.seed, "records": {"A": "A/run.json", "B": "B/run.json"},
        "git": rec_a["git"], "created_at": rec_a["created_at"], "analysis": analysis.to_dict(),
    }
    write_json_atomic(summary, run_dir / "ab.json")
    return analysis, summary


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _num(name: str, x: float | None) -> str:
    if x is None:
        return "—"
    if name == "cost_usd":
        return f"{x:.5f}"
    if name in ("words", "output_tokens", "input_tokens", "latency_ms"):
        return f"{x:.1f}"
    return f"{x:.3f}"


def _signed(name: str, x: float | None) -> str:
    return "—" if x is None else ("+" if x >= 0 else "-") + _num(name, abs(x))


def print_comparison(out: TextIO, summary: dict[str, Any], analysis: ABAnalysis, run_dir: Path) -> None:
    """The printed verdict with its statistics (one screen)."""
    a_label = summary["a"]["versions"] or summary["a"]["prompt_dirs"] or ["shipped prompts"]
    b_label = summary["b"]["versions"] or summary["b"]["prompt_dirs"] or ["shipped prompts"]
    model_b = (summary.get("model_b") or summary["model"])["id"]
    models = (f"model {summary['model']['id']}" if model_b == summary["model"]["id"]
              else f"models A={summary['model']['id']}, B={model_b}")
    print(f"\nA/B {summary['label']}  (A={_arm_text(a_label)}, B={_arm_text(b_label)}; {models}, "
          f"seed {summary['seed']}; {analysis.n} paired cases)", file=out)
    if summary.get("hypothesis"):
        print(f"hypothesis (B): {summary['hypothesis']}", file=out)
    print(f"  {'metric':<25}{'A':>10}{'B':>10}{'B−A':>10}  {'interval':<22} test", file=out)
    for m in analysis.metrics:
        interval = f"[{_signed(m.name, m.ci_low)}, {_signed(m.name, m.ci_high)}]"
        test = _SHORT_METHOD.get(m.method.split(" (")[0].split(",")[0], m.method)
        if m.p_value is not None:
            test += f", p={m.p_value:.3g}" if m.p_value > 0 else f", p<{1 / analysis.config.resamples:.1g}"
        if m.note and m.name != "guardrail_violation_rate":
            test += f" ({m.note})"
        elif m.note:
            test += f" (margin {analysis.config.guardrail_margin:+.3f}: {m.note.rsplit(': ', 1)[-1]})"
        if m.decides:
            test += " — decides"
        if m.name == "guardrail_violation_rate":
            interval = f"[…, {_signed(m.name, m.ci_high)}]"
        print(f"  {m.name:<25}{_num(m.name, m.a):>10}{_num(m.name, m.b):>10}{_signed(m.name, m.delta):>10}  "
              f"{interval:<22} {test}", file=out)
    judge = summary.get("judge")
    if judge:
        agree = judge["agreement"]
        kappa = "n/a (undefined on these cases)" if agree.get("kappa") is None else (
            f"{agree['kappa']:.2f} [{_opt(agree['ci'][0])}, {_opt(agree['ci'][1])}] on {agree['n']} labelled cases")
        print(f"  judge {judge['model_id']} (both orders; reported, does not decide): {judge['n']} pairs, "
              f"B wins {judge['wins_b']}, A wins {judge['wins_a']}, ties {judge['ties']}; preference for B "
              f"{judge['preference_b']:+.3f} [{judge['ci'][0]:+.3f}, {judge['ci'][1]:+.3f}], sign test "
              f"p={judge['p_value']:.3g}; judge vs quality labels kappa {kappa}", file=out)
    print(f"verdict: {analysis.decision}", file=out)
    for r in analysis.reasons:
        print(f"  · {r}", file=out)
    print(f"records: {_rel(run_dir / 'A' / 'run.json')}, {_rel(run_dir / 'B' / 'run.json')}; "
          f"analysis {_rel(run_dir / 'ab.json')}", file=out)


def _opt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


_SHORT_METHOD = {"paired bootstrap": "paired bootstrap", "McNemar exact": "McNemar exact",
                 "non-inferiority": "non-inferiority, one-sided bootstrap bound"}


def _arm_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}@{v}" for k, v in value.items())
    return ", ".join(str(v) for v in value)


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _session(args: argparse.Namespace) -> Any:
    """The model session both arms of a prompt comparison share (two model ids: one per arm)."""
    from evals.models import DEFAULT_CASSETTES, ModelSession

    return ModelSession(backend=args.model, model_id=args.model_id, region=args.region,
                        cassettes=args.cassettes or DEFAULT_CASSETTES)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-")[:60]


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the A/B comparisons; returns the exit code (0, 1 when B is worse, 2 bad input)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = build_parser()
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=err)
        return EXIT_BAD_INPUT
    from evals.cli import Progress
    from evals.judge import JudgeConfigError
    from evals.models import ModelConfigError

    judge = None
    try:
        cfg = load_ab_config(args.config)
        comparisons = plan(args)
        cases = generation_suite().load_cases()
        if args.judge:
            judge = make_judge(args.judge_model_id, args.judge_region)
    except (ABInputError, ABConfigError, GoldenSetError, JudgeConfigError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    judge_agreement = None
    config = RunConfig(model=args.model, models=_session(args))
    run_id = new_run_id()
    root = Path(args.report_dir) / f"{run_id}-ab"
    results = []
    summaries: list[dict[str, Any]] = []
    for comparison in comparisons:
        run_dir = root / _slug(comparison.label) if len(comparisons) > 1 else root
        print(f"[ab] {comparison.label}: running both arms …", file=err, flush=True)
        try:
            configs = arm_configs(comparison, config, region=args.region, cassettes=args.cassettes)
            analysis, summary = run_comparison(comparison, cases, config, cfg, run_dir, limit=args.limit,
                                               configs=configs, progress=Progress(err))
        except (ABInputError, ValueError, ModelConfigError) as exc:
            print(f"error: {exc}", file=err)
            return EXIT_BAD_INPUT
        if judge is not None:
            from evals.judge import agreement_on_quality, pairwise

            if judge_agreement is None:
                judge_agreement = agreement_on_quality(judge, judge_quality_cases(args.judge_quality_cases))
            summary["judge"] = {**pairwise(judge, analysis.per_case, args.judge_limit, confidence=1 - cfg.alpha),
                                "agreement": judge_agreement}
            write_json_atomic(summary, run_dir / "ab.json")
        if not args.no_html:
            from evals.report import write_ab_report

            write_ab_report(summary, run_dir / "index.html")
        print_comparison(out, summary, analysis, run_dir)
        results.append((comparison, analysis))
        summaries.append(summary)
    if not args.no_html and len(summaries) > 1:
        from evals.report import write_ab_report

        write_ab_report(summaries, root / "index.html")
    copy_latest(root, Path(args.report_dir) / "ab-latest")
    worse = [c.label for c, a in results if a.regression]
    print("", file=out)
    if args.expect_worse:
        missed = [c.label for c, a in results if not a.regression]
        if missed:
            print(f"CANARY MISSED: B not found worse in {len(missed)} of {len(results)} comparison(s) of a known "
                  f"regression: {'; '.join(missed)}", file=out)
            return EXIT_WORSE
        print(f"canary caught: B worse in all {len(results)} comparison(s) of a known regression", file=out)
        return EXIT_OK
    if worse:
        print(f"REGRESSION: B worse in {len(worse)} of {len(results)} comparison(s): {'; '.join(worse)}", file=out)
        return EXIT_WORSE
    print(f"no regression in {len(results)} comparison(s)", file=out)
    return EXIT_OK
