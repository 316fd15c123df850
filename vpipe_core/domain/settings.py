"""`DomainSettings`: the variables every domain has, declared once with the domain's prefix
left open (`*`, the subclass's `ENV_PREFIX`): its source, ingester dedup window, tables and
transfers. A domain's settings class derives from it and adds what only that domain has."""

from __future__ import annotations

from pathlib import Path

import attrs

from vpipe_core.config.fields import setting
from vpipe_core.eventsource.settings import EventSource


@attrs.frozen
class DomainSettings:
    """What every domain configures alike, under its own names (`*` = `ENV_PREFIX`): the base of
    the domain's settings class, which sets `ENV_PREFIX` and may redeclare a field for another
    default."""

    # --- source (the poller) ---------------------------------------------------------------

    event_source: EventSource | None = setting(
        "*_EVENT_SOURCE", None, help="overrides EVENT_SOURCE for this domain"
    )
    eventhouse_cluster_url: str | None = setting(
        "*_EVENTHOUSE_CLUSTER_URL",
        None,
        help="Eventhouse cluster (default EVENTHOUSE_CLUSTER_URL)",
    )
    eventhouse_database: str | None = setting("*_EVENTHOUSE_DATABASE", None, help="database")
    eventhouse_source_table: str = setting(
        "*_EVENTHOUSE_SOURCE_TABLE", "Events", help="source table"
    )
    poll_interval_s: int = setting(
        "*_EVENTHOUSE_POLL_INTERVAL_SECONDS", 30, min=1, max=3600, help="idle poll interval"
    )
    poll_batch_size: int = setting(
        "*_EVENTHOUSE_BATCH_SIZE", 1000, min=1, max=100000, help="rows per query"
    )
    query_timeout_s: int = setting(
        "*_EVENTHOUSE_QUERY_TIMEOUT_SECONDS", 120, min=1, max=3600, help="Kusto query timeout"
    )
    settle_s: int = setting(
        "*_EVENTHOUSE_SETTLE_SECONDS", 5, min=0, max=3600, help="upper bound lag behind now"
    )
    start_from: str | None = setting(
        "*_EVENTHOUSE_START_FROM", None, help="first start (ISO), default now - 1 h"
    )
    eventhub_name: str | None = setting("*_EVENTHUB_NAME", None, help="Event Hub entity")
    eventhub_consumer_group: str | None = setting(
        "*_EVENTHUB_CONSUMER_GROUP", None, help="Event Hub group (default worker name)"
    )
    sample_events_file: Path | None = setting(
        "*_SAMPLE_EVENTS_FILE", None, help="sample source file (default bundled fixtures)"
    )
    # --- ingester and tables ---------------------------------------------------------------
    dedup_window_hours: int = setting(
        "*_DEDUP_WINDOW_HOURS", 24, min=1, max=720, help="ingester dedup window"
    )
    delta_events_table: str | None = setting(
        "*_DELTA_EVENTS_TABLE", None, help="events table URI (<domain>_events)"
    )
    delta_inventory_table: str | None = setting(
        "*_DELTA_INVENTORY_TABLE", None, help="attachments table URI (<domain>_attachments)"
    )
    delta_failed_table: str | None = setting(
        "*_DELTA_FAILED_TABLE",
        None,
        help="failed attachments table URI (<domain>_attachments_failed, optional)",
    )
    delta_batch_size: int = setting(
        "*_DELTA_BATCH_SIZE", 1500, min=1, max=100000, help="rows per Delta commit"
    )
    # --- transfers -------------------------------------------------------------------------
    download_concurrency: int = setting(
        "*_DOWNLOAD_CONCURRENCY", 25, min=1, max=100, help="downloads in flight per instance"
    )
    upload_concurrency: int = setting(
        "*_UPLOAD_CONCURRENCY", 10, min=1, max=100, help="uploads in flight per instance"
    )
    onelake_path: str | None = setting(
        "ONELAKE_*_PATH", None, help="file destination (default ONELAKE_BASE_PATH/<domain>)"
    )
