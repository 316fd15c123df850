"""ClaimX download links (claimx.md §10.1): when one expires, and renewing one through E2.

A link that has expired (file service: `systemDate + expires`, epoch ms; S3: `X-Amz-Date +
X-Amz-Expires`; 60 s margin) or that the file service or S3 answers with 401/403 is replaced by
the media's current `fullDownloadLink` from E2 (`mediaIds=<media_id>`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from vpipe_claimx.api import ApiError, ClaimxApi
from vpipe_core.outcome import Category
from vpipe_core.transfer.download import DownloadError
from vpipe_core.transfer.metrics import url_refreshes
from vpipe_core.transfer.presigned import presigned_expiry


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
