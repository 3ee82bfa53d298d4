"""``relevance`` (GUIDE.md §5): the answer is about the question that was asked.

Defects: the question names services and the answer is about others; a short question's
topic words never appear in the answer; almost no shared terms (< 10 %). Few shared
terms (< 25 %) with no shared service is a warning. ``out_of_scope`` answers (polite
declines) are not judged.
"""

from __future__ import annotations

from pipeline.domain.models import QualityCheckResult
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
        mentioned = any(mentions_service(s, response_lower, response_services) for s in query_services)
        if query_services and response_services and not mentioned:
            found.errors.append(
                f"the question is about {', '.join(sorted(query_services))}, "
                f"but the answer is about {', '.join(sorted(response_services))}"
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
