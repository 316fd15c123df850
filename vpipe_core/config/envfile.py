r"""Reading a `.env` file and expanding `${VAR}` references (runtime.md §7).

Accepted lines: `KEY=value`, `export KEY=value`, `# comments` and blank lines. Values may be
unquoted (an inline comment needs whitespace before `#`), single-quoted (taken literally) or
double-quoted (escapes \n, \t, \r, \", \\ and \$). `${VAR}` and `${VAR:-default}` are expanded
in unquoted and double-quoted values; an unresolved reference is an error, never literal text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ASSIGNMENT = re.compile(rf"^(?:export\s+)?(?P<key>{_NAME})\s*=\s*(?P<value>.*)$")
_SINGLE_QUOTED = re.compile(r"^'(?P<content>[^']*)'\s*(?:#.*)?$")
_DOUBLE_QUOTED = re.compile(r'^"(?P<content>(?:[^"\\]|\\.)*)"\s*(?:#.*)?$')
_INLINE_COMMENT = re.compile(r"\s+#.*$")
# A `${` that does not form a valid reference still matches, with no name, so it can be reported.
_REFERENCE = re.compile(rf"\$\{{(?:(?P<name>{_NAME})(?::-(?P<default>[^}}]*))?\}})?")
_ESCAPE = re.compile(r"(\\.)")
_ESCAPED_CHARACTERS = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class ExpansionError(Exception):
    """A `${...}` reference that cannot be expanded; the message names the reference."""


class EnvFileError(Exception):
    """Every problem found in one `.env` file, each naming the file and the line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class _MalformedLine(Exception):
    pass


def expand_references(text: str, scopes: Sequence[Mapping[str, str]]) -> str:
    """Replace `${VAR}` and `${VAR:-default}` in `text`, looking `VAR` up in `scopes` in order."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name is None:
            raise ExpansionError(f"'{match.group(0)}' does not start a ${{VAR}} reference")
        value = _look_up(name, scopes)
        default = match.group("default")
        if default is not None and not value:
            return default
        if value is None:
            raise ExpansionError(f"${{{name}}} is not set and has no default")
        return value

    return _REFERENCE.sub(replace, text)


def read_env_file(path: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables assigned in `path`; raises FileNotFoundError or EnvFileError."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError([f"{path}: cannot read: {exc}"]) from exc
    return parse_env_text(text, str(path), environ)


def parse_env_text(text: str, source: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Parse `.env` text; references resolve against `environ` first, then earlier lines."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        try:
            assignment = _parse_line(line, (environ, values))
        except (ExpansionError, _MalformedLine) as exc:
            problems.append(f"{source} line {line_number}: {exc}")
            continue
        if assignment is not None:
            key, value = assignment
            values[key] = value
    if problems:
        raise EnvFileError(problems)
    return values


def _parse_line(line: str, scopes: Sequence[Mapping[str, str]]) -> tuple[str, str] | None:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    match = _ASSIGNMENT.match(stripped)
    if match is None:
        raise _MalformedLine("malformed line, expected KEY=value")
    key = match.group("key")
    try:
        return key, _parse_value(match.group("value"), scopes)
    except ExpansionError as exc:
        raise ExpansionError(f"{key}: {exc}") from exc


def _parse_value(raw: str, scopes: Sequence[Mapping[str, str]]) -> str:
    if raw.startswith("'"):
        return _quoted_content(_SINGLE_QUOTED, raw)
    if raw.startswith('"'):
        return _expand_double_quoted(_quoted_content(_DOUBLE_QUOTED, raw), scopes)
    return expand_references(_INLINE_COMMENT.sub("", raw).strip(), scopes)


def _quoted_content(pattern: re.Pattern[str], raw: str) -> str:
    match = pattern.match(raw)
    if match is None:
        raise _MalformedLine("malformed quoted value (unclosed quote or text after it)")
    return match.group("content")


def _expand_double_quoted(content: str, scopes: Sequence[Mapping[str, str]]) -> str:
    # Splitting on escapes first keeps `\$` literal: only the text between escapes is expanded.
    pieces = _ESCAPE.split(content)
    return "".join(
        _unescape(piece) if index % 2 else expand_references(piece, scopes)
        for index, piece in enumerate(pieces)
    )


def _unescape(escape: str) -> str:
    return _ESCAPED_CHARACTERS.get(escape[1], escape)


def _look_up(name: str, scopes: Sequence[Mapping[str, str]]) -> str | None:
    for scope in scopes:
        if name in scope:
            return scope[name]
    return None
