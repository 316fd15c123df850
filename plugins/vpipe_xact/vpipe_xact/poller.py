"""`xact-poller` (xact.md §6): publish every new source event to `xact.events.raw`.

The sources themselves (Eventhouse paging with its cursor, Event Hub, sample replay, backfill)
are shared in `vpipe_core.eventsource`; this module says what XACT reads and how a row is
published: key and `trace_id` header = the row's traceId, value = the source columns plus
`ingestion_time` (7 digits).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from vpipe_core.context import WorkerContext
from vpipe_core.eventsource.build import build_source, poller_problems
from vpipe_core.eventsource.domain import (
    DomainSource,
    EventhouseOptions,
    EventhouseTable,
    EventHubOptions,
)
from vpipe_core.eventsource.times import from_epoch_ms, ingestion_time
from vpipe_core.outcome import Output
from vpipe_core.source import Source
from vpipe_xact.events import trace_id_of
from vpipe_xact.raw_output import raw_event_output
from vpipe_xact.settings import XactSettings
from vpipe_xact.topics import RAW

# traceId, else its alias trace_id (a fixed-column table has both; either may be null)
CURSOR_KEY = 'coalesce(tostring(traceId), tostring(column_ifexists("trace_id", "")))'


def build(ctx: WorkerContext) -> Source:
    """The source named by the settings; ConfigError / StartupError (exit 2) if unusable."""
    return build_source(ctx, xact_source(ctx.settings_for(XactSettings)))


def config_problems(env: Mapping[str, str], _deployment: bool) -> list[str]:
    """The poller's `config_check` (`vpipe_core.config.startup`)."""
    return poller_problems(env, XactSettings, xact_source)


def xact_source(settings: XactSettings) -> DomainSource:
    return DomainSource(
        domain="xact",
        topic=RAW,
        event_source=settings.event_source,
        eventhouse=EventhouseOptions(
            cluster_url=settings.eventhouse_cluster_url,
            database=settings.eventhouse_database,
            table=EventhouseTable(settings.eventhouse_source_table, CURSOR_KEY),
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
        replay_id_fields=("traceId", "trace_id"),
    )


def bundled_events_file() -> Path:
    return Path(str(files("vpipe_xact") / "data" / "xact_events.jsonl"))


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
