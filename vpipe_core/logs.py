"""Logging (runtime.md §9): JSON lines, redaction, dated log files with rotation and retention."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import coolname
import orjson

from vpipe_core.redact import redact

current_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_trace_id", default=None
)
# The key of the record being handled: the loop sets it per record without decoding it (hot
# path); a log line about the record decodes it into `trace_id`.
current_record_key: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "current_record_key", default=None
)


class InlineRecordKey:
    """The key of the record the loop thread is handling inline. Setting an attribute costs a
    fifth of a ContextVar set and reset, which the inline hot path would pay per record; only
    log lines from the owning thread read it."""

    __slots__ = ("key", "thread")

    def __init__(self) -> None:
        self.key: bytes | None = None
        self.thread: int | None = None

    def own(self) -> None:
        """Make the calling thread the one whose log lines carry `key`."""
        self.thread = threading.get_ident()

    def get(self) -> bytes | None:
        return self.key if self.thread == threading.get_ident() else None


inline_record_key = InlineRecordKey()

VPIPE_LOGGER_PREFIX = "vpipe"
THIRD_PARTY_LEVEL = logging.WARNING
# Set explicitly so these libraries skip building their debug records at all; any other
# third-party logger is held back by the handler filter.
_CHATTY_THIRD_PARTY_LOGGERS = (
    "confluent_kafka",
    "azure",
    "msal",
    "urllib3",
    "botocore",
    "boto3",
    "s3transfer",
    "deltalake",
    "aiohttp",
    "httpx",
    "httpcore",
    "asyncio",
)
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)))
# Any other record attribute came from `extra=` (`trace_id` is rendered as a fixed field).
_NOT_EXTRA_FIELDS = _RECORD_ATTRIBUTES | {"message", "asctime", "taskName", "trace_id"}
_MAX_SLUG_DRAWS = 100

_installed_handlers: list[logging.Handler] = []


def set_trace_id(trace_id: str | None) -> contextvars.Token[str | None]:
    """Attach `trace_id` to every record logged from this context; reset with the token."""
    return current_trace_id.set(trace_id)


@contextlib.contextmanager
def trace_context(trace_id: str | None) -> Iterator[None]:
    """Attach `trace_id` to every record logged inside the block."""
    token = current_trace_id.set(trace_id)
    try:
        yield
    finally:
        current_trace_id.reset(token)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso_timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _trace_id(record: logging.LogRecord) -> str | None:
    explicit: str | None = record.__dict__.get("trace_id")
    if explicit is not None:
        return explicit
    trace_id = current_trace_id.get()
    if trace_id is not None:
        return trace_id
    key = current_record_key.get()
    if key is None:
        key = inline_record_key.get()
    return key.decode("utf-8", "replace") if key is not None else None


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields passed with `extra=` (everything that is not a standard LogRecord field)."""
    return {key: value for key, value in vars(record).items() if key not in _NOT_EXTRA_FIELDS}


def _exception_fields(record: logging.LogRecord) -> dict[str, str] | None:
    if not record.exc_info or record.exc_info[1] is None:
        return None
    exc_type, exc, tb = record.exc_info
    return {
        "type": exc_type.__name__ if exc_type else type(exc).__name__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(exc_type, exc, tb)),
    }


def _dumps(payload: dict[str, Any]) -> str:
    try:
        return orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        # Values orjson rejects even with `default` (e.g. integers beyond 64 bits, lone
        # surrogates): fall back to their escaped text rather than losing the line.
        return orjson.dumps({key: _plain_text(value) for key, value in payload.items()}).decode()


def _plain_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


class JsonFormatter(logging.Formatter):
    """One redacted JSON object per record with every extra field."""

    def __init__(self, *, worker_id: str, domain: str) -> None:
        super().__init__()
        self.worker_id = worker_id
        self.domain = domain

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _iso_timestamp(record),
            "level": record.levelname,
            "worker_id": self.worker_id,
            "domain": self.domain,
            "logger": record.name,
            "msg": record.getMessage(),
            "trace_id": _trace_id(record),
        }
        for key, value in record_extras(record).items():
            # The fixed fields keep their meaning; a clashing extra is kept under another name.
            payload[f"extra_{key}" if key in payload else key] = value
        exception = _exception_fields(record)
        if exception is not None:
            payload["exception"] = exception
        if record.stack_info:
            payload["stack_info"] = record.stack_info
        return redact(_dumps(payload))


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if not text or any(char.isspace() or char == '"' for char in text):
        return orjson.dumps(text).decode()
    return text


