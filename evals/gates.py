"""Regression gates from a committed TOML file (``evals/gates.toml``).

Three kinds of gate decide the exit code:

* ``[[floor]]``: an absolute bound per suite and metric (``min`` and/or ``max``).
* ``[[no_regression]]``: the metric must not be significantly worse than the baseline
  (McNemar / paired bootstrap / interval, as ``compare.py`` decides).
* ``[zero_tolerance]``: any case carrying one of the listed flags (``secret_leak``,
  ``blocked_category_passed``) fails the run, whatever the statistics say.
* ``[[must_not_regress]]``: no case carrying one of the listed ``tags`` (glob patterns,
  e.g. ``secret``, ``escalate:*``) that passed in the baseline may fail now: one such
  case fails the run, whatever the statistics say.
* ``[[max_regressions]]``: at most ``max`` cases of the suite may regress (pass in the
  baseline, fail or go missing now), significant or not.

``metric`` may name a per-case scorer as ``score:<scorer>``: its gate is the paired
bootstrap of the per-case values against the baseline (``compare.py``).

Names are checked before any suite runs (:func:`check_names`): an unknown suite, a
metric no suite's baseline has, or a tag no case carries is an error naming the file
and the line. A partial run (``--case``/``--tag``/``--split``/``--limit``) decides only
the per-case gates; floors, metric comparisons and targets need the whole suite and are
reported as ``skipped``.

``[[target]]`` entries have the shape of floors but never change the exit code: they are
the issue's acceptance targets that are not met yet, reported as met/missed in the summary
and the report (:func:`evaluate_targets`), so a missed target is visible without turning
CI red on a number nobody can fix in one change.

A suite that could not run (its component failed to build) fails its ``suite_ran``
gate. ``suite = "*"`` applies an entry to every suite that ran.

Example:
    >>> cfg = parse_gates({"floor": [{"suite": "intent", "metric": "macro_f1", "min": 0.9}]}, "gates.toml")
    >>> cfg.floors[0].minimum
    0.9
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.compare import SuiteComparison

GATES_FILE = Path(__file__).resolve().parent / "gates.toml"
ZERO_TOLERANCE_FLAGS = ("secret_leak", "blocked_category_passed")
_TOP_KEYS = {"settings", "floor", "no_regression", "zero_tolerance", "target", "must_not_regress",
             "max_regressions"}
#: Gates that read one case at a time: they stay meaningful on a partial run.
PER_CASE_KINDS = ("suite_ran", "zero_tolerance", "must_not_regress", "max_regressions")


class GateConfigError(ValueError):
    """The gates file is malformed; the message names the file, the line (when known) and the key."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None,
                 problem: str | None = None) -> None:
        super().__init__(message)
        self.path, self.key, self.problem = path, key, problem

    def at_line(self, line: int | None) -> GateConfigError:
        """The same error with the line of the gates file it is about."""
        if line is None or self.path is None or self.key is None:
            return self
        return GateConfigError(f"{self.path}:{line}: key '{self.key}': {self.problem}", path=self.path,
                               key=self.key, problem=self.problem)


