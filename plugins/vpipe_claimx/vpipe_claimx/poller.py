"""`claimx-poller` (claimx.md §4): publish every new ClaimX source row to `claimx.events.raw`.

The sources are shared with XACT (`vpipe_core.eventsource`): Eventhouse paging on
`(ingestion time, cursor key)` with `>=` and the already-published rows skipped, Event Hub,
sample replay and backfill. Here: the table, its time column, the composite cursor key (ClaimX
rows have no trace id) and the message, `vpipe_claimx.events.raw_message`, keyed by `event_id`.
"""

from __future__ import annotations

from typing import Any

import orjson

from vpipe_claimx.events import raw_message
from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.topics import RAW
from vpipe_core.eventsource.domain_poller import DomainPoller
from vpipe_core.outcome import Output

# claimx.md §4: the tie-breaker within one ingestion time.
CURSOR_KEY = (
    "strcat(tostring(projectId),'|',eventType,'|',tostring(mediaId),'|',"
    "tostring(taskAssignmentId),'|',tostring(videoCollaborationId),'|',tostring(masterFileName))"
)
JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def raw_event(row: dict[str, Any]) -> Output:
    """A source row (with the poller's `ingestion_time`) as its §4 message."""
    return message_output(raw_message(row))


def republished(value: dict[str, Any], timestamp_ms: int | None) -> Output:
    """An Event Hub row: its own ingestion time if it has one, else the record timestamp."""
    return message_output(raw_message(value, timestamp_ms))


def message_output(message: dict[str, Any]) -> Output:
    """Keyed and headed (`trace_id`) by `event_id`; values orjson cannot write natively
    (decimals, timespans) are written as their text."""
    key = str(message["event_id"]).encode()
    value = orjson.dumps(message, default=str, option=JSON_OPTIONS)
    return Output(RAW, value, key, [("trace_id", key)])


def time_column(settings: ClaimxSettings) -> str | None:
    """`CLAIMX_EVENTHOUSE_TIME_COLUMN`; empty: the table's `ingestion_time()`."""
    return settings.eventhouse_time_column.strip() or None


POLLER = DomainPoller(
    "claimx",
    RAW,
    ClaimxSettings,
    CURSOR_KEY,
    raw_event,
    republished,
    ("eventId", "event_id"),
    time_column,
)
build = POLLER.build
config_problems = POLLER.config_problems
