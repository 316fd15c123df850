"""XACT messages between workers (xact.md §5): builders and readers, one place for the shapes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from vpipe_core.logs.redact import redact, truncate
from vpipe_core.outcome import Output
from vpipe_core.transfer.presigned import stored_url
from vpipe_core.values.json_object import json_object
from vpipe_core.values.timestamps import iso_utc
from vpipe_xact.events import XactEvent, parse_time
from vpipe_xact.paths import Attachment

TASK_FIELDS = ("trace_id", "event_id", "status_subtype", "assignment_id", "original_timestamp")
# The fields that identify an attachment on every per-attachment message (§5.2-5.4).
ATTACHMENT_FIELDS = (
    "trace_id",
    "media_id",
    "attachment_url",
    "blob_path",
    "status_subtype",
    "file_type",
    "assignment_id",
    "event_id",
)
DOWNLOAD_FIELDS = (*ATTACHMENT_FIELDS, "original_timestamp")


class InvalidMessage(ValueError):
    """A message that does not have the shape its topic promises."""


def read_message(raw: bytes | None, required: tuple[str, ...]) -> dict[str, Any]:
    message = json_object(raw, InvalidMessage)
    missing = [f for f in required if not isinstance(message.get(f), str) or not message[f]]
    if missing:
        raise InvalidMessage(f"missing or empty: {', '.join(missing)}")
    return message


def event_of_task(task: Mapping[str, Any]) -> XactEvent:
    """The event an enrichment task describes, enough to derive names and paths (§4)."""
    data = {
        "assignmentId": task.get("assignment_id"),
        "estimateVersion": task.get("estimate_version"),
        "attachments": task.get("attachments") or [],
    }
    return XactEvent(
        type=str(task["status_subtype"]),
        version=1,
        event_time=parse_time(task["original_timestamp"], "original_timestamp"),
        trace_id=str(task["trace_id"]),
        data=data,
        ingestion_time=None,
        source={},
    )


def download_task(
    task: Mapping[str, Any], attachment: Attachment, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """§5.2."""
    return {
        "trace_id": task["trace_id"],
        "media_id": attachment.media_id,
        "attachment_url": attachment.url,
        "blob_path": attachment.blob_path,
        "status_subtype": task["status_subtype"],
        "file_type": attachment.file_type,
        "assignment_id": task["assignment_id"],
        "estimate_version": task.get("estimate_version"),
        "event_id": task["event_id"],
        "event_type": "xact",
        "event_subtype": task["status_subtype"],
        "original_timestamp": task["original_timestamp"],
        "retry_count": 0,
        "metadata": dict(metadata),
    }


def result(
    download: Mapping[str, Any],
    status: str,
    *,
    retry_count: int,
    http_status: int | None = None,
    bytes_downloaded: int = 0,
    error_category: str | None = None,
    error_message: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """§5.4, from a download task (or the cached message that carries one)."""
    return {
        **{field: download.get(field) for field in DOWNLOAD_FIELDS},
        "attachment_url": stored_url(download.get("attachment_url")),
        "status": status,
        "http_status": http_status,
        "bytes_downloaded": bytes_downloaded,
        "retry_count": retry_count,
        "error_category": error_category,
        "error_message": truncate(redact(error_message)) if error_message else None,
        "created_at": iso_utc(now or datetime.now(UTC)),
    }


def encode(message: Mapping[str, Any]) -> bytes:
    return orjson.dumps(message)


def output(
    topic: str, message: Mapping[str, Any], extra: Mapping[str, str] | None = None
) -> Output:
    """A message as a record: keyed by trace id, with the §1 headers (plus `extra`)."""
    return Output(
        topic, encode(message), str(message["trace_id"]).encode(), headers_for(message, extra)
    )


def download_output(
    topic: str, message: Mapping[str, Any], extra: Mapping[str, str] | None = None
) -> Output:
    """A download task, keyed by media id: the download worker's dedup key, so every task of a
    media lands in one partition, whose dedup entries follow it (vpipe_core.state)."""
    keyed_by_trace = output(topic, message, extra)
    return Output(
        topic, keyed_by_trace.value, str(message["media_id"]).encode(), keyed_by_trace.headers
    )


def headers_for(message: Mapping[str, Any], extra: Mapping[str, str] | None = None) -> list:
    """`trace_id` on every XACT message, `media_id` on per-attachment ones (§1)."""
    headers = [("trace_id", str(message["trace_id"]).encode())]
    if message.get("media_id"):
        headers.append(("media_id", str(message["media_id"]).encode()))
    headers.extend((k, v.encode()) for k, v in (extra or {}).items())
    return headers
