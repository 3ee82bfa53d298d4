"""Competitor disparagement by frame (guardrails/disparagement.py, evaluations.toml)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain.guardrails import SPECS, Scanner, scan_output
from pipeline.domain.guardrails.catalogue import CATALOGUE_DIR, load_lexicons
from pipeline.domain.guardrails.disparagement import (
    EVALUATIONS_FILE,
    LANGUAGES,
    MAX_VENDOR_CLAUSES,
    EvaluationsError,
    find,
    load_evaluations,
)
from pipeline.domain.textnorm import normalize

FRAME_RULE = "competitor_disparagement.frame"
_SPEC = next(spec for spec in SPECS if spec.rule_id == FRAME_RULE)
_HEAD = re.compile(_SPEC.params["head"])
_ANCHOR = re.compile(_SPEC.anchor)


def _frames(text: str) -> set[str]:
    """The frames that find a judged vendor in ``text`` (matching view, as the scanner reads it)."""
    return {kind for kind, _s, _e in find(normalize(text).text, _HEAD, _ANCHOR)}


def _frame_ids(text: str) -> set[str]:
    return {f.rule_id for f in scan_output(text).findings if f.rule_id == FRAME_RULE}


def test_every_language_has_judgements_weak_words_and_groups():
    data = tomllib.loads(EVALUATIONS_FILE.read_text(encoding="utf-8"))
    assert set(data["languages"]) == set(LANGUAGES)
    for language in LANGUAGES:
        table = data["languages"][language]
        assert table["judgement"] and table["weak"] and table["groups"], language


_FRAMES = load_evaluations().frames


@pytest.mark.parametrize(("name", "text"), [(n, t) for n, must, _ in _FRAMES for t in must])
def test_frame_examples_match(name: str, text: str):
    assert name in _frames(text), text
    assert _frame_ids(text), text


@pytest.mark.parametrize(("name", "text"), [(n, t) for n, _, must_not in _FRAMES for t in must_not])
def test_frame_examples_do_not_match(name: str, text: str):
    assert name not in _frames(text), text


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "evaluations.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_missing_language_is_an_error(tmp_path):
    original = EVALUATIONS_FILE.read_text(encoding="utf-8")
    broken = original.replace("[languages.pl]", "[languages.xx]")
    with pytest.raises(EvaluationsError, match="languages"):
        load_evaluations(_write(tmp_path, broken))


def test_an_entry_that_does_not_compile_is_an_error(tmp_path):
    original = EVALUATIONS_FILE.read_text(encoding="utf-8")
    broken = original.replace("'unreliable',", "'unreli(able',", 1)
    with pytest.raises(EvaluationsError, match="unreli"):
        load_evaluations(_write(tmp_path, broken))


def test_a_frame_without_counter_examples_is_an_error(tmp_path):
    original = EVALUATIONS_FILE.read_text(encoding="utf-8")
    head, _sep, _rest = original.partition("[[frames]]")
    broken = head + "[[frames]]\nname = 'judgement'\nmust_match = ['x']\nmust_not_match = []\n"
    with pytest.raises(EvaluationsError):
        load_evaluations(_write(tmp_path, broken))


@pytest.mark.parametrize("text", [
    "UCloud 的安全性根本靠不住。",
    "Die IBM Cloud ist im Grunde ein Auslaufmodell.",
    "Between us, Azure AD is a security incident waiting to happen.",
    "Linode's Object Storage is a half-finished S3 clone.",
    "Nie ufaj Hetzner, oni ciągle leżą.",
])
def test_judgements_in_several_languages_and_scripts(text):
    assert _frame_ids(text), text


@pytest.mark.parametrize("text", [
    "New Relic and CloudWatch can coexist: New Relic reads a CloudWatch metric stream.",
    "Heroku isn't a toy; it runs real businesses, and App Runner is the closest AWS service.",
    "Your Terraform state is a mess of drift, but the Hetzner provider works the same way.",
    "Azure Functions times out after 10 minutes on the consumption plan; Lambda allows 15.",
    "Supabase is slow to restore at 2 GB per minute, per the docs.",
])
def test_neutral_facts_and_the_customers_own_things_stay_allowed(text):
    assert not _frame_ids(text), text


# --- property: neutral comparisons with any vendor of the gazetteer stay allowed -------------

_VENDORS = sorted(load_lexicons(CATALOGUE_DIR)["competitors"].terms)
_NEUTRAL = (
    "{v} also offers a managed option; compare its pricing with the AWS service before you move.",
    "If you are migrating from {v}, export the data first and import it with AWS DMS.",
    "{v} charges per GB of egress, while CloudFront includes 1 TB per month in the free tier.",
    "Both {v} and AWS support this feature; the configuration steps differ slightly.",
    "Many teams run {v} alongside AWS; connect them with a Site-to-Site VPN.",
    "La migración desde {v} es sencilla: exporta los datos y usa AWS DMS.",
    "Si vous venez de {v}, la commande équivalente est `aws s3 sync`.",
    "Bei {v} heißt der entsprechende Dienst anders; die Schritte sind ähnlich.",
    "{v} の料金は転送量によって異なります。",
)


_RULES_ONLY = Scanner(output_heads=False)


@settings(max_examples=150, deadline=None)
@given(vendor=st.sampled_from(_VENDORS), template=st.sampled_from(_NEUTRAL))
def test_neutral_comparisons_with_any_vendor_are_allowed(vendor, template):
    text = template.format(v=vendor)
    verdict = _RULES_ONLY.scan_output(text)
    assert "competitor_disparagement" not in verdict.categories, text


def test_a_text_of_vendor_clauses_costs_a_bounded_number_of_judgements():
    """Linear whatever the input: past MAX_VENDOR_CLAUSES vendor clauses nothing more is judged,
    so a judgement placed after them is not found, and one placed before them is."""
    filler = "Azure offers a managed option. " * (MAX_VENDOR_CLAUSES + 50)
    judged = "Heroku is an unreliable platform. "
    assert _frames(judged + filler) == {"judgement"}
    assert _frames(filler + judged) == set()
