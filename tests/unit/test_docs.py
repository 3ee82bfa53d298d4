"""What a newcomer follows in a fresh clone: the README's and docs/'s links and install lines.

The README once linked ``../shared/DESIGN.md``, a file outside the repository that a clone
does not have, and told to run ``pip install -e . --group dev`` without saying that the pip
a Python 3.11.7 venv ships (23.2.1) has no ``--group`` (pip 25.1 added it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
#: Markdown links and images: [text](target) — the target up to a space, ')' or '#'.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s#]+)(?:#[^)\s]*)?(?:\s[^)]*)?\)")


def _relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves_inside_the_repository(doc: Path):
    for target in _relative_links(doc):
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(REPO_ROOT), f"{doc.name} links {target}, outside the repository"
        assert resolved.exists(), f"{doc.name} links {target}, which does not exist"


def test_a_link_outside_the_repository_is_found(tmp_path: Path):
    """The check above can fail: the README's old link to the team's shared design doc."""
    assert _relative_links(_write(tmp_path, "See [design](../shared/DESIGN.md).")) == ["../shared/DESIGN.md"]


def _write(folder: Path, text: str) -> Path:
    path = folder / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_pip_install_with_a_group_names_the_pip_that_has_it(doc: Path):
    paragraphs = doc.read_text(encoding="utf-8").split("\n\n")
    for paragraph in paragraphs:
        plain = re.sub(r"uv pip install[^`]*", "", paragraph.replace("\n", " "))
        if re.search(r"\bpip install [^`]*--group", plain):
            assert "25.1" in paragraph, f"{doc.name}: pip install --group without 'pip 25.1 or newer'"
