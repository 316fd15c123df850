"""Eventhouse ingestion times as strings with 7 fractional digits (100 ns ticks).

The cursor keeps these strings as the server wrote them and never turns them into datetimes
(microseconds would drop the last digit and re-read or skip rows). Datetimes are only turned
*into* such strings here: for the query's upper bound, a first start, or a record timestamp.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from vpipe_core.values.timestamps import parse_iso_utc

INGESTION_TIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z")
_FRACTION = re.compile(r"(T\d{2}:\d{2}:\d{2})\.(\d+)")
TICKS_PER_SECOND = 10_000_000


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


def tick_after(time: str) -> str:
    """The ingestion time one tick (100 ns) after the 7-digit `time`."""
    whole, fraction = time[:19], int(time[20:27]) + 1
    if fraction == TICKS_PER_SECOND:
        moment = datetime.fromisoformat(whole) + timedelta(seconds=1)
        whole, fraction = moment.strftime("%Y-%m-%dT%H:%M:%S"), 0
    return f"{whole}.{fraction:07d}Z"


def from_epoch_ms(milliseconds: int) -> str:
    """A Kafka record timestamp (ms since the epoch) as an ingestion time, exactly."""
    seconds, millis = divmod(milliseconds, 1000)
    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{millis:03d}0000Z"


def parse_ingestion_time(text: str) -> str:
    """An ISO-8601 time as a 7-digit ingestion time, keeping up to 7 fractional digits (an
    operator may paste a time from a row). ValueError if `text` is not a time."""
    match = _FRACTION.search(text)
    if match is None:
        return ingestion_time(parse_iso_utc(text))
    fraction = match[2]
    whole_seconds = parse_iso_utc(text[: match.start(2) - 1] + text[match.end(2) :])
    return ingestion_time(whole_seconds)[:20] + fraction[:7].ljust(7, "0") + "Z"


def epoch_seconds(time: str) -> float:
    """A 7-digit ingestion time as seconds since the epoch (for metrics only: it rounds)."""
    return datetime.fromisoformat(time[:26] + "+00:00").timestamp()
