"""Timestamps: written as UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ`, read from any ISO-8601 form."""

from __future__ import annotations

import time
from datetime import UTC, datetime

_second_text: tuple[int, str] = (-1, "")  # a second since the epoch, as YYYY-MM-DDTHH:MM:SS.


def iso_utc_now() -> str:
    """The current time as `iso_utc` writes it, for a stamp per record: the date and time of the
    second are formatted once per second, only the microseconds per call (`%06d` truncates the
    float, a fifth cheaper than an f-string around `int()`)."""
    global _second_text
    now = time.time()
    second = int(now)
    if second != _second_text[0]:
        _second_text = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
    return "%s%06dZ" % (_second_text[1], (now - second) * 1e6)  # noqa: UP031


def iso_utc(moment: datetime) -> str:
    """`moment` in UTC with microseconds and `Z`. %-formatting the fields: for an aware time
    `isoformat` (and its slicing) costs 1.5 times as much, `strftime` 3 times."""
    if moment.tzinfo is not UTC:  # converting an aware UTC time again costs a third of the call
        moment = moment.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
    )


def iso_utc_of(text: object, moment: datetime) -> str:
    """`iso_utc(moment)` for `moment = parse_iso_utc(text)`: read off `text` when it already is
    UTC with six fraction digits (`...SS.ffffff` then `Z` or `+00:00`), as most sources write
    it; a quarter of the cost. Any other text, or none, takes `iso_utc`."""
    if type(text) is str and text[19:20] == "." and text[10:11] == "T" and text[4:5] == "-":
        if len(text) == 32 and text[7] == "-" and text.endswith("+00:00"):
            return text[:26] + "Z"
        if len(text) == 27 and text[7] == "-" and text[26] == "Z":
            return text
    return iso_utc(moment)


def parse_iso_utc(text: str) -> datetime:
    """An ISO-8601 time (`Z`, any offset, or naive = UTC) as an aware UTC datetime; fractions
    beyond microseconds are truncated. ValueError if `text` is not one (or falls outside the
    years 1 to 9999 once converted to UTC)."""
    try:  # the common forms, read as they are (Python 3.11 truncates long fractions too)
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(_cleaned(text))
    if moment.tzinfo is UTC:
        return moment
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None


def _cleaned(text: str) -> str:
    """What `fromisoformat` refuses and we accept: blanks around, a lowercase `z`."""
    cleaned = text.strip().replace("z", "Z").replace("Z", "+00:00")
    whole, dot, rest = cleaned.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        cleaned = f"{whole}.{rest[: min(digits, 6)]}{rest[digits:]}"
    return cleaned
