"""`xact-download` (xact.md §10): the core download worker over XACT's messages (§5.2, §5.3).

XACT links are presigned S3 URLs that cannot be refreshed: one that expires before the next
retry tier is due is dead at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Output
from vpipe_core.timestamps import iso_utc
from vpipe_core.transfer.domain import CachedFile, Message, Report, TransferTask
from vpipe_core.transfer.download import DownloadResult
from vpipe_core.transfer.download_worker import DownloadWorker, build_download_worker
from vpipe_xact import messages
from vpipe_xact.settings import XactSettings
from vpipe_xact.topics import CACHED, DOWNLOADS, RESULTS

CACHED_FIELDS = (*messages.DOWNLOAD_FIELDS, "local_cache_path")
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
        cached = messages.read_message(raw, CACHED_FIELDS)
        content_type = cached.get("content_type")
        return CachedFile(
            _task(cached),
            Path(cached["local_cache_path"]),
            content_type if isinstance(content_type, str) else None,
        )

    def cached_message(
        self, task: TransferTask, fetched: DownloadResult, retry_count: int
    ) -> dict[str, Any]:
        return {
            **task.message,
            "local_cache_path": str(fetched.path),
            "bytes_downloaded": fetched.bytes,
            "sha256": fetched.sha256,
            "content_type": fetched.content_type,
            "http_status": 200,
            "retry_count": retry_count,  # failed download attempts, reported on completion
            "downloaded_at": iso_utc(datetime.now(UTC)),
        }

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
    filename = message["blob_path"].rsplit("/", 1)[-1]
    return TransferTask(
        media_id=message["media_id"],
        url=message["attachment_url"],
        blob_path=message["blob_path"],
        cache_path=f"xact/{message['media_id']}/{filename}",
        message=message,
    )


TRANSFER = XactTransfer()


def build(ctx: WorkerContext) -> DownloadWorker:
    xact = ctx.settings_for(XactSettings)
    return build_download_worker(ctx, TRANSFER, concurrency=xact.download_concurrency)
