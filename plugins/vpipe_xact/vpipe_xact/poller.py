"""`xact-poller` (xact.md §6): publish every new source event to `xact.events.raw`.

The sources themselves (Eventhouse paging with its cursor, Event Hub, sample replay, backfill)
are shared in `vpipe_core.eventsource`; this module says what XACT reads and how a row is
published: key and `trace_id` header = the row's traceId, value = the source columns plus
`ingestion_time` (7 digits).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vpipe_core.eventsource.domain_poller import DomainPoller
from vpipe_core.eventsource.times import from_epoch_ms, ingestion_time
from vpipe_core.outcome import Output
from vpipe_xact.events import trace_id_of
from vpipe_xact.raw_output import raw_event_output
from vpipe_xact.settings import XactSettings
from vpipe_xact.topics import RAW

# traceId, else its alias trace_id (a fixed-column table has both; either may be null)
CURSOR_KEY = 'coalesce(tostring(traceId), tostring(column_ifexists("trace_id", "")))'


def raw_event(row: dict[str, Any]) -> Output:
    """The row (source columns plus `ingestion_time`), keyed by its traceId."""
    return raw_event_output(row, trace_id_of(row))


def republished(value: dict[str, Any], timestamp_ms: int | None) -> Output:
    """An Event Hub value with `ingestion_time` from the record timestamp (or, without one, the
    time it reached the poller)."""
    if timestamp_ms is not None:
        value["ingestion_time"] = from_epoch_ms(timestamp_ms)
    else:
        value["ingestion_time"] = ingestion_time(datetime.now(UTC))
    return raw_event(value)


POLLER = DomainPoller(
    "xact", RAW, XactSettings, CURSOR_KEY, raw_event, republished, ("traceId", "trace_id")
)
build = POLLER.build
config_problems = POLLER.config_problems
