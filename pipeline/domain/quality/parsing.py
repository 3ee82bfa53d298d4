"""Parsing a Markdown answer: prose lines, fenced code blocks, inline code, shell lines."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

_FENCE = re.compile(r"^\s{0,8}(`{3,}|~{3,})\s*([\w+#.-]*)")
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
#: A word: a letter, then letters or digits (``EC2``, ``s3``, ``describe``).
WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """A fenced code block. ``start_line`` is the 1-based line of its first content line."""

    language: str
    text: str
    start_line: int
    closed: bool


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """A response split into prose lines (with numbers) and fenced code blocks."""

    lines: tuple[str, ...]
    prose: tuple[tuple[int, str], ...]
    blocks: tuple[CodeBlock, ...]
    unclosed_fence_line: int | None
    inline_code: tuple[tuple[int, str], ...] = field(default=())

    @property
    def prose_text(self) -> str:
        return "\n".join(text for _, text in self.prose)


def parse_response(text: str) -> ParsedResponse:
    """Split Markdown into prose and fenced code blocks, tracking line numbers.

    A fence nested in a list item is indented: that indentation is removed from the block's
    lines, as CommonMark does, so the code parses as written. A fence *with a language*
    met inside a block (```` ```json ````) cannot close it: the writer forgot to close the
    previous block, which is recorded as unclosed, and a new block starts there.
    """
    lines = tuple(text.splitlines())
    prose: list[tuple[int, str]] = []
    blocks: list[CodeBlock] = []
    fence: str | None = None
    indent = 0
    language = ""
    start = 0
    body: list[str] = []
    unclosed = None
    for number, line in enumerate(lines, start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence, language, start, body = match.group(1), match.group(2).lower(), number + 1, []
                indent = len(line) - len(line.lstrip())
            else:
                prose.append((number, line))
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            if not match.group(2):
                blocks.append(CodeBlock(language, _dedent(body, indent), start, True))
                fence = None
                continue
            # An opening fence inside a block: the previous block was never closed.
            blocks.append(CodeBlock(language, _dedent(body, indent), start, False))
            unclosed = start - 1 if unclosed is None else unclosed
            fence, language, start, body = match.group(1), match.group(2).lower(), number + 1, []
            indent = len(line) - len(line.lstrip())
        else:
            body.append(line)
    if fence is not None:
        blocks.append(CodeBlock(language, _dedent(body, indent), start, False))
        unclosed = start - 1 if unclosed is None else unclosed
    inline = tuple((n, m.group(1)) for n, line in prose for m in _INLINE_CODE.finditer(line))
    return ParsedResponse(lines, tuple(prose), tuple(blocks), unclosed, inline)


def _dedent(body: list[str], indent: int) -> str:
    """Remove up to ``indent`` leading spaces from every line (the fence's own indentation)."""
    if not indent:
        return "\n".join(body)
    out = []
    for line in body:
        stripped = len(line) - len(line.lstrip(" "))
        out.append(line[min(stripped, indent):])
    return "\n".join(out)


def sentences(prose: str) -> list[str]:
    """Sentences and lines of prose (split after . ! ? and at line breaks)."""
    return [s for s in re.split(r"(?<=[.!?])\s+|\n+", prose) if s.strip()]


def snippet(part: str) -> str:
    """A part of a question short enough to quote in a message."""
    part = part.strip()
    return part if len(part) <= 60 else part[:57] + "..."


def has_prompts(text: str) -> bool:
    """A shell block written as a session (``$ command`` lines)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and lines[0].lstrip().startswith("$ ")


def strip_doctest(text: str) -> str:
    """The code of a Python block written as a ``>>>`` session."""
    if ">>> " not in text:
        return text
    return "\n".join(
        line.lstrip()[4:]
        for line in text.splitlines()
        if line.lstrip().startswith((">>> ", "... "))
    )


def logical_lines(script: str) -> list[tuple[int, str]]:
    """Shell lines with backslash continuations joined: ``(0-based first line, text)``."""
    result: list[tuple[int, str]] = []
    buffer = ""
    start = 0
    for offset, raw in enumerate(script.splitlines()):
        if not buffer:
            start = offset
        if raw.rstrip().endswith("\\"):
            buffer += raw.rstrip()[:-1] + " "
            continue
        result.append((start, buffer + raw))
        buffer = ""
    if buffer:
        result.append((start, buffer))
    return result


def shell_tokens(segment: str) -> list[str]:
    """Shell words of one command (a trailing ``# comment`` dropped; unbalanced quotes tolerated)."""
    segment = segment.split(" #", 1)[0]
    try:
        return shlex.split(segment)
    except ValueError:
        return segment.split()


def shlex_shell_check(script: str) -> str | None:
    """Pure fallback shell check: every logical line must tokenise (balanced quotes)."""
    for _, line in logical_lines(script):
        try:
            shlex.split(line, comments=True)
        except ValueError as exc:
            return str(exc)
    return None


def tabs_yaml_check(text: str) -> str | None:
    """Pure fallback YAML check: tabs in indentation are always a YAML error."""
    for number, line in enumerate(text.splitlines(), start=1):
        if "\t" in line[: len(line) - len(line.lstrip())]:
            return f"tab character in indentation (line {number})"
    return None


def json_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object, also when it is an object's members without the braces
    (an answer often shows only the part of a document that matters)."""
    for candidate in (text, "{" + text.strip().rstrip(",") + "}"):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        return data if isinstance(data, dict) else None
    return None


_CLOSERS = {")": "(", "]": "[", "}": "{"}
#: After one of these (or at the start), ``/`` opens a regular-expression literal, not a division.
_REGEX_BEFORE = frozenset("(,=:[!&|?{};+-*%<>~^")
_ELIDED = frozenset({"...", "…", "// ...", "// …", "/* ... */", "/* … */"})


def brace_mismatch(code: str, *, hash_comments: bool = False) -> tuple[int, str] | None:
    """The first bracket error of a C-family code block (JavaScript, TypeScript, Java, Go,
    C#), as ``(0-based line, message)``, or None when the brackets balance or the block
    cannot be judged.

    One linear pass: ``//`` and ``/* */`` comments, ``'…'``/``"…"`` strings (one line),
    backtick strings (template literals and Go raw strings, may span lines) and JavaScript
    regular-expression literals are skipped (with ``hash_comments``, ``#`` comments too: HCL,
    where ``'`` opens no string). Conservative: a quote still open at the end
    of its line (a Rust lifetime, a JSX apostrophe) or a block that elides code (a line
    ``...``) is not judged.
    """
    if any(line.strip() in _ELIDED for line in code.splitlines()):
        return None
    stack: list[tuple[str, int]] = []
    line = 0
    previous = ""  # the last significant character outside strings and comments
    i, n = 0, len(code)
    while i < n:
        char = code[i]
        if char == "\n":
            line += 1
        elif char in " \t\r":
            pass
        elif code.startswith("//", i) or (hash_comments and char == "#"):
            end = code.find("\n", i)
            i = n if end < 0 else end
            continue
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            if end < 0:
                return None
            line += code.count("\n", i, end)
            i = end + 2
            continue
        elif char == '"' or (char == "'" and not hash_comments):
            j = i + 1
            while j < n and code[j] != char and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            if j >= n or code[j] != char:
                return None
            i, previous = j + 1, char
            continue
        elif char == "`" and not hash_comments:
            j = i + 1
            while j < n and code[j] != "`":
                j += 2 if code[j] == "\\" else 1
            if j >= n:
                return None
            line += code.count("\n", i, j)
            i, previous = j + 1, char
            continue
        elif char == "/" and not hash_comments and (not previous or previous in _REGEX_BEFORE):
            j, in_class = i + 1, False
            while j < n and code[j] != "\n" and (in_class or code[j] != "/"):
                if code[j] == "\\":
                    j += 1
                elif code[j] == "[":
                    in_class = True
                elif code[j] == "]":
                    in_class = False
                j += 1
            if j >= n or code[j] != "/":
                return None
            i, previous = j + 1, "/"
            continue
        elif char in "([{":
            stack.append((char, line))
            previous = char
        elif char in _CLOSERS:
            if not stack or stack[-1][0] != _CLOSERS[char]:
                return line, f"`{char}` does not close anything open"
            stack.pop()
            previous = char
        else:
            previous = char
        i += 1
    if stack:
        opener, opened = stack[-1]
        return opened, f"`{opener}` is never closed"
    return None
