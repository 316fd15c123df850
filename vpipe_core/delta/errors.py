"""Errors raised by Delta sinks: every failure carries the category the runtime routes on."""

from __future__ import annotations

from vpipe_core.outcome import Category

MAX_MESSAGE_CHARS = 1000


class DeltaWriteError(Exception):
    """A Delta operation failed.

    `category` is `transient` (storage I/O, commit conflicts, a dead worker process: retry the
    whole batch in place) or `permanent` (schema mismatch, a value that does not convert to the
    declared type: dead-letter the offending rows). `rows` holds the indexes, in the batch the
    caller passed, of the rows that caused a permanent error; empty when the whole batch is
    affected (e.g. the table's schema conflicts with the declaration).
    """

    def __init__(self, category: Category, message: str, rows: tuple[int, ...] = ()) -> None:
        super().__init__(f"{category}: {message}")
        self.category = category
        self.message = message[:MAX_MESSAGE_CHARS]
        self.rows = rows


class DeltaWriteTimeout(DeltaWriteError):
    """The worker process did not answer in time (it was killed and replaced), or stayed busy
    with another caller's work. Transient: retry the batch in place."""

    def __init__(self, message: str) -> None:
        super().__init__(Category.TRANSIENT, message)


def permanent(message: str, rows: tuple[int, ...] = ()) -> DeltaWriteError:
    return DeltaWriteError(Category.PERMANENT, message, rows)


def transient(message: str) -> DeltaWriteError:
    return DeltaWriteError(Category.TRANSIENT, message)
