"""XACT's messages for the core transfer workers (xact.md §5.2-§5.4): tasks, cached messages,
results, and the task sent back to download when its staged file is lost."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vpipe_core.outcome import Output
from vpipe_core.transfer.domain import (
    CachedFile,
    Message,
    Report,
    TransferTask,
    cache_path,
    cached_fields,
    cached_file,
)
from vpipe_core.transfer.download import DownloadResult
from vpipe_xact import messages
from vpipe_xact.topics import CACHED, DOWNLOADS, RESULTS

# §5.2: the task rebuilt from a cached message when its file is missing.
TASK_KEYS = (
    "trace_id",
    "media_id",
    "attachment_url",
    "blob_path",
    "status_subtype",
    "file_type",
    "assignment_id",
    "estimate_version",
    "event_id",
    "event_type",
    "event_subtype",
    "original_timestamp",
    "retry_count",
    "metadata",
)


class XactTransfer:
    """XACT's messages for the core transfer workers."""

    name = "xact"
    pending_topic = DOWNLOADS
    cached_topic = CACHED
    results_topic = RESULTS

    def read_task(self, raw: bytes | None) -> TransferTask:
        return _task(messages.read_message(raw, messages.DOWNLOAD_FIELDS))

    def read_cached(self, raw: bytes | None) -> CachedFile:
        cached = messages.read_message(raw, messages.DOWNLOAD_FIELDS)
        return cached_file(_task(cached), cached, "xact")

    def cached_message(
        self, task: TransferTask, fetched: DownloadResult, retry_count: int
    ) -> dict[str, Any]:
        return {**task.message, **cached_fields(task, fetched, retry_count)}

    def result_message(self, message: Message, report: Report) -> dict[str, Any]:
        return messages.result(
            message,
            report.status,
            retry_count=report.retry_count,
            http_status=report.http_status,
            bytes_downloaded=report.bytes,
            error_category=report.error_category,
            error_message=report.error_message,
        )

    def task_message(self, cached: Message) -> dict[str, Any]:
        return {key: cached.get(key) for key in TASK_KEYS}

    def output(
        self, topic: str, message: Message, headers: Mapping[str, str] | None = None
    ) -> Output:
        return messages.output(topic, message, headers)


def _task(message: dict[str, Any]) -> TransferTask:
    file_name = message["blob_path"].rsplit("/", 1)[-1]
    return TransferTask(
        media_id=message["media_id"],
        url=message["attachment_url"],
        blob_path=message["blob_path"],
        cache_path=cache_path("xact", message["media_id"], file_name),
        message=message,
    )


TRANSFER = XactTransfer()
