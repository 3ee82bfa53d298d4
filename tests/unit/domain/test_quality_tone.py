"""``tone`` in other languages and phrasings: upset users, empathy, slang and lecturing."""

from __future__ import annotations

import pytest

from pipeline.domain.quality.tone import check_tone, user_upset

_FIX = "\n\n1. Check the task's stopped reason.\n2. Fix the health check path.\n"


def _errors(query: str, response: str) -> tuple[str, ...]:
    return check_tone(query, response, None).messages


@pytest.mark.parametrize(
    "query",
    [
        "Ich bin, offen gesagt, sehr verärgert. Seit drei Tagen keine Antwort.",
        "Ça fait deux heures que c'est bloqué. Je commence à perdre patience.",
        "Estoy harta de este error, llevamos dos días.",
        "I'm honestly shaking right now. Our bill is $14,200, this could sink us.",
        "your docs are absolute trash. just tell me the commands",
    ],
)
def test_upset_in_other_languages_and_phrasings(query):
    assert user_upset(query, None)
    assert any("no empathy" in e for e in _errors(query, "Here is what to do." + _FIX))


@pytest.mark.parametrize(
    ("query", "opening"),
    [
        ("Seit 3 Stunden ist unsere API down!!! Bitte schnell.", "Das ist ärgerlich, drei Stunden Ausfall sind viel."),
        ("Je commence à perdre patience, on doit livrer ce soir.", "Je comprends, c'est pénible avant une livraison."),
        ("Estoy harto, llevamos dos días así.", "Lo siento, entiendo que es urgente."),
    ],
)
def test_empathy_in_the_language_of_the_user_counts(query, opening):
    assert _errors(query, opening + _FIX) == ()


@pytest.mark.parametrize(
    "query",
    ["How do I empty the trash folder of my WorkDocs site?", "Wie ändere ich den Instanztyp?"],
)
def test_plain_questions_are_not_upset(query):
    assert not user_upset(query, None)


@pytest.mark.parametrize(
    "response",
    [
        "Haha, le classique du déploiement ECS qui tourne en boucle 😄 On va débloquer ça vite fait.",
        "The documentation on this topic is actually quite thorough; it helps to read it carefully rather than skimming.",
        "Das sollten Sie beim nächsten Mal von Anfang an richtig einstellen.",
    ],
)
def test_slang_and_lecturing_in_other_phrasings_are_defects(response):
    assert _errors("How do I fix my deployment?", response + _FIX)


def test_a_checkmark_or_a_word_containing_ha_is_not_slang():
    assert _errors("How do I fix my deployment?", "✅ Deployed; the Yokohama and Mahajanga edge locations serve it." + _FIX) == ()


def test_pasted_terminal_output_in_capitals_is_not_shouting():
    query = ("I grew the root volume to 50 GiB but the disk is still full:\n\n$ lsblk\n"
             "NAME MAJ:MIN RM SIZE RO TYPE MOUNTPOINTS\nnvme0n1 259:0 0 50G 0 disk\n\ndid it not work?")
    assert not user_upset(query, None)
    assert user_upset("WHY IS THIS STILL BROKEN AFTER THREE DAYS", None)


def test_saying_the_change_surprises_many_customers_acknowledges_an_upset_user():
    query = "Why am I charged for PublicIPv4:InUseAddress?? This is honestly infuriating."
    assert _errors(query, "That used to be free, and the change surprises a lot of customers." + _FIX) == ()


@pytest.mark.parametrize(
    "response",
    [
        # states and levels named as values (an enumeration), not emphasis
        "The execution ends in one of ABORTED, FAILED or RUNNING; set the level to DEBUG/INFO/WARN as needed.",
        # an abbreviation defined in parentheses, and keywords the answer's own code uses
        "A `CREATE TABLE AS SELECT` (CTAS) query writes Parquet; then load the rest with INSERT INTO.\n\n"
        "```sql\nINSERT INTO events_parquet SELECT * FROM events_csv\n```",
        # DNS record types and response codes listed or quoted
        'Each entry has the record type (A, AAAA, TXT) and the rcode (NOERROR, NXDOMAIN); filter on "SERVFAIL".',
    ],
)
def test_capitals_that_name_values_keywords_or_abbreviations_are_not_shouting(response):
    assert not any("shouts" in e for e in _errors("How do I see the results?", response + _FIX))


def test_emphasis_in_capitals_is_still_shouting():
    response = "You should NEVER have done that. READ THE DOCUMENTATION first."
    assert any("shouts" in e for e in _errors("How do I see the results?", response + _FIX))