class HumanFormatter(logging.Formatter):
    """`HH:MM:SS LEVEL worker_id logger: msg key=value...` (UTC), redacted."""

    def __init__(self, *, worker_id: str) -> None:
        super().__init__()
        self.worker_id = worker_id

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.gmtime(record.created))
        fields = {"trace_id": _trace_id(record), **record_extras(record)}
        pairs = "".join(
            f" {key}={_logfmt_value(value)}" for key, value in fields.items() if value is not None
        )
        line = f"{clock} {record.levelname} {self.worker_id} {record.name}: {record.getMessage()}"
        line += pairs
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return redact(line)


class OriginLevelFilter(logging.Filter):
    """vpipe loggers pass at `vpipe_level`, every other logger at `third_party_level`."""

    def __init__(self, *, vpipe_level: int, third_party_level: int) -> None:
        super().__init__()
        self.vpipe_level = vpipe_level
        self.third_party_level = third_party_level

    def filter(self, record: logging.LogRecord) -> bool:
        is_vpipe = record.name.startswith(VPIPE_LOGGER_PREFIX)
        return record.levelno >= (self.vpipe_level if is_vpipe else self.third_party_level)


def _two_word_slug() -> str:
    return str(coolname.generate_slug(2))


def _parse_date_directory(name: str) -> date | None:
    try:
        return datetime.strptime(name, "%Y-%m-%d").date()
    except ValueError:
        return None


class DailyArchiveFileHandler(logging.Handler):
    """JSON log file under `<log_dir>/<domain>/<YYYY-MM-DD>/`, new file each UTC day.

    Rotates by size into the date directory's `archive/` (`.1` newest, at most `backup_count`)
    and deletes date directories older than `retention_days` at start and once per day.
    The clock is read per record, but the file system is touched only on open, rotation and
    the daily retention pass.
    """

    def __init__(
        self,
        *,
        log_dir: Path,
        domain: str,
        worker: str,
        max_bytes: int,
        backup_count: int,
        retention_days: int,
        now: Callable[[], datetime] = _utc_now,
        draw_slug: Callable[[], str] = _two_word_slug,
    ) -> None:
        super().__init__()
        self.domain_dir = log_dir / domain
        self.file_stem = worker.replace("-", "_")
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.retention_days = retention_days
        self._now = now
        self._draw_slug = draw_slug
        started = self._utc(now())
        self._stream: BinaryIO | None = None
        self._bytes_written = 0
        self._file_date = started.date()
        self.path = self._open_new_file(started)
        self._retention_checked_on = started.date()
        self._delete_expired_date_directories(started.date())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
            self._roll_over_day_if_needed()
            if self._bytes_written and self._bytes_written + len(data) > self.max_bytes:
                self._rotate()
            assert self._stream is not None
            self._stream.write(data)
            self._stream.flush()
            self._bytes_written += len(data)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.acquire()
        try:
            self._close_stream()
        finally:
            self.release()
        super().close()

    @staticmethod
    def _utc(moment: datetime) -> datetime:
        return moment.astimezone(UTC)

    def _roll_over_day_if_needed(self) -> None:
        moment = self._utc(self._now())
        today = moment.date()
        if today != self._file_date:
            self._close_stream()
            self.path = self._open_new_file(moment)
        if today != self._retention_checked_on:
            self._retention_checked_on = today
            self._delete_expired_date_directories(today)

    def _open_new_file(self, moment: datetime) -> Path:
        date_dir = self.domain_dir / moment.strftime("%Y-%m-%d")
        date_dir.mkdir(parents=True, exist_ok=True)
        prefix = f"{self.file_stem}_{moment.strftime('%m%d_%H%M')}"
        for _ in range(_MAX_SLUG_DRAWS):
            candidate = date_dir / f"{prefix}_{self._draw_slug()}.log"
            try:
                # Exclusive create: another instance may draw the same slug at the same minute.
                self._stream = candidate.open("xb")
            except FileExistsError:
                continue
            self._bytes_written = 0
            self._file_date = moment.date()
            return candidate
        raise FileExistsError(f"no unused log file name for {date_dir / prefix}_*.log")

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _rotate(self) -> None:
        self._close_stream()
        archive_dir = self.path.parent / "archive"
        archive_dir.mkdir(exist_ok=True)
        if self.backup_count > 0:
            self._shift_archives(archive_dir)
            self.path.replace(archive_dir / f"{self.path.name}.1")
        else:
            self.path.unlink(missing_ok=True)
        self._stream = self.path.open("ab")
        self._bytes_written = 0

    def _shift_archives(self, archive_dir: Path) -> None:
        """`.N` → `.N+1` from the oldest down; the one that would exceed `backup_count` goes."""
        (archive_dir / f"{self.path.name}.{self.backup_count}").unlink(missing_ok=True)
        for number in range(self.backup_count - 1, 0, -1):
            archived = archive_dir / f"{self.path.name}.{number}"
            if archived.exists():
                archived.replace(archive_dir / f"{self.path.name}.{number + 1}")

    def _delete_expired_date_directories(self, today: date) -> None:
        oldest_kept = today - timedelta(days=self.retention_days)
        for entry in self.domain_dir.iterdir():
            entry_date = _parse_date_directory(entry.name)
            if entry.is_dir() and entry_date is not None and entry_date < oldest_kept:
                # Other instances of the domain run the same pass: a vanished entry is fine.
                shutil.rmtree(entry, ignore_errors=True)


