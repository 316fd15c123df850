"""The download worker of every domain: a task in, the file staged in the destination store
and a `downloads.cached` message out, or a routed failure.

- The file is downloaded into the local `CACHE_DIR`, uploaded to its staging path in the
  destination store (`domain.staged_path`, a hidden object of this attempt beside its blob path)
  and deleted locally at once, whatever the staging's outcome; the cached message goes out only
  after the staging succeeded, so the upload worker may run on any host. Store failures while
  staging are routed like the upload worker's (`store_failures`); a new attempt downloads again.
- The worker's cache cleaner runs hourly and removes what killed processes left in `CACHE_DIR`.
- Dedup: a media handed off (its `downloads.cached` message produced) within 24 h is done
  without a request, unless the task is a DLQ replay (`vpipe_replay`) or a re-download after a
  lost staged file (`vpipe_redownload`). The mark is a changelog entry of the task's partition,
  produced with the cached message (a `KeyStore`: tasks are keyed by media id, so every task of
  a media lands in one partition, and the mark follows that partition to any host).
- Free space below 5 % and local disk errors wait in place (`InplaceRetry`, `/readyz`
  `disk_full`); they never consume the task's retry tiers.
- Permanent failures are dead with a `failed_permanent` result; the rest go to the tiers with a
  `failed_exhausted` result should the last tier fail too. Links that cannot be refreshed
  and expire before the next tier is due are dead now instead of retried uselessly.
- Links that can be refreshed get a `refresher` per task: the downloader asks it for a
  fresh link when the link expired or the server answered 401/403.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import attrs

from vpipe_core.context import WorkerContext
from vpipe_core.domain.settings import DomainSettings
from vpipe_core.ops import metrics as core_metrics
from vpipe_core.outcome import Category, Dead, Done, Outcome, Output, Retry
from vpipe_core.record import Record
from vpipe_core.retry.envelope import REPLAY
from vpipe_core.retry.inplace import InplaceRetry
from vpipe_core.retry.topics import domain_delays
from vpipe_core.state.store import KeyStore, worker_key_store
from vpipe_core.storage import Store, UploadError, safe_relative_path
from vpipe_core.transfer import metrics
from vpipe_core.transfer.after_commit import AfterCommit
from vpipe_core.transfer.cache_dir import check_cache_dir
from vpipe_core.transfer.cleaner import CacheCleaner
from vpipe_core.transfer.destination import destination_store
from vpipe_core.transfer.domain import (
    FAILED_EXHAUSTED,
    FAILED_PERMANENT,
    REDOWNLOAD_HEADER,
    TransferDomain,
    TransferTask,
    failure_report,
    new_stage_token,
    result_output,
    staged_path,
)
from vpipe_core.transfer.download import (
    INFRASTRUCTURE,
    Downloader,
    DownloadError,
    DownloadResult,
    ExpiryReader,
)
from vpipe_core.transfer.netconf import ProxyConfig, ca_bundle
from vpipe_core.transfer.policy import url_policy
from vpipe_core.transfer.presigned import DEFAULT_SKEW_S, presigned_expiry
from vpipe_core.transfer.rules import TypeRules
from vpipe_core.transfer.settings import TransferSettings
from vpipe_core.transfer.space import DISK_FULL, DiskFull, SpaceGuard
from vpipe_core.transfer.store_failures import storage_not_ready, store_failure

log = logging.getLogger("vpipe.transfer.download")


class LinkRefresher(Protocol):
    """Called by the downloader with the failing link and its error; returns a fresh link or
    raises `DownloadError`. `attempted` tells whether it was asked at all."""

    attempted: bool

    def __call__(self, url: str, error: DownloadError) -> str: ...


RefresherFactory = Callable[[TransferTask], LinkRefresher]


@attrs.frozen
class DownloadOptions:
    """`delays` are the domain's retry tiers. `expiry_before_retry` reads the expiry of links
    that cannot be refreshed (None when they can be)."""

    worker: str
    concurrency: int
    delays: tuple[int, ...]
    expiry_before_retry: ExpiryReader | None = None
    refresher: RefresherFactory | None = None
    max_refreshes: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


class DownloadWorker:
    def __init__(
        self,
        domain: TransferDomain,
        downloader: Downloader,
        store: Store,
        options: DownloadOptions,
        inplace: InplaceRetry,
        *,
        space: SpaceGuard | None = None,
        seen: KeyStore | None = None,
        cleaner: CacheCleaner | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._domain = domain
        self._downloader = downloader
        self._store = store
        self._cleaner = cleaner
        self._options = options
        self._inplace = inplace
        self._space = space
        self._seen = seen
        self._clock = clock
        self._after = AfterCommit()
        self._closers: list[Callable[[], None]] = []
        self.concurrency = options.concurrency

    def handle(self, record: Record) -> Outcome:
        try:
            task = self._domain.read_task(record.value)
        except ValueError as exc:
            return Dead(f"invalid download task: {exc}")
        if self._already_done(task, record):
            return Done()
        refresher = self._options.refresher(task) if self._options.refresher else None
        started = time.monotonic()
        try:
            fetched = self._inplace.run(
                lambda: self._fetch(task, refresher),
                _infrastructure,
                lambda: self._after.owns((record.topic, record.partition)),
            )
        except DownloadError as exc:
            return self._failed(task, exc, record, refresher)
        except OSError as exc:  # free-space check failing; only when the in-place wait ended
            return Retry(f"local disk: {exc}", Category.TRANSIENT)
        self._count_success(fetched, time.monotonic() - started)
        try:
            fetched = self._stage(task, fetched, record)
        except UploadError as exc:
            return store_failure(self._domain, task.message, exc, record.attempt, "stage")
        except FileNotFoundError:  # a concurrent download of the same media removed it
            return Retry("downloaded file gone before staging", Category.TRANSIENT)
        cached = self._domain.cached_message(task, fetched, record.attempt)
        headers = _carried_headers(record)
        handed_off = self._domain.output(self._domain.cached_topic, cached, headers)
        return Done((handed_off, *self._remember(task, record)))

    # -- loop hooks ---------------------------------------------------------------------------

    def on_commit(self, positions: dict[tuple[str, int], int]) -> None:
        self._after.run(positions)

    def on_assign(self, partitions: list) -> None:
        self._after.assign((tp.topic, tp.partition) for tp in partitions)
        if self._seen is not None:
            self._seen.on_assign(partitions)

    def on_revoke(self, partitions: list) -> None:
        self._after.revoke((tp.topic, tp.partition) for tp in partitions)
        if self._seen is not None:
            self._seen.on_revoke(partitions)

    def add_closer(self, close: Callable[[], None]) -> None:
        """Something of the domain's to close with the worker (e.g. its API client)."""
        self._closers.append(close)

    def close(self) -> None:
        self._inplace.stop()
        if self._cleaner is not None:
            self._cleaner.stop()
        self._downloader.close()
        self._store.close()
        for close in self._closers:
            close()

    # -- steps --------------------------------------------------------------------------------

    def _already_done(self, task: TransferTask, record: Record) -> bool:
        if self._seen is None or _bypasses_dedup(record):
            return False
        if not self._seen.is_duplicate(task.media_id, record.partition, record.offset):
            return False
        core_metrics.dedup_hits.labels(self._options.worker).inc()
        log.info("already handed off within 24 h; not downloaded again", extra=_fields(task))
        return True

    def _fetch(self, task: TransferTask, refresher: LinkRefresher | None) -> DownloadResult:
        _check_destination(task, self._domain.name)
        if self._space is not None:
            self._space.require()
        return self._downloader.download(
            task.url,
            task.media_id,
            task.cache_path,
            refresh=refresher,
            max_refreshes=self._options.max_refreshes,
        )

    def _stage(self, task: TransferTask, fetched: DownloadResult, record: Record) -> DownloadResult:
        """Upload the file to a staging object of this attempt's own, then delete it locally
        (also on failure); `fetched` with the staged path."""
        staged = staged_path(task, new_stage_token(), self._domain.name)
        started = time.monotonic()
        try:
            self._inplace.run(
                lambda: self._store.upload(
                    fetched.path, staged, content_type=fetched.content_type, in_place=True
                ),
                storage_not_ready,
                lambda: self._after.owns((record.topic, record.partition)),
            )
        finally:
            _discard(fetched.path)
        metrics.upload_bytes.labels(self._domain.name).inc(fetched.bytes)
        metrics.upload_seconds.labels(self._domain.name).observe(time.monotonic() - started)
        return attrs.evolve(fetched, staged_path=staged)

    def _remember(self, task: TransferTask, record: Record) -> tuple[Output, ...]:
        """The media's changelog entry, produced with its cached message."""
        if self._seen is None:
            return ()
        return (self._seen.mark(task.media_id, record.partition, record.offset),)

    def _count_success(self, fetched: DownloadResult, seconds: float) -> None:
        metrics.download_bytes.labels(self._domain.name).inc(fetched.bytes)
        metrics.download_seconds.labels(self._domain.name).observe(seconds)

    def _failed(
        self,
        task: TransferTask,
        exc: DownloadError,
        record: Record,
        refresher: LinkRefresher | None,
    ) -> Outcome:
        refreshed = refresher is not None and refresher.attempted
        metrics.download_failures.labels(self._domain.name, str(exc.category), _label(exc)).inc()
        log.info("download failed", extra={**_fields(task), "error": exc.reason})
        if exc.category == INFRASTRUCTURE:  # the in-place wait ended (stop, revoke)
            return Retry(f"local disk: {exc.reason}", Category.TRANSIENT)
        category = Category(exc.category)
        if category is Category.PERMANENT:
            failed = self._result(task, FAILED_PERMANENT, exc, record.attempt, refreshed)
            return Dead(exc.reason, category, outputs=(failed,))
        not_before = None
        if exc.retry_after_s:
            not_before = self._clock() + timedelta(seconds=exc.retry_after_s)
        expiring = self._expires_before_retry(task, exc, record, not_before)
        if expiring is not None:
            return expiring
        exhausted = self._result(task, FAILED_EXHAUSTED, exc, record.attempt + 1, refreshed)
        return Retry(exc.reason, category, not_before, if_exhausted=(exhausted,))

    def _expires_before_retry(
        self, task: TransferTask, exc: DownloadError, record: Record, not_before: datetime | None
    ) -> Dead | None:
        """A link that is expired by the time the next tier is due is dead now."""
        read_expiry = self._options.expiry_before_retry
        failure_number = record.attempt + 1
        if read_expiry is None or failure_number > len(self._options.delays):
            return None  # refreshable links; or the last failure (the router makes it dead)
        expires = read_expiry(task.url)
        if expires is None:
            return None
        due = self._clock() + timedelta(seconds=self._options.delays[failure_number - 1])
        if not_before is not None and not_before > due:
            due = not_before
        if due + timedelta(seconds=DEFAULT_SKEW_S) < expires:
            return None
        error = DownloadError(
            Category.PERMANENT,
            f"url expires before retry (at {expires.isoformat()}, retry due "
            f"{due.isoformat()}): {exc.reason}",
            exc.http_status,
        )
        failed = self._result(task, FAILED_PERMANENT, error, record.attempt, False)
        return Dead(error.reason, Category.PERMANENT, outputs=(failed,))

    def _result(
        self, task: TransferTask, status: str, exc: DownloadError, retries: int, refreshed: bool
    ) -> Output:
        report = failure_report(status, retries, exc.http_status, str(exc.category), exc.reason)
        report = attrs.evolve(report, url_refresh_attempted=refreshed)
        return result_output(self._domain, task.message, report)


