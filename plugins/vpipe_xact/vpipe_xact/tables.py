"""XACT Delta tables as declared data (xact.md §8, §12) and the row mapping for `xact_events`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from vpipe_core.delta.schema import Column, TableSpec
from vpipe_core.tables.declared import MaintainedTable
from vpipe_xact.events import XactEvent, coerce_id

_STRING_COLUMNS = (
    "type",
    "status_subtype",
    "version",
    "trace_id",
    "event_id",
    "ingestion_time",
    "description",
    "assignment_id",
    "original_assignment_id",
    "xn_address",
    "carrier_id",
    "estimate_version",
    "note",
    "author",
    "sender_reviewer_name",
    "sender_reviewer_email",
    "carrier_reviewer_name",
    "carrier_reviewer_email",
    "event_datetime_mdt",
    "attachments",
    "claim_number",
    "contact_type",
    "contact_name",
    "contact_phone_type",
    "contact_phone_number",
    "contact_phone_extension",
    "contact_email_address",
    "raw_json",
)

XACT_EVENTS = TableSpec(
    name="xact_events",
    columns=(
        *(Column(name, "string") for name in _STRING_COLUMNS),
        Column("ingested_at", "timestamp"),
        Column("event_date", "date"),
        Column("created_at", "timestamp"),
        Column("created_date", "date"),
    ),
    partition_by=("event_date",),
)

XACT_ATTACHMENTS = TableSpec(  # §12; a later `completed` for a media id updates its row
    name="xact_attachments",
    columns=(
        *(
            Column(name, "string")
            for name in (
                "media_id",
                "trace_id",
                "event_id",
                "attachment_url",
                "blob_path",
                "file_type",
                "status_subtype",
                "assignment_id",
            )
        ),
        Column("bytes_downloaded", "long"),
        Column("downloaded_at", "timestamp"),
        Column("created_at", "timestamp"),
        Column("event_date", "date"),
    ),
    partition_by=("event_date",),
    merge_keys=("media_id",),
    order_column="downloaded_at",
    keep_on_update=("created_at",),
)

XACT_ATTACHMENTS_FAILED = TableSpec(  # §12; both failure kinds, no partition
    name="xact_attachments_failed",
    columns=(
        *(
            Column(name, "string")
            for name in (
                "media_id",
                "trace_id",
                "attachment_url",
                "status",
                "error_category",
                "error_message",
            )
        ),
        Column("failed_at", "timestamp"),
        Column("retry_count", "long"),
        Column("http_status", "long"),
        Column("created_at", "timestamp"),
    ),
    merge_keys=("media_id",),
    keep_on_update=("created_at",),
)

# column -> camelCase key of `data`
_DATA_COLUMNS = {
    "description": "description",
    "assignment_id": "assignmentId",
    "original_assignment_id": "originalAssignmentId",
    "xn_address": "xnAddress",
    "carrier_id": "carrierId",
    "estimate_version": "estimateVersion",
    "note": "note",
    "author": "author",
    "sender_reviewer_name": "senderReviewerName",
    "sender_reviewer_email": "senderReviewerEmail",
    "carrier_reviewer_name": "carrierReviewerName",
    "carrier_reviewer_email": "carrierReviewerEmail",
    "event_datetime_mdt": "dateTime",
}
_RAW_KEYS = ("type", "version", "utcDateTime", "traceId", "data", "ingestion_time")


def _text(value: Any) -> str | None:
    """Every extracted value is cast to string (a numeric carrierId must not fail a batch)."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return coerce_id(value) if not isinstance(value, str) else value


def _path(data: Mapping[str, Any], *keys: str) -> Any:
    current: Any = data
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def event_row(event: XactEvent, now: datetime) -> dict[str, Any]:
    data = event.data
    contact = _path(data, "contact") or {}
    phone = _path(contact, "contactMethods", "phone") or {}
    attachments = event.attachments
    row: dict[str, Any] = {column: _text(data.get(key)) for column, key in _DATA_COLUMNS.items()}
    row.update(
        type=event.type,
        status_subtype=event.status_subtype,
        version=str(event.version),
        trace_id=event.trace_id,
        event_id=event.event_id,
        ingestion_time=event.ingestion_time,
        ingested_at=event.event_time,
        event_date=event.event_time.date(),
        attachments=",".join(attachments) if attachments else None,
        claim_number=_text(_path(data, "adm", "coverageLoss", "claimNumber")),
        contact_type=_text(_path(contact, "type")),
        contact_name=_text(_path(contact, "name")),
        contact_phone_type=_text(_path(phone, "type")),
        contact_phone_number=_text(_path(phone, "number")),
        contact_phone_extension=_text(_path(phone, "extension")),
        contact_email_address=_text(_path(contact, "contactMethods", "email", "address")),
        raw_json=orjson.dumps(
            {k: event.source[k] for k in _RAW_KEYS if k in event.source}
        ).decode(),
        created_at=now,
        created_date=now.date(),
    )
    return row


MAINTAINED = (
    # date-partitioned: a z-order rewrites one day, and the point lookups are by these ids
    MaintainedTable(XACT_EVENTS, "XACT_DELTA_EVENTS_TABLE", z_order=("trace_id",)),
    MaintainedTable(XACT_ATTACHMENTS, "XACT_DELTA_INVENTORY_TABLE", z_order=("media_id",)),
    MaintainedTable(XACT_ATTACHMENTS_FAILED, "XACT_DELTA_FAILED_TABLE"),
)
"""The `vpipe.tables` entry point: the tables above, for `vpipe tables` and the maintenance
worker."""
