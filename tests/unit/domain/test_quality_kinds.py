"""Defect kinds written by strangers: truncation shapes and condescension in other languages.

Each kind is tested on a whole answer through the shipped validator, with the same answer
completed or written politely passing.
"""

from __future__ import annotations

import pytest

from pipeline.handlers.composition import offline_services

BODY = (
    "Elastic Beanstalk routes traffic through nginx to your application.\n\n"
    "### 1. Check the logs\n\n"
    "Open `/var/log/nginx/error.log` and look for `connect() failed`.\n\n"
    "### 2. Common causes\n\n"
    "1. **Wrong port:** nginx forwards to the port in `PORT` (8080 by default).\n"
)


@pytest.fixture(scope="module")
def validator():
    return offline_services().validator


def _check(validator, query: str, response: str, name: str) -> float:
    report = validator.validate(query, response)
    return next(c.score for c in report.checks if c.check == name)


@pytest.mark.parametrize(
    "ending",
    [
        "2. **Dependencies:**",  # a label with nothing after it, emphasis around the colon
        "### 3. Next steps",  # a heading with nothing under it
        "2.",  # an empty list item
        "-",
        # a sentence, its colon and the start of the next clause, then nothing
        "- The split is **by client, not by request**: a big corporate resolver",
    ],
)
def test_answers_cut_off_in_these_shapes_are_incomplete(validator, ending):
    query = "My Beanstalk app returns 502. Why?"
    assert _check(validator, query, BODY + ending, "completeness") < 0.5
    complete = BODY + "2. **Dependencies:** run `npm ci` so `node_modules` matches the lock file.\n"
    assert _check(validator, query, complete, "completeness") >= 0.5


@pytest.mark.parametrize(
    ("rude", "polite"),
    [
        ("Como todo el mundo sabe, una subred privada no tiene ruta a Internet.",
         "Una subred privada no tiene ruta a Internet."),
        ("Vous auriez dû vérifier le groupe de sécurité avant de déployer.",
         "Vérifiez le groupe de sécurité avant de déployer."),
        ("Das ist ein klassischer Anfängerfehler: die Route fehlt.",
         "Das ist ein häufiger Fehler: die Route fehlt."),
        ("A culpa é sua: a tabela de rotas não tem a rota.",
         "A tabela de rotas não tem a rota."),
    ],
)
def test_condescension_in_other_languages_is_a_tone_defect(validator, rude, polite):
    query = "My instance in a private subnet cannot reach the internet."
    assert _check(validator, query, rude, "tone") < 0.5
    assert _check(validator, query, polite, "tone") >= 0.5


@pytest.mark.parametrize(
    "ending",
    ["- **Option A**: use a role for the function", "- Timeout: 30 seconds in the console"],
)
def test_a_terse_labelled_last_item_is_not_cut_off(validator, ending):
    query = "My Beanstalk app returns 502. Why?"
    assert _check(validator, query, BODY + ending, "completeness") >= 0.5


@pytest.mark.parametrize(
    ("rude", "polite"),
    [
        ("Il s'agit d'une règle simple. Ce n'était pas si compliqué.", "Il s'agit d'une règle simple."),
        ("Isso é um erro bem básico de modelagem.", "Isso é um erro comum de modelagem."),
        ("Non è un problema di AWS, è semplicemente una svista vostra.", "Il file è stato rinominato: aggiorniamo l'handler."),
        ("A quick look at the reference page would have answered this in seconds.",
         "The reference page lists every parameter."),
    ],
)
def test_lecturing_is_a_tone_defect(validator, rude, polite):
    query = "Why does my function fail?"
    assert _check(validator, query, rude, "tone") < 0.5
    assert _check(validator, query, polite, "tone") >= 0.5
