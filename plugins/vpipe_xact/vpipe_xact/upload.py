"""`xact-upload` (xact.md §11): cached files to OneLake (or a `file://` store).

Order: upload → `completed` result acknowledged → offset committed → cache file deleted (in
`on_commit`). A missing cache file sends the task back to download (never a permanent failure).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Category, Dead, Done, Outcome, Output, Retry
from vpipe_core.record import Record
from vpipe_core.storage.onelake import ErrorCategory, Store, UploadError, make_store
from vpipe_core.transfer.settings import TransferSettings
from vpipe_xact import messages
from vpipe_xact.settings import XactSettings
from vpipe_xact.topics import DOWNLOADS, RESULTS

log = logging.getLogger("vpipe.xact.upload")
REDOWNLOAD = "vpipe_redownload"
MAX_REDOWNLOADS = 3
CACHED_FIELDS = (*messages.DOWNLOAD_FIELDS, "local_cache_path")
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


class UploadWorker:
    def __init__(self, store: Store, concurrency: int) -> None:
        self._store = store
        self.concurrency = concurrency
        self._uploaded: dict[tuple[str, int], dict[int, Path]] = {}

    def handle(self, record: Record) -> Outcome:
        try:
            cached = messages.read_message(record.value, CACHED_FIELDS)
        except messages.InvalidMessage as exc:
            return Dead(f"invalid cached-download message: {exc}")
        local = Path(cached["local_cache_path"])
        try:
            stored = self._store.upload(local, cached["blob_path"])
        except FileNotFoundError:
            return self._download_again(cached, record)
        except UploadError as exc:
            return _failure(cached, exc, record.attempt)
        self._remember(record, local)
        completed = messages.result(
            cached,
            "completed",
            retry_count=int(cached.get("retry_count") or 0) + record.attempt,
            http_status=cached.get("http_status"),
            bytes_downloaded=stored.bytes,
        )
        return Done((messages.output(RESULTS, completed),))

    def _download_again(self, cached: Mapping[str, Any], record: Record) -> Outcome:
        times = int(record.header(REDOWNLOAD) or 0) + 1
        if times > MAX_REDOWNLOADS:
            error = f"cache file missing after {MAX_REDOWNLOADS} downloads"
            failed = messages.result(
                cached,
                "failed_permanent",
                retry_count=record.attempt,
                error_category="permanent",
                error_message=error,
            )
            return Dead(error, Category.PERMANENT, outputs=(messages.output(RESULTS, failed),))
        task = {key: cached.get(key) for key in TASK_KEYS}
        log.warning("cache file missing; downloading again", extra={"media_id": task["media_id"]})
        return Done((messages.output(DOWNLOADS, task, {REDOWNLOAD: str(times)}),))

    def _remember(self, record: Record, local: Path) -> None:
        self._uploaded.setdefault((record.topic, record.partition), {})[record.offset] = local

    def on_commit(self, positions: dict[tuple[str, int], int]) -> None:
        """Delete cache files of uploads whose result is acknowledged and offset committed."""
        for key, position in positions.items():
            done = self._uploaded.get(key, {})
            for offset in [o for o in done if o < position]:
                done.pop(offset).unlink(missing_ok=True)

    def close(self) -> None:
        close = getattr(self._store, "close", None)
        if callable(close):
            close()


def _failure(cached: Mapping[str, Any], exc: UploadError, attempt: int) -> Outcome:
    if exc.category is ErrorCategory.PERMANENT:
        failed = _result(cached, "failed_permanent", exc, attempt)
        return Dead(str(exc), Category.PERMANENT, outputs=(failed,))
    category = Category.AUTH if exc.category is ErrorCategory.AUTH else Category.TRANSIENT
    exhausted = _result(cached, "failed_exhausted", exc, attempt + 1)
    return Retry(f"upload: {exc}", category, if_exhausted=(exhausted,))


def _result(cached: Mapping[str, Any], status: str, exc: UploadError, retries: int) -> Output:
    result = messages.result(
        cached,
        status,
        retry_count=retries,
        http_status=exc.status,
        error_category=str(exc.category),
        error_message=str(exc),
    )
    return messages.output(RESULTS, result)


def destination(xact: XactSettings, transfer: TransferSettings) -> str:
    if xact.onelake_xact_path:
        return xact.onelake_xact_path
    if transfer.onelake_base_path:
        return f"{transfer.onelake_base_path.rstrip('/')}/xact"
    from vpipe_core.config.loader import ConfigError

    raise ConfigError(
        [
            "ONELAKE_XACT_PATH or ONELAKE_BASE_PATH: required by xact-upload, expected "
            "abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<lakehouse>.Lakehouse"
            "/Files/<dir> or file:///<dir>"
        ]
    )


def build(ctx: WorkerContext) -> UploadWorker:
    xact = ctx.settings_for(XactSettings)
    transfer = ctx.settings_for(TransferSettings)
    target = destination(xact, transfer)
    credential = None
    if not target.startswith("file://"):
        from vpipe_core.azure_auth import shared_credential

        credential = shared_credential(ctx.env)  # one credential per process (runtime.md §8)
    store = make_store(target, credential, transfer.onelake_timeout_s, xact.upload_concurrency)
    return UploadWorker(store, xact.upload_concurrency)