@dataclass(frozen=True, slots=True)
class Floor:
    suite: str
    metric: str
    minimum: float | None = None
    maximum: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NoRegression:
    suite: str
    metric: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MustNotRegress:
    suite: str
    tags: tuple[str, ...]
    label: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MaxRegressions:
    suite: str
    maximum: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class GateConfig:
    """Parsed gates. ``path`` is kept for error messages."""

    path: str
    alpha: float = 0.05
    floors: tuple[Floor, ...] = ()
    no_regression: tuple[NoRegression, ...] = ()
    zero_tolerance_flags: tuple[str, ...] = ZERO_TOLERANCE_FLAGS
    zero_tolerance_suites: tuple[str, ...] = ("*",)
    targets: tuple[Floor, ...] = ()
    must_not_regress: tuple[MustNotRegress, ...] = ()
    max_regressions: tuple[MaxRegressions, ...] = ()
    lines: dict[str, int] = field(default_factory=dict, hash=False, compare=False)

    def line_of(self, key: str) -> int | None:
        """The line of ``[[table]]`` entry ``key`` (``floor[3].metric`` → the 4th ``[[floor]]``)."""
        return _line_of(self.lines, key)


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of one gate on one suite."""

    name: str  # e.g. "floor:intent.macro_f1>=0.9"
    kind: str  # floor | no_regression | zero_tolerance | suite_ran | must_not_regress | max_regressions
    suite: str
    passed: bool
    detail: str
    metric: str | None = None
    value: float | None = None
    cases: tuple[str, ...] = field(default=())
    #: Not decided: the run was partial and this gate needs the whole suite (``passed`` is False).
    skipped: bool = False
    #: The p-value of the paired test behind a ``no_regression`` gate (multiplicity note).
    p_value: float | None = None

    @property
    def failed(self) -> bool:
        """Decided and not passed (a skipped gate neither passed nor failed)."""
        return not self.passed and not self.skipped

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "suite": self.suite, "passed": self.passed,
                "detail": self.detail, "metric": self.metric, "value": self.value, "cases": list(self.cases),
                "skipped": self.skipped, "p_value": self.p_value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(**{**data, "cases": tuple(data.get("cases") or ())})


def _err(path: str, key: str, problem: str) -> GateConfigError:
    return GateConfigError(f"{path}: key '{key}': {problem}", path=path, key=key, problem=problem)


def table_lines(text: str) -> dict[str, int]:
    """Line numbers of the tables and keys of a TOML text.

    Example:
        >>> table_lines('[settings]\\nalpha = 0.05\\n[[floor]]\\nsuite = "intent"\\n')
        {'settings': 1, 'settings.alpha': 2, 'floor[0]': 3, 'floor[0].suite': 4}
    """
    import re

    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        m = re.match(r"\s*\[\[\s*([A-Za-z_]+)\s*\]\]", line)
        if m:
            i = counts.get(m.group(1), 0)
            counts[m.group(1)] = i + 1
            current = f"{m.group(1)}[{i}]"
            lines[current] = number
            continue
        m = re.match(r"\s*\[\s*([A-Za-z_]+)\s*\]", line)
        if m:
            current = m.group(1)
            lines.setdefault(current, number)
            continue
        m = re.match(r"\s*([A-Za-z_]+)\s*=", line)
        if m and current:
            lines.setdefault(f"{current}.{m.group(1)}", number)
    return lines


def _line_of(lines: dict[str, int], key: str) -> int | None:
    import re

    if key in lines:
        return lines[key]
    m = re.match(r"([A-Za-z_]+(?:\[\d+\])?)", key)
    return lines.get(m.group(1)) if m else None


def _str(entry: dict[str, Any], key: str, path: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise _err(path, f"{where}.{key}", "must be a non-empty string")
    return value


def _num(entry: dict[str, Any], key: str, path: str, where: str) -> float | None:
    if key not in entry:
        return None
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(float(value)):
        raise _err(path, f"{where}.{key}", f"must be a number, got {value!r}")
    return float(value)


def parse_gates(data: dict[str, Any], path: str, *, known_suites: tuple[str, ...] | None = None) -> GateConfig:
    """Validate the TOML content; raises :class:`GateConfigError` naming file and key."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _err(path, sorted(unknown)[0], f"unknown section; allowed: {', '.join(sorted(_TOP_KEYS))}")
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise _err(path, "settings", "must be a table")
    alpha = _num(settings, "alpha", path, "settings")
    if alpha is not None and not 0 < alpha < 1:
        raise _err(path, "settings.alpha", "must be between 0 and 1")

    def check_suite(name: str, where: str) -> None:
        if known_suites is not None and name != "*" and name not in known_suites:
            raise _err(path, f"{where}.suite", f"unknown suite {name!r}; known: {', '.join(known_suites)}")

    def entries(table: str, allowed: tuple[str, ...]) -> list[tuple[str, dict[str, Any], str]]:
        """The ``[[table]]`` entries as (where, entry, suite), each checked for shape and keys."""
        raw = data.get(table, [])
        if not isinstance(raw, list):
            raise _err(path, table, f"must be an array of tables ([[{table}]])")
        checked = []
        for i, entry in enumerate(raw):
            where = f"{table}[{i}]"
            if not isinstance(entry, dict):
                raise _err(path, where, "must be a table")
            extra = set(entry) - set(allowed)
            if extra:
                raise _err(path, f"{where}.{sorted(extra)[0]}", f"unknown key; allowed: {', '.join(allowed)}")
            suite = _str(entry, "suite", path, where)
            check_suite(suite, where)
            checked.append((where, entry, suite))
        return checked

    def bounds(table: str) -> list[Floor]:
        found = []
        for where, entry, suite in entries(table, ("suite", "metric", "min", "max", "reason")):
            lo, hi = _num(entry, "min", path, where), _num(entry, "max", path, where)
            if lo is None and hi is None:
                raise _err(path, where, "needs 'min' or 'max'")
            found.append(Floor(suite, _str(entry, "metric", path, where), lo, hi, str(entry.get("reason", ""))))
        return found

    floors = bounds("floor")
    targets = bounds("target")
    regs = [
        NoRegression(suite, _str(entry, "metric", path, where), str(entry.get("reason", "")))
        for where, entry, suite in entries("no_regression", ("suite", "metric", "reason"))
    ]
    mnr = []
    for where, entry, suite in entries("must_not_regress", ("suite", "tags", "name", "reason")):
        tags = entry.get("tags")
        if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t for t in tags):
            raise _err(path, f"{where}.tags", "must be a non-empty list of tag patterns (e.g. [\"secret\", \"secret:*\"])")
        label = entry.get("name", tags[0])
        if not isinstance(label, str) or not label:
            raise _err(path, f"{where}.name", "must be a non-empty string")
        mnr.append(MustNotRegress(suite, tuple(tags), label, str(entry.get("reason", ""))))
    maxreg = []
    for where, entry, suite in entries("max_regressions", ("suite", "max", "reason")):
        value = entry.get("max")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _err(path, f"{where}.max", f"must be a whole number >= 0, got {value!r}")
        maxreg.append(MaxRegressions(suite, value, str(entry.get("reason", ""))))
    zt = data.get("zero_tolerance", {})
    if not isinstance(zt, dict):
        raise _err(path, "zero_tolerance", "must be a table")
    flags = zt.get("flags", list(ZERO_TOLERANCE_FLAGS))
    if not isinstance(flags, list) or not all(f in ZERO_TOLERANCE_FLAGS for f in flags):
        raise _err(path, "zero_tolerance.flags", f"must be a list drawn from {', '.join(ZERO_TOLERANCE_FLAGS)}")
    zsuites = zt.get("suites", ["*"])
    if not isinstance(zsuites, list) or not all(isinstance(s, str) for s in zsuites):
        raise _err(path, "zero_tolerance.suites", "must be a list of suite names")
    for s in zsuites:
        check_suite(s, "zero_tolerance")
    return GateConfig(path, alpha if alpha is not None else 0.05, tuple(floors), tuple(regs), tuple(flags),
                      tuple(zsuites), tuple(targets), tuple(mnr), tuple(maxreg))


