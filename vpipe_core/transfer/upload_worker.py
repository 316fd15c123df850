"""The upload worker of every domain: a file the download worker staged in the destination
store (a hidden object beside its blob path, `domain.staged_path`) promoted onto its blob path
with one server-side rename, and a `completed` result. It reads no local file, so it can
run on any host.

Order: promotion → `completed` result acknowledged → offset committed. A redelivered message after
the promotion finds the staged object gone and the blob in place: `completed` again. Both gone
sends the task back to download (header `vpipe_redownload` counted; after `MAX_REDOWNLOADS` the
task is dead), never a permanent failure. Storage misconfiguration (403/404 on the filesystem, no
client) waits in place (`InplaceRetry`); transient errors go to the tiers and never become
`failed_permanent` (`store_failures`).
"""

from __future__ import annotations

import logging
import time

from vpipe_core.context import WorkerContext
from vpipe_core.domain.settings import DomainSettings
from vpipe_core.outcome import Category, Dead, Done, Outcome, Output
from vpipe_core.record import Record
from vpipe_core.retry.inplace import InplaceRetry
from vpipe_core.storage import Store, UploadError
from vpipe_core.transfer import metrics
from vpipe_core.transfer.after_commit import AfterCommit
from vpipe_core.transfer.destination import destination_store
from vpipe_core.transfer.domain import (
    COMPLETED,
    FAILED_PERMANENT,
    REDOWNLOAD_HEADER,
    CachedFile,
    Report,
    TransferDomain,
    failure_report,
    result_output,
)
from vpipe_core.transfer.store_failures import storage_not_ready, store_failure

log = logging.getLogger("vpipe.transfer.upload")
MAX_REDOWNLOADS = 3


class UploadWorker:
    def __init__(
        self,
        domain: TransferDomain,
        store: Store,
        concurrency: int,
        inplace: InplaceRetry,
    ) -> None:
        self._domain = domain
        self._store = store
        self._inplace = inplace
        self._after = AfterCommit()
        self.concurrency = concurrency

    def handle(self, record: Record) -> Outcome:
        try:
            cached = self._domain.read_cached(record.value)
        except ValueError as exc:  # InvalidTransferMessage, UnsafeCachePath
            return Dead(f"invalid cached-download message: {exc}")
        staged = cached.staged_path  # checked against the task's ids (`claimed_staged_path`)
        if staged is None:
            return self._download_again(cached, record)
        started = time.monotonic()
        try:
            self._inplace.run(
                lambda: self._promote(staged, cached),
                storage_not_ready,
                lambda: self._after.owns((record.topic, record.partition)),
            )
        except FileNotFoundError:
            return self._download_again(cached, record)
        except UploadError as exc:
            return store_failure(self._domain, cached.task.message, exc, record.attempt, "upload")
        metrics.upload_seconds.labels(self._domain.name).observe(time.monotonic() - started)
        message = cached.task.message
        report = Report(
            COMPLETED,
            retry_count=_count(message.get("retry_count")) + record.attempt,
            http_status=message.get("http_status"),
            bytes=cached.bytes,
        )
        return Done((self._result(cached, report),))

    # -- loop hooks ---------------------------------------------------------------------------

    def on_assign(self, partitions: list) -> None:
        self._after.assign((tp.topic, tp.partition) for tp in partitions)

    def on_revoke(self, partitions: list) -> None:
        self._after.revoke((tp.topic, tp.partition) for tp in partitions)

    def close(self) -> None:
        self._inplace.stop()
        self._store.close()

    # -- steps --------------------------------------------------------------------------------

    def _promote(self, staged: str, cached: CachedFile) -> None:
        """Promote; nothing staged but the blob in place is a promotion done before (a
        redelivered message); nothing at all raises `FileNotFoundError`."""
        blob_path = cached.task.blob_path
        try:
            self._store.promote(staged, blob_path)
        except FileNotFoundError:
            if not self._store.exists(blob_path):
                raise
            log.info("promoted before; completed again", extra=_fields(cached))

    def _download_again(self, cached: CachedFile, record: Record) -> Outcome:
        times = _count(record.header(REDOWNLOAD_HEADER)) + 1
        if times > MAX_REDOWNLOADS:
            error = f"staged file missing after {MAX_REDOWNLOADS} downloads"
            report = failure_report(
                FAILED_PERMANENT, record.attempt, None, str(Category.PERMANENT), error
            )
            return Dead(error, Category.PERMANENT, outputs=(self._result(cached, report),))
        task = self._domain.task_message(cached.task.message)
        log.warning(
            "staged file missing; downloading again", extra={**_fields(cached), "redownload": times}
        )
        headers = {REDOWNLOAD_HEADER: str(times)}
        again = self._domain.output(self._domain.pending_topic, task, headers)
        # Keyed by media id as the enricher keys tasks: its dedup mark joins the media's others.
        again.key = cached.task.media_id.encode()
        return Done((again,))

    def _result(self, cached: CachedFile, report: Report) -> Output:
        return result_output(self._domain, cached.task.message, report)


def _fields(cached: CachedFile) -> dict[str, str]:
    return {"media_id": cached.task.media_id, "blob_path": cached.task.blob_path}


def _count(value: object) -> int:
    try:
        return max(0, int(str(value))) if value is not None else 0
    except ValueError:
        return 0


def build_upload_worker(
    ctx: WorkerContext, domain: TransferDomain, settings: DomainSettings
) -> UploadWorker:
    """The worker over the domain's destination store (`destination.destination_store`)."""
    concurrency = settings.upload_concurrency
    return UploadWorker(
        domain,
        destination_store(ctx, domain.name, settings, concurrency),
        concurrency,
        InplaceRetry(ctx.health),
    )
