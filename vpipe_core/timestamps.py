"""Timestamps as vpipe writes them in messages and headers: UTC `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    """`moment` in UTC with microseconds and `Z` (isoformat: strftime is slower per call)."""
    if moment.tzinfo is not UTC:  # converting an aware UTC time again costs a third of the call
        moment = moment.astimezone(UTC)
    return f"{moment.replace(tzinfo=None).isoformat(timespec='microseconds')}Z"


def parse_iso_utc(text: str) -> datetime:
    """An ISO time written by `iso_utc` (or any ISO time; naive = UTC) as an aware datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