def load_gates(path: Path | str = GATES_FILE, *, known_suites: tuple[str, ...] | None = None) -> GateConfig:
    """Read and validate a gates file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError as exc:
        raise GateConfigError(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise GateConfigError(f"{path}: not valid TOML ({exc})") from exc
    lines = table_lines(text)
    try:
        config = parse_gates(data, str(path), known_suites=known_suites)
    except GateConfigError as exc:
        raise exc.at_line(_line_of(lines, exc.key or "")) from None
    return dataclasses.replace(config, lines=lines)


def check_names(config: GateConfig, suites: Mapping[str, SuiteNames], *, complete: bool = True) -> None:
    """Check every gate's suite, metric and tag names before any suite runs.

    Args:
        config: The parsed gates.
        suites: For each suite about to run, the names it is known to produce: metrics
            (from its committed baseline; None when there is no baseline yet, which skips
            the metric check), per-case scores and the tags of its cases.
        complete: Every suite runs. A wildcard entry (``suite = "*"``) is checked only
            then: on a few suites, a name that none of them has may belong to another.

    Raises:
        GateConfigError: Naming the file, the line and the key of the first unknown name.
    """
    def fail(key: str, problem: str) -> None:
        raise _err(config.path, key, problem).at_line(config.line_of(key))

    def metric_known(names: SuiteNames, metric: str) -> bool | None:
        if metric.startswith("score:"):
            return metric[len("score:"):] in names.scores
        return None if names.metrics is None else metric in names.metrics

    for table, entries in (("floor", config.floors), ("no_regression", config.no_regression),
                           ("target", config.targets)):
        for i, entry in enumerate(entries):
            key = f"{table}[{i}].metric"
            if entry.suite == "*":
                if not complete:
                    continue
                known = [metric_known(n, entry.metric) for n in suites.values()]
                if known and all(k is False for k in known):
                    fail(key, f"no suite of this run has a metric {entry.metric!r}")
            elif entry.suite in suites and metric_known(suites[entry.suite], entry.metric) is False:
                names = suites[entry.suite]
                have = sorted(names.metrics or ()) + [f"score:{s}" for s in sorted(names.scores)]
                fail(key, f"suite {entry.suite!r} has no metric {entry.metric!r}; it has "
                          f"{', '.join(have[:40])}" + (" …" if len(have) > 40 else ""))
    for i, mnr in enumerate(config.must_not_regress):
        pool = [n for s, n in suites.items() if _applies(mnr.suite, s)]
        if not pool or (mnr.suite == "*" and not complete):
            continue
        for pattern in mnr.tags:
            if not any(fnmatch.fnmatchcase(tag, pattern) for n in pool for tag in n.tags):
                where = "every suite of this run" if mnr.suite == "*" else f"suite {mnr.suite!r}"
                fail(f"must_not_regress[{i}].tags", f"no case of {where} carries a tag matching {pattern!r}")


@dataclass(frozen=True, slots=True)
class SuiteNames:
    """What a suite is known to produce, for :func:`check_names`."""

    metrics: frozenset[str] | None
    scores: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()


def suite_names(baseline_suite: Mapping[str, Any] | None, cases: Any = (),
                scorers: Any = ()) -> SuiteNames:
    """The names of a suite: metrics from its baseline record, scores and tags from its cases."""
    metrics = None if baseline_suite is None else frozenset(baseline_suite.get("metrics") or ())
    tags = frozenset(t for c in cases for t in (c.tags if hasattr(c, "tags") else c.get("tags") or ()))
    scores = frozenset(getattr(s, "name", s) for s in scorers)
    return SuiteNames(metrics, scores, tags)


def _bound_text(bound: Floor) -> str:
    """``>= 0.9``, ``<= 0.05`` or both, as gate names and details show them."""
    return " and ".join(b for b in (f">= {bound.minimum}" if bound.minimum is not None else "",
                                    f"<= {bound.maximum}" if bound.maximum is not None else "") if b)


def _within(bound: Floor, value: float) -> bool:
    return (bound.minimum is None or value >= bound.minimum) and (bound.maximum is None or value <= bound.maximum)


def _applies(entry_suite: str, suite: str) -> bool:
    return entry_suite in ("*", suite)


def _skipped(name: str, kind: str, suite: str, metric: str | None = None) -> GateResult:
    return GateResult(name, kind, suite, False, "skipped: partial run (this gate needs the whole suite)", metric,
                      skipped=True)


def evaluate(config: GateConfig, record: dict[str, Any], comparisons: dict[str, SuiteComparison],
             known_flags: dict[str, dict[str, set[str]]] | None = None, *, partial: bool | None = None
             ) -> list[GateResult]:
    """Evaluate every gate against a run record and its comparisons.

    Args:
        config: The gates.
        record: The run record.
        comparisons: Each suite against its baseline.
        known_flags: Zero-tolerance flags the baseline already carries (the ratchet).
        partial: The run ran a selection of cases (default: the record has a ``selection``):
            floors and metric comparisons are skipped, per-case gates are decided.

    Raises:
        GateConfigError: A gate names a metric that a suite which ran does not produce
            (a typo in the config), except wildcard entries, which skip such suites.
    """
    if partial is None:
        partial = bool(record.get("selection"))
    results: list[GateResult] = []

    def config_error(key: str, problem: str) -> GateConfigError:
        return _err(config.path, key, problem).at_line(config.line_of(key))

    for name, suite in record["suites"].items():
        ran = suite.get("setup_error") is None
        results.append(GateResult(f"suite_ran:{name}", "suite_ran", name, ran,
                                  "ok" if ran else f"the suite could not run: {suite['setup_error']}"))
        metrics = suite["metrics"]
        comp = comparisons.get(name)
        for i, floor in enumerate(config.floors):
            if not _applies(floor.suite, name):
                continue
            bound = _bound_text(floor)
            gname = f"floor:{name}.{floor.metric} {bound}"
            if partial:
                results.append(_skipped(gname, "floor", name, floor.metric))
                continue
            if floor.metric not in metrics:
                if floor.suite == "*" or not ran:
                    continue
                raise config_error(f"floor[{i}].metric", f"suite {name!r} has no metric {floor.metric!r}; "
                                   f"it has {', '.join(sorted(metrics))}")
            value = metrics[floor.metric]["value"]
            if value is None:
                results.append(GateResult(gname, "floor", name, False, "metric undefined (no cases)", floor.metric))
                continue
            ok = _within(floor, value)
            ci = metrics[floor.metric].get("ci") or [None, None]
            results.append(GateResult(gname, "floor", name, ok, f"{floor.metric} = {value:.4f} (95% CI {_fmt(ci[0])}–"
                                      f"{_fmt(ci[1])}); required {bound}" + (f" — {floor.reason}" if floor.reason else ""),
                                      floor.metric, value))
        for i, reg in enumerate(config.no_regression):
            if not _applies(reg.suite, name):
                continue
            gname = f"no_regression:{name}.{reg.metric}"
            if partial:
                results.append(_skipped(gname, "no_regression", name, reg.metric))
                continue
            if comp is None or not comp.has_baseline:
                results.append(GateResult(gname, "no_regression", name, True, "no baseline to compare with", reg.metric))
                continue
            per_case = reg.metric.startswith("score:")
            if not per_case and reg.metric not in metrics:
                if reg.suite == "*" or not ran:
                    continue
                raise config_error(f"no_regression[{i}].metric", f"suite {name!r} has no metric {reg.metric!r}")
            delta = comp.metrics.get(reg.metric)
            if delta is None:
                if per_case and reg.suite != "*" and ran and not any(
                        reg.metric == f"score:{s['name']}" for s in suite.get("scorers") or ()):
                    raise config_error(f"no_regression[{i}].metric", f"suite {name!r} has no scorer "
                                       f"{reg.metric[len('score:'):]!r}")
                if per_case and reg.suite == "*":
                    continue
                results.append(GateResult(gname, "no_regression", name, True, "metric not in the baseline", reg.metric))
                continue
            cases = tuple(c.id for c in comp.regressions()) if reg.metric == "pass_rate" else ()
            detail = (f"{reg.metric}: {_fmt(delta.baseline)} → {_fmt(delta.current)} (Δ {_fmt(delta.delta, True)}, "
                      f"95% CI {_fmt(delta.ci_low, True)}…{_fmt(delta.ci_high, True)}, {delta.test}"
                      + (f" p={delta.p_value:.4g}" if delta.p_value is not None else "") + ")")
            results.append(GateResult(gname, "no_regression", name, not delta.significant_regression, detail,
                                      reg.metric, delta.current, cases[:50], p_value=delta.p_value))
        for mnr in config.must_not_regress:
            if not _applies(mnr.suite, name):
                continue
            tagged = {c["id"] for c in suite["cases"]
                      if any(fnmatch.fnmatchcase(t, p) for t in c.get("tags") or () for p in mnr.tags)}
            if mnr.suite == "*" and not tagged:
                continue  # a wildcard applies to the suites whose cases carry the tags
            gname = f"must_not_regress:{name}[{mnr.label}]"
            if comp is None or not comp.has_baseline:
                results.append(GateResult(gname, "must_not_regress", name, True, "no baseline to compare with"))
                continue
            hits = tuple(c.id for c in comp.changes if c.status == "regressed" and c.id in tagged)
            detail = (f"none of {len(tagged):,} case(s) tagged {', '.join(mnr.tags)} regressed" if not hits else
                      f"{len(hits)} case(s) tagged {', '.join(mnr.tags)} passed in the baseline and fail now: "
                      f"{', '.join(hits[:20])}") + (f" — {mnr.reason}" if mnr.reason else "")
            results.append(GateResult(gname, "must_not_regress", name, not hits, detail, cases=hits[:50]))
        for mr in config.max_regressions:
            if not _applies(mr.suite, name):
                continue
            gname = f"max_regressions:{name} <= {mr.maximum}"
            if comp is None or not comp.has_baseline:
                results.append(GateResult(gname, "max_regressions", name, True, "no baseline to compare with"))
                continue
            regressed = tuple(c.id for c in comp.regressions())
            detail = (f"{len(regressed)} case(s) regressed (passed in the baseline, fail or missing now); "
                      f"at most {mr.maximum} allowed" + (f" — {mr.reason}" if mr.reason else ""))
            results.append(GateResult(gname, "max_regressions", name, len(regressed) <= mr.maximum, detail,
                                      value=float(len(regressed)), cases=regressed[:50]))
        if any(_applies(s, name) for s in config.zero_tolerance_suites):
            for flag in config.zero_tolerance_flags:
                # A ratchet: a flag the committed baseline already carries is a known, listed
                # defect (reported, and a target); any new one fails the run.
                known = ((known_flags or {}).get(name) or {}).get(flag, set())
                hits = tuple(c["id"] for c in suite["cases"] if flag in (c.get("flags") or ()) and c["id"] not in known)
                detail = "none" if not hits else f"{len(hits)} case(s): {', '.join(hits[:20])}"
                results.append(GateResult(f"zero_tolerance:{name}.{flag}", "zero_tolerance", name, not hits, detail,
                                          cases=hits))
    return results


def multiplicity_note(gates: Sequence[GateResult], alpha: float = 0.05) -> str | None:
    """A sentence on the number of statistical tests behind the gates (multiple comparisons).

    Each ``no_regression`` gate is a test at ``alpha``: with k of them, about k × alpha would
    flag by chance on a run that changed nothing. The gates keep alpha per test (a false
    alarm costs a look; a missed regression ships), and the note says how many significant
    results survive Holm's family-wise correction, so a reader can weigh a lone red metric.
    """
    tested = [g for g in gates if g.kind == "no_regression" and g.p_value is not None and not g.skipped]
    if not tested:
        return None
    k = len(tested)
    significant = [g for g in tested if g.failed]
    ordered = sorted(tested, key=lambda g: g.p_value or 0.0)
    holm: set[str] = set()
    for rank, g in enumerate(ordered):
        if (g.p_value or 0.0) <= alpha / (k - rank):
            holm.add(g.name)
        else:
            break
    surviving = sum(1 for g in significant if g.name in holm)
    chance = 1 - (1 - alpha) ** k
    tests = f"{k} paired tests decide" if k != 1 else "1 paired test decides"
    text = (f"{tests} no-regression gates at alpha={alpha:g}; on a run that changed nothing "
            f"about {k * alpha:.1f} would flag by chance (chance of at least one: {chance:.0%}). ")
    if significant:
        text += (f"{len(significant)} flagged, {surviving} of them also significant after Holm's correction "
                 "for the whole family; the gates keep alpha per test.")
    else:
        text += "None flagged."
    return text


def evaluate_targets(config: GateConfig, record: dict[str, Any], *, partial: bool | None = None) -> list[GateResult]:
    """Acceptance targets: met or missed, never part of the verdict.

    A target naming a suite whose run lacks the metric (e.g. a blind metric before the
    suite has blind cases) is reported as missed with the reason; a wildcard target skips
    suites without the metric, as wildcard floors do. A partial run skips every target.
    """
    if partial is None:
        partial = bool(record.get("selection"))
    results = []
    for target in config.targets:
        for name, suite in record["suites"].items():
            if not _applies(target.suite, name):
                continue
            bound = _bound_text(target)
            gname = f"target:{name}.{target.metric} {bound}"
            if partial:
                if target.suite != "*":
                    results.append(_skipped(gname, "target", name, target.metric))
                continue
            metric = suite["metrics"].get(target.metric)
            value = None if metric is None else metric.get("value")
            if value is None:
                if target.suite == "*":
                    continue  # as for floors: a wildcard applies to the suites that have the metric
                results.append(GateResult(gname, "target", name, False, "metric not produced by this run",
                                          target.metric))
                continue
            ok = _within(target, value)
            ci = metric.get("ci") or [None, None]
            results.append(GateResult(gname, "target", name, ok, f"{target.metric} = {value:.4f} (95% CI "
                                      f"{_fmt(ci[0])}–{_fmt(ci[1])}); target {bound}"
                                      + (f" — {target.reason}" if target.reason else ""), target.metric, value))
    return results


def _fmt(x: float | None, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"
