"""`xact-download` (xact.md §10): stream each attachment into the shared cache."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Category, Dead, Done, Outcome, Output, Retry
from vpipe_core.record import Record
from vpipe_core.transfer.download import INFRASTRUCTURE, Downloader, DownloadError
from vpipe_core.transfer.policy import UrlPolicy
from vpipe_core.transfer.rules import TypeRules
from vpipe_core.transfer.settings import TransferSettings
from vpipe_xact import messages
from vpipe_xact.events import iso_micro
from vpipe_xact.settings import XactSettings
from vpipe_xact.topics import CACHED, RESULTS


class DownloadWorker:
    def __init__(self, downloader: Downloader, concurrency: int) -> None:
        self._downloader = downloader
        self.concurrency = concurrency

    def handle(self, record: Record) -> Outcome:
        try:
            task = messages.read_message(record.value, messages.DOWNLOAD_FIELDS)
        except messages.InvalidMessage as exc:
            return Dead(f"invalid download task: {exc}")
        filename = task["blob_path"].rsplit("/", 1)[-1]
        destination = f"xact/{task['media_id']}/{filename}"
        try:
            fetched = self._downloader.download(
                task["attachment_url"], task["media_id"], destination
            )
        except DownloadError as exc:
            return failure(task, exc, record.attempt)
        cached = {
            **task,
            "local_cache_path": str(fetched.path),
            "bytes_downloaded": fetched.bytes,
            "sha256": fetched.sha256,
            "content_type": fetched.content_type,
            "http_status": 200,
            "retry_count": record.attempt,  # failed download attempts, reported on completion
            "downloaded_at": iso_micro(datetime.now(UTC)),
        }
        return Done((messages.output(CACHED, cached),))

    def close(self) -> None:
        self._downloader.close()


def failure(task: Mapping[str, Any], exc: DownloadError, attempt: int) -> Outcome:
    """§10.5: permanent → dead with a `failed_permanent` result; the rest → the retry tiers,
    with a `failed_exhausted` result should this be the last try."""
    if exc.category == INFRASTRUCTURE:
        # Concurrent workers cannot retry in place yet: a tier retry keeps the task safe.
        return Retry(f"local disk: {exc.reason}", Category.TRANSIENT)
    category = Category(exc.category)
    if category is Category.PERMANENT:
        failed = _result(task, "failed_permanent", exc, attempt)
        return Dead(exc.reason, category, outputs=(failed,))
    not_before = None
    if exc.retry_after_s:
        not_before = datetime.now(UTC) + timedelta(seconds=exc.retry_after_s)
    exhausted = _result(task, "failed_exhausted", exc, attempt + 1)
    return Retry(exc.reason, category, not_before, if_exhausted=(exhausted,))


def _result(task: Mapping[str, Any], status: str, exc: DownloadError, retries: int) -> Output:
    result = messages.result(
        task,
        status,
        retry_count=retries,
        http_status=exc.http_status,
        error_category=str(exc.category),
        error_message=exc.reason,
    )
    return messages.output(RESULTS, result)


def build(ctx: WorkerContext) -> DownloadWorker:
    xact = ctx.settings_for(XactSettings)
    transfer = ctx.settings_for(TransferSettings)
    rules = (
        TypeRules.from_file(transfer.type_rules_file, transfer.extensions)
        if transfer.type_rules_file
        else TypeRules(extensions=transfer.extensions)
    )
    downloader = Downloader(
        UrlPolicy(frozenset(transfer.allowed_attachment_domains)),
        rules,
        ctx.settings.cache_dir,
        connect_timeout_s=transfer.connect_timeout_s,
        stall_timeout_s=transfer.stall_timeout_s,
        range_threshold_mb=transfer.range_threshold_mb,
        range_chunk_mb=transfer.range_chunk_mb,
        max_connections=xact.download_concurrency,
        ca_certs=str(ctx.settings.ca_bundle) if ctx.settings.ca_bundle else None,
    )
    return DownloadWorker(downloader, xact.download_concurrency)
