"""The upload worker of every domain: a cached file to OneLake
(or a `file://` store) and a `completed` result.

Order: upload → `completed` result acknowledged → offset committed → cache file deleted and the
media recorded as uploaded (`on_commit`). A crash in between only repeats an idempotent upload.
A missing cache file sends the task back to download (header `vpipe_redownload` counted; after
`MAX_REDOWNLOADS` the task is dead), never a permanent failure. Storage misconfiguration (403/404
on the filesystem, no client) waits in place (`InplaceRetry`); transient errors go to the tiers
and never become `failed_permanent`. The worker's cache cleaner runs hourly and never removes a
file an upload of this worker is reading.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from vpipe_core.config.loader import ConfigError
from vpipe_core.context import WorkerContext
from vpipe_core.domain.settings import DomainSettings
from vpipe_core.outcome import Category, Dead, Done, Outcome, Output, Retry
from vpipe_core.record import Record
from vpipe_core.retry.inplace import InplaceRetry
from vpipe_core.storage import ErrorCategory, Store, UploadError, UploadResult, make_store
from vpipe_core.transfer import metrics
from vpipe_core.transfer.after_commit import AfterCommit
from vpipe_core.transfer.cache_dir import check_cache_dir
from vpipe_core.transfer.cache_paths import readable_cache_file
from vpipe_core.transfer.cleaner import CacheCleaner
from vpipe_core.transfer.destination import upload_destination
from vpipe_core.transfer.domain import (
    COMPLETED,
    FAILED_EXHAUSTED,
    FAILED_PERMANENT,
    REDOWNLOAD_HEADER,
    CachedFile,
    Report,
    TransferDomain,
)
from vpipe_core.transfer.netconf import ProxyConfig, ca_bundle
from vpipe_core.transfer.settings import TransferSettings

log = logging.getLogger("vpipe.transfer.upload")
MAX_REDOWNLOADS = 3


class UploadWorker:
    def __init__(
        self,
        domain: TransferDomain,
        store: Store,
        concurrency: int,
        inplace: InplaceRetry,
        cache_dir: Path,
        *,
        cleaner: CacheCleaner | None = None,
    ) -> None:
        self._domain = domain
        self._cache_dir = cache_dir
        self._store = store
        self._inplace = inplace
        self._cleaner = cleaner
        self._after = AfterCommit()
        self._reading: collections.Counter[Path] = collections.Counter()
        self._reading_lock = threading.Lock()
        self.concurrency = concurrency

    def handle(self, record: Record) -> Outcome:
        try:
            cached = self._domain.read_cached(record.value)
            # The file is where this task's ids put it; local_cache_path is never trusted.
            local = readable_cache_file(self._cache_dir, self._domain.name, cached.task.cache_path)
        except ValueError as exc:  # InvalidTransferMessage, UnsafeCachePath
            return Dead(f"invalid cached-download message: {exc}")
        cached = attrs.evolve(cached, local_path=local)
        started = time.monotonic()
        try:
            with self._in_use(cached.local_path):
                stored = self._inplace.run(
                    lambda: self._upload(cached),
                    _infrastructure,
                    lambda: self._after.owns((record.topic, record.partition)),
                )
        except FileNotFoundError:
            return self._download_again(cached, record)
        except UploadError as exc:
            return self._failed(cached, exc, record)
        metrics.upload_bytes.labels(self._domain.name).inc(stored.bytes)
        metrics.upload_seconds.labels(self._domain.name).observe(time.monotonic() - started)
        self._finish_after_commit(cached, record)
        message = cached.task.message
        report = Report(
            COMPLETED,
            retry_count=_count(message.get("retry_count")) + record.attempt,
            http_status=message.get("http_status"),
            bytes=stored.bytes,
        )
        return Done((self._result(cached, report),))

    def attach_cleaner(self, cleaner: CacheCleaner) -> None:
        """The cleaner to stop with the worker (it asks `in_use` before removing files)."""
        self._cleaner = cleaner

    def in_use(self) -> set[Path]:
        """Cache files an upload of this worker is reading (the cleaner leaves them alone)."""
        with self._reading_lock:
            return set(self._reading)

    # -- loop hooks ---------------------------------------------------------------------------

    def on_commit(self, positions: dict[tuple[str, int], int]) -> None:
        self._after.run(positions)

    def on_assign(self, partitions: list) -> None:
        self._after.assign((tp.topic, tp.partition) for tp in partitions)

    def on_revoke(self, partitions: list) -> None:
        self._after.revoke((tp.topic, tp.partition) for tp in partitions)

    def close(self) -> None:
        self._inplace.stop()
        if self._cleaner is not None:
            self._cleaner.stop()
        self._store.close()

    # -- steps --------------------------------------------------------------------------------

    def _upload(self, cached: CachedFile) -> UploadResult:
        return self._store.upload(
            cached.local_path, cached.task.blob_path, content_type=cached.content_type
        )

    @contextmanager
    def _in_use(self, path: Path) -> Iterator[None]:
        with self._reading_lock:
            self._reading[path] += 1
        try:
            yield
        finally:
            with self._reading_lock:
                self._reading[path] -= 1
                if self._reading[path] <= 0:
                    del self._reading[path]

    def _finish_after_commit(self, cached: CachedFile, record: Record) -> None:
        path = cached.local_path

        def finish() -> None:
            path.unlink(missing_ok=True)

        self._after.add((record.topic, record.partition), record.offset, finish)

    def _download_again(self, cached: CachedFile, record: Record) -> Outcome:
        times = _count(record.header(REDOWNLOAD_HEADER)) + 1
        if times > MAX_REDOWNLOADS:
            error = f"cache file missing after {MAX_REDOWNLOADS} downloads"
            report = Report(
                FAILED_PERMANENT,
                retry_count=record.attempt,
                error_category=str(Category.PERMANENT),
                error_message=error,
            )
            return Dead(error, Category.PERMANENT, outputs=(self._result(cached, report),))
        task = self._domain.task_message(cached.task.message)
        log.warning(
            "cache file missing; downloading again",
            extra={"media_id": cached.task.media_id, "redownload": times},
        )
        headers = {REDOWNLOAD_HEADER: str(times)}
        return Done((self._domain.output(self._domain.pending_topic, task, headers),))

    def _failed(self, cached: CachedFile, exc: UploadError, record: Record) -> Outcome:
        metrics.upload_failures.labels(
            self._domain.name, str(exc.category), f"http_{exc.status}" if exc.status else "none"
        ).inc()
        if exc.category is ErrorCategory.PERMANENT:
            failed = self._failure_result(cached, FAILED_PERMANENT, exc, record.attempt)
            return Dead(str(exc), Category.PERMANENT, outputs=(failed,))
        if exc.category is ErrorCategory.INFRASTRUCTURE:  # the in-place wait ended
            return Retry(f"upload: {exc}", Category.TRANSIENT)
        category = Category.AUTH if exc.category is ErrorCategory.AUTH else Category.TRANSIENT
        exhausted = self._failure_result(cached, FAILED_EXHAUSTED, exc, record.attempt + 1)
        return Retry(f"upload: {exc}", category, if_exhausted=(exhausted,))

    def _failure_result(
        self, cached: CachedFile, status: str, exc: UploadError, retries: int
    ) -> Output:
        report = Report(
            status,
            retry_count=retries,
            http_status=exc.status,
            error_category=str(exc.category),
            error_message=str(exc),
        )
        return self._result(cached, report)

    def _result(self, cached: CachedFile, report: Report) -> Output:
        message = self._domain.result_message(cached.task.message, report)
        return self._domain.output(self._domain.results_topic, message)


def _infrastructure(exc: BaseException) -> str | None:
    if isinstance(exc, UploadError) and exc.category is ErrorCategory.INFRASTRUCTURE:
        return "storage"
    return None


def _count(value: object) -> int:
    try:
        return max(0, int(str(value))) if value is not None else 0
    except ValueError:
        return 0


def build_upload_worker(
    ctx: WorkerContext, domain: TransferDomain, settings: DomainSettings
) -> UploadWorker:
    """The worker for the domain's destination (`abfss://…`, a DFS URL or `file:///dir`,
    `destination.upload_destination`) with the shared Azure credential, CA bundle and proxy,
    and an hourly cache cleaner."""
    check_cache_dir(ctx.settings.cache_dir)
    transfer = ctx.settings_for(TransferSettings)
    destination = upload_destination(domain.name, settings.onelake_path, transfer, ctx.spec.name)
    concurrency = settings.upload_concurrency
    credential = None
    on_auth_error: Callable[[], object] | None = None
    if not destination.startswith("file://"):
        from vpipe_core.azure_auth import shared_credential

        credential = shared_credential(ctx.env)  # one credential per process (runtime.md §8)
        on_auth_error = credential.invalidate
    try:
        store = make_store(
            destination,
            credential,
            transfer.onelake_timeout_s,
            concurrency,
            ca_bundle=ca_bundle(ctx.settings.ca_bundle, ctx.env),
            proxies=ProxyConfig.from_env(ctx.env).requests_proxies(_account_url(destination)),
            on_auth_error=on_auth_error,
            path_style_hosts=frozenset(transfer.onelake_path_style_hosts),
        )
    except ValueError as exc:  # exit 2 naming the setting, not a traceback systemd restarts
        where = f"OneLake destination of {ctx.spec.name} (ONELAKE_BASE_PATH or its domain path)"
        raise ConfigError([f"{where}: {exc}"]) from exc
    worker = UploadWorker(
        domain,
        store,
        concurrency,
        InplaceRetry(ctx.health),
        ctx.settings.cache_dir,
    )
    cleaner = CacheCleaner(
        ctx.settings.cache_dir, domain.name, transfer.cache_max_age_hours * 3600.0, worker.in_use
    )
    worker.attach_cleaner(cleaner)
    cleaner.start()
    return worker


def _account_url(destination: str) -> str:
    """The URL whose host the DataLake client talks to (`abfss://fs@host/…` → `https://host`)."""
    if destination.startswith("abfss://"):
        host = destination.split("@", 1)[-1].split("/", 1)[0]
        return f"https://{host}"
    return destination
