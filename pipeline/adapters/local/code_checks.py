"""Default syntax checkers for code blocks, injected into ``QualityValidator``.

Each checker takes the text of one code block and returns ``None`` when it parses, or a
short message saying what is wrong. They live in an adapter because they shell out
(``bash -n``) or use a third-party parser (PyYAML), which the pure domain may not do.

- :func:`check_shell`: a fast pure-Python pre-check first (quotes, dangling operators,
  unbalanced brackets); scripts with no compound syntax (``if``/``for``/``case``/``$(``/
  heredocs/functions) that pass it are accepted without a subprocess, because ``bash -n``
  cannot find anything more in them. Everything else runs ``bash -n`` with a timeout,
  results cached by text. Without ``bash`` on the PATH, the pre-check alone decides.
- :func:`check_yaml`: PyYAML's ``safe_load_all`` with CloudFormation's short-form tags
  (``!Ref``, ``!Sub`` …) accepted. PyYAML is imported lazily; when it is not installed
  (it is not guaranteed in the Lambda runtime) the checker degrades to a structural
  check (tabs in indentation, unbalanced brackets and quotes).
- :func:`check_json` is here for symmetry; the domain parses JSON itself with ``json``.

Example:
    >>> check_shell("aws s3 ls s3://my-bucket") is None
    True
    >>> check_shell('echo "unterminated')
    'unterminated double quote'
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import shutil
import subprocess

BASH_TIMEOUT_SECONDS = 2.0

# Constructs that only a real shell parser can judge.
_COMPOUND = re.compile(
    r"(^|[\s;&|(])(if|then|elif|else|fi|for|while|until|do|done|case|esac|function|select)(?=$|[\s;&|)])"
    r"|\$\(|`|<<|\(\)|\{\s*$|^\s*\}",
    re.MULTILINE,
)
_DANGLING_OPERATOR = re.compile(r"(\|\||&&|\|)\s*$")
_LEADING_OPERATOR = re.compile(r"^\s*(\|\||&&|\||;)(?!;)")


def precheck_shell(script: str) -> tuple[str | None, bool]:
    """Pure-Python shell check.

    Args:
        script: The code block text.

    Returns:
        ``(error, needs_shell)``: an error message or None, and whether the script has
        compound syntax that only ``bash -n`` can judge.
    """
    logical_lines = _join_continuations(script)
    # A quoted argument may span lines ('{ … }' JSON): then only the whole script lexes,
    # and bash -n judges it.
    multi_line_quotes = False
    for number, line in enumerate(logical_lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            lexer = shlex.shlex(stripped, posix=True, punctuation_chars=False)
            lexer.whitespace_split = True
            lexer.commenters = "#"
            list(lexer)
        except ValueError as exc:
            message = str(exc).lower()
            if "quotation" in message and _lexes("\n".join(logical_lines)):
                multi_line_quotes = True
                continue
            if "quotation" in message:
                quote = "single" if _odd_quote(stripped, "'") else "double"
                return f"unterminated {quote} quote", False
            return f"line {number}: {message}", False
        if _LEADING_OPERATOR.match(stripped):
            return f"line {number}: starts with an operator", False
    needs_shell = multi_line_quotes or bool(_COMPOUND.search(script))
    if not needs_shell:
        last = next((line for line in reversed(logical_lines) if line.strip()), "")
        if _DANGLING_OPERATOR.search(last):
            return "the script ends with a dangling operator", False
        if _unbalanced_parentheses(script):
            return "unbalanced parentheses", False
    return None, needs_shell


def _lexes(text: str) -> bool:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        list(lexer)
    except ValueError:
        return False
    return True


def _odd_quote(line: str, quote: str) -> bool:
    return line.count(quote) % 2 == 1


def _join_continuations(script: str) -> list[str]:
    lines: list[str] = []
    buffer = ""
    for raw in script.splitlines():
        if raw.rstrip().endswith("\\"):
            buffer += raw.rstrip()[:-1] + " "
            continue
        lines.append(buffer + raw)
        buffer = ""
    if buffer:
        lines.append(buffer)
    return lines


def _unbalanced_parentheses(script: str) -> bool:
    depth = 0
    quote: str | None = None
    for char in script:
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return True
    return depth != 0


@functools.lru_cache(maxsize=1024)
def _bash_path() -> str | None:
    return shutil.which("bash")


@functools.lru_cache(maxsize=2048)
def check_shell(script: str) -> str | None:
    """Syntax-check a shell script; None when it parses (see module docstring)."""
    error, needs_shell = precheck_shell(script)
    if error is not None or not needs_shell:
        return error
    bash = _bash_path()
    if bash is None:
        return None  # the pre-check found nothing and there is no better judge
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, script on stdin
            [bash, "-n"],
            input=script,
            capture_output=True,
            text=True,
            timeout=BASH_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None  # cannot judge: do not fail an answer because the checker failed
    if completed.returncode == 0:
        return None
    return _first_bash_error(completed.stderr)


def _first_bash_error(stderr: str) -> str:
    for line in stderr.splitlines():
        line = line.strip()
        if line:
            # "bash: line 3: syntax error near unexpected token `fi'" -> "line 3: syntax error …"
            return re.sub(r"^(/\S+/)?bash:\s*", "", line)
    return "bash -n reported a syntax error"


def check_json(text: str) -> str | None:
    """None when ``text`` is valid JSON, else ``json``'s message with line and column."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    return None


_yaml_loader: type | None = None
_yaml_unavailable = False


def _cloudformation_loader() -> type | None:
    """A SafeLoader that accepts CloudFormation tags; None when PyYAML is missing."""
    global _yaml_loader, _yaml_unavailable
    if _yaml_loader is not None or _yaml_unavailable:
        return _yaml_loader
    try:
        import yaml  # lazy: not guaranteed in the Lambda runtime
    except ImportError:
        _yaml_unavailable = True
        return None

    class CloudFormationLoader(yaml.SafeLoader):
        pass

    def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    CloudFormationLoader.add_multi_constructor("!", _any_tag)
    _yaml_loader = CloudFormationLoader
    return _yaml_loader


@functools.lru_cache(maxsize=1024)
def check_yaml(text: str) -> str | None:
    """None when ``text`` is valid YAML (CloudFormation tags allowed), else the error."""
    loader = _cloudformation_loader()
    if loader is None:
        return structural_yaml_check(text)
    import yaml

    try:
        for _ in yaml.load_all(text, Loader=loader):  # noqa: S506 - SafeLoader subclass
            pass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if mark is not None:
            return f"invalid YAML: {problem} (line {mark.line + 1}, column {mark.column + 1})"
        return f"invalid YAML: {problem}"
    return None


def structural_yaml_check(text: str) -> str | None:
    """The fallback YAML check without PyYAML: tabs in indentation only."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line[: len(line) - len(line.lstrip())].count("\t"):
            return f"invalid YAML: tab character in indentation (line {number})"
    return None
