"""The HTTP `Retry-After` header as a delay in seconds (RFC 9110 §10.2.3), within reason.

A server's wish is honoured up to `MAX_RETRY_AFTER_S` (one hour): a retry-tier record waits at
the head of its partition until it is due, holding back every record behind it, so a value of
1,000 days must not be taken at its word. Anything that is not delta-seconds or an HTTP date
(negative, fractional, garbage, a date out of range) counts as no header at all.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_S = 3600.0


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now` (delta-seconds or an HTTP date), at most
    `MAX_RETRY_AFTER_S`, or None."""
    text = (value or "").strip()
    if text.isascii() and text.isdigit():
        return clamp_retry_after(float(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return clamp_retry_after((when - now).total_seconds())
    except OverflowError:
        return None


def clamp_retry_after(seconds: float) -> float:
    """`seconds` within [0, MAX_RETRY_AFTER_S] (inf and NaN: the maximum)."""
    if math.isnan(seconds):
        return MAX_RETRY_AFTER_S
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
