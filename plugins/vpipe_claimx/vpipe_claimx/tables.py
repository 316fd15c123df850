"""ClaimX Delta tables as declared data (claimx.md §9, §9.2): one declaration per table.

Row builders (`vpipe_claimx.rows`) and writers share these declarations; a row key that is not a
declared column fails loudly at write time (the message is dead-lettered), never filtered away.

Entity tables (`ENTITY_TABLES`, keyed by the rows key of `claimx.entities.rows`, in write order)
merge with the §9.1 rules (`vpipe_core.delta.merge`, `partial_rows`): a row updates only the
columns it carries, rows of one key in a batch are coalesced, `created_at` is kept, and
`event_id` / `updated_at` (the last event that changed the row, and when) are bookkeeping: a
replayed message changes nothing.

Order. A newer row is never overwritten by an older one arriving late (a retry tier delivers
an event's rows minutes after a later event's): writes are ordered by `last_enriched_at`, the
time of the API fetch that gave the row. It is the only time that orders what the rows say:
`updated_at`/`created_at` come from the event's ingestion time, and events of one project are
enriched concurrently and out of order, so a later event can carry an earlier fetch — and the
fetch is what the row's values are a snapshot of. Partial project rows (no fetch) carry no
order and only set their own columns, which are "keep existing non-null"
(`policyholder_invited_at`, `policyholder_joined_at`, `xa_autolink_fail`,
`xa_autolink_fail_at`): a later full row never blanks them. External links have no fetch-time
column in §9, so their writes are not ordered (their fields do not change once issued).
"""

from __future__ import annotations

from collections.abc import Iterable

from vpipe_core.delta.schema import Column, ColumnType, TableSpec
from vpipe_core.tables.declared import MaintainedTable

FETCH_TIME = "last_enriched_at"
BOOKKEEPING = ("event_id", "updated_at")
PROJECT_KEEP_EXISTING = (
    "policyholder_invited_at",
    "policyholder_joined_at",
    "xa_autolink_fail",
    "xa_autolink_fail_at",
)


def _columns(column_type: ColumnType, *names: str) -> tuple[Column, ...]:
    return tuple(Column(name, column_type) for name in names)


def _entity(
    name: str,
    columns: Iterable[Column],
    merge_keys: tuple[str, ...],
    *,
    ordered: bool = True,
    keep_existing: tuple[str, ...] = (),
    update_if_changed: str | None = None,
) -> TableSpec:
    return TableSpec(
        name=name,
        columns=(
            *columns,
            Column("event_id", "string"),
            Column("created_at", "timestamp"),
            Column("updated_at", "timestamp"),
        ),
        merge_keys=merge_keys,
        order_column=FETCH_TIME if ordered else None,
        keep_on_update=("created_at",),
        partial_rows=True,
        keep_existing=keep_existing,
        update_if_changed=update_if_changed,
        bookkeeping=BOOKKEEPING,
    )


CLAIMX_PROJECTS = _entity(
    "claimx_projects",
    (
        *_columns(
            "string",
            "project_id",
            "project_number",
            "master_file_name",
            "secondary_number",
            "status",
            "type_of_loss",
            "cause_of_loss",
            "loss_description",
            "created_date",
            "date_of_loss",
            "date_received",
            "date_contacted",
            "planned_inspection_date",
            "date_inspected",
            "appointment_date",
        ),
        Column("year_built", "long"),
        Column("square_footage", "double"),
        *_columns(
            "string",
            "customer_first_name",
            "customer_last_name",
            "custom_business_name",
            "business_line_type",
            "primary_email",
            "primary_phone",
        ),
        Column("primary_phone_country_code", "long"),
        *_columns(
            "string",
            "street1",
            "street2",
            "city",
            "state_province",
            "zip_postcode",
            "county",
            "country",
            "custom_attribute1",
            "custom_attribute2",
            "custom_attribute3",
            "custom_external_unique_id",
            "company_name",
        ),
        Column("xa_autolink_fail", "boolean"),
        Column("xa_autolink_fail_at", "timestamp"),
        Column("policyholder_invited_at", "timestamp"),
        Column("policyholder_joined_at", "timestamp"),
        Column("coverages", "string"),
        Column("contents_task_sent", "boolean"),
        Column("contents_task_at", "timestamp"),
        Column(FETCH_TIME, "timestamp"),
    ),
    merge_keys=("project_id",),
    keep_existing=PROJECT_KEEP_EXISTING,
)

