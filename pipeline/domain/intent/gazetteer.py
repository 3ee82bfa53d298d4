"""AWS product names, from botocore's service models (``aws_gazetteer.json``).

Built by ``python -m evals.build_gazetteer`` (botocore + wordfreq at build time; only the
JSON ships). A message that names an AWS product is never ``out_of_scope`` unless it also
names another world (GUIDE §2.1); the product's owner intent is the fallback when the
classifier's own answer was ``out_of_scope``.

* **Strong** names ("macie", "sagemaker", "elastic compute cloud", "ec2") count alone.
* **Weak** names are everyday words ("forecast", "glue", "connect", "lambda"): they count
  only right after "amazon" or "aws".

Example:
    >>> [h.service for h in find_products("can i customize amazon forecast algorithms?")]
    ['forecast']
    >>> find_products("what's the weather forecast for tomorrow")
    ()
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

GAZETTEER_FILE = Path(__file__).resolve().parent / "aws_gazetteer.json"
FORMAT = "aws-gazetteer-v1"
MAX_NGRAM = 6
MAX_SCAN_CHARS = 5000
_TOKEN = re.compile(r"[a-z0-9]+")
_PREFIXES = frozenset({"amazon", "aws"})


class GazetteerError(ValueError):
    """The gazetteer file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class ProductHit:
    name: str
    service: str
    intent: str
    prefixed: bool


@dataclass(frozen=True)
class Gazetteer:
    names: dict[str, tuple[tuple[str, ...], bool]]  # name -> (service codes, weak)
    intents: dict[str, str]  # service code -> owner intent
    source: str

    @cached_property
    def _longest_from(self) -> dict[str, int]:
        """First word of a name -> the most words a name starting with it has. A name of
        ``k`` words can only equal ``k`` joined words, so a word starting no name is
        skipped and longer n-grams are never built (the same hits, found sooner)."""
        longest: dict[str, int] = {}
        for name in self.names:
            first, size = name.split(" ", 1)[0], name.count(" ") + 1
            if size > longest.get(first, 0):
                longest[first] = size
        return longest

    def find(self, text: str) -> tuple[ProductHit, ...]:
        words = _TOKEN.findall(text[:MAX_SCAN_CHARS].lower())
        hits: list[ProductHit] = []
        names = self.names
        longest = self._longest_from
        i, n = 0, len(words)
        while i < n:
            most = longest.get(words[i])
            if most is None:
                i += 1
                continue
            prefixed = i > 0 and words[i - 1] in _PREFIXES
            matched = 0
            for size in range(min(MAX_NGRAM, n - i, most), 0, -1):
                name = " ".join(words[i:i + size])
                entry = names.get(name)
                if entry is None:
                    continue
                services, weak = entry
                if weak and not prefixed:
                    continue
                service = services[0]
                hits.append(ProductHit(name, service, self.intents.get(service, "general_support"), prefixed))
                matched = size
                break
            i += matched or 1
        return tuple(hits)


@lru_cache(maxsize=2)
def load_gazetteer(path: str = str(GAZETTEER_FILE)) -> Gazetteer:
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise GazetteerError(f"{path}: not found; run `python -m evals.build_gazetteer`") from exc
    except json.JSONDecodeError as exc:
        raise GazetteerError(f"{path}: not valid JSON ({exc.msg})") from exc
    if data.get("format") != FORMAT:
        raise GazetteerError(f"{path}: format {data.get('format')!r}, expected {FORMAT!r}")
    names = {k: (tuple(v["services"]), bool(v["weak"])) for k, v in data["names"].items()}
    intents = {k: v["intent"] for k, v in data["services"].items()}
    return Gazetteer(names, intents, data.get("source", ""))


@lru_cache(maxsize=64)
def find_products(text: str) -> tuple[ProductHit, ...]:
    """AWS products named in ``text`` (strong names, or weak ones after Amazon/AWS).

    Cached per text: features, evidence, the scope veto and the rules all ask about the
    same message.
    """
    return load_gazetteer().find(text)
