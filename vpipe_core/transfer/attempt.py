"""One download attempt of `Downloader`: the requests and the streaming into the part file,
whole or in ranges (each range with a few tries that resume from the bytes on disk)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING

import urllib3
from urllib3.exceptions import HTTPError, ReadTimeoutError

from vpipe_core.logs.redact import redact
from vpipe_core.outcome import Category
from vpipe_core.retry.retry_after import retry_after_s
from vpipe_core.transfer.errors import DownloadError
from vpipe_core.transfer.http import discard
from vpipe_core.transfer.part_file import PartFile

if TYPE_CHECKING:
    from vpipe_core.transfer.download import Downloader

log = logging.getLogger("vpipe.transfer")

PIECE_BYTES = 1024 * 1024
CHUNK_TRIES = 3
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+)", re.IGNORECASE)
_BASE_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "vpipe-downloader"}
# Raised while a body streams: a reset, a stall (read timeout), a truncated body.
_STREAM_ERRORS = (HTTPError, OSError)


class _StreamBroken(Exception):
    """The connection failed before the expected bytes arrived (resumable)."""


class _RangeIgnored(Exception):
    """A ranged request was answered 200 with the whole body: start again from zero."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        super().__init__("server ignored the Range header")
        self.response = response


class Attempt:
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
        response = self.owner.open_checked(self.url, dict(_BASE_HEADERS))
        if response.status != 200:
            discard(response)
            raise _status_error(response, self.owner.clock())
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
            response = self.owner.open_checked(self.url, headers)
        except DownloadError as exc:
            if exc.category == Category.TRANSIENT and exc.http_status is None:
                raise _StreamBroken(exc.reason) from exc
            raise
        if response.status == 200:
            raise _RangeIgnored(response)
        if response.status != 206:
            discard(response)
            raise _status_error(response, self.owner.clock(), ranged=True)
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
    """401 auth; 408/429/5xx transient; other 4xx permanent."""
    status = response.status
    retry_after = retry_after_s(response.headers.get("Retry-After"), now)
    reason = f"HTTP {status}"
    if status in (401, 403):
        category = Category.AUTH if status == 401 else Category.PERMANENT
        return DownloadError(category, reason, status, retry_after, refreshable=True)
    if status in (408, 429) or (ranged and status == 416) or not 400 <= status < 500:
        return DownloadError(Category.TRANSIENT, reason, status, retry_after)
    return DownloadError(Category.PERMANENT, reason, status, retry_after)
