"""The cache cleaner (runtime.md §11): run hourly by each download worker.

A download worker deletes each file right after staging it in the store, so what the cleaner
finds are leftovers of killed processes: files older than `CACHE_MAX_AGE_HOURS` (by
modification time) under `{CACHE_DIR}/{domain}/`; partial downloads under `{CACHE_DIR}/tmp/` of
that age unless a downloader still holds their lock (a download in progress, in any process);
and empty media directories of that age. Removing a directory races with a downloader about to
publish into it; the downloader recreates it (`PartFile.publish`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from vpipe_core.transfer import metrics
from vpipe_core.transfer.cache_paths import PART_DIR

log = logging.getLogger("vpipe.transfer.cleaner")
HOUR_S = 3600.0


@attrs.define
class CleanReport:
    files: int = 0
    bytes: int = 0
    parts: int = 0
    directories: int = 0


class CacheCleaner:
    def __init__(
        self,
        cache_dir: Path,
        domain: str,
        max_age_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache_dir = cache_dir
        self.domain = domain
        self.max_age_s = max_age_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def clean(self) -> CleanReport:
        """One pass; never raises for a file that vanished or cannot be removed."""
        report = CleanReport()
        cutoff = self._clock() - self.max_age_s
        root = self.cache_dir / self.domain
        for path in _files(root):
            if _older(path, cutoff) and (size := _remove(path)) is not None:
                report.files += 1
                report.bytes += size
        for part in _files(self.cache_dir / PART_DIR):
            if part.suffix == ".part" and _older(part, cutoff) and _remove_unlocked(part):
                report.parts += 1
        report.directories = _remove_empty_dirs(root, cutoff)
        metrics.cache_cleaned_files.labels(self.domain).inc(report.files + report.parts)
        if report.files or report.parts or report.directories:
            log.info("cache cleaned", extra={"domain": self.domain, **attrs.asdict(report)})
        return report

    def start(self, interval_s: float = HOUR_S) -> None:
        """Clean every `interval_s` in a daemon thread (the first pass after one interval, so
        a download staging its file at start-up is never touched)."""
        self._thread = threading.Thread(
            target=self._every, args=(interval_s,), name="cache-cleaner", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _every(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.clean()
            except Exception:
                log.exception("cache cleaning failed")


def _files(root: Path) -> Iterator[Path]:
    for directory, _, names in os.walk(root):
        for name in names:
            yield Path(directory, name)


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except OSError:
        return False


def _remove(path: Path) -> int | None:
    try:
        size = path.stat().st_size
        path.unlink()
    except OSError:
        return None
    return size


def _remove_unlocked(part: Path) -> bool:
    """Remove a partial download unless a downloader holds its lock."""
    try:
        fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    try:
        part.unlink()
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def _remove_empty_dirs(root: Path, cutoff: float) -> int:
    removed = 0
    for directory, subdirs, files in os.walk(root, topdown=False):
        path = Path(directory)
        if path == root or files or any((path / sub).exists() for sub in subdirs):
            continue
        if _older(path, cutoff):
            with contextlib.suppress(OSError):
                path.rmdir()
                removed += 1
    return removed
