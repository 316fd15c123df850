"""Eventhouse ingestion times as strings with 7 fractional digits (100 ns ticks), xact.md §1/§6.

The cursor keeps these strings as the server wrote them and never turns them into datetimes
(microseconds would drop the last digit and re-read or skip rows). Datetimes are only turned
*into* such strings here: for the query's upper bound, a first start, or a record timestamp.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

INGESTION_TIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z")


def is_ingestion_time(text: object) -> bool:
    return isinstance(text, str) and INGESTION_TIME_PATTERN.fullmatch(text) is not None


def ingestion_time(moment: datetime) -> str:
    """`moment` (naive = UTC) as `YYYY-MM-DDTHH:MM:SS.fffffffZ`."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def tick_before(moment: datetime) -> str:
    """The ingestion time one tick (100 ns) before `moment` truncated to microseconds, so a
    cursor at it includes every row at `moment` itself, whatever its key."""
    return ingestion_time(moment - timedelta(microseconds=1))[:-2] + "9Z"


def from_epoch_ms(milliseconds: int) -> str:
    """A Kafka record timestamp (ms since the epoch) as an ingestion time, exactly."""
    seconds, millis = divmod(milliseconds, 1000)
    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{millis:03d}0000Z"


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time (`Z`, any offset, or naive = UTC) as an aware UTC datetime; fractions
    beyond microseconds are truncated. ValueError if `text` is not one."""
    cleaned = text.strip().replace("z", "Z").replace("Z", "+00:00")
    whole, dot, rest = cleaned.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        cleaned = f"{whole}.{rest[: min(digits, 6)]}{rest[digits:]}"
    moment = datetime.fromisoformat(cleaned)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
