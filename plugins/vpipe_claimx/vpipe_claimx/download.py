"""`claimx-downloader` (claimx.md §10.1): the core download worker over ClaimX's messages (§6).

ClaimX links can be renewed, unlike XACT's: a link that has expired (file service:
`systemDate + expires`, epoch ms; S3: `X-Amz-Date + X-Amz-Expires`; 60 s margin) or that the
file service or S3 answers with 401/403 is replaced by the media's current `fullDownloadLink`
from E2 (`mediaIds=<media_id>`), at most `CLAIMX_URL_MAX_REFRESHES` times per attempt. A
401/403 again after a refresh is permanent; media gone from E2 (or E2 404) is permanent with
`url_refresh_attempted=true`; an E2 transient error is retried through the tiers. Downloads
never carry the ClaimX `Authorization` header: the core downloader only sends its own headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from vpipe_claimx.api import ApiError, ClaimxApi
from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.topics import CACHED, DOWNLOADS, RESULTS
from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Category, Output
from vpipe_core.redact import redact, truncate
from vpipe_core.timestamps import iso_utc
from vpipe_core.transfer.domain import (
    CachedFile,
    InvalidTransferMessage,
    Message,
    Report,
    TransferTask,
)
from vpipe_core.transfer.download import DownloadError, DownloadResult
from vpipe_core.transfer.download_worker import DownloadWorker, build_download_worker
from vpipe_core.transfer.metrics import url_refreshes
from vpipe_core.transfer.netconf import ca_bundle
from vpipe_core.transfer.presigned import presigned_expiry, stored_url

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


# -- messages ---------------------------------------------------------------------------------


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
        local = message.get("local_cache_path")
        if not isinstance(local, str) or not local.strip():
            raise InvalidTransferMessage("local_cache_path: required, missing or empty")
        content_type = message.get("content_type")
        return CachedFile(
            _task(message), Path(local), content_type if isinstance(content_type, str) else None
        )

    def cached_message(
        self, task: TransferTask, fetched: DownloadResult, retry_count: int
    ) -> dict[str, Any]:
        message = dict(task.message)
        if fetched.refreshes:
            message["download_url"] = fetched.url
            message["refresh_count"] = _count(message.get("refresh_count")) + fetched.refreshes
            expires = link_expiry(fetched.url)
            message["expires_at"] = iso_utc(expires) if expires else None
        return {
            **message,
            "local_cache_path": str(fetched.path),
            "bytes_downloaded": fetched.bytes,
            "sha256": fetched.sha256,
            "content_type": fetched.content_type,
            "http_status": 200,
            "retry_count": retry_count,  # failed download attempts, reported on completion
            "downloaded_at": iso_utc(datetime.now(UTC)),
        }

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
    try:
        message = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise InvalidTransferMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise InvalidTransferMessage(f"expected a JSON object, got {type(message).__name__}")
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
        cache_path=f"claimx/{media_id}/{message['file_name']}",
        message=message,
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# -- links ------------------------------------------------------------------------------------


def link_expiry(url: str) -> datetime | None:
    """File-service links: `systemDate + expires` (epoch ms); S3 links: `X-Amz-Date +
    X-Amz-Expires`. None when the link does not say."""
    try:
        query = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query)}
    except ValueError:
        return None
    system_ms, ttl_ms = query.get("systemdate", ""), query.get("expires", "")
    if system_ms.isdigit() and ttl_ms.isdigit():
        try:
            return datetime.fromtimestamp((int(system_ms) + int(ttl_ms)) / 1000, UTC)
        except (OverflowError, ValueError, OSError):
            return None
    return presigned_expiry(url)


class MediaLinkRefresher:
    """Asks E2 for one media's current link; one object per download task."""

    def __init__(self, api: ClaimxApi, project_id: str, media_id: str) -> None:
        self._api = api
        self._project_id = project_id
        self._media_id = media_id
        self.attempted = False
        self.refreshes = 0

    def __call__(self, url: str, error: DownloadError) -> str:
        if error.http_status in (401, 403) and self.refreshes > 0:
            reason = f"HTTP {error.http_status} again after a link refresh"
            raise DownloadError(Category.PERMANENT, reason, error.http_status)
        self.attempted = True
        try:
            items = self._api.media(self._project_id, [self._media_id])
        except ApiError as exc:
            url_refreshes.labels("gone" if exc.category is Category.PERMANENT else "error").inc()
            raise DownloadError(
                exc.category, f"link refresh failed: {exc}", exc.status, exc.retry_after_s
            ) from exc
        link = next(
            (i.get("fullDownloadLink") for i in items if str(i.get("mediaID")) == self._media_id),
            None,
        )
        if not isinstance(link, str) or not link.strip():
            url_refreshes.labels("gone").inc()
            reason = f"link refresh: media {self._media_id} has no link in E2 (gone)"
            raise DownloadError(Category.PERMANENT, reason)
        url_refreshes.labels("ok").inc()
        self.refreshes += 1
        return link.strip()


# -- worker -----------------------------------------------------------------------------------

TRANSFER = ClaimxTransfer()


def build(ctx: WorkerContext) -> DownloadWorker:
    claimx = ctx.settings_for(ClaimxSettings)
    api = ClaimxApi.from_settings(claimx, ca_bundle(ctx.settings.ca_bundle, ctx.env), env=ctx.env)

    def refresher(task: TransferTask) -> MediaLinkRefresher:
        return MediaLinkRefresher(api, str(task.message["project_id"]), task.media_id)

    worker = build_download_worker(
        ctx,
        TRANSFER,
        concurrency=claimx.download_concurrency,
        expiry=link_expiry,
        refresher=refresher,
        max_refreshes=claimx.url_max_refreshes,
    )
    worker.add_closer(api.close)
    return worker
