"""Benchmark: is each RE2 prefilter set cheaper than the Python searches it gates?

A :class:`~pipeline.domain.prefilter.PatternGroup` runs one ``re2.Set`` pass per text so that
only the members that can match are searched by Python. RE2 builds its DFA lazily, state by
state, as texts need them, and keeps the states in a bounded cache: a set whose members are
large (folded multilingual word lists) can need more states than fit, and then every *new*
text rebuilds them. Benchmarks that replay the same texts hide that (the second pass is warm),
and a server only ever sees new texts. So each text here is matched exactly once, after a
warm-up on a disjoint sample, and the pass is compared with searching every member in Python
on the same texts (a ratio in one run, not a time threshold).

Groups built with ``use_re2=False`` (the escalation triggers, for this reason) are measured
with an RE2 set built from the same members, which shows why they are not gated.
"""

from __future__ import annotations

import gc
import sys
import time

from evals.benchmarks import BenchResult
from evals.datasets import GOLDEN_DIR, load_cases

AREA = "prefilter"
WARM_TEXTS = 500
MEASURED_TEXTS = 1500


def groups() -> list[tuple[str, object]]:
    """Every module-level prefilter group of the pipeline, by module name."""
    # The modules that build groups (imported so that their groups exist).
    import pipeline.domain.guardrails  # noqa: F401
    import pipeline.domain.intent.core  # noqa: F401
    import pipeline.domain.intent.escalation  # noqa: F401
    import pipeline.domain.quality.tone  # noqa: F401
    from pipeline.domain.prefilter import PatternGroup

    found: dict[int, tuple[str, PatternGroup]] = {}
    for name, module in sorted(sys.modules.items()):
        if name.startswith("pipeline.") and module is not None:
            for attr, value in vars(module).items():
                if isinstance(value, PatternGroup) and value.patterns and id(value) not in found:
                    found[id(value)] = (f"{name.removeprefix('pipeline.domain.')}.{attr}", value)
    gc.collect()  # groups built inside functions (the guardrails' contexts) are not module attributes
    for value in gc.get_objects():
        if isinstance(value, PatternGroup) and value.patterns and id(value) not in found:
            found[id(value)] = (f"group of {len(value.patterns)} ({value.patterns[0].pattern[:24]!r}…)", value)
    return sorted(found.values(), key=lambda item: item[0])


def _texts() -> list[str]:
    from pipeline.domain.textnorm import normalize

    texts = [normalize(str(c.input)[:5000]).text for c in load_cases(GOLDEN_DIR / "intent.jsonl")]
    seen: set[str] = set()
    unique = [t for t in texts if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]
    return unique[: WARM_TEXTS + MEASURED_TEXTS]


def measure(group: object, warm: list[str], measured: list[str]) -> tuple[float, float]:
    """(RE2 set passes, Python searches of every member) in microseconds per text, each
    measured text matched once."""
    from pipeline.domain.prefilter import PatternGroup

    assert isinstance(group, PatternGroup)
    probe = PatternGroup(use_re2=True)  # same members, gated, a cold DFA of its own
    probe.gate_all(group.patterns)
    probe.candidates("")
    rule_set = probe._set  # noqa: SLF001 - the pass itself is what is measured
    if rule_set is None:  # no google-re2 here: nothing to compare
        return float("nan"), float("nan")
    for text in warm:
        rule_set.match(text)
    start = time.perf_counter()
    for text in measured:
        rule_set.match(text)
    set_us = (time.perf_counter() - start) / len(measured) * 1e6
    start = time.perf_counter()
    for text in measured:
        for pattern in group.patterns:
            pattern.search(text)
    python_us = (time.perf_counter() - start) / len(measured) * 1e6
    return set_us, python_us


def run() -> list[BenchResult]:
    texts = _texts()
    warm, measured = texts[:WARM_TEXTS], texts[WARM_TEXTS:]
    results = []
    for name, group in groups():
        set_us, python_us = measure(group, warm, measured)
        gated = getattr(group, "use_re2", False)
        ratio = set_us / python_us if python_us else float("nan")
        results.append(BenchResult(
            AREA, f"{name}: RE2 set pass / Python searches", round(ratio, 2), "x",
            target="<= 1 when gated" if gated else "",
            meets_target=(ratio <= 1.0) if gated else None,
            detail=(f"{len(group.patterns)} members, {set_us:.0f} us vs {python_us:.0f} us per unseen text "
                    f"({len(measured)} golden intent texts once each); "
                    + ("gated by RE2" if gated else "not gated (Python only)")),
        ))
    return results


if __name__ == "__main__":
    for result in run():
        print(f"{result.name:60} {result.value:>8} {result.unit} {result.detail}")
