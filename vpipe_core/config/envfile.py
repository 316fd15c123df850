r"""Reading a `.env` file exactly as systemd's `EnvironmentFile=` does, then expanding `${VAR}`.

The same file feeds the units (`EnvironmentFile=`) and `vpipe config check`, so it is parsed with
systemd's rules (systemd.exec(5)), and whatever systemd would read differently from how the line
looks is an error naming the file, the line and the fix:

- `KEY=value`; blank lines and lines starting with `#` or `;` are ignored.
- Unquoted values keep interior whitespace, quotes and `#`; leading and trailing blanks go.
  `value  # note` is rejected (systemd keeps `# note` in the value). A backslash at the end of
  the line continues the value on the next one; any other unquoted backslash is rejected
  (systemd drops it silently): quote the value.
- `'single quotes'` are literal and may span lines; `"double quotes"` may span lines and turn
  `\"`, `\\`, `` \` `` and `\$` into the character, keeping any other backslash verbatim
  (`"\n"` stays backslash-n). Text after the closing quote is rejected (systemd appends it).
- `export KEY=value` is rejected (systemd ignores the line), as are control characters, Unicode
  line separators and a byte-order mark.
- Then vpipe expands `${VAR}` and `${VAR:-default}` in every value, quoted or not, because systemd
  hands the text over unchanged and the worker expands it the same way; an unresolved or
  malformed reference (a lone `${`) is an error, never literal text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A `${` that does not form a valid reference still matches, with no name, so it can be reported.
_REFERENCE = re.compile(rf"\$\{{(?:(?P<name>{_NAME.pattern})(?::-(?P<default>[^}}]*))?\}})?")
_INLINE_COMMENT = re.compile(r"[ \t]#")
_LINE_ENDS = "\n\r"
_BLANKS = " \t"
_DOUBLE_QUOTE_ESCAPES = '"\\`$'
_INVISIBLE = {
    "\u2028": "U+2028 LINE SEPARATOR",
    "\u2029": "U+2029 PARAGRAPH SEPARATOR",
    "\u0085": "U+0085 NEXT LINE",
    "\ufeff": "U+FEFF BYTE ORDER MARK",
}


class ExpansionError(Exception):
    """A `${...}` reference that cannot be expanded; the message names the reference."""


class EnvFileError(Exception):
    """Every problem found in one `.env` file, each naming the file and the line; `values`
    holds the lines that were fine (so the rest can still be checked)."""

    def __init__(self, problems: Sequence[str], values: Mapping[str, str] | None = None) -> None:
        self.problems = list(problems)
        self.values = dict(values or {})
        super().__init__("\n".join(self.problems))


class _MalformedLine(Exception):
    pass


def expand_references(text: str, scopes: Sequence[Mapping[str, str]]) -> str:
    """Replace `${VAR}` and `${VAR:-default}` in `text`, looking `VAR` up in `scopes` in order."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name is None:
            raise ExpansionError(
                f"'{match.group(0)}' does not start a ${{VAR}} reference (vpipe expands ${{...}} "
                "in every value, quoted or not; remove the '${' from the value)"
            )
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
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError([f"{path}: cannot read: {exc}"]) from exc
    return parse_env_text(text, str(path), environ)


