"""What the shared download and upload workers need to know about a domain.

The workers (`download_worker`, `upload_worker`) own the transfer contract (cache, staging,
dedup, classification, tiers, result messages, lost staged files); a domain
only describes its messages: how to read a task and a cached message, and how to build the
cached message, a result and the task sent back when its staged file is lost.
"""

from __future__ import annotations

import hashlib
import re
import uuid
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
STAGED_SUFFIX = ".vpipe-staged"  # hidden files beside their blob path, not yet promoted
_STAGED_NAME = re.compile(r"\.[0-9a-f]{24}\.(?P<token>[0-9a-f]{16})" + re.escape(STAGED_SUFFIX))


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
    """A `downloads.cached` message: the task it carries and the staged file's size and type.
    `staged_path` is None when the message names no staged file of this task (a message from
    before staging, or a path that is not this task's): the upload downloads again."""

    task: TransferTask
    bytes: int
    content_type: str | None = None
    staged_path: str | None = None


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


def failure_report(
    status: str, retries: int, http_status: int | None, category: str, error: str
) -> Report:
    """The report of a failed download, staging or promotion: `status` after `retries`."""
    return Report(
        status,
        retry_count=retries,
        http_status=http_status,
        error_category=category,
        error_message=error,
    )


def result_output(domain: TransferDomain, message: Message, report: Report) -> Output:
    """The domain's result message for the task `message`, to its results topic."""
    return domain.output(domain.results_topic, domain.result_message(message, report))


def new_stage_token() -> str:
    """Names one staging attempt, so two attempts at one file never write the same object."""
    return uuid.uuid4().hex[:16]


def staged_path(task: TransferTask, token: str, domain: str | None = None) -> str:
    """Where the download worker stages the task's file in the destination store, and the upload
    worker promotes it from: a hidden object beside its blob path,
    `<dir>/.<hash of the blob path>.<token>.vpipe-staged`. Written in place (no part file: the
    token makes it this attempt's own) and promoted by one rename inside a directory that
    exists. `UnsafeCachePath` (a ValueError) when the task's ids leave `<domain>/`."""
    checked_cache_path(task.cache_path, domain)
    directory, _, _name = task.blob_path.rpartition("/")
    digest = hashlib.sha256(task.blob_path.encode()).hexdigest()[:24]
    hidden = f".{digest}.{token}{STAGED_SUFFIX}"
    return f"{directory}/{hidden}" if directory else hidden


def claimed_staged_path(task: TransferTask, claimed: object, domain: str | None) -> str | None:
    """The message's `staged_path` when it is this task's staged object (only its token comes
    from the message: the rest is derived from the ids again); None otherwise."""
    if not isinstance(claimed, str):
        return None
    match = _STAGED_NAME.fullmatch(claimed.rpartition("/")[2])
    if match is None:
        return None
    expected = staged_path(task, match["token"], domain)
    return expected if expected == claimed else None


def cached_fields(task: TransferTask, fetched: DownloadResult, retry_count: int) -> dict[str, Any]:
    """What a `downloads.cached` message adds to its task: the staged file and how it was
    fetched (`staged_path`: the upload worker checks it against the task's ids)."""
    return {
        "staged_path": fetched.staged_path,
        "bytes_downloaded": fetched.bytes,
        "sha256": fetched.sha256,
        "content_type": fetched.content_type,
        "http_status": 200,
        "retry_count": retry_count,  # failed download attempts, reported on completion
        "downloaded_at": iso_utc(datetime.now(UTC)),
    }


def cached_file(task: TransferTask, message: Message, domain: str | None = None) -> CachedFile:
    """The `CachedFile` of a `downloads.cached` message whose task is `task`."""
    size = message.get("bytes_downloaded")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidTransferMessage(f"bytes_downloaded: expected a byte count, got {size!r}")
    content_type = message.get("content_type")
    staged = claimed_staged_path(task, message.get("staged_path"), domain)
    return CachedFile(task, size, content_type if isinstance(content_type, str) else None, staged)