def _remove_installed_handlers() -> None:
    root = logging.getLogger()
    for handler in _installed_handlers:
        root.removeHandler(handler)
        handler.close()
    _installed_handlers.clear()


def _install(
    handler: logging.Handler, formatter: logging.Formatter, level_filter: logging.Filter
) -> None:
    handler.setFormatter(formatter)
    handler.addFilter(level_filter)
    logging.getLogger().addHandler(handler)
    _installed_handlers.append(handler)


def setup_logging(
    *,
    worker: str,
    instance: int,
    domain: str,
    log_dir: Path | None,
    level: str = "INFO",
    json_console: bool = True,
    max_size_mb: int = 10,
    backup_count: int = 5,
    retention_days: int = 7,
    console_stream: TextIO | None = None,
    now: Callable[[], datetime] = _utc_now,
) -> Path | None:
    """Install the console and file handlers on the root logger; return the log file path.

    `console_stream` defaults to `sys.stderr` as it is when called. Calling again replaces the
    handlers installed by the previous call.
    """
    _remove_installed_handlers()
    worker_id = f"{worker}-{instance}"
    vpipe_level = logging.getLevelNamesMapping()[level.upper()]
    # With LOG_LEVEL above WARNING, libraries are not louder than vpipe itself.
    third_party_level = max(THIRD_PARTY_LEVEL, vpipe_level)
    level_filter = OriginLevelFilter(vpipe_level=vpipe_level, third_party_level=third_party_level)
    logging.getLogger().setLevel(min(vpipe_level, third_party_level))
    for name in _CHATTY_THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(third_party_level)

    json_formatter = JsonFormatter(worker_id=worker_id, domain=domain)
    console_formatter = json_formatter if json_console else HumanFormatter(worker_id=worker_id)
    console = logging.StreamHandler(console_stream if console_stream is not None else sys.stderr)
    _install(console, console_formatter, level_filter)

    if log_dir is None:
        return None
    file_handler = DailyArchiveFileHandler(
        log_dir=log_dir,
        domain=domain,
        worker=worker,
        max_bytes=max_size_mb * 1024 * 1024,
        backup_count=backup_count,
        retention_days=retention_days,
        now=now,
    )
    _install(file_handler, json_formatter, level_filter)
    return file_handler.path
