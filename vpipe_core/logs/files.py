"""Log files under `<log_dir>/<domain>/<YYYY-MM-DD>/`, rotated by size, expired by age."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import coolname

_MAX_SLUG_DRAWS = 100


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        now: Callable[[], datetime] = utc_now,
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