def parse_env_text(text: str, source: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Parse `.env` text as systemd does; `${VAR}` resolves in `environ`, then earlier lines."""
    values: dict[str, str] = {}
    problems: list[str] = []
    if text.startswith("\ufeff"):
        problems.append(
            f"{source} line 1: the file starts with a byte-order mark, which systemd reads as part "
            "of the first name: save the file as UTF-8 without BOM"
        )
        text = text[1:]
    scanner = _Scanner(text)
    while not scanner.at_end():
        scanner.skip(_BLANKS + _LINE_ENDS)
        line_number = scanner.line
        try:
            assignment = _parse_entry(scanner, (environ, values))
        except (ExpansionError, _MalformedLine) as exc:
            problems.append(f"{source} line {line_number}: {exc}")
            scanner.skip_line()
            continue
        if assignment is not None:
            key, value = assignment
            values[key] = value
    if problems:
        raise EnvFileError(problems, values)
    return values


class _Scanner:
    """A cursor over the text that counts lines (systemd ends lines at `\n` and at `\r`)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.line = 1

    def at_end(self) -> bool:
        return self.position >= len(self.text)

    def peek(self) -> str:
        return "" if self.at_end() else self.text[self.position]

    def take(self) -> str:
        character = self.peek()
        self.position += 1
        if character == "\n":
            self.line += 1
        return character

    def skip(self, characters: str) -> None:
        while not self.at_end() and self.peek() in characters:
            self.take()

    def take_until(self, stops: str) -> str:
        start = self.position
        while not self.at_end() and self.peek() not in stops:
            self.take()
        return self.text[start : self.position]

    def skip_line(self) -> None:
        self.take_until("\n")
        self.take()


def _parse_entry(scanner: _Scanner, scopes: Sequence[Mapping[str, str]]) -> tuple[str, str] | None:
    scanner.skip(_BLANKS + _LINE_ENDS)
    if scanner.at_end():
        return None
    if scanner.peek() in "#;":
        if scanner.take_until(_LINE_ENDS).endswith("\\"):
            raise _MalformedLine(
                "a comment ending in '\\' swallows the next line under systemd: remove the '\\'"
            )
        return None
    key = _parse_key(scanner.take_until("=" + _LINE_ENDS))
    if scanner.peek() != "=":
        raise _MalformedLine("malformed line, expected KEY=value")
    scanner.take()
    value = _parse_value(scanner)
    _check_characters(value)
    try:
        return key, expand_references(value, scopes)
    except ExpansionError as exc:
        raise ExpansionError(f"{key}: {exc}") from exc


def _parse_key(text: str) -> str:
    key = text.strip(_BLANKS)
    if key.startswith("export") and key[len("export") :][:1] in (" ", "\t"):
        raise _MalformedLine("systemd ignores 'export NAME=value' lines: remove 'export '")
    if _NAME.fullmatch(key) is None:
        raise _MalformedLine(
            f"malformed line, expected KEY=value ({key!r} is not a variable name: letters, "
            "digits and '_', not starting with a digit)"
        )
    return key


def _parse_value(scanner: _Scanner) -> str:
    scanner.skip(_BLANKS)
    opening = scanner.peek()
    if opening == "'":
        scanner.take()
        value = scanner.take_until("'")
        _close_quote(scanner, "'")
        return value
    if opening == '"':
        scanner.take()
        value = _double_quoted(scanner)
        _close_quote(scanner, '"')
        return value
    return _unquoted(scanner)


def _double_quoted(scanner: _Scanner) -> str:
    pieces: list[str] = []
    while not scanner.at_end() and scanner.peek() != '"':
        character = scanner.take()
        if character != "\\":
            pieces.append(character)
            continue
        escaped = scanner.take()
        if escaped == "\n":
            continue
        pieces.append(escaped if escaped in _DOUBLE_QUOTE_ESCAPES else "\\" + escaped)
    return "".join(pieces)


def _close_quote(scanner: _Scanner, quote: str) -> None:
    if scanner.take() != quote:
        raise _MalformedLine(f"unclosed {quote} quote: close it")
    scanner.skip(_BLANKS)
    rest = scanner.take_until(_LINE_ENDS)
    if rest:
        raise _MalformedLine(
            f"text after the closing quote ({rest!r}): systemd appends it to the value; "
            "put a comment on its own line"
        )


def _unquoted(scanner: _Scanner) -> str:
    pieces: list[str] = []
    while not scanner.at_end() and scanner.peek() not in _LINE_ENDS:
        character = scanner.take()
        if character != "\\":
            pieces.append(character)
        elif scanner.peek() == "\n":
            scanner.take()  # a line continuation: systemd drops the backslash and the newline
        else:
            raise _MalformedLine(
                "unquoted backslash: systemd drops it; put the value in single quotes"
            )
    value = "".join(pieces).rstrip(_BLANKS)
    comment = _INLINE_COMMENT.search(value)
    if comment is not None:
        raise _MalformedLine(
            f"systemd keeps {value[comment.start() + 1 :]!r} as part of the value: move the "
            "comment to its own line"
        )
    return value


def _check_characters(value: str) -> None:
    for character in value:
        name = _INVISIBLE.get(character)
        if name is None and ord(character) < 32 and character not in "\t\n":
            name = f"control character U+{ord(character):04X}"
        if name is None and ord(character) == 127:
            name = "control character U+007F"
        if name is not None:
            raise _MalformedLine(
                f"the value contains {name}, which systemd and editors read differently: remove it"
            )


def _look_up(name: str, scopes: Sequence[Mapping[str, str]]) -> str | None:
    for scope in scopes:
        if name in scope:
            return scope[name]
    return None
