"""ClaimX's messages for the core transfer workers (claimx.md §6): tasks, cached messages,
results, and the task sent back to download when its staged file is lost."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from vpipe_claimx.links import link_expiry
from vpipe_claimx.topics import CACHED, DOWNLOADS, RESULTS
from vpipe_core.logs.redact import redact, truncate
from vpipe_core.outcome import Output
from vpipe_core.transfer.domain import (
    CachedFile,
    InvalidTransferMessage,
    Message,
    Report,
    TransferTask,
    cache_path,
    cached_fields,
    cached_file,
)
from vpipe_core.transfer.download import DownloadResult
from vpipe_core.transfer.presigned import stored_url
from vpipe_core.values.json_object import json_object
from vpipe_core.values.timestamps import iso_utc

TASK_FIELDS = (
    "media_id",
    "project_id",
    "download_url",
    "blob_path",
    "file_type",
    "file_name",
    "source_event_id",
    "expires_at",
    "refresh_count",
    "retry_count",
    "metadata",
)
REQUIRED_TEXT = ("download_url", "blob_path", "file_name", "source_event_id")
NUMERIC_IDS = ("media_id", "project_id")
RESULT_FIELDS = (
    "media_id",
    "project_id",
    "download_url",
    "blob_path",
    "file_type",
    "file_name",
    "source_event_id",
)


class ClaimxTransfer:
    """ClaimX's messages for the core transfer workers (claimx.md §6)."""

    name = "claimx"
    pending_topic = DOWNLOADS
    cached_topic = CACHED
    results_topic = RESULTS

    def read_task(self, raw: bytes | None) -> TransferTask:
        return _task(_read(raw))

    def read_cached(self, raw: bytes | None) -> CachedFile:
        message = _read(raw)
        return cached_file(_task(message), message, "claimx")

    def cached_message(
        self, task: TransferTask, fetched: DownloadResult, retry_count: int
    ) -> dict[str, Any]:
        message = dict(task.message)
        if fetched.refreshes:
            message["download_url"] = fetched.url
            message["refresh_count"] = _count(message.get("refresh_count")) + fetched.refreshes
            expires = link_expiry(fetched.url)
            message["expires_at"] = iso_utc(expires) if expires else None
        return {**message, **cached_fields(task, fetched, retry_count)}

    def result_message(self, message: Message, report: Report) -> dict[str, Any]:
        error = report.error_message
        return {
            **{field: message.get(field) for field in RESULT_FIELDS},
            "download_url": stored_url(message.get("download_url")),
            "status": report.status,
            "bytes_uploaded": report.bytes,
            "http_status": report.http_status,
            "error_category": report.error_category,
            "error_message": truncate(redact(error)) if error else None,
            "retry_count": report.retry_count,
            "url_refresh_attempted": report.url_refresh_attempted
            or _count(message.get("refresh_count")) > 0,
            "created_at": iso_utc(datetime.now(UTC)),
        }

    def task_message(self, cached: Message) -> dict[str, Any]:
        return {field: cached.get(field) for field in TASK_FIELDS}

    def output(
        self, topic: str, message: Message, headers: Mapping[str, str] | None = None
    ) -> Output:
        """Keyed by `source_event_id`, with `trace_id` and `media_id` headers (§1)."""
        event_id = str(message["source_event_id"])
        all_headers = {
            "trace_id": event_id,
            "media_id": str(message["media_id"]),
            **(headers or {}),
        }
        encoded = [(key, value.encode()) for key, value in all_headers.items()]
        return Output(topic, orjson.dumps(message), event_id.encode(), encoded)


def _read(raw: bytes | None) -> dict[str, Any]:
    message = json_object(raw, InvalidTransferMessage)
    for field in NUMERIC_IDS:
        value = message.get(field)
        text = str(value).strip() if isinstance(value, str | int) else ""
        if isinstance(value, bool) or not text.isdigit():
            raise InvalidTransferMessage(f"{field}: expected a numeric id, got {value!r}")
        message[field] = text
    for field in REQUIRED_TEXT:
        if not isinstance(message.get(field), str) or not message[field].strip():
            raise InvalidTransferMessage(f"{field}: required, missing or empty")
    return message


def _task(message: dict[str, Any]) -> TransferTask:
    media_id = message["media_id"]
    return TransferTask(
        media_id=media_id,
        url=message["download_url"],
        blob_path=message["blob_path"],
        cache_path=cache_path("claimx", media_id, message["file_name"]),
        message=message,
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


TRANSFER = ClaimxTransfer()
