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
    beyond microseconds are truncated. ValueError if `text` is not one."""
    cleaned = text.strip().replace("z", "Z").replace("Z", "+00:00")
    whole, dot, rest = cleaned.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        cleaned = f"{whole}.{rest[: min(digits, 6)]}{rest[digits:]}"
    moment = datetime.fromisoformat(cleaned)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
