"""What a domain tells the shared sources: where its events are and how a row is published.

A domain's `poller.py` declares a `DomainPoller` (`domain_poller`), which builds one
`DomainSource` from the settings and hands it to `vpipe_core.eventsource.build.build_source`;
everything else (paging, cursor, Event Hub offsets, sample pacing, backfill) is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from vpipe_core.eventsource.settings import EventSource
from vpipe_core.outcome import Output

# A source row with `ingestion_time` (7-digit string) added -> the message to publish.
RowPublisher = Callable[[dict[str, Any]], Output]
# An Event Hub record's JSON object and its timestamp (ms, None if absent) -> the message.
RecordPublisher = Callable[[dict[str, Any], int | None], Output]


@attrs.frozen
class EventhouseTable:
    """The source table and its cursor: rows are read in `(ingestion time, cursor key)` order.

    `cursor_key` is a KQL expression giving each row's tie-breaker within one ingestion time
    (domain code, not configuration); `time_column` is a datetime column holding the ingestion
    time, None for the table's own `ingestion_time()`."""

    name: str
    cursor_key: str
    time_column: str | None = None


@attrs.frozen
class EventhouseOptions:
    cluster_url: str | None  # the domain's own; None falls back to EVENTHOUSE_CLUSTER_URL
    database: str | None
    table: EventhouseTable
    batch_size: int
    poll_interval_s: float
    query_timeout_s: int
    settle_s: float
    start_from: str | None  # ISO-8601, for a first start without a cursor file


@attrs.frozen
class EventHubOptions:
    name: str | None
    consumer_group: str | None  # None: the worker name


@attrs.frozen
class DomainSource:
    """One domain's poller. `domain` names its variables in messages (`acme` ->
    `ACME_EVENTHOUSE_DATABASE`); `event_source` is its override of EVENT_SOURCE."""

    domain: str
    topic: str
    event_source: EventSource | None
    eventhouse: EventhouseOptions
    eventhub: EventHubOptions
    sample_file: Path
    publish_row: RowPublisher
    publish_record: RecordPublisher
    # Id fields suffixed with `-r<pass>` from the second pass over a sample file on, so the
    # replayed events are not dropped as duplicates downstream.
    replay_id_fields: tuple[str, ...] = ()

    def variable(self, suffix: str) -> str:
        """The domain's variable for `suffix`: `EVENTHOUSE_DATABASE` -> `ACME_EVENTHOUSE_...`."""
        return f"{self.domain.upper()}_{suffix}"
