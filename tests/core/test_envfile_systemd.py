"""`.env` parsing follows systemd's `EnvironmentFile=` rules (systemd.exec(5)), so `vpipe config
check` and a worker under systemd see the same values; whatever systemd reads differently from how
the line looks is an error naming the file, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpipe_core.config.envfile import EnvFileError, parse_env_text, read_env_file

# (file text, the value of V that systemd passes to the service)
SYSTEMD_VALUES = [
    ("V=plain", "plain"),
    ("V=", ""),
    ("V=''", ""),
    ('V=""', ""),
    ("  V  =   padded value   ", "padded value"),
    ("V=a#b", "a#b"),
    ("V=in'ner\"quotes", "in'ner\"quotes"),
    ("V='literal \\n \\ \" # x'", 'literal \\n \\ " # x'),
    ("V='spans\nlines'", "spans\nlines"),
    ('V="esc \\" \\\\ \\` \\$ kept \\n \\t"', 'esc " \\ ` $ kept \\n \\t'),
    ('V="spans\\\nlines"', "spanslines"),
    ('V="two\nlines"', "two\nlines"),
    ("V=con\\\ntinued", "continued"),
    ("V=tab\there", "tab\there"),
    ("V=crlf\r\n", "crlf"),
    ("; a semicolon comment\nV=after", "after"),
    ("# comment\n\nV=x", "x"),
]

# (file text, what the error must say)
REJECTED = [
    ("EVENT_SOURCE=eventhouse  # or eventhub", "'# or eventhub' as part of the value"),
    ("V='x' # note", "text after the closing quote"),
    ('V="x"y', "text after the closing quote"),
    ("V=C:\\temp", "unquoted backslash"),
    ("export V=x", "systemd ignores 'export"),
    ("KAFKA_SASL_PASSWORD='pa${ss'", "'${' does not start a ${VAR} reference"),
    ("V=a\u2028b", "U+2028 LINE SEPARATOR"),
    ("V=a\x0bb", "control character U+000B"),
    ("V='open", "unclosed ' quote"),
    ('V="open', 'unclosed " quote'),
    ("# a comment \\\nV=x", "swallows the next line"),
    ("NO ASSIGNMENT", "expected KEY=value"),
    ("1BAD=x", "is not a variable name"),
    ("MY-NAME=x", "is not a variable name"),
]


@pytest.mark.parametrize(("text", "expected"), SYSTEMD_VALUES)
def test_values_are_what_systemd_passes(text: str, expected: str) -> None:
    assert parse_env_text(text + "\n", ".env", {}) == {"V": expected}


@pytest.mark.parametrize(("text", "says"), REJECTED)
def test_lines_systemd_reads_differently_are_errors_with_file_and_line(
    text: str, says: str
) -> None:
    with pytest.raises(EnvFileError) as caught:
        parse_env_text(f"GOOD=1\n{text}\nLATER=2\n", "/opt/x/config/.env", {})
    (problem,) = caught.value.problems
    assert problem.startswith("/opt/x/config/.env line 2: "), problem
    assert says in problem


def test_references_are_expanded_in_every_value_as_the_worker_does() -> None:
    text = "BASE=/lake\nA=${BASE}/a\nB='${BASE}/b'\nC=\"${BASE}/c\"\n"
    values = parse_env_text(text, ".env", {})
    assert (values["A"], values["B"], values["C"]) == ("/lake/a", "/lake/b", "/lake/c")


def test_line_numbers_count_lines_inside_multi_line_values() -> None:
    with pytest.raises(EnvFileError) as caught:
        parse_env_text("A='one\ntwo'\nB=x  # note\n", "f", {})
    assert caught.value.problems[0].startswith("f line 3: ")


def test_byte_order_mark_is_an_error(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_bytes("\ufeffA=1\n".encode())
    with pytest.raises(EnvFileError) as caught:
        read_env_file(env_file, {})
    assert "byte-order mark" in caught.value.problems[0]
    assert f"{env_file} line 1" in caught.value.problems[0]
