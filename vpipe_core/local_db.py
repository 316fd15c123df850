"""Opening a host-local SQLite store (dedup window, transfer log) that several worker processes
may open at the same moment."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

BUSY_TIMEOUT_S = 10.0
_RETRY_S = 0.05


def open_wal(path: Path, timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A connection in WAL mode (readers beside one writer), autocommit, usable from threads.

    Switching a new file to WAL takes an exclusive lock and SQLite answers "database is locked"
    at once, without its busy timeout, when another process opens the file at the same moment
    (instances of one worker starting together); the switch is retried until `timeout_s`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(_RETRY_S)
    db.execute("PRAGMA synchronous=NORMAL")
    return db
