"""Streaming downloads into the download worker's local cache (runtime.md §11).

`Downloader.download(url, media_id, dest_relative)` checks the URL before any request (policy,
expiry, extension), streams the body to `{cache_dir}/tmp/{media_id}.part` in pieces of up to
1 MiB, hashed on a thread of its own while the next piece arrives (`part_file`), checks the
length, and renames the file to `{cache_dir}/{dest_relative}`. Large files (`Content-Length`
>= the range threshold) are fetched in ranges, each with a few tries that resume from the
bytes already on disk (`attempt`). Every failure is a `DownloadError` whose category
says how to route it; local disk errors are `"infrastructure"` (retry in place).

One `Downloader` per process: it owns the process's urllib3 pool, sized for the concurrency.
It is thread-safe; each `download` call keeps its state to itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import attrs
import urllib3
from urllib3.exceptions import HTTPError, LocationValueError, MaxRetryError

from vpipe_core.outcome import Category
from vpipe_core.transfer.attempt import Attempt
from vpipe_core.transfer.cache_paths import PART_DIR, UnsafeCachePath, cache_file
from vpipe_core.transfer.errors import INFRASTRUCTURE as INFRASTRUCTURE
from vpipe_core.transfer.errors import DownloadError
from vpipe_core.transfer.errors import ErrorCategory as ErrorCategory
from vpipe_core.transfer.http import Connections, RedirectRefused, get_checked
from vpipe_core.transfer.netconf import ProxyConfig
from vpipe_core.transfer.part_file import PartFile
from vpipe_core.transfer.policy import ResolutionFailed, UrlPolicy, UrlRejected
from vpipe_core.transfer.presigned import DEFAULT_SKEW_S, presigned_expiry
from vpipe_core.transfer.rules import ExtensionRejected, TypeRules

log = logging.getLogger("vpipe.transfer")

MIB = 1024 * 1024
_MEDIA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@attrs.frozen
class DownloadResult:
    path: Path
    bytes: int
    sha256: str
    content_type: str | None
    refreshes: int = 0
    url: str = ""  # the link that worked (a refreshed one, after refreshes)
    staged_path: str = ""  # where the download worker staged it in the store (`domain.staged_path`)


# (current url, the error a fresh link may cure) -> a fresh url; raises DownloadError when it
# cannot refresh. Links of domains that cannot be refreshed simply pass none.
UrlRefresher = Callable[[str, DownloadError], str]
ExpiryReader = Callable[[str], datetime | None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _mib_bytes(mib: float) -> int:
    return max(int(mib * MIB), 1)


class Downloader:
    """Downloads into `cache_dir`; sizes in MiB, timeouts in seconds.

    `max_connections` is the per-host pool size (`block=True`): keep it >= the number of
    concurrent downloads. `proxy` routes requests through `HTTPS_PROXY`/`HTTP_PROXY` except for
    `NO_PROXY` hosts. `expiry` reads a link's expiry (domains with other link formats pass
    their own); `clock` is for tests. `max_mb` caps a file: a larger `Content-Length`, or a body
    that grows past it, is a permanent failure (an endless body cannot fill the cache disk).
    """

    def __init__(
        self,
        policy: UrlPolicy,
        rules: TypeRules,
        cache_dir: Path | str,
        *,
        connect_timeout_s: float = 30.0,
        stall_timeout_s: float = 60.0,
        range_threshold_mb: float = 50.0,
        range_chunk_mb: float = 20.0,
        max_mb: float | None = None,
        max_connections: int = 25,
        ca_certs: str | None = None,
        proxy: ProxyConfig | None = None,
        expiry: ExpiryReader = presigned_expiry,
        expiry_skew_s: float = DEFAULT_SKEW_S,
        clock: Callable[[], datetime] = _utc_now,
        fsync: bool = True,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.policy = policy
        self.rules = rules
        self.cache_dir = Path(cache_dir)
        self.timeout = urllib3.Timeout(connect=connect_timeout_s, read=stall_timeout_s)
        self.range_threshold = _mib_bytes(range_threshold_mb)
        self.range_chunk = _mib_bytes(range_chunk_mb)
        self.max_bytes = None if max_mb is None else _mib_bytes(max_mb)
        self.fsync = fsync
        self._expiry = expiry
        self._expiry_skew_s = expiry_skew_s
        self.clock = clock
        self._connections = Connections(
            policy.addresses,
            proxy,
            maxsize=max_connections,
            block=True,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs,
        )
        self._pool = self._connections.direct

    def close(self) -> None:
        """Close every pooled connection; idempotent."""
        self._connections.clear()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def download(
        self,
        url: str,
        media_id: str,
        dest_relative: str,
        *,
        refresh: UrlRefresher | None = None,
        max_refreshes: int = 2,
    ) -> DownloadResult:
        """Fetch `url` into `{cache_dir}/{dest_relative}`; raises `DownloadError`.

        With `refresh`, an expired link or an HTTP 401/403 asks for a fresh link (at most
        `max_refreshes` times) and starts over; without it they fail as classified.
        """
        dest = self._destination(dest_relative)
        part = self._part_path(media_id)
        refreshes = 0
        while True:
            try:
                fetched = self._attempt(url, part, dest)
                return attrs.evolve(fetched, refreshes=refreshes, url=url)
            except DownloadError as error:
                error.refreshes = refreshes
                if not error.refreshable or refresh is None or refreshes >= max_refreshes:
                    raise
                url = refresh(url, error)
                refreshes += 1

    def preflight(self, url: str) -> str:
        """The checks made before any request (policy, expiry, extension); the extension."""
        try:
            parsed = self.policy.check(url, resolve=False)
        except UrlRejected as exc:
            raise DownloadError(Category.PERMANENT, f"URL refused: {exc.reason}") from exc
        self._check_expiry(url)
        try:
            extension = self.rules.check_extension(url)
        except ExtensionRejected as exc:
            raise DownloadError(Category.PERMANENT, exc.reason) from exc
        if not self._connections.proxied(url):
            self._check_addresses(parsed.host)
        return extension

    def _check_expiry(self, url: str) -> None:
        expires = self._expiry(url)
        if expires is None:
            return
        now = self.clock()
        if (now - expires).total_seconds() + self._expiry_skew_s >= 0:
            reason = f"URL expired at {expires.isoformat()}"
            raise DownloadError(Category.PERMANENT, reason, refreshable=True)

    def _check_addresses(self, host: str) -> None:
        try:
            self.policy.addresses(host)
        except UrlRejected as exc:
            raise DownloadError(Category.PERMANENT, f"URL refused: {exc.reason}") from exc
        except ResolutionFailed as exc:
            raise DownloadError(Category.TRANSIENT, f"DNS: {exc}") from exc

    def _attempt(self, url: str, part: Path, dest: Path) -> DownloadResult:
        extension = self.preflight(url)
        with PartFile.open(part) as file:
            content_type = Attempt(self, url, extension, file).run()
            file.publish(dest, fsync=self.fsync)
        return DownloadResult(dest, file.size, file.sha256, content_type)

    def _destination(self, dest_relative: str) -> Path:
        try:
            return cache_file(self.cache_dir, dest_relative)
        except UnsafeCachePath as exc:
            raise DownloadError(Category.PERMANENT, f"destination refused: {exc}") from exc

    def _part_path(self, media_id: str) -> Path:
        if not _MEDIA_ID.fullmatch(media_id):
            raise DownloadError(Category.PERMANENT, f"unusable media_id {media_id!r}")
        return self.cache_dir / PART_DIR / f"{media_id}.part"

    def open_checked(self, url: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        """GET with redirects checked per hop; any failure as a DownloadError."""
        try:
            return get_checked(self._connections, self.policy, url, headers, self.timeout)
        except UrlRejected as exc:
            raise DownloadError(Category.PERMANENT, f"URL refused: {exc.reason}") from exc
        except RedirectRefused as exc:
            category = Category.AUTH if exc.auth else Category.PERMANENT
            raise DownloadError(category, exc.reason, exc.status) from exc
        except LocationValueError as exc:
            raise DownloadError(Category.PERMANENT, f"malformed URL: {exc}") from exc
        except MaxRetryError as exc:
            raise DownloadError(Category.TRANSIENT, f"request failed: {exc.reason}") from exc
        except (HTTPError, OSError) as exc:
            raise DownloadError(Category.TRANSIENT, f"request failed: {exc}") from exc
