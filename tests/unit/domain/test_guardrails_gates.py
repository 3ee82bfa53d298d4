"""The literal gates derived from the catalogue's patterns are necessary conditions.

A gate may only skip a rule on texts the rule cannot match: checked on hand-made
expressions, on every rule's examples, and on strings hypothesis generates from every
pattern (``from_regex``), case variants included.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.domain import guardrails
from pipeline.domain.guardrails.engine import gate_open, lowered_view
from pipeline.domain.guardrails.gates import re2_superset, required_literals, rule_gate
from pipeline.domain.textnorm import normalize


@pytest.mark.parametrize(
    ("source", "flags", "expected"),
    [
        ("abc", 0, {"abc"}),
        ("a(?:b|c)d", 0, {"abd", "acd"}),
        ("[Aa]BC", 0, {"abc"}),
        ("SECRET", re.I, {"secret"}),
        ("foo\\s+barbaz", 0, {"barbaz"}),  # the more selective side of an unknown gap
        ("(?<![a-z])key(?=\\d)", 0, {"key"}),  # lookarounds neither add nor remove
        ("(?:token|api[_-]?key)=", 0, {"token", "api"}),
        ("x{2,}yz", 0, {"yz"}),
        ("(?:ab)+c", 0, {"ab"}),
    ],
)
def test_required_literals_of_hand_made_expressions(source: str, flags: int, expected: set[str]) -> None:
    assert required_literals(re.compile(source, flags)) == expected


@pytest.mark.parametrize("source", ["x?", "\\w+", "(?:foo|\\d+)", ".*", "[a-z]{40}", "(?:a|\\w)", "(?:abc)?"])
def test_expressions_without_a_required_literal_give_none(source: str) -> None:
    assert required_literals(re.compile(source)) is None


def test_a_rule_gate_needs_every_pattern_to_have_one() -> None:
    assert rule_gate((re.compile("abc"), re.compile("def+"))) == {"abc", "de"}
    assert rule_gate((re.compile("abc"), re.compile("\\w+"))) is None


_RULES = guardrails.SCANNER.engine.rules


@pytest.mark.parametrize("rule", [r for r in _RULES if r.gate], ids=lambda r: r.spec.rule_id)
def test_every_positive_example_opens_its_rule_gate(rule) -> None:  # noqa: ANN001
    for text in rule.spec.must_match:
        assert gate_open(rule.gate, lowered_view(normalize(text).text)), (rule.spec.rule_id, text)


def test_most_rules_get_a_gate() -> None:
    # Gates are derived from patterns; clause and frame rules have none (their params describe
    # a sentence, or name a frame of slots) and are filtered by their anchor alone.
    with_patterns = [r for r in _RULES if r.spec.patterns]
    gated = [r for r in with_patterns if r.gate]
    assert len(gated) >= 0.8 * len(with_patterns)
    assert all(r.spec.detector in ("clause", "frame") for r in _RULES
               if not r.spec.patterns and r.spec.detector != "derived")


_PATTERNS = [
    (rule.spec.rule_id, index, pattern)
    for rule in _RULES
    for index, pattern in enumerate(rule.spec.patterns)
    if required_literals(pattern) is not None
]


@pytest.mark.parametrize(("rule_id", "index", "pattern"), _PATTERNS, ids=[f"{r}[{i}]" for r, i, _ in _PATTERNS])
def test_generated_matches_contain_a_required_literal(rule_id: str, index: int, pattern: re.Pattern[str]) -> None:
    literals = required_literals(pattern)
    assert literals is not None

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(pattern))
    def check(text: str) -> None:
        if pattern.search(text):
            lowered = lowered_view(text)
            assert any(literal in lowered for literal in literals), (rule_id, index, text[:120])

    check()


# --- RE2 supersets -------------------------------------------------------------------------

re2 = pytest.importorskip("re2")
_ALL_PATTERNS = [
    (rule.spec.rule_id, index, pattern)
    for rule in _RULES
    for index, pattern in enumerate(rule.spec.patterns)
]


def _compiled_superset(pattern: re.Pattern[str]):  # noqa: ANN202
    source = re2_superset(pattern)
    assert source is not None, pattern.pattern[:80]
    options = re2.Options()
    options.max_mem = 64 << 20
    options.log_errors = False
    return re2.compile(source, options)


@pytest.mark.parametrize(
    ("source", "flags", "texts"),
    [
        ("(?<![a-z])key\\b(?=[-.])", 0, ["key-1", "xkey.1", "key"]),  # lookarounds and \b dropped
        ("\\w+\\s\\d", 0, ["héllo\u00a01", "a\u2028٣"]),  # Unicode classes widened
        ("[^\\s\"]+", 0, ["a\u3000b"]),
        ("SECRET", re.I, ["ſecret", "SEcret"]),
        ("a{1,5000}", 0, ["a" * 3000]),  # counts over RE2's 1000 opened
    ],
)
def test_superset_of_hand_made_expressions_matches_what_python_matches(source: str, flags: int, texts: list[str]) -> None:
    pattern = re.compile(source, flags)
    compiled = _compiled_superset(pattern)
    for text in texts:
        if pattern.search(text):
            assert compiled.search(text) is not None, text


@pytest.mark.parametrize(("rule_id", "index", "pattern"), _ALL_PATTERNS,
                         ids=[f"{r}[{i}]" for r, i, _ in _ALL_PATTERNS])
def test_every_pattern_has_an_re2_superset(rule_id: str, index: int, pattern: re.Pattern[str]) -> None:
    compiled = _compiled_superset(pattern)
    rule = next(r for r in _RULES if r.spec.rule_id == rule_id)
    for text in rule.spec.must_match + rule.spec.must_not_match:
        view = normalize(text).text
        if pattern.search(view):
            assert compiled.search(view) is not None, (rule_id, index, text)

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(pattern))
    def check(text: str) -> None:
        if pattern.search(text):
            assert compiled.search(text) is not None, (rule_id, index, text[:120])

    check()


class _GaveUp:
    """RE2 sets one of whose DFAs ran out of memory: they cannot tell (SplitSet.match)."""

    def match(self, text: str | bytes) -> None:
        return None


def test_a_set_that_gives_up_falls_back_to_the_python_anchors(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.domain.guardrails.engine import Engine

    engine = Engine(guardrails._ENGINE_SPECS, guardrails.DETECTORS, use_re2=True)
    text = lowered_view("my key is akia" + "zq3dn6wlf7j4xprt and the password: hunter2x")
    expected = engine.candidates(text)
    assert expected
    monkeypatch.setattr(engine, "_set", _GaveUp())
    assert engine.candidates(text) == expected


def test_rule_supersets_that_give_up_keep_every_pattern_live() -> None:
    from pipeline.domain.guardrails.engine import RuleSupersets

    rule = next(r for r in _RULES if len(r.spec.patterns) > 1)
    options = re2.Options()
    supersets = RuleSupersets(rule.spec.patterns, options)
    assert supersets.live("nothing to see here") != list(range(len(rule.spec.patterns)))
    supersets.set = _GaveUp()
    assert supersets.live("nothing to see here") == list(range(len(rule.spec.patterns)))


def test_gates_and_rewrites_are_cached_but_no_parse_tree_stays_alive(monkeypatch) -> None:
    """The parse trees (hundreds of objects per pattern) are dropped once a pattern's gate
    and RE2 rewrite are computed; asking again reuses the small results without parsing."""
    import gc
    import weakref

    from pipeline.domain.guardrails import gates

    trees: list[weakref.ref] = []
    parse = gates._parser.parse

    def tracking(source, flags=0):
        tree = parse(source, flags)
        trees.append(weakref.ref(tree))
        return tree

    patterns = [re.compile(p) for p in (r"unique-gate-test-(?:alpha|beta)\d+", r"(?i)other\s+unique-gate-test")]
    monkeypatch.setattr(gates._parser, "parse", tracking)  # after compiling: re.compile parses too
    first = [(required_literals(p), re2_superset(p)) for p in patterns]
    assert len(trees) == 4  # each pattern parsed once for its gate and once for its rewrite
    gc.collect()
    assert all(tree() is None for tree in trees)
    assert [(required_literals(p), re2_superset(p)) for p in patterns] == first
    assert len(trees) == 4  # answered from the cached results
    assert first[0][0] == {"unique-gate-test-alpha", "unique-gate-test-beta"}
