"""One record that cannot become a row is dead alone: its batch neighbours are still written.

A converter (`to_row`, `rows_for`) that raises on one record would otherwise fail the whole
batch, and the loop would route every record of it, good ones included, as failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from vpipe_core.logs.redact import redact, truncate
from vpipe_core.outcome import Dead
from vpipe_core.record import Record

T = TypeVar("T")
log = logging.getLogger("vpipe.delta")


def each_or_dead(convert: Callable[[Record], T], records: Sequence[Record]) -> list[T | Dead]:
    """`convert(record)` for each record, `Dead` (with the error) where it raised."""
    return [_one_or_dead(convert, record) for record in records]


def batch_or_each(
    convert: Callable[[Sequence[Record]], Sequence[T | Dead]], records: Sequence[Record]
) -> Sequence[T | Dead]:
    """`convert(records)`; when it raises, again record by record, so only the records that
    raise alone are dead."""
    try:
        return convert(records)
    except Exception:
        return each_or_dead(lambda record: _single(convert, record), records)


def _single(convert: Callable[[Sequence[Record]], Sequence[T | Dead]], record: Record) -> T | Dead:
    (item,) = convert([record])
    return item


def _one_or_dead(convert: Callable[[Record], T], record: Record) -> T | Dead:
    try:
        return convert(record)
    except Exception as exc:
        reason = truncate(redact(f"cannot make a row: {type(exc).__name__}: {exc}"))
        log.error(
            "record cannot become a row: dead-lettered alone",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error": reason,
            },
        )
        return Dead(reason)