def _check_destination(task: TransferTask, domain: str) -> None:
    """The store's own checks of the blob path and the staging path, before any byte is
    fetched: a path the store would refuse is a permanent failure now, not a download thrown
    away later."""
    try:
        safe_relative_path(task.blob_path)
        safe_relative_path(staged_path(task, new_stage_token(), domain))
    except UploadError as exc:
        raise DownloadError(Category.PERMANENT, f"not downloaded: {exc.message}") from exc
    except ValueError as exc:  # UnsafeCachePath
        raise DownloadError(Category.PERMANENT, f"not downloaded: {exc}") from exc


def _discard(path: Path) -> None:
    """Remove the local file and its media directory (when empty); the cleaner gets the rest."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
        path.parent.rmdir()


def _infrastructure(exc: BaseException) -> str | None:
    if isinstance(exc, DiskFull):
        return DISK_FULL
    if isinstance(exc, DownloadError):
        return "local_disk" if exc.category == INFRASTRUCTURE else None
    return "local_disk" if isinstance(exc, OSError) else None


def _bypasses_dedup(record: Record) -> bool:
    replay = (record.header(REPLAY) or "").strip().lower()
    return replay in ("1", "true", "yes") or record.header(REDOWNLOAD_HEADER) is not None


def _carried_headers(record: Record) -> dict[str, str]:
    """The re-download count travels with the file, so the uploader can bound it."""
    count = record.header(REDOWNLOAD_HEADER)
    return {REDOWNLOAD_HEADER: count} if count is not None else {}


def _label(exc: DownloadError) -> str:
    """A bounded metric label (no ids, no URLs)."""
    return f"http_{exc.http_status}" if exc.http_status else str(exc.category)


def _fields(task: TransferTask) -> dict[str, str]:
    return {"media_id": task.media_id, "blob_path": task.blob_path}


def build_download_worker(
    ctx: WorkerContext,
    domain: TransferDomain,
    settings: DomainSettings,
    *,
    expiry: ExpiryReader = presigned_expiry,
    refresher: RefresherFactory | None = None,
    max_refreshes: int = 0,
) -> DownloadWorker:
    """The worker with everything from the settings: allow-list, type rules, timeouts, CA
    bundle and proxy, the destination store, the free-space guard, the dedup store, an hourly
    cache cleaner and the domain's retry tiers. Links are refreshable when a `refresher` is
    given; otherwise expiring links are dead early."""
    check_cache_dir(ctx.settings.cache_dir)
    transfer = ctx.settings_for(TransferSettings)
    concurrency = settings.download_concurrency
    rules = (
        TypeRules.from_file(transfer.type_rules_file, transfer.extensions)
        if transfer.type_rules_file
        else TypeRules(extensions=transfer.extensions)
    )
    downloader = Downloader(
        url_policy(transfer),
        rules,
        ctx.settings.cache_dir,
        connect_timeout_s=transfer.connect_timeout_s,
        stall_timeout_s=transfer.stall_timeout_s,
        range_threshold_mb=transfer.range_threshold_mb,
        range_chunk_mb=transfer.range_chunk_mb,
        max_mb=transfer.max_mb,
        max_connections=concurrency,
        ca_certs=ca_bundle(ctx.settings.ca_bundle, ctx.env),
        proxy=ProxyConfig.from_env(ctx.env),
        expiry=expiry,
    )
    options = DownloadOptions(
        worker=ctx.spec.name,
        concurrency=concurrency,
        delays=domain_delays(ctx.domain, ctx.env, ctx.settings.retry_delays),
        expiry_before_retry=None if refresher else expiry,
        refresher=refresher,
        max_refreshes=max_refreshes,
    )
    cleaner = CacheCleaner(ctx.settings.cache_dir, domain.name, transfer.cache_max_age_hours * 3600)
    worker = DownloadWorker(
        domain,
        downloader,
        destination_store(ctx, domain.name, settings, concurrency),
        options,
        InplaceRetry(ctx.health),
        space=SpaceGuard(ctx.settings.cache_dir, ctx.health),
        seen=worker_key_store(ctx),
        cleaner=cleaner,
    )
    cleaner.start()
    return worker
