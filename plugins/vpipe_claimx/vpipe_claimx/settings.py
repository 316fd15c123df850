"""ClaimX settings (runtime.md §7), registered under `vpipe.settings` as `claimx`.

Variables shared with XACT (EVENT_SOURCE, EVENTHOUSE_CLUSTER_URL, EVENTHUB_*, ONELAKE_BASE_PATH,
ALLOWED_ATTACHMENT_DOMAINS, ...) are declared once, by the core settings classes; the variables
every domain has under its own names (`CLAIMX_EVENTHOUSE_*`, `CLAIMX_DELTA_EVENTS_TABLE`,
`ONELAKE_CLAIMX_PATH`, ...) by the base class `vpipe_core.domain.settings.DomainSettings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs

from vpipe_core.config.fields import replaced_by, setting
from vpipe_core.domain.settings import DomainSettings

DEFAULT_API_URL = "https://www.claimxperience.com/service/cxedirest"


@attrs.frozen
class ClaimxSettings(DomainSettings):
    ENV_PREFIX: ClassVar[str] = "CLAIMX"
    # claimx.md §10.1: where ClaimX media come from (ALLOWED_ATTACHMENT_DOMAINS replaces them).
    ATTACHMENT_HOSTS: ClassVar[tuple[str, ...]] = (
        "claimxperience.s3.amazonaws.com",
        "claimxperience.s3.us-east-1.amazonaws.com",
        "www.claimxperience.com",
        "claimxperience.com",
        "xactware-claimx-us-prod.s3.us-west-1.amazonaws.com",
    )
    RETIRED_VARIABLES: ClassVar[Mapping[str, str]] = {
        "CLAIMX_API_BASE_URL": replaced_by("CLAIMX_API_URL"),
        "CLAIMX_API_BASE_PATH": replaced_by("CLAIMX_API_URL"),
        "CLAIMX_API_KEY": replaced_by("CLAIMX_API_TOKEN"),
        "CLAIMX_API_RATE_LIMIT": replaced_by("CLAIMX_API_RATE_LIMIT_PER_SECOND"),
        "CLAIMX_S3_*": "not used: downloads rely on presigned URLs",
    }

    # --- source (claimx-poller) -----------------------------------------------------------------
    eventhouse_source_table: str = setting(
        "*_EVENTHOUSE_SOURCE_TABLE", "ClaimXEvents", help="source table"
    )
    eventhouse_time_column: str = setting(
        "CLAIMX_EVENTHOUSE_TIME_COLUMN",
        "IngestionTime",
        help="ingestion time column (empty: ingestion_time())",
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
    # --- tables ----------------------------------------------------------------------------------
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
    entity_batch_size: int = setting(
        "CLAIMX_ENTITY_BATCH_SIZE", 200, min=1, max=100000, help="entity messages per batch"
    )
