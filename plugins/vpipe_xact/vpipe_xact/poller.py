"""`xact-poller` (xact.md §6): publish every new source event to `xact.events.raw`.

`build()` picks the source from XACT_EVENT_SOURCE / EVENT_SOURCE: the Eventhouse table (here),
the sample file (`sample.py`) or an Event Hub (`eventhub.py`). Each is a `vpipe_core.source`
Source: `poll()` returns one page, and only `acknowledged()` moves the durable cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from vpipe_core.config.loader import ConfigError
from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Output
from vpipe_core.source import Source
from vpipe_xact.cursor import CursorFile, open_cursor, stored_position
from vpipe_xact.eventhouse import (
    CURSOR_COLUMNS,
    TABLE_NAME,
    EventhouseReader,
    Position,
    is_loopback,
    kusto_client,
)
from vpipe_xact.events import coerce_id
from vpipe_xact.ingestion_times import ingestion_time, parse_iso, tick_before
from vpipe_xact.raw_output import raw_event_output
from vpipe_xact.settings import EventSource, XactSettings

log = logging.getLogger("vpipe.xact.poller")

MAX_BACKOFF_S = 300.0
DEFAULT_LOOKBACK = timedelta(hours=1)


def build(ctx: WorkerContext) -> Source:
    """The source named by the settings; ConfigError / StartupError (exit 2) if unusable."""
    settings = ctx.settings_for(XactSettings)
    source = settings.source
    log.info("xact poller source", extra={"source": source.value})
    if source is EventSource.SAMPLE:
        from vpipe_xact.sample import build_sample_source

        return build_sample_source(ctx, settings)
    if source is EventSource.EVENTHUB:
        from vpipe_xact.eventhub import build_eventhub_source

        return build_eventhub_source(ctx, settings)
    return build_eventhouse_source(ctx, settings)


# --- Eventhouse ---------------------------------------------------------------------------------


class EventhouseSource:
    """Pages of the Eventhouse table after the durable `(ingestion time, traceId)` position."""

    max_backoff_s = MAX_BACKOFF_S

    def __init__(
        self,
        reader: EventhouseReader,
        cursor: CursorFile,
        position: Position,
        poll_interval_s: float,
        settle_s: float,
    ) -> None:
        self._reader = reader
        self._cursor = cursor
        self._position = position
        self._pending: Position | None = None
        self.poll_interval_s = poll_interval_s
        self._settle = timedelta(seconds=settle_s)

    @property
    def position(self) -> Position:
        return self._position

    def poll(self) -> tuple[Sequence[Output], bool]:
        self._pending = None
        upper = ingestion_time(datetime.now(UTC) - self._settle)
        rows = self._reader.page(self._position, upper)
        if not rows:
            return (), False
        last = rows[-1]
        self._pending = Position(last["ingestion_time_s"], last["cursor_key"])
        return [raw_event(row) for row in rows], len(rows) >= self._reader.batch_size

    def acknowledged(self) -> None:
        if self._pending is None:
            return
        self._cursor.write(
            {
                "ingestion_time": self._pending.ingestion_time,
                "cursor_key": self._pending.cursor_key,
            }
        )
        self._position, self._pending = self._pending, None

    def close(self) -> None:
        self._reader.close()
        self._cursor.close()


def raw_event(row: dict[str, Any]) -> Output:
    """The source columns of a row plus `ingestion_time` as its 7-digit string."""
    value = {name: cell for name, cell in row.items() if name not in CURSOR_COLUMNS}
    value["ingestion_time"] = row["ingestion_time_s"]
    return raw_event_output(value, coerce_id(row.get("traceId")))


def build_eventhouse_source(ctx: WorkerContext, settings: XactSettings) -> EventhouseSource:
    cluster_url, database = _eventhouse_location(settings)
    start_from = _start_from(settings)
    credential = None
    if not is_loopback(cluster_url):
        from vpipe_core.azure_auth import shared_credential

        credential = shared_credential(ctx.env)
    cursor = open_cursor(ctx, "XACT_EVENTHOUSE_START_FROM (default now - 1 h)")
    try:
        position = _start_position(cursor, start_from)
        reader = EventhouseReader(
            lambda: kusto_client(cluster_url, database, credential, settings.eventhouse_proxy_url),
            credential,
            database,
            settings.eventhouse_source_table,
            settings.poll_batch_size,
            settings.query_timeout_s,
        )
    except BaseException:
        cursor.close()
        raise
    log.info(
        "eventhouse source",
        extra={
            "cluster_url": cluster_url,
            "database": database,
            "table": settings.eventhouse_source_table,
            "batch_size": settings.poll_batch_size,
            "cursor_file": str(cursor.path),
            "after": [position.ingestion_time, position.cursor_key],
        },
    )
    return EventhouseSource(reader, cursor, position, settings.poll_interval_s, settings.settle_s)


def _eventhouse_location(settings: XactSettings) -> tuple[str, str]:
    problems = []
    cluster_url = (settings.cluster_url or "").strip()
    if not cluster_url:
        problems.append(
            "XACT_EVENTHOUSE_CLUSTER_URL: required when the XACT event source is eventhouse "
            "(or set EVENTHOUSE_CLUSTER_URL)"
        )
    elif not cluster_url.startswith("https://") and not is_loopback(cluster_url):
        problems.append(
            f"XACT_EVENTHOUSE_CLUSTER_URL: got '{cluster_url}', expected an https:// URL "
            "(plain http only for a loopback stand-in)"
        )
    database = (settings.eventhouse_database or "").strip()
    if not database:
        problems.append(
            "XACT_EVENTHOUSE_DATABASE: required when the XACT event source is eventhouse"
        )
    table = settings.eventhouse_source_table
    if TABLE_NAME.fullmatch(table) is None:
        problems.append(f"XACT_EVENTHOUSE_SOURCE_TABLE: got '{table}', expected a table name")
    if problems:
        raise ConfigError(problems)
    return cluster_url, database


def _start_from(settings: XactSettings) -> datetime | None:
    if not settings.start_from:
        return None
    try:
        return parse_iso(settings.start_from)
    except ValueError:
        raise ConfigError(
            [f"XACT_EVENTHOUSE_START_FROM: got '{settings.start_from}', expected an ISO-8601 time"]
        ) from None


def _start_position(cursor: CursorFile, start_from: datetime | None) -> Position:
    """The stored position; on a first start, just before XACT_EVENTHOUSE_START_FROM or 1 h ago."""
    stored = stored_position(
        cursor, lambda state: Position(state["ingestion_time"], state["cursor_key"])
    )
    if stored is not None:
        return stored
    if start_from is not None:
        log.info(
            "no cursor yet: starting at XACT_EVENTHOUSE_START_FROM",
            extra={"start": ingestion_time(start_from), "cursor_file": str(cursor.path)},
        )
        return Position(tick_before(start_from), "")
    start = datetime.now(UTC) - DEFAULT_LOOKBACK
    log.warning(
        "no cursor yet and XACT_EVENTHOUSE_START_FROM is not set: starting from now - 1 h",
        extra={"start": ingestion_time(start), "cursor_file": str(cursor.path)},
    )
    return Position(tick_before(start), "")
