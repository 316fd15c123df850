"""`claimx-poller` (claimx.md §4): publish every new ClaimX source row to `claimx.events.raw`.

The sources are shared with XACT (`vpipe_core.eventsource`): Eventhouse paging on
`(ingestion time, cursor key)` with `>=` and the already-published rows skipped, Event Hub,
sample replay and backfill. Here: the table, its time column, the composite cursor key (ClaimX
rows have no trace id) and the message, `vpipe_claimx.events.raw_message`, keyed by `event_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson

from vpipe_claimx.events import raw_message
from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.topics import RAW
from vpipe_core.context import WorkerContext
from vpipe_core.eventsource.build import build_source, poller_problems
from vpipe_core.eventsource.domain import (
    DomainSource,
    EventhouseOptions,
    EventhouseTable,
    EventHubOptions,
)
from vpipe_core.outcome import Output
from vpipe_core.source import Source

# claimx.md §4: the tie-breaker within one ingestion time.
CURSOR_KEY = (
    "strcat(tostring(projectId),'|',eventType,'|',tostring(mediaId),'|',"
    "tostring(taskAssignmentId),'|',tostring(videoCollaborationId),'|',tostring(masterFileName))"
)
JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def build(ctx: WorkerContext) -> Source:
    """The source named by the settings; ConfigError / StartupError (exit 2) if unusable."""
    return build_source(ctx, claimx_source(ctx.settings_for(ClaimxSettings)))


def config_problems(env: Mapping[str, str], _deployment: bool) -> list[str]:
    """The poller's `config_check` (`vpipe_core.config.startup`)."""
    return poller_problems(env, ClaimxSettings, claimx_source)


def claimx_source(settings: ClaimxSettings) -> DomainSource:
    time_column = settings.eventhouse_time_column.strip() or None  # empty: ingestion_time()
    return DomainSource(
        domain="claimx",
        topic=RAW,
        event_source=settings.event_source,
        eventhouse=EventhouseOptions(
            cluster_url=settings.eventhouse_cluster_url,
            database=settings.eventhouse_database,
            table=EventhouseTable(settings.eventhouse_source_table, CURSOR_KEY, time_column),
            batch_size=settings.poll_batch_size,
            poll_interval_s=settings.poll_interval_s,
            query_timeout_s=settings.query_timeout_s,
            settle_s=settings.settle_s,
            start_from=settings.start_from,
        ),
        eventhub=EventHubOptions(settings.eventhub_name, settings.eventhub_consumer_group),
        sample_file=settings.sample_events_file or bundled_events_file(),
        publish_row=raw_event,
        publish_record=republished,
        replay_id_fields=("eventId", "event_id"),
    )


def bundled_events_file() -> Path:
    return Path(str(files("vpipe_claimx") / "data" / "claimx_events.jsonl"))


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
