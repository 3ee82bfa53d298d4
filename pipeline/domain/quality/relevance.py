"""``relevance`` (GUIDE.md §5): the answer is about the question that was asked.

Defects: the question names services and the answer is about others; the answer *leads*
with a service the question never mentions while the question names another that the
answer never names (a Lambda "Task timed out" answer to an EC2 SSH timeout, even if an
alias such as "instance" turns up further down); a short question's topic words never appear in the answer;
almost no shared terms (< 10 %). Few shared terms (< 25 %) with no shared service is a
warning. ``out_of_scope`` answers (polite declines) are not judged.
"""

from __future__ import annotations

from pipeline.domain.models import QualityCheckResult
from pipeline.domain.quality.catalogue import Rule, catalogue
from pipeline.domain.quality.parsing import WORD
from pipeline.domain.quality.scoring import Findings
from pipeline.domain.quality.text import (
    GENERIC_ACTIONS,
    ServiceIndex,
    ask_terms,
    content_terms,
    loose_stem,
    mentions_service,
)

#: How much of the answer is its opening for the confusion pairs (a heading, a first
#: paragraph and often the first command).
CONFUSION_LEAD_CHARS = 600


def _confusions() -> tuple[tuple[str, Rule, Rule], ...]:
    """(name, asked, instead) for every pair of ``catalogue/relevance.toml``."""
    rules = catalogue().rules
    pairs = []
    for rule_id, asked in rules.items():
        if rule_id.startswith("relevance.asked."):
            name = rule_id.removeprefix("relevance.asked.")
            instead = rules.get(f"relevance.instead.{name}")
            if instead is None:
                raise KeyError(f"relevance.toml: {rule_id!r} has no 'relevance.instead.{name}'")
            pairs.append((name, asked, instead))
    return tuple(pairs)


CONFUSIONS = _confusions()


def confused_variant(query: str, response: str) -> str | None:
    """The message for an answer about a neighbouring variant of what was asked, if any."""
    lead = response[:CONFUSION_LEAD_CHARS]
    for _name, asked, instead in CONFUSIONS:
        if (asked.regex.search(query) and not instead.regex.search(query)
                and instead.regex.search(lead) and not asked.regex.search(response)):
            return f"the question is about {asked.description}, but the answer is about {instead.description}"
    return None


class RelevanceCheck:
    """Scores ``relevance``; needs the service index shared with ``completeness``."""

    def __init__(self, services: ServiceIndex) -> None:
        self._services = services

    def __call__(self, query: str, response: str, intent: str | None) -> QualityCheckResult:
        found = Findings()
        if intent == "out_of_scope":
            return found.result("relevance")
        query_terms = content_terms(query)
        response_terms = content_terms(response)
        query_services = self._services.services_in(query)
        response_services = self._services.services_in(response)
        response_lower = response.lower()
        confusion = confused_variant(query, response)
        if confusion:
            found.errors.append(confusion)
            return found.result("relevance")
        mentioned = any(mentions_service(s, response_lower, response_services) for s in query_services)
        if query_services and response_services and not mentioned:
            found.errors.append(
                f"the question is about {', '.join(sorted(query_services))}, "
                f"but the answer is about {', '.join(sorted(response_services))}"
            )
            return found.result("relevance")
        off_topic_lead = (
            frozenset()
            if query_services & response_services
            else self._off_topic_lead(query, query_services, response)
        )
        if off_topic_lead:
            found.errors.append(
                f"the question is about {', '.join(sorted(query_services))}, "
                f"but the answer leads with {', '.join(sorted(off_topic_lead))}"
            )
            return found.result("relevance")
        query_asks, response_asks = ask_terms(query), ask_terms(response)
        topic = query_asks - GENERIC_ACTIONS
        if topic and len(topic) <= 3 and not topic & response_asks and not mentioned:
            # longer questions are judged by the overlap below
            words = sorted(w for w in WORD.findall(query) if loose_stem(w) in topic)[:4]
            found.errors.append(f"the answer never mentions what the question is about ({', '.join(words)})")
            return found.result("relevance")
        if len(query_terms) >= 3:
            overlap = len(query_terms & response_terms) / len(query_terms)
            if topic:  # loose stems and synonyms ("disk" ~ "storage") also count
                overlap = max(overlap, len(topic & response_asks) / len(query_asks))
            if overlap < 0.1:
                found.errors.append(
                    f"the answer shares almost no terms with the question ({overlap:.0%}); "
                    "it may answer a different question"
                )
            elif overlap < 0.25 and not (query_services & response_services):
                found.warnings.append(f"the answer shares few terms with the question ({overlap:.0%})")
        return found.result("relevance")

    def _off_topic_lead(self, query: str, query_services: frozenset[str], response: str) -> frozenset[str]:
        """Services the answer's opening names, when none of them is the question's.

        Empty (nothing to flag) unless the question names a service, the opening names
        services, and the question mentions none of the opening's services, not even by
        an alias ("function" for Lambda), nor the opening any of the question's.
        """
        if not query_services:
            return frozenset()
        lead = _lead(response)
        lead_services = self._services.services_in(lead)
        if not lead_services or lead_services & query_services:
            return frozenset()
        query_lower, lead_lower = query.lower(), lead.lower()
        if any(mentions_service(s, query_lower, query_services) for s in lead_services):
            return frozenset()
        if any(mentions_service(s, lead_lower, lead_services) for s in query_services):
            return frozenset()
        return lead_services


def _lead(response: str) -> str:
    """The answer's opening: its first paragraph that is not a Markdown heading."""
    for paragraph in response.split("\n\n"):
        text = paragraph.strip()
        if text and not text.startswith("#"):
            return text
    return ""
