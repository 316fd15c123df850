"""Redaction of credentials in text bound for logs, DLQ headers and error messages (runtime.md §9).

All rules live in one precompiled regex. Every rule starts with a literal character (no global
IGNORECASE, no leading group), which lets the regex engine jump between candidate characters
instead of trying every rule at every position: `redact` runs on every log line. Rules are
grouped by that character, so that a candidate position tries one group, not every rule.

Each rule is `<kept prefix>(<value>)`; only the value is replaced. Registered secrets and bare
JWTs have no group and are replaced whole. Values never contain quotes or backslashes, so
redacting a rendered JSON line keeps it valid JSON.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

import orjson

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 4

_QUERY_PARAMETER_NAMES = (
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Goog-Signature",
    "X-Goog-Credential",
    "sig",
    "signature",
    "sign",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "key",
    "api_key",
    "apikey",
    "api-key",
    "secret",
    "client_secret",
    "password",
    "auth",
    "sv",
    "se",
    "st",
    "sp",
    "sr",
)
# Longest first so that `signature=` is never read as a longer value of `sig`.
_QUERY_NAME = "(?i:{})".format(
    "|".join(re.escape(name) for name in sorted(_QUERY_PARAMETER_NAMES, key=len, reverse=True))
)
# `?` and `&` plain, or `%3F` / `%26` URL-encoded possibly more than once (`%253F`).
_QUERY_SEPARATORS = (("?", ""), ("&", ""), ("%", "(?:25)*(?i:3F|26)"))
_QUERY_EQUALS = r"(?:=|%(?:25)*(?i:3D))"
# Ends at a separator (plain or encoded), a fragment, whitespace, a quote, a backslash (JSON
# escapes) or an angle bracket.
_QUERY_VALUE = r"(?:[^&#\s\"'\\<>%]|%(?!(?:25)*26))+"

_QUOTE = r"\\?[\"']"  # plain, or escaped inside a JSON string
_OPTIONAL_QUOTE = f"(?:{_QUOTE})?"
# A quoted name has a quoted value (dict or JSON text): a JSON line's non-string field is kept.
_QUOTED_SEPARATOR = rf"{_QUOTE}\s*[:=]\s*{_QUOTE}"
# Headers whose whole value is a credential; it runs to the end of the line or a quote.
# `api-key` also finds `X-Api-Key`.
_HEADER_NAMES = ("authorization", "cookie", "api-key", "apikey")
_HEADER_SEPARATOR = rf"(?:\s*[:=]\s*{_OPTIONAL_QUOTE}|{_QUOTED_SEPARATOR})"
_HEADER_VALUE = r"[^\r\n\"'\\]+"
# `name=value` (form bodies, error text, .env lines) or `'name': 'value'`; `name: value` is not
# one, so that messages such as "KAFKA_SASL_PASSWORD: got '****'" stay readable.
_KEY_NAMES = (
    "password",
    "passwd",
    "client_secret",
    "refresh_token",
    "id_token",
    "access_token",
    "api_key",
)
_KEY_SEPARATOR = rf"(?:\s*=\s*{_OPTIONAL_QUOTE}|{_QUOTED_SEPARATOR})"
_KEY_VALUE = r"[^&;,#\s\"'\\<>]+"
_TOKEN = r"[A-Za-z0-9\-._~+/]+=*"
_CONNECTION_STRING_VALUE = r"[^;\s\"'\\]+"
# `scheme://user:password@host`; the password may hold a raw `@`, the last one ends it.
_USERINFO_PASSWORD = r"//[^/?#@:\s\"'\\<>]*:([^/?#\s\"'\\<>]+)(?=@)"
_BASE64URL = r"[A-Za-z0-9_\-]"
# A JWT's header, payload and signature; the header is a JSON object, base64 `eyJ...`.
_JWT = rf"yJ{_BASE64URL}*\.{_BASE64URL}+\.{_BASE64URL}*"

Rule = tuple[str, str]  # (the literal first character, the regex of the rest)


def _any_case(word: str, rest: str) -> list[Rule]:
    """`word` in any case followed by `rest`, as rules starting with a literal character."""
    tail = f"(?i:{re.escape(word[1:])}){rest}"
    return [(first, tail) for first in dict.fromkeys(word[0].lower() + word[0].upper())]


def _fixed_rules() -> list[Rule]:
    rules = [
        (first, f"{encoded}{_QUERY_NAME}{_QUERY_EQUALS}({_QUERY_VALUE})")
        for first, encoded in _QUERY_SEPARATORS
    ]
    for header in _HEADER_NAMES:
        rules += _any_case(header, f"{_HEADER_SEPARATOR}({_HEADER_VALUE})")
    for key in _KEY_NAMES:
        rules += _any_case(key, f"{_KEY_SEPARATOR}({_KEY_VALUE})")
    rules += [(":", _USERINFO_PASSWORD), ("e", _JWT)]
    # Case-sensitive on purpose: "basic" is a common English word.
    rules += [(scheme[0], rf"{scheme[1:]}\s+({_TOKEN})") for scheme in ("Bearer", "Basic")]
    for key in ("SharedAccessKey", "AccountKey"):
        rules += _any_case(key, f"=({_CONNECTION_STRING_VALUE})")
    return rules


_FIXED_RULES = _fixed_rules()
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _grouped(rules: list[Rule]) -> str:
    """One alternative per first character; the rules keep their order within it."""
    groups: dict[str, list[str]] = {}
    for first, rest in rules:
        groups.setdefault(first, []).append(rest)
    return "|".join(
        re.escape(first) + (rests[0] if len(rests) == 1 else f"(?:{'|'.join(rests)})")
        for first, rests in groups.items()
    )


def _compile(secrets: set[str]) -> re.Pattern[str]:
    # Longest first: a secret that contains another one is replaced as a whole.
    literals = [
        (secret[0], re.escape(secret[1:])) for secret in sorted(secrets, key=len, reverse=True)
    ]
    return re.compile(_grouped(_FIXED_RULES + literals))


_pattern = _compile(_secrets)


def _replace(match: re.Match[str]) -> str:
    if match.lastindex is None:
        return REDACTED
    return match.string[match.start() : match.start(match.lastindex)] + REDACTED


def redact(text: str) -> str:
    """Replace credential values in `text` with `[REDACTED]`."""
    return _pattern.sub(_replace, text)


def _written_forms(value: str) -> set[str]:
    """The value as it appears raw, inside a JSON string and inside a URL."""
    json_escaped = orjson.dumps(value).decode()[1:-1]
    return {value, json_escaped, quote(value, safe="")}


def register_secret(value: str) -> None:
    """Redact this literal (e.g. a secret setting's value) everywhere from now on."""
    global _pattern
    if len(value) < MIN_SECRET_LENGTH:
        return
    forms = _written_forms(value)
    with _secrets_lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        _pattern = _compile(_secrets)


def truncate(text: str, limit: int = 500) -> str:
    """Cut `text` to `limit` characters, the last three being `...`, when it is longer."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 0)] + "..."
