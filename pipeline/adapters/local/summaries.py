"""Local SummaryWriters: a folder (the CLI, the local stack) or memory (tests).

Example:
    >>> writer = InMemorySummaryWriter()
    >>> writer.write_json("feedback-summaries/latest.json", {"csat": 0.8})
    'memory://feedback-summaries/latest.json'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class InMemorySummaryWriter:
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    def write_json(self, key: str, data: dict[str, Any]) -> str:
        self.documents[key] = json.loads(json.dumps(data, default=str))
        return f"memory://{key}"


class FolderSummaryWriter:
    def __init__(self, directory: str | Path) -> None:
        self._directory = Path(directory)

    def write_json(self, key: str, data: dict[str, Any]) -> str:
        path = self._directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
        return str(path)
