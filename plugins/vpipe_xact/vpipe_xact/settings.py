"""XACT settings (runtime.md §7), registered under `vpipe.settings` as `xact`."""

from __future__ import annotations

import enum
from pathlib import Path

import attrs

from vpipe_core.config.core import OffsetReset
from vpipe_core.config.fields import setting
from vpipe_core.transfer.settings import DEFAULT_ATTACHMENT_HOSTS  # noqa: F401 (re-exported)


class EventSource(enum.StrEnum):
    EVENTHOUSE = "eventhouse"
    EVENTHUB = "eventhub"
    SAMPLE = "sample"


class EventHubAuth(enum.StrEnum):
    CONNECTION_STRING = "connection-string"
    AAD = "aad"


@attrs.frozen
class XactSettings:
    default_event_source: EventSource = setting(
        "EVENT_SOURCE", EventSource.EVENTHOUSE, help="where pollers read events"
    )
    event_source: EventSource | None = setting(
        "XACT_EVENT_SOURCE", None, help="overrides EVENT_SOURCE for XACT"
    )
    shared_cluster_url: str | None = setting(
        "EVENTHOUSE_CLUSTER_URL", None, help="Eventhouse cluster shared by the domains"
    )
    eventhouse_cluster_url: str | None = setting(
        "XACT_EVENTHOUSE_CLUSTER_URL",
        None,
        help="Eventhouse cluster (default EVENTHOUSE_CLUSTER_URL)",
    )
    eventhouse_proxy_url: str | None = setting(
        "EVENTHOUSE_PROXY_URL", None, help="explicit proxy for Kusto (default HTTPS_PROXY)"
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
    eventhub_bootstrap_servers: str | None = setting(
        "EVENTHUB_BOOTSTRAP_SERVERS", None, help="Event Hub Kafka endpoint <namespace>:9093"
    )
    eventhub_security_protocol: str = setting(
        "EVENTHUB_SECURITY_PROTOCOL", "SASL_SSL", help="SASL_SSL (PLAINTEXT for local tests)"
    )
    eventhub_auth: EventHubAuth = setting(
        "EVENTHUB_AUTH", EventHubAuth.CONNECTION_STRING, help="connection-string or aad"
    )
    eventhub_connection_string: str | None = setting(
        "EVENTHUB_CONNECTION_STRING", None, help="Event Hub connection string", secret=True
    )
    eventhub_auto_offset_reset: OffsetReset = setting(
        "EVENTHUB_AUTO_OFFSET_RESET", OffsetReset.LATEST, help="first start position"
    )
    eventhub_name: str | None = setting("XACT_EVENTHUB_NAME", None, help="Event Hub entity")
    eventhub_consumer_group: str | None = setting(
        "XACT_EVENTHUB_CONSUMER_GROUP", None, help="Event Hub group (default worker name)"
    )
    sample_events_file: Path | None = setting(
        "XACT_SAMPLE_EVENTS_FILE", None, help="sample source file (default bundled fixtures)"
    )
    sample_events_per_minute: int = setting(
        "SAMPLE_EVENTS_PER_MINUTE", 60, min=1, max=600000, help="sample source replay rate"
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

    @property
    def source(self) -> EventSource:
        """XACT_EVENT_SOURCE, else EVENT_SOURCE."""
        return self.event_source or self.default_event_source

    @property
    def cluster_url(self) -> str | None:
        """XACT_EVENTHOUSE_CLUSTER_URL, else EVENTHOUSE_CLUSTER_URL."""
        return self.eventhouse_cluster_url or self.shared_cluster_url