CLAIMX_CONTACTS = _entity(
    "claimx_contacts",
    (
        *_columns(
            "string",
            "project_id",
            "contact_email",
            "contact_type",
            "first_name",
            "last_name",
            "phone_number",
        ),
        Column("phone_country_code", "long"),
        Column("is_primary_contact", "boolean"),
        Column("master_file_name", "string"),
        Column("task_assignment_id", "long"),
        Column("video_collaboration_id", "string"),
        Column(FETCH_TIME, "timestamp"),
        Column("created_date", "date"),
    ),
    merge_keys=("project_id", "contact_type", "contact_email"),
)

CLAIMX_MEDIA = _entity(
    "claimx_attachment_metadata",
    (
        *_columns(
            "string",
            "media_id",
            "project_id",
            "task_assignment_id",
            "file_type",
            "file_name",
            "media_description",
            "media_comment",
            "latitude",
            "longitude",
            "gps_source",
            "taken_date",
            "full_download_link",
            "expires_at",
        ),
        Column(FETCH_TIME, "timestamp"),
    ),
    merge_keys=("media_id",),
)

CLAIMX_TASKS = _entity(
    "claimx_tasks",
    (
        *_columns(
            "long",
            "assignment_id",
            "task_id",
            "assignee_id",
            "assignor_id",
            "cancelled_by_resource_id",
            "pdf_project_media_id",
            "resubmit_task_assignment_id",
        ),
        *_columns(
            "string",
            "project_id",
            "task_name",
            "form_id",
            "form_response_id",
            "assignor_email",
            "status",
            "mfn",
            "task_url",
            "date_assigned",
            "date_completed",
            "cancelled_date",
            "date_exported",
            "stp_started_date",
            "fraud_language_accepted_date",
        ),
        *_columns("boolean", "stp_enabled", "xactimate_exportable"),
        Column(FETCH_TIME, "timestamp"),
    ),
    merge_keys=("assignment_id",),
)

CLAIMX_TASK_TEMPLATES = _entity(
    "claimx_task_templates",
    (
        *_columns("long", "task_id", "comp_id", "modified_by_id"),
        *_columns(
            "string",
            "name",
            "description",
            "form_id",
            "form_name",
            "notify_assigned_subject",
            "notify_completed_subject",
            "modified_by",
            "modified_date",
        ),
        *_columns(
            "boolean",
            "enabled",
            "is_default",
            "is_manual_delivery",
            "is_external_link_delivery",
            "provide_portal_access",
            "notify_assigned_send_recipient",
            "notify_assigned_send_recipient_sms",
            "notify_task_completed",
            "allow_resubmit",
            "auto_generate_pdf",
        ),
        Column(FETCH_TIME, "timestamp"),
    ),
    merge_keys=("task_id",),
    update_if_changed="modified_date",
)

# §9 gives external links no fetch-time column, so their writes are not ordered.
CLAIMX_EXTERNAL_LINKS = _entity(
    "claimx_external_links",
    (
        *_columns("long", "link_id", "assignment_id", "country_id", "state_id"),
        *_columns(
            "string",
            "project_id",
            "link_code",
            "url",
            "notification_access_method",
            "created_date",
            "last_accessed",
        ),
        Column("accessed_count", "long"),
    ),
    merge_keys=("link_id",),
    ordered=False,
)

CLAIMX_VIDEO_COLLAB = _entity(
    "claimx_video_collab",
    (
        *_columns(
            "long",
            "video_collaboration_id",
            "claim_id",
            "number_of_videos",
            "number_of_photos",
            "number_of_viewers",
            "session_count",
            "company_id",
        ),
        *_columns(
            "string",
            "mfn",
            "claim_number",
            "policy_number",
            "email_user_name",
            "claim_rep_first_name",
            "claim_rep_last_name",
            "claim_rep_full_name",
            "total_time_seconds",
            "total_time",
            "created_date",
            "live_call_first_session",
            "live_call_last_session",
            "company_name",
            "guid",
        ),
        Column(FETCH_TIME, "timestamp"),
    ),
    merge_keys=("video_collaboration_id",),
)

