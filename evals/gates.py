"""Regression gates from a committed TOML file (``evals/gates.toml``).

Three kinds of gate decide the exit code:

* ``[[floor]]``: an absolute bound per suite and metric (``min`` and/or ``max``).
* ``[[no_regression]]``: the metric must not be significantly worse than the baseline
  (McNemar / paired bootstrap / interval, as ``compare.py`` decides).
* ``[zero_tolerance]``: any case carrying one of the listed flags (``secret_leak``,
  ``blocked_category_passed``) fails the run, whatever the statistics say.

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

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.compare import SuiteComparison

GATES_FILE = Path(__file__).resolve().parent / "gates.toml"
ZERO_TOLERANCE_FLAGS = ("secret_leak", "blocked_category_passed")
_TOP_KEYS = {"settings", "floor", "no_regression", "zero_tolerance", "target"}


class GateConfigError(ValueError):
    """The gates file is malformed; the message names the file and the key."""


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
class GateConfig:
    """Parsed gates. ``path`` is kept for error messages."""

    path: str
    alpha: float = 0.05
    floors: tuple[Floor, ...] = ()
    no_regression: tuple[NoRegression, ...] = ()
    zero_tolerance_flags: tuple[str, ...] = ZERO_TOLERANCE_FLAGS
    zero_tolerance_suites: tuple[str, ...] = ("*",)
    targets: tuple[Floor, ...] = ()


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of one gate on one suite."""

    name: str  # e.g. "floor:intent.macro_f1>=0.9"
    kind: str  # floor | no_regression | zero_tolerance | suite_ran
    suite: str
    passed: bool
    detail: str
    metric: str | None = None
    value: float | None = None
    cases: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "suite": self.suite, "passed": self.passed,
                "detail": self.detail, "metric": self.metric, "value": self.value, "cases": list(self.cases)}


def _err(path: str, key: str, problem: str) -> GateConfigError:
    return GateConfigError(f"{path}: key '{key}': {problem}")


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
                      tuple(zsuites), tuple(targets))


def load_gates(path: Path | str = GATES_FILE, *, known_suites: tuple[str, ...] | None = None) -> GateConfig:
    """Read and validate a gates file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise GateConfigError(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise GateConfigError(f"{path}: not valid TOML ({exc})") from exc
    return parse_gates(data, str(path), known_suites=known_suites)


def _bound_text(bound: Floor) -> str:
    """``>= 0.9``, ``<= 0.05`` or both, as gate names and details show them."""
    return " and ".join(b for b in (f">= {bound.minimum}" if bound.minimum is not None else "",
                                    f"<= {bound.maximum}" if bound.maximum is not None else "") if b)


def _within(bound: Floor, value: float) -> bool:
    return (bound.minimum is None or value >= bound.minimum) and (bound.maximum is None or value <= bound.maximum)


def _applies(entry_suite: str, suite: str) -> bool:
    return entry_suite in ("*", suite)


def evaluate(config: GateConfig, record: dict[str, Any], comparisons: dict[str, SuiteComparison],
             known_flags: dict[str, dict[str, set[str]]] | None = None) -> list[GateResult]:
    """Evaluate every gate against a run record and its comparisons.

    Raises:
        GateConfigError: A gate names a metric that a suite which ran does not produce
            (a typo in the config), except wildcard entries, which skip such suites.
    """
    results: list[GateResult] = []
    for name, suite in record["suites"].items():
        ran = suite.get("setup_error") is None
        results.append(GateResult(f"suite_ran:{name}", "suite_ran", name, ran,
                                  "ok" if ran else f"the suite could not run: {suite['setup_error']}"))
        metrics = suite["metrics"]
        for i, floor in enumerate(config.floors):
            if not _applies(floor.suite, name):
                continue
            bound = _bound_text(floor)
            gname = f"floor:{name}.{floor.metric} {bound}"
            if floor.metric not in metrics:
                if floor.suite == "*" or not ran:
                    continue
                raise _err(config.path, f"floor[{i}].metric", f"suite {name!r} has no metric {floor.metric!r}; "
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
        comp = comparisons.get(name)
        for i, reg in enumerate(config.no_regression):
            if not _applies(reg.suite, name):
                continue
            gname = f"no_regression:{name}.{reg.metric}"
            if comp is None or not comp.has_baseline:
                results.append(GateResult(gname, "no_regression", name, True, "no baseline to compare with", reg.metric))
                continue
            if reg.metric not in metrics:
                if reg.suite == "*" or not ran:
                    continue
                raise _err(config.path, f"no_regression[{i}].metric", f"suite {name!r} has no metric {reg.metric!r}")
            delta = comp.metrics.get(reg.metric)
            if delta is None:
                results.append(GateResult(gname, "no_regression", name, True, "metric not in the baseline", reg.metric))
                continue
            cases = tuple(c.id for c in comp.regressions()) if reg.metric == "pass_rate" else ()
            detail = (f"{reg.metric}: {_fmt(delta.baseline)} → {_fmt(delta.current)} (Δ {_fmt(delta.delta, True)}, "
                      f"95% CI {_fmt(delta.ci_low, True)}…{_fmt(delta.ci_high, True)}, {delta.test}"
                      + (f" p={delta.p_value:.4g}" if delta.p_value is not None else "") + ")")
            results.append(GateResult(gname, "no_regression", name, not delta.significant_regression, detail,
                                      reg.metric, delta.current, cases[:50]))
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


def evaluate_targets(config: GateConfig, record: dict[str, Any]) -> list[GateResult]:
    """Acceptance targets: met or missed, never part of the verdict.

    A target naming a suite whose run lacks the metric (e.g. a blind metric before the
    suite has blind cases) is reported as missed with the reason; a wildcard target skips
    suites without the metric, as wildcard floors do.
    """
    results = []
    for target in config.targets:
        for name, suite in record["suites"].items():
            if not _applies(target.suite, name):
                continue
            bound = _bound_text(target)
            gname = f"target:{name}.{target.metric} {bound}"
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
