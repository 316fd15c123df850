"""ClaimX settings (runtime.md §7), registered under `vpipe.settings` as `claimx`.

Variables shared with XACT (EVENT_SOURCE, EVENTHOUSE_CLUSTER_URL, EVENTHUB_*, ONELAKE_BASE_PATH,
ALLOWED_ATTACHMENT_DOMAINS, ...) are declared once, by the core settings classes.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from vpipe_core.config.fields import setting
from vpipe_core.eventsource.settings import EventSource

DEFAULT_API_URL = "https://www.claimxperience.com/service/cxedirest"


@attrs.frozen
class ClaimxSettings:
    # --- source (claimx-poller) -----------------------------------------------------------------
    event_source: EventSource | None = setting(
        "CLAIMX_EVENT_SOURCE", None, help="overrides EVENT_SOURCE for ClaimX"
    )
    eventhouse_cluster_url: str | None = setting(
        "CLAIMX_EVENTHOUSE_CLUSTER_URL",
        None,
        help="Eventhouse cluster (default EVENTHOUSE_CLUSTER_URL)",
    )
    eventhouse_database: str | None = setting("CLAIMX_EVENTHOUSE_DATABASE", None, help="database")
    eventhouse_source_table: str = setting(
        "CLAIMX_EVENTHOUSE_SOURCE_TABLE", "ClaimXEvents", help="source table"
    )
    eventhouse_time_column: str = setting(
        "CLAIMX_EVENTHOUSE_TIME_COLUMN",
        "IngestionTime",
        help="ingestion time column (empty: ingestion_time())",
    )
    poll_interval_s: int = setting(
        "CLAIMX_EVENTHOUSE_POLL_INTERVAL_SECONDS", 30, min=1, max=3600, help="idle poll interval"
    )
    poll_batch_size: int = setting(
        "CLAIMX_EVENTHOUSE_BATCH_SIZE", 1000, min=1, max=100000, help="rows per query"
    )
    query_timeout_s: int = setting(
        "CLAIMX_EVENTHOUSE_QUERY_TIMEOUT_SECONDS", 120, min=1, max=3600, help="Kusto query timeout"
    )
    settle_s: int = setting(
        "CLAIMX_EVENTHOUSE_SETTLE_SECONDS", 5, min=0, max=3600, help="upper bound lag behind now"
    )
    start_from: str | None = setting(
        "CLAIMX_EVENTHOUSE_START_FROM", None, help="first start (ISO), default now - 1 h"
    )
    eventhub_name: str | None = setting("CLAIMX_EVENTHUB_NAME", None, help="Event Hub entity")
    eventhub_consumer_group: str | None = setting(
        "CLAIMX_EVENTHUB_CONSUMER_GROUP", None, help="Event Hub group (default worker name)"
    )
    sample_events_file: Path | None = setting(
        "CLAIMX_SAMPLE_EVENTS_FILE", None, help="sample source file (default bundled fixtures)"
    )
    # --- ingester ---------------------------------------------------------------------------
    dedup_window_hours: int = setting(
        "CLAIMX_DEDUP_WINDOW_HOURS", 24, min=1, max=720, help="ingester dedup window"
    )
    # --- API and enricher ------------------------------------------------------------------------
    api_url: str = setting("CLAIMX_API_URL", DEFAULT_API_URL, help="ClaimX REST API base URL")
    api_token: str | None = setting(
        "CLAIMX_API_TOKEN", None, help="base64(user:password) for Basic auth", secret=True
    )
    api_timeout_s: int = setting(
        "CLAIMX_API_TIMEOUT_SECONDS", 30, min=1, max=600, help="total time per API request"
    )
    api_concurrency: int = setting(
        "CLAIMX_API_CONCURRENCY", 20, min=1, max=200, help="API requests in flight per process"
    )
    api_rate_limit_per_s: float = setting(
        "CLAIMX_API_RATE_LIMIT_PER_SECOND", 0.0, min=0, max=10000, help="0 = no limit"
    )
    api_sender_username: str | None = setting(
        "CLAIMX_API_SENDER_USERNAME", None, help="senderUsername of video collaboration reports"
    )
    project_cache_ttl_s: int = setting(
        "CLAIMX_PROJECT_CACHE_TTL_SECONDS", 1800, min=0, max=86400, help="0 disables the cache"
    )
    project_cache_preload: bool = setting(
        "CLAIMX_PROJECT_CACHE_PRELOAD", False, help="preload project ids from claimx_projects"
    )
    enrich_batch_size: int = setting(
        "CLAIMX_ENRICH_BATCH_SIZE", 100, min=1, max=10000, help="tasks per enrichment batch"
    )
    url_max_refreshes: int = setting(
        "CLAIMX_URL_MAX_REFRESHES", 2, min=0, max=10, help="download link refreshes per attempt"
    )
    # --- transfers -------------------------------------------------------------------------------
    download_concurrency: int = setting(
        "CLAIMX_DOWNLOAD_CONCURRENCY", 25, min=1, max=100, help="downloads in flight per instance"
    )
    upload_concurrency: int = setting(
        "CLAIMX_UPLOAD_CONCURRENCY", 10, min=1, max=100, help="uploads in flight per instance"
    )
    onelake_claimx_path: str | None = setting(
        "ONELAKE_CLAIMX_PATH",
        None,
        help="ClaimX file destination (default ONELAKE_BASE_PATH/claimx)",
    )
    # --- tables ----------------------------------------------------------------------------------
    delta_events_table: str | None = setting(
        "CLAIMX_DELTA_EVENTS_TABLE", None, help="claimx_events table URI"
    )
    delta_inventory_table: str | None = setting(
        "CLAIMX_DELTA_INVENTORY_TABLE", None, help="claimx_attachments table URI"
    )
    delta_failed_table: str | None = setting(
        "CLAIMX_DELTA_FAILED_TABLE", None, help="claimx_attachments_failed table URI (optional)"
    )
    delta_projects_table: str | None = setting(
        "CLAIMX_DELTA_PROJECTS_TABLE", None, help="claimx_projects table URI"
    )
    delta_contacts_table: str | None = setting(
        "CLAIMX_DELTA_CONTACTS_TABLE", None, help="claimx_contacts table URI"
    )
    delta_media_table: str | None = setting(
        "CLAIMX_DELTA_MEDIA_TABLE", None, help="claimx_attachment_metadata table URI"
    )
    delta_tasks_table: str | None = setting(
        "CLAIMX_DELTA_TASKS_TABLE", None, help="claimx_tasks table URI"
    )
    delta_task_templates_table: str | None = setting(
        "CLAIMX_DELTA_TASK_TEMPLATES_TABLE", None, help="claimx_task_templates table URI"
    )
    delta_external_links_table: str | None = setting(
        "CLAIMX_DELTA_EXTERNAL_LINKS_TABLE", None, help="claimx_external_links table URI"
    )
    delta_video_collab_table: str | None = setting(
        "CLAIMX_DELTA_VIDEO_COLLAB_TABLE", None, help="claimx_video_collab table URI"
    )
    delta_batch_size: int = setting(
        "CLAIMX_DELTA_BATCH_SIZE", 1500, min=1, max=100000, help="events per Delta commit"
    )
    entity_batch_size: int = setting(
        "CLAIMX_ENTITY_BATCH_SIZE", 200, min=1, max=100000, help="entity messages per batch"
    )