ENTITY_TABLES: dict[str, TableSpec] = {
    "projects": CLAIMX_PROJECTS,
    "contacts": CLAIMX_CONTACTS,
    "media": CLAIMX_MEDIA,
    "tasks": CLAIMX_TASKS,
    "task_templates": CLAIMX_TASK_TEMPLATES,
    "external_links": CLAIMX_EXTERNAL_LINKS,
    "video_collab": CLAIMX_VIDEO_COLLAB,
}
"""Rows key of `claimx.entities.rows` → table, in the order the entity writer writes them."""

ENTITY_TABLE_VARIABLES: dict[str, str] = {
    key: f"CLAIMX_DELTA_{key.upper()}_TABLE" for key in ENTITY_TABLES
}
"""Rows key → the variable holding the table's URI."""

# §9.2. One row per event, even when the source is replayed: an insert-only merge. The key holds
# the partition column so the merge reads only the partitions of the batch's dates; event_date
# is a function of the event (its ingestion time), so (event_id, event_date) names one event.
CLAIMX_EVENTS = TableSpec(
    name="claimx_events",
    columns=(
        *_columns(
            "string",
            "event_id",
            "event_type",
            "project_id",
            "media_id",
            "task_assignment_id",
            "video_collaboration_id",
            "master_file_name",
        ),
        Column("ingested_at", "timestamp"),
        Column("ingestion_time", "string"),
        Column("raw_json", "string"),
        Column("created_at", "timestamp"),
        Column("event_date", "date"),
    ),
    partition_by=("event_date",),
    merge_keys=("event_id", "event_date"),
    insert_only=True,
)

# §9.2. Both merge with the entity rules: rows of one media id in a batch are coalesced (later
# non-null values win) and a replayed result (same values) changes nothing.
CLAIMX_ATTACHMENTS = TableSpec(
    name="claimx_attachments",
    columns=(
        *_columns(
            "string",
            "media_id",
            "project_id",
            "file_name",
            "file_type",
            "blob_path",
            "source_event_id",
        ),
        Column("bytes", "long"),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp"),
    ),
    merge_keys=("media_id",),
    keep_on_update=("created_at",),
    partial_rows=True,
    bookkeeping=("updated_at",),
)

CLAIMX_ATTACHMENTS_FAILED = TableSpec(  # optional table
    name="claimx_attachments_failed",
    columns=(
        *_columns(
            "string",
            "media_id",
            "project_id",
            "source_event_id",
            "download_url",
            "status",
            "error_category",
            "error_message",
        ),
        *_columns("long", "http_status", "retry_count"),
        Column("url_refresh_attempted", "boolean"),
        Column("failed_at", "timestamp"),
        Column("created_at", "timestamp"),
    ),
    merge_keys=("media_id",),
    keep_on_update=("created_at",),
    partial_rows=True,
)


def _maintained() -> tuple[MaintainedTable, ...]:
    entities = tuple(
        MaintainedTable(spec, ENTITY_TABLE_VARIABLES[key]) for key, spec in ENTITY_TABLES.items()
    )
    return (
        # date-partitioned: a z-order rewrites one day, and point lookups are by event id
        MaintainedTable(CLAIMX_EVENTS, "CLAIMX_DELTA_EVENTS_TABLE", z_order=("event_id",)),
        # unpartitioned: bin-packing only (a z-order would rewrite the whole table every time)
        MaintainedTable(CLAIMX_ATTACHMENTS, "CLAIMX_DELTA_INVENTORY_TABLE"),
        MaintainedTable(CLAIMX_ATTACHMENTS_FAILED, "CLAIMX_DELTA_FAILED_TABLE"),
        *entities,
    )


MAINTAINED = _maintained()
"""The `vpipe.tables` entry point: every table above, for `vpipe tables` and the maintenance
worker."""
