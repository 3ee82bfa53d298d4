"""``python -m evals``: run suites, compare with baselines, gate, write record/JUnit/report.

Usage::

    python -m evals                                 # every suite, offline model
    python -m evals --suite intent --suite quality  # some suites
    python -m evals --update-baseline               # deliberately rewrite evals/baselines/
    python -m evals --report-dir /tmp/r --baseline-dir /tmp/b --gates my_gates.toml
    python -m evals feedback-report --input feedback.jsonl   # evals/feedback_report.py
    python -m evals report RUN.json --against BASE.json      # evals/report_cmd.py
    python -m evals --suite intent --tag 'escalate:*' --limit 20   # a partial run (developer loop)
    python -m evals review-export RUN.json --out review.jsonl  # evals/review.py
    python -m evals review-import review.jsonl --reviewer NAME

Exit codes: 0 every gate passed; 1 a gate failed; 2 bad input or configuration (the
message names the file and the line or key).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from evals import baseline as baseline_mod
from evals.agreement import load_agreement
from evals.batch import BatchError
from evals.compare import SuiteComparison, compare_suite
from evals.datasets import GoldenSetError
from evals.epochs import REDUCERS
from evals.exits import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK, parse_args
from evals.gates import (
    GATES_FILE,
    GateConfigError,
    check_names,
    evaluate,
    evaluate_targets,
    load_gates,
    suite_names,
)
from evals.junit import write_junit
from evals.models import (
    DEFAULT_CASSETTES,
    ModelConfigError,
    ModelSession,
    baseline_model_warnings,
    preflight,
    price_usd,
)
from evals.parallel import DEFAULT_JOBS, run_suites
from evals.record import (
    REPO_ROOT,
    RecordError,
    build_record,
    copy_latest,
    load_record,
    new_run_id,
    write_json_atomic,
)
from evals.runner import RunConfig, Suite, SuiteResult, run_suite
from evals.selection import (
    Selection,
    SelectionError,
    blind_case_ids,
    check,
    failed_case_ids,
    rerun_source,
    restrict_baseline,
    select_cases,
    unknown_case_ids,
)
from evals.suites import OPT_IN_SUITES, SUITES, get_suite
from evals.summary import print_summary

DEFAULT_REPORT_DIR = REPO_ROOT / "reports" / "out"
MODELS = ("offline", "replay", "bedrock")


class Progress:
    """A progress bar on a terminal, plain lines otherwise: when the stream is not a
    terminal or the ``CI`` environment variable is set (CI logs keep every line).

    The bar appears only once a suite has run for ``delay_s`` seconds, so quick suites and
    one-case developer runs print no bar at all.
    """

    def __init__(self, stream: TextIO, *, tty: bool | None = None, delay_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        if tty is None:
            ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
            tty = not ci and hasattr(stream, "isatty") and stream.isatty()
        self.tty = tty
        self.delay_s = delay_s
        self._clock = clock
        self._started = clock()
        self._last = ""

    def start(self, suite: str, total: int) -> None:
        self._started = self._clock()
        self._last = ""
        if not self.tty:
            print(f"[{suite}] running {total} cases", file=self.stream, flush=True)

    def __call__(self, suite: str, done: int, total: int) -> None:
        if not self.tty or self._clock() - self._started < self.delay_s:
            return
        width = 30
        filled = int(width * done / total) if total else width
        line = f"\r{suite:<18} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}"
        if line != self._last:
            self.stream.write(line)
            self.stream.flush()
            self._last = line

    def end(self, result: SuiteResult, label: str | None = None) -> None:
        pr = result.metrics.get("pass_rate")
        name = label or result.suite.name
        msg = (f"[{name}] {len(result.cases):,} cases in {result.timings['total_s']:.2f} s, "
               f"pass rate {pr.value:.3f}" if pr and pr.n else f"[{name}] no cases")
        if result.setup_error:
            msg += f" — SETUP FAILED: {result.setup_error}"
        if self.tty and self._last:
            self.stream.write("\r" + " " * 70 + "\r")
            self._last = ""  # a bar still running (--jobs) is drawn again on its next step
        print(msg, file=self.stream, flush=True)


DESCRIPTION = """\
Replay the golden sets (golden_sets/*.jsonl) through the assistant's components, score
them, compare each suite with its committed baseline (evals/baselines/), apply the gates
(evals/gates.toml) and write run.json, junit.xml and a self-contained index.html under
reports/out/<run-id>/ (copied to reports/out/latest/). The default model is the offline
stand-in for Bedrock: no network, no credentials."""

EPILOG = """\
examples:
  python -m evals                                 every suite, offline model
  python -m evals --suite intent --suite quality  some suites
  python -m evals --model replay                  replay the recorded cassettes (evals/cassettes)
  python -m evals --suite conversations --record  record the offline model's answers as cassettes
  python -m evals --model bedrock --model-id us.anthropic.claude-sonnet-4-6 --region us-east-1
  python -m evals --update-baseline               deliberately rewrite evals/baselines/
  python -m evals --report-dir /tmp/r --baseline-dir /tmp/b --gates my_gates.toml
  python -m evals ab --template compute_troubleshooting --a v1 --b v2
                                                  prompt A/B (python -m evals ab --help)
  python -m evals --case gin-secret-004 --case gin-secret-007
                                                  two cases (a partial run: see "developer loop")
  python -m evals --suite intent --tag escalation --split dev --limit 50
  python -m evals --rerun-failed                  the cases that failed in reports/out/latest/run.json
  python -m evals report reports/out/latest/run.json --against old/run.json
                                                  rebuild the report from two run records
  python -m evals review-export reports/out/latest/run.json --out review.jsonl
  python -m evals review-import review.jsonl --reviewer "A. Reviewer"
                                                  human review: failed/changed cases out, adjudications in

exit codes:
  0  every gate passed
  1  a gate failed (floor, significant regression, or a zero-tolerance case)
  2  bad input or configuration; the message names the file and the line or key

Progress goes to stderr (a bar on a terminal, plain lines when CI is set or output is
not a terminal); the one-screen summary goes to stdout."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", dest="suites", metavar="S",
                        help=f"suite to run (repeatable); default all but {', '.join(OPT_IN_SUITES)}: "
                             f"{', '.join(SUITES)}")
    parser.add_argument("--model", choices=MODELS, default="offline",
                        help="model behind generation: offline (default), replay (recorded cassettes) or bedrock")
    parser.add_argument("--record", action="store_true",
                        help="record every model response as a cassette (with --model offline or bedrock)")
    parser.add_argument("--model-id", help="Bedrock model or inference profile id (--model bedrock; "
                                           "with replay: whose cassettes to replay)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                        help="Bedrock Region (default $AWS_REGION)")
    parser.add_argument("--backend", choices=("ondemand", "batch"), default="ondemand",
                        help="with --model bedrock: on-demand calls (default) or Bedrock batch inference jobs")
    parser.add_argument("--batch-bucket", help="--backend batch: S3 bucket for the JSONL input and output")
    parser.add_argument("--batch-role-arn", help="--backend batch: service role Bedrock assumes for the job")
    parser.add_argument("--epochs", type=int, default=1,
                        help="run each generating suite N times (sampled models) and reduce every case")
    parser.add_argument("--reducer", choices=REDUCERS, default="majority",
                        help="how --epochs combine: majority (default) or mean")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="cases run at once in suites that allow it (a bounded thread pool; default 4)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="suites run at once, each in its own process (suites that call the model stay in the "
                             "main one); 1 runs them one after another. Same results either way (default: "
                             f"{DEFAULT_JOBS}, the cores up to 4, when the suites are expected to take 10 s or more)")
    parser.add_argument("--budget-usd", type=float, default=None,
                        help="stop cleanly before a model call could take the run's spend over this cap")
    parser.add_argument("--cassettes", type=Path, default=DEFAULT_CASSETTES,
                        help="cassette folder for --record and --model replay (default evals/cassettes)")
    parser.add_argument("--update-baseline", action="store_true",
                        help="write this run's records as the committed baselines (evals/baselines/<suite>.json)")
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR,
                        help="where run.json, junit.xml and index.html go (default reports/out)")
    parser.add_argument("--baseline-dir", type=Path, default=baseline_mod.BASELINE_DIR,
                        help="baselines directory (default evals/baselines)")
    parser.add_argument("--gates", type=Path, default=GATES_FILE, help="gates file (default evals/gates.toml)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML report")
    loop = parser.add_argument_group(
        "developer loop", "run some cases only. The run is partial: per-case gates are decided, gates that need "
                          "a whole suite are reported as skipped, and it can never become a baseline. Blind-split "
                          "cases are never selected (they are not for tuning)")
    loop.add_argument("--case", action="append", dest="cases", default=[], metavar="ID",
                      help="run this case (repeatable); without --suite, the suites that have it")
    loop.add_argument("--tag", action="append", dest="tags", default=[], metavar="T",
                      help="run the cases carrying tag T (repeatable; glob patterns such as 'escalate:*')")
    loop.add_argument("--split", action="append", dest="splits", default=[], metavar="S",
                      help="run the cases of split S (train, dev, test; repeatable)")
    loop.add_argument("--limit", type=int, default=None, metavar="N", help="at most N cases per suite")
    loop.add_argument("--rerun-failed", action="store_true",
                      help="run again the cases that failed or regressed in <report-dir>/latest/run.json")
    return parser


def _selection(args: argparse.Namespace) -> Selection:
    """The developer-loop selection from the arguments (``--rerun-failed`` reads the latest run)."""
    selection = Selection(cases=tuple(dict.fromkeys(args.cases)), tags=tuple(args.tags),
                          splits=tuple(dict.fromkeys(args.splits)), limit=args.limit)
    check(selection)
    if args.rerun_failed:
        source = rerun_source(args.report_dir)
        if not source.is_file():
            raise SelectionError(f"--rerun-failed: {_rel(source)} not found; run the suites once first")
        ids = failed_case_ids(load_record(source))
        if args.suites:
            ids = {k: v for k, v in ids.items() if k in args.suites}
        from dataclasses import replace

        selection = replace(selection, rerun_failed=str(source), rerun_ids=ids)
    return selection


def _fail(message: str, stream: TextIO) -> int:
    print(f"error: {message}", file=stream)
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the harness; returns the exit code (0 pass, 1 gate failed, 2 bad input)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ab"]:  # offline prompt A/B: evals/ab.py
        from evals.ab import main as ab_main

        return ab_main(argv[1:], stdout=out, stderr=err)
    if argv[:1] == ["report"]:  # rebuild a report from run records alone: evals/report_cmd.py
        from evals.report_cmd import main as report_main

        return report_main(argv[1:], out=out, err=err)
    if argv[:1] in (["review-export"], ["review-import"]):  # human review: evals/review.py
        from evals.review import export_main, import_main

        return (export_main if argv[0] == "review-export" else import_main)(argv[1:], out=out, err=err)
    if argv[:1] == ["feedback-report"]:  # the offline feedback analysis (pandas), its own CLI
        from evals.feedback_report import main as feedback_report

        return feedback_report(argv[1:], out=out, err=err)
    parser = build_parser()
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.record and args.model == "replay":
        return _fail("--record needs a model that answers: --model offline or --model bedrock", err)
    try:
        selection = _selection(args)
    except (SelectionError, RecordError) as exc:
        return _fail(str(exc), err)
    if selection.active and args.update_baseline:
        return _fail("--update-baseline with --case/--tag/--split/--limit/--rerun-failed: a partial run is never "
                     "a baseline; run the whole suites to update baselines", err)
    if selection.rerun_failed and not selection.rerun_ids:
        print(f"nothing to rerun: every case of {_rel(Path(selection.rerun_failed))} passed", file=out)
        return EXIT_OK
    names = args.suites or ([n for n in SUITES if n in selection.rerun_ids] if selection.rerun_failed
                            else [n for n in SUITES if n not in OPT_IN_SUITES])
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        return _fail(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES)}", err)
    names = list(dict.fromkeys(names))
    try:
        gates = load_gates(args.gates, known_suites=tuple(SUITES))
    except GateConfigError as exc:
        return _fail(str(exc), err)

    # Load every input first so bad input fails before any work is done.
    suites: list[Suite] = []
    loaded = {}
    baselines = {}
    try:
        for name in names:
            suite = get_suite(name)
            suites.append(suite)
            loaded[name] = suite.load_cases()
            baselines[name] = baseline_mod.load_baseline(name, args.baseline_dir)
        agreement = load_agreement()
    except GoldenSetError as exc:
        return _fail(str(exc), err)
    except RecordError as exc:
        return _fail(str(exc), err)
    try:  # every gate name is checked before any suite runs
        check_names(gates, {s.name: suite_names(baseline_mod.baseline_suite(baselines[s.name], s.name),
                                                loaded[s.name], s.scorers) for s in suites},
                    complete=set(names) >= {n for n in SUITES if n not in OPT_IN_SUITES})
    except GateConfigError as exc:
        return _fail(str(exc), err)
    available = {name: len(cases) for name, cases in loaded.items()}
    if selection.active:
        unknown_ids = unknown_case_ids(selection, loaded)
        if unknown_ids:
            return _fail(f"--case {', '.join(unknown_ids)}: no such case in suite(s) {', '.join(names)}", err)
        blind = blind_case_ids(selection, loaded)
        if blind:
            return _fail(f"--case {', '.join(blind)}: blind-split case(s) are never run on their own (not for "
                         "tuning; golden_sets/GUIDE.md §1)", err)
        loaded = {name: select_cases(cases, selection, name) for name, cases in loaded.items()}
        suites = [s for s in suites if loaded[s.name]]
        names = [s.name for s in suites]
        if not suites:
            return _fail("no case matches the selection (--case/--tag/--split/--limit; blind cases are never "
                         "selected)", err)

    if args.backend == "batch" and (args.model != "bedrock" or not args.batch_bucket or not args.batch_role_arn):
        return _fail("--backend batch needs --model bedrock, --batch-bucket and --batch-role-arn", err)
    if args.epochs < 1:
        return _fail("--epochs must be 1 or more", err)
    if args.jobs is not None and not 1 <= args.jobs <= 32:
        return _fail("--jobs must be between 1 and 32", err)
    if not 1 <= args.concurrency <= 64:
        return _fail("--concurrency must be between 1 and 64", err)
    if args.budget_usd is not None and args.budget_usd <= 0:
        return _fail("--budget-usd must be a positive amount", err)
    session = ModelSession(backend=args.model, record=args.record, cassettes=args.cassettes,
                           model_id=args.model_id, region=args.region, budget_usd=args.budget_usd,
                           concurrency=args.concurrency)
    try:
        preflight(session, {s.name: loaded[s.name] for s in suites if s.generates})
    except ModelConfigError as exc:
        return _fail(str(exc), err)
    batch_summary = None
    if args.backend == "batch":
        try:
            batch_summary, collector = _fill_by_batch(args, suites, loaded, err)
        except (BatchError, ModelConfigError) as exc:
            return _fail(f"--backend batch: {exc}", err)
        session.use(collector)
    config = RunConfig(model=args.model, record=args.record, models=session,
                       should_stop=lambda: session.exhausted, concurrency=args.concurrency)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    progress = Progress(err)
    results = run_suites(suites, loaded, config, jobs=args.jobs or DEFAULT_JOBS, auto=args.jobs is None,
                         epochs=args.epochs, reducer=args.reducer, progress=progress, baselines=baselines,
                         stopped=lambda: session.exhausted)
    wall = time.perf_counter() - t0
    usage = session.usage()
    manifest = session.finish()
    if manifest is not None:
        print(f"cassettes recorded: {_rel(manifest)} ({usage.calls} model calls)", file=err)
    if batch_summary is not None:
        if collector.pending:
            return _fail(f"--backend batch: {len(collector.pending)} request(s) had no batch answer in the final "
                         "run (the run is not deterministic between rounds)", err)
        usage.input_tokens, usage.output_tokens = batch_summary["input_tokens"], batch_summary["output_tokens"]
        usage.cost_usd = BATCH_DISCOUNT * price_usd(args.model_id, usage.input_tokens, usage.output_tokens)
    if args.model == "replay" and usage.replay_misses:
        return _fail(f"--model replay: {usage.replay_misses} model request(s) had no cassette in "
                     f"{_rel(args.cassettes)}: the prompts, the knowledge or the workflow changed since "
                     "recording. Re-record with --record; no result of this run is comparable", err)
    run_id = new_run_id(started)
    model_info = _model_info(results, config)
    if any(s.generates for s in suites):
        model_info = {**model_info, "id": _generating_model_id(session, model_info),
                      "usage": usage.to_dict()}
    record = build_record(results, config, run_id=run_id, started_at=started, wall_s=wall, model=model_info)
    if selection.active:
        record["selection"] = selection.to_dict({n: len(loaded[n]) for n in names},
                                                {n: available[n] for n in names})
    if batch_summary is not None:
        record["model"]["batch"] = batch_summary
    record["config"].update({"jobs": args.jobs or DEFAULT_JOBS, "backend": args.backend, "epochs": args.epochs, "reducer": args.reducer, "budget_usd": args.budget_usd,
                             "concurrency": args.concurrency,
                             "region": args.region if args.model == "bedrock" else None})
    if session.exhausted:
        # A partial run compares with nothing: every case not run would read as a regression.
        record["stopped"] = (f"budget cap ${args.budget_usd:.2f} reached after {usage.calls} model calls "
                             f"(${usage.cost_usd:.4f}); suites run: {', '.join(r.suite.name for r in results)}")
        run_dir = Path(args.report_dir) / run_id
        write_json_atomic(record, run_dir / "run.json")
        return _fail(f"stopped: {record['stopped']}. Partial results (not compared, no gates): "
                     f"{_rel(run_dir / 'run.json')}. Raise --budget-usd or run fewer suites", err)

    comparisons: dict[str, SuiteComparison] = {}
    for name in names:
        base = baselines[name]
        base_suite = baseline_mod.baseline_suite(base, name)
        if selection.active:  # compare the cases that ran, not the ones left out
            base_suite = restrict_baseline(base_suite, {c.id for c in loaded[name]})
        comparisons[name] = compare_suite(name, record["suites"][name], base_suite,
                                          alpha=gates.alpha, baseline_run_id=base.get("run_id") if base else None)
    try:
        known_flags = {name: baseline_mod.flagged_cases(baselines[name], name) for name in names}
        gate_results = evaluate(gates, record, comparisons, known_flags)
    except GateConfigError as exc:
        return _fail(str(exc), err)
    verdict_ok = not any(g.failed for g in gate_results)
    warnings = baseline_model_warnings(record, baselines, [s.name for s in suites if s.generates])
    if warnings:
        record["warnings"] = [*record.get("warnings", []), *warnings]
    target_results = evaluate_targets(gates, record)
    record["agreement"] = agreement
    record["verdict"] = {"passed": verdict_ok, "gates": [g.to_dict() for g in gate_results],
                         "targets": [t.to_dict() for t in target_results], "alpha": gates.alpha,
                         "comparison": {k: {"counts": v.counts, "baseline_run_id": v.baseline_run_id,
                                            "metrics": {m: d.to_dict() for m, d in v.metrics.items()}}
                                        for k, v in comparisons.items()}}

    run_dir = Path(args.report_dir) / run_id
    write_json_atomic(record, run_dir / "run.json")
    write_junit(run_dir / "junit.xml", record, gate_results, comparisons)
    if not args.no_html:
        from evals.report import write_report

        write_report(record, comparisons, gate_results, run_dir / "index.html")
    latest = Path(args.report_dir) / "latest"
    copy_latest(run_dir, latest)
    if args.update_baseline:
        written = baseline_mod.write_baselines(record, names, args.baseline_dir)
        for path in written:
            print(f"baseline written: {_rel(path)}", file=out)

    print_summary(out, record, comparisons, gate_results, run_dir / ("run.json" if args.no_html else "index.html"), wall,
                  target_results, alpha=gates.alpha)
    return EXIT_OK if verdict_ok else EXIT_GATE_FAILED


def _model_info(results: list[SuiteResult], config: RunConfig) -> dict[str, object]:
    params: dict[str, object] = {}
    for r in results:
        info = r.details.get("model") if isinstance(r.details, dict) else None
        if isinstance(info, dict):
            params.update(info)
    model_id = params.pop("model_id", None) or {"offline": "offline-model (stand-in for Bedrock)",
                                                 "replay": "replay-cache", "bedrock": "bedrock"}[config.model]
    return {"id": model_id, "backend": config.model, "params": params}


#: Bedrock batch inference is billed at half the on-demand price for the models that offer it.
BATCH_DISCOUNT = 0.5


def _fill_by_batch(args: argparse.Namespace, suites: list[Suite], loaded: dict, err: TextIO) -> tuple[dict, object]:
    """Answer every request of the generating suites through batch jobs (see evals/batch.py)."""
    import boto3

    from evals.batch import BatchSettings, BedrockBatch, CollectingModel, fill_by_batch, read_failed

    settings = BatchSettings(bucket=args.batch_bucket, role_arn=args.batch_role_arn, model_id=args.model_id)
    batch = BedrockBatch(boto3.client("bedrock", region_name=args.region), boto3.client("s3", region_name=args.region),
                         settings)
    generating = [s for s in suites if s.generates]

    def run_round(model: object) -> None:
        holder = ModelSession(backend="replay", cassettes=args.cassettes, model_id=args.model_id)
        holder.use(model)
        for suite in generating:
            run_suite(suite, RunConfig(model="replay", models=holder), cases=loaded[suite.name])

    summary = fill_by_batch(run_round, batch, args.cassettes, run_id=new_run_id(datetime.now(UTC)),
                            log=lambda line: print(line, file=err, flush=True))
    return summary, CollectingModel(args.cassettes, args.model_id, read_failed(args.cassettes))


def _generating_model_id(session: ModelSession, info: dict[str, object]) -> object:
    return session.effective_model_id()


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
