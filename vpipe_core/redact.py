"""Redaction of credentials in text bound for logs, DLQ headers and error messages (spec §9).

All rules live in one precompiled regex. Every alternative starts with a literal character (no
global IGNORECASE, no leading group), which lets the regex engine jump between candidate
characters instead of trying every rule at every position: `redact` runs on every log line.

Each rule is `<kept prefix>(<value>)`; only the value is replaced. Registered secrets have no
group and are replaced whole. Values never contain quotes or backslashes, so redacting a
rendered JSON line keeps it valid JSON.
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
    "sig",
    "signature",
    "sign",
    "token",
    "access_token",
    "key",
    "api_key",
    "secret",
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
# `?` and `&` plain or URL-encoded, possibly more than once (`%3F`, `%253F`).
_QUERY_SEPARATORS = (r"\?", "&", r"%(?:25)*(?i:3F|26)")
_QUERY_EQUALS = r"(?:=|%(?:25)*(?i:3D))"
# Ends at a separator (plain or encoded), a fragment, whitespace, a quote, a backslash (JSON
# escapes) or an angle bracket.
_QUERY_VALUE = r"(?:[^&#\s\"'\\<>%]|%(?!(?:25)*26))+"

_OPTIONAL_QUOTE = r"(?:\\?[\"'])?"
_HEADER_VALUE = r"[^\r\n\"'\\]+"
_TOKEN = r"[A-Za-z0-9\-._~+/]+=*"
_CONNECTION_STRING_VALUE = r"[^;\s\"'\\]+"


def _any_case(word: str) -> list[str]:
    """Alternatives matching `word` in any case, each starting with a literal character."""
    rest = f"(?i:{re.escape(word[1:])})"
    return [re.escape(first) + rest for first in dict.fromkeys(word[0].lower() + word[0].upper())]


def _fixed_rules() -> list[str]:
    rules = [
        f"{separator}{_QUERY_NAME}{_QUERY_EQUALS}({_QUERY_VALUE})"
        for separator in _QUERY_SEPARATORS
    ]
    rules += [
        rf"{name}{_OPTIONAL_QUOTE}\s*[:=]\s*{_OPTIONAL_QUOTE}({_HEADER_VALUE})"
        for name in _any_case("authorization")
    ]
    # Case-sensitive on purpose: "basic" is a common English word.
    rules += [rf"{scheme}\s+({_TOKEN})" for scheme in ("Bearer", "Basic")]
    rules += [
        f"{name}=({_CONNECTION_STRING_VALUE})"
        for key in ("SharedAccessKey", "AccountKey")
        for name in _any_case(key)
    ]
    return rules


_FIXED_RULES = _fixed_rules()
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _compile(secrets: set[str]) -> re.Pattern[str]:
    # Longest first: a secret that contains another one is replaced as a whole.
    literals = [re.escape(secret) for secret in sorted(secrets, key=len, reverse=True)]
    return re.compile("|".join(_FIXED_RULES + literals))


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
