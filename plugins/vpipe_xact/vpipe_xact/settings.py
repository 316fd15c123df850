"""XACT settings (runtime.md §7), registered under `vpipe.settings` as `xact`.

The variables both domains' pollers share (EVENT_SOURCE, EVENTHOUSE_CLUSTER_URL,
EVENTHOUSE_PROXY_URL, EVENTHUB_*, SAMPLE_EVENTS_PER_MINUTE) are declared once, by
`vpipe_core.eventsource.settings.EventSourceSettings`.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from vpipe_core.config.fields import setting
from vpipe_core.eventsource.settings import EventSource
from vpipe_core.transfer.settings import DEFAULT_ATTACHMENT_HOSTS  # noqa: F401 (re-exported)


@attrs.frozen
class XactSettings:
    event_source: EventSource | None = setting(
        "XACT_EVENT_SOURCE", None, help="overrides EVENT_SOURCE for XACT"
    )
    eventhouse_cluster_url: str | None = setting(
        "XACT_EVENTHOUSE_CLUSTER_URL",
        None,
        help="Eventhouse cluster (default EVENTHOUSE_CLUSTER_URL)",
    )
    eventhouse_database: str | None = setting("XACT_EVENTHOUSE_DATABASE", None, help="database")
    eventhouse_source_table: str = setting(
        "XACT_EVENTHOUSE_SOURCE_TABLE", "Events", help="source table"
    )
    poll_interval_s: int = setting(
        "XACT_EVENTHOUSE_POLL_INTERVAL_SECONDS", 30, min=1, max=3600, help="idle poll interval"
    )
    poll_batch_size: int = setting(
        "XACT_EVENTHOUSE_BATCH_SIZE", 8000, min=1, max=100000, help="rows per query"
    )
    query_timeout_s: int = setting(
        "XACT_EVENTHOUSE_QUERY_TIMEOUT_SECONDS", 120, min=1, max=3600, help="Kusto query timeout"
    )
    settle_s: int = setting(
        "XACT_EVENTHOUSE_SETTLE_SECONDS", 5, min=0, max=3600, help="upper bound lag behind now"
    )
    start_from: str | None = setting(
        "XACT_EVENTHOUSE_START_FROM", None, help="first start (ISO), default now - 1 h"
    )
    eventhub_name: str | None = setting("XACT_EVENTHUB_NAME", None, help="Event Hub entity")
    eventhub_consumer_group: str | None = setting(
        "XACT_EVENTHUB_CONSUMER_GROUP", None, help="Event Hub group (default worker name)"
    )
    sample_events_file: Path | None = setting(
        "XACT_SAMPLE_EVENTS_FILE", None, help="sample source file (default bundled fixtures)"
    )
    delta_events_table: str | None = setting(
        "XACT_DELTA_EVENTS_TABLE", None, help="xact_events table URI"
    )
    delta_inventory_table: str | None = setting(
        "XACT_DELTA_INVENTORY_TABLE", None, help="xact_attachments table URI"
    )
    delta_failed_table: str | None = setting(
        "XACT_DELTA_FAILED_TABLE", None, help="xact_attachments_failed table URI (optional)"
    )
    delta_batch_size: int = setting(
        "XACT_DELTA_BATCH_SIZE", 1500, min=1, max=100000, help="rows per Delta commit"
    )
    dedup_window_hours: int = setting(
        "XACT_DEDUP_WINDOW_HOURS", 24, min=1, max=720, help="ingester dedup window"
    )
    download_concurrency: int = setting(
        "XACT_DOWNLOAD_CONCURRENCY", 25, min=1, max=100, help="downloads in flight per instance"
    )
    onelake_xact_path: str | None = setting(
        "ONELAKE_XACT_PATH", None, help="XACT file destination (default ONELAKE_BASE_PATH/xact)"
    )
    upload_concurrency: int = setting(
        "XACT_UPLOAD_CONCURRENCY", 10, min=1, max=100, help="uploads in flight per instance"
    )
