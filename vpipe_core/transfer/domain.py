"""What the shared download and upload workers need to know about a domain.

The workers (`download_worker`, `upload_worker`) own the transfer contract (cache, staging,
dedup, classification, tiers, result messages, lost staged files); a domain
only describes its messages: how to read a task and a cached message, and how to build the
cached message, a result and the task sent back when its staged file is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from vpipe_core.outcome import Output
from vpipe_core.transfer.cache_paths import checked_cache_path
from vpipe_core.values.timestamps import iso_utc

if TYPE_CHECKING:
    from vpipe_core.transfer.download import DownloadResult

Message = Mapping[str, Any]

COMPLETED = "completed"
FAILED_PERMANENT = "failed_permanent"
FAILED_EXHAUSTED = "failed_exhausted"
REDOWNLOAD_HEADER = "vpipe_redownload"  # runtime.md §5: re-downloads of lost files, counted
STAGING_DIR = ".vpipe-staging"  # below the destination: downloaded files not yet promoted


class InvalidTransferMessage(ValueError):
    """A message that does not have the shape its topic promises (dead, never retried)."""


@attrs.frozen
class TransferTask:
    """One attachment. `cache_path` is relative to `CACHE_DIR` (`<domain>/<media_id>/<name>`);
    `message` is the whole message it was read from."""

    media_id: str
    url: str
    blob_path: str
    cache_path: str
    message: Message


@attrs.frozen
class CachedFile:
    """A `downloads.cached` message: the task it carries and the staged file's size and type."""

    task: TransferTask
    bytes: int
    content_type: str | None = None


@attrs.frozen
class Report:
    """The outcome part of a result message; the domain adds its attachment fields."""

    status: str
    retry_count: int
    http_status: int | None = None
    bytes: int = 0
    error_category: str | None = None
    error_message: str | None = None
    url_refresh_attempted: bool = False


class TransferDomain(Protocol):
    """A domain's transfer messages. Readers raise `InvalidTransferMessage` (or ValueError)."""

    name: str  # the domain, also the cache sub-directory and the metrics label
    pending_topic: str
    cached_topic: str
    results_topic: str

    def read_task(self, raw: bytes | None) -> TransferTask: ...

    def read_cached(self, raw: bytes | None) -> CachedFile: ...

    def cached_message(
        self, task: TransferTask, fetched: DownloadResult, retry_count: int
    ) -> Message: ...

    def result_message(self, message: Message, report: Report) -> Message: ...

    def task_message(self, cached: Message) -> Message: ...

    def output(
        self, topic: str, message: Message, headers: Mapping[str, str] | None = None
    ) -> Output: ...


def cache_path(domain: str, media_id: str, file_name: str) -> str:
    """Where a task's file lives below `CACHE_DIR`: `<domain>/<media_id>/<file_name>`."""
    return f"{domain}/{media_id}/{file_name}"


def staged_path(task: TransferTask, domain: str | None = None) -> str:
    """Where the download worker stages the task's file in the destination store and the upload
    worker promotes it from: `.vpipe-staging/<cache_path>`. Derived from the task's ids, never
    from a message; `UnsafeCachePath` (a ValueError) when they leave `<domain>/`."""
    return f"{STAGING_DIR}/{checked_cache_path(task.cache_path, domain)}"


def cached_fields(task: TransferTask, fetched: DownloadResult, retry_count: int) -> dict[str, Any]:
    """What a `downloads.cached` message adds to its task: the staged file and how it was
    fetched (`staged_path` is informational: the upload worker derives it from the ids)."""
    return {
        "staged_path": staged_path(task),
        "bytes_downloaded": fetched.bytes,
        "sha256": fetched.sha256,
        "content_type": fetched.content_type,
        "http_status": 200,
        "retry_count": retry_count,  # failed download attempts, reported on completion
        "downloaded_at": iso_utc(datetime.now(UTC)),
    }


def cached_file(task: TransferTask, message: Message) -> CachedFile:
    """The `CachedFile` of a `downloads.cached` message whose task is `task`."""
    size = message.get("bytes_downloaded")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidTransferMessage(f"bytes_downloaded: expected a byte count, got {size!r}")
    content_type = message.get("content_type")
    return CachedFile(task, size, content_type if isinstance(content_type, str) else None)
