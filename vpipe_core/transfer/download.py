"""Streaming downloads into the shared cache (xact.md §10.2, §10.3, §10.5; runtime.md §11).

`Downloader.download(url, media_id, dest_relative)` checks the URL before any request (policy,
expiry, extension), streams the body to `{cache_dir}/tmp/{media_id}.part` in pieces of up to
1 MiB, hashed on a thread of its own while the next piece arrives (`part_file`), checks the
length, and renames the file to `{cache_dir}/{dest_relative}`. Large files (`Content-Length`
>= the range threshold) are fetched in ranges, each with a few tries that resume from the
bytes already on disk. Every failure is a `DownloadError` whose category
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
from urllib3.exceptions import HTTPError, LocationValueError, MaxRetryError, ReadTimeoutError

from vpipe_core.outcome import Category
from vpipe_core.redact import redact
from vpipe_core.retry.retry_after import retry_after_s
from vpipe_core.transfer.cache_paths import PART_DIR, UnsafeCachePath, cache_file
from vpipe_core.transfer.errors import INFRASTRUCTURE as INFRASTRUCTURE
from vpipe_core.transfer.errors import DownloadError
from vpipe_core.transfer.errors import ErrorCategory as ErrorCategory
from vpipe_core.transfer.http import Connections, RedirectRefused, discard, get_checked
from vpipe_core.transfer.netconf import ProxyConfig
from vpipe_core.transfer.part_file import PartFile
from vpipe_core.transfer.policy import ResolutionFailed, UrlPolicy, UrlRejected
from vpipe_core.transfer.presigned import DEFAULT_SKEW_S, presigned_expiry
from vpipe_core.transfer.rules import ExtensionRejected, TypeRules

log = logging.getLogger("vpipe.transfer")

MIB = 1024 * 1024
PIECE_BYTES = MIB
CHUNK_TRIES = 3
_MEDIA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+)", re.IGNORECASE)
_BASE_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "vpipe-downloader"}
# Raised while a body streams: a reset, a stall (read timeout), a truncated body.
_STREAM_ERRORS = (HTTPError, OSError)


@attrs.frozen
class DownloadResult:
    path: Path
    bytes: int
    sha256: str
    content_type: str | None
    refreshes: int = 0
    url: str = ""  # the link that worked (a refreshed one, after refreshes)


# (current url, the error a fresh link may cure) -> a fresh url; raises DownloadError when it
# cannot refresh. Links of domains that cannot be refreshed simply pass none.
UrlRefresher = Callable[[str, DownloadError], str]
ExpiryReader = Callable[[str], datetime | None]


class _StreamBroken(Exception):
    """The connection failed before the expected bytes arrived (resumable)."""


class _RangeIgnored(Exception):
    """A ranged request was answered 200 with the whole body: start again from zero."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__("server ignored the Range header")
        self.response = response


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
        self._clock = clock
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
        now = self._clock()
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
            content_type = _Transfer(self, url, extension, file).run()
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

    def _open(self, url: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
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


class _Transfer:
    """The requests and the streaming of one download attempt."""

    def __init__(self, owner: Downloader, url: str, extension: str, file: PartFile) -> None:
        self.owner = owner
        self.url = url
        self.extension = extension
        self.file = file
        self.content_type: str | None = None

    def run(self) -> str | None:
        response = self._open_whole()
        total = _content_length(response)
        if total is not None:
            self._check_size(total, "Content-Length", response)
        if total is None or total < self.owner.range_threshold:
            self._stream_whole(response, total)
        else:
            self._ranged(total, response)
        if self.file.size == 0:
            raise DownloadError(Category.TRANSIENT, "empty body (0 bytes)")
        return self.content_type

    def _open_whole(self) -> urllib3.BaseHTTPResponse:
        response = self.owner._open(self.url, dict(_BASE_HEADERS))
        if response.status != 200:
            discard(response)
            raise _status_error(response, self.owner._clock())
        self._check_content_type(response)
        return response

    def _stream_whole(self, response: urllib3.BaseHTTPResponse, total: int | None) -> None:
        try:
            self._stream(response, total)
        except _StreamBroken as exc:
            raise DownloadError(Category.TRANSIENT, f"transfer broken: {exc}") from exc
        finally:
            discard(response)
        if total is not None and self.file.size != total:
            reason = f"truncated body: {self.file.size} of {total} bytes"
            raise DownloadError(Category.TRANSIENT, reason)

    def _ranged(self, total: int, first: urllib3.BaseHTTPResponse) -> None:
        """Chunk after chunk; the unranged first response serves the first try of chunk 0."""
        pending: urllib3.BaseHTTPResponse | None = first
        try:
            while self.file.size < total:
                self._fetch_chunk(self._chunk_end(total), total, pending)
                pending = None
        except _RangeIgnored as restart:
            log.warning("range ignored, restarting from zero", extra=self._log_fields())
            self.file.restart()
            self._check_content_type(restart.response)
            self._stream_whole(restart.response, _content_length(restart.response))

    def _chunk_end(self, total: int) -> int:
        chunk = self.owner.range_chunk
        return min((self.file.size // chunk + 1) * chunk, total) - 1

    def _fetch_chunk(self, end: int, total: int, response: urllib3.BaseHTTPResponse | None) -> None:
        failure: _StreamBroken | None = None
        for attempt in range(1, CHUNK_TRIES + 1):
            if failure is not None:
                fields = self._log_fields(attempt=attempt, error=str(failure))
                log.info("resuming download", extra=fields)
            try:
                if response is None:
                    response = self._open_range(self.file.size, end, total)
                self._stream(response, end + 1)
                return
            except _StreamBroken as exc:
                failure = exc
            finally:
                if response is not None:
                    discard(response)
                response = None
        reason = f"bytes {self.file.size}-{end}: {CHUNK_TRIES} tries failed, last: {failure}"
        raise DownloadError(Category.TRANSIENT, reason)

    def _open_range(self, start: int, end: int, total: int) -> urllib3.BaseHTTPResponse:
        headers = {**_BASE_HEADERS, "Range": f"bytes={start}-{end}"}
        try:
            response = self.owner._open(self.url, headers)
        except DownloadError as exc:
            if exc.category == Category.TRANSIENT and exc.http_status is None:
                raise _StreamBroken(exc.reason) from exc
            raise
        if response.status == 200:
            raise _RangeIgnored(response)
        if response.status != 206:
            discard(response)
            raise _status_error(response, self.owner._clock(), ranged=True)
        self._check_content_type(response)
        _check_content_range(response, start, end, total)
        return response

    def _stream(self, response: urllib3.BaseHTTPResponse, until: int | None) -> None:
        """Append the body to the file until the file holds `until` bytes (or the body ends)."""
        try:
            while until is None or self.file.size < until:
                want = PIECE_BYTES if until is None else min(PIECE_BYTES, until - self.file.size)
                data = response.read1(want, decode_content=False)
                if not data:
                    break
                self._check_size(self.file.size + len(data), "the body received", response)
                self.file.write(data)
        except _STREAM_ERRORS as exc:  # local disk errors arrive as DownloadError
            raise _StreamBroken(_describe(exc)) from exc
        if until is not None and self.file.size < until:
            raise _StreamBroken(f"body ended at {self.file.size} of {until} bytes")

    def _check_size(self, size: int, what: str, response: urllib3.BaseHTTPResponse) -> None:
        """Over `DOWNLOAD_MAX_MB` is a permanent failure: the same file is as large next time."""
        limit = self.owner.max_bytes
        if limit is None or size <= limit:
            return
        discard(response)
        reason = (
            f"{what} exceeds DOWNLOAD_MAX_MB ({size} > {limit} bytes); "
            "raise DOWNLOAD_MAX_MB to accept files this large"
        )
        raise DownloadError(Category.PERMANENT, reason, response.status)

    def _check_content_type(self, response: urllib3.BaseHTTPResponse) -> None:
        header = response.headers.get("Content-Type")
        if not self.owner.rules.content_type_ok(self.extension, header):
            discard(response)
            reason = f"content type {header!r} does not fit .{self.extension}"
            raise DownloadError(Category.TRANSIENT, reason, response.status)
        self.content_type = self.content_type or header

    def _log_fields(self, **fields: object) -> dict[str, object]:
        return {"url": redact(self.url), "offset": self.file.size, **fields}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ReadTimeoutError):
        return f"stalled: no data for the stall timeout ({exc})"
    return f"connection broken: {exc}"


def _content_length(response: urllib3.BaseHTTPResponse) -> int | None:
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


def _check_content_range(
    response: urllib3.BaseHTTPResponse, start: int, end: int, total: int
) -> None:
    header = response.headers.get("Content-Range", "")
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None or tuple(int(group) for group in match.groups()) != (start, end, total):
        discard(response)
        raise _StreamBroken(f"Content-Range {header!r} for bytes={start}-{end} of {total}")


def _status_error(
    response: urllib3.BaseHTTPResponse, now: datetime, *, ranged: bool = False
) -> DownloadError:
    """xact.md §10.5: 401 auth; 408/429/5xx transient; other 4xx permanent."""
    status = response.status
    retry_after = retry_after_s(response.headers.get("Retry-After"), now)
    reason = f"HTTP {status}"
    if status in (401, 403):
        category = Category.AUTH if status == 401 else Category.PERMANENT
        return DownloadError(category, reason, status, retry_after, refreshable=True)
    if status in (408, 429) or (ranged and status == 416) or not 400 <= status < 500:
        return DownloadError(Category.TRANSIENT, reason, status, retry_after)
    return DownloadError(Category.PERMANENT, reason, status, retry_after)
