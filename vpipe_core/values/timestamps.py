"""Timestamps: written as UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ`, read from any ISO-8601 form."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    """`moment` in UTC with microseconds and `Z` (isoformat: strftime is slower per call)."""
    if moment.tzinfo is not UTC:  # converting an aware UTC time again costs a third of the call
        moment = moment.astimezone(UTC)
    return f"{moment.replace(tzinfo=None).isoformat(timespec='microseconds')}Z"


def parse_iso_utc(text: str) -> datetime:
    """An ISO-8601 time (`Z`, any offset, or naive = UTC) as an aware UTC datetime; fractions
    beyond microseconds are truncated. ValueError if `text` is not one (or falls outside the
    years 1 to 9999 once converted to UTC)."""
    cleaned = text.strip().replace("z", "Z").replace("Z", "+00:00")
    whole, dot, rest = cleaned.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        cleaned = f"{whole}.{rest[: min(digits, 6)]}{rest[digits:]}"
    moment = datetime.fromisoformat(cleaned)
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None
