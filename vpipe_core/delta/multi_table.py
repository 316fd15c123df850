"""A batch handler writing each record's row into one of several Delta tables, exactly once.

The sibling of `vpipe_core.delta.exactly_once.ExactlyOnceWriter` for workers whose records feed
more than one table (the result processor: `xact_attachments` and `xact_attachments_failed`).

Exactly once, per table and partition: every commit carries the application transaction
`<worker>-<topic>-<partition>` with version = the partition's last offset in the batch. Each
table has its own watermark per partition (its recorded version, read from that table's log on
first use after an assignment); a record's row is written only when the record's offset is above
the watermark of the table the row belongs to.

Crash ordering. The tables are written one after the other, in the declared order, each in its
own commit: Delta has no atomic commit across tables. A crash (or a storage failure) between two
commits of one batch leaves the earlier table ahead of the later one. Because the watermarks are
per table, the redelivered batch skips, in the earlier table, the records it already holds and
writes, in the later table, the rows it lacks: every row lands exactly once in its table whichever
commit was lost. Until the redelivery, a reader can see the batch's rows in the earlier table
without its rows in the later one (never the reverse, and never a duplicate). Kafka offsets are
committed only after every commit of the batch succeeded (the records are routed only then).

Rows that do not convert to their table's schema are dead on their own (checked before the
watermark is applied, so a record whose dead letter was lost in a crash is dead-lettered again);
any other Delta failure retries the partition's records in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import attrs

from vpipe_core.delta.convert import to_arrow
from vpipe_core.delta.errors import DeltaWriteError
from vpipe_core.delta.process import DeltaProcess
from vpipe_core.delta.sink import DeltaSink
from vpipe_core.outcome import Category, Dead, Done, Outcome, Retry
from vpipe_core.record import Record

TopicPartitionKey = tuple[str, int]
Operation = Literal["append", "merge"]
NOTHING = Done(())


@attrs.frozen
class Table:
    """One target table; `name` is what `TableRow.table` refers to."""

    name: str
    sink: DeltaSink
    operation: Operation = "merge"


class TableRow(NamedTuple):
    table: str
    row: dict[str, Any]


RowsFor = Callable[[Sequence[Record]], Sequence[TableRow | Dead | None]]
"""One partition's records (in offset order) → per record: a row of one table, `Dead` (the
record is invalid), or None (nothing to write)."""


class _Pending(NamedTuple):
    at: int  # position in the batch handed to handle_batch
    offset: int
    row: dict[str, Any]


class MultiTableWriter:
    def __init__(
        self,
        tables: Sequence[Table],
        worker: str,
        rows_for: RowsFor,
        batch_size: int,
        batch_max_wait_s: float,
        process: DeltaProcess | None = None,
    ) -> None:
        if len({table.name for table in tables}) != len(tables):
            raise ValueError("table names must be unique")
        self._tables = tuple(tables)
        self._worker = worker
        self._rows_for = rows_for
        self.batch_size = batch_size
        self.batch_max_wait_s = batch_max_wait_s
        self._process = process
        self._ensured: set[str] = set()
        self._watermarks: dict[TopicPartitionKey, dict[str, int]] = {}

    def app_id(self, key: TopicPartitionKey) -> str:
        return f"{self._worker}-{key[0]}-{key[1]}"

    def on_assign(self, partitions: Sequence[Any]) -> None:
        for tp in partitions:  # read again on first use: another member may have written
            self._watermarks.pop((tp.topic, tp.partition), None)

    def on_revoke(self, partitions: Sequence[Any]) -> None:
        for tp in partitions:
            self._watermarks.pop((tp.topic, tp.partition), None)

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        outcomes: list[Outcome] = [NOTHING] * len(records)
        groups: dict[TopicPartitionKey, list[int]] = {}
        for index, record in enumerate(records):
            groups.setdefault((record.topic, record.partition), []).append(index)
        for key, indexes in groups.items():
            self._handle_partition(key, [records[i] for i in indexes], indexes, outcomes)
        return outcomes

    def close(self) -> None:
        for table in self._tables:
            table.sink.close()
        if self._process is not None:
            self._process.close()

    # -- one partition ----------------------------------------------------------------------

    def _handle_partition(
        self, key: TopicPartitionKey, records: list[Record], indexes: list[int], out: list[Outcome]
    ) -> None:
        pending = self._pending(records, indexes, out)
        version = records[-1].offset
        try:
            watermarks = self._watermarks_of(key)
            for table in self._tables:
                entries = self._convertible(table, pending.get(table.name, []), out)
                fresh = [entry for entry in entries if entry.offset > watermarks[table.name]]
                if self._write(table, key, fresh, version, out):
                    watermarks[table.name] = version
        except DeltaWriteError as exc:
            retry = Retry(f"delta write failed: {exc.message}", Category.TRANSIENT)
            for index in indexes:
                if not isinstance(out[index], Dead):
                    out[index] = retry

    def _pending(
        self, records: list[Record], indexes: list[int], out: list[Outcome]
    ) -> dict[str, list[_Pending]]:
        items = self._rows_for(records)
        if len(items) != len(records):
            raise RuntimeError(f"rows_for returned {len(items)} items for {len(records)} records")
        known = {table.name for table in self._tables}
        pending: dict[str, list[_Pending]] = {}
        for index, record, item in zip(indexes, records, items, strict=True):
            if isinstance(item, Dead):
                out[index] = item
            elif item is not None:
                if item.table not in known:
                    raise ValueError(f"row for unknown table {item.table!r}")
                pending.setdefault(item.table, []).append(_Pending(index, record.offset, item.row))
        return pending

    def _watermarks_of(self, key: TopicPartitionKey) -> dict[str, int]:
        watermarks = self._watermarks.get(key)
        if watermarks is None:
            watermarks = {}
            for table in self._tables:
                if table.name not in self._ensured:
                    table.sink.ensure_table()
                    self._ensured.add(table.name)
                version = table.sink.committed_version(self.app_id(key))
                watermarks[table.name] = -1 if version is None else version
            self._watermarks[key] = watermarks
        return watermarks

    @staticmethod
    def _convertible(table: Table, entries: list[_Pending], out: list[Outcome]) -> list[_Pending]:
        """Entries whose row converts to the table's schema; the others become dead."""
        if not entries:
            return entries
        spec = table.sink.spec
        required = spec.merge_keys if table.operation == "merge" else ()
        try:
            to_arrow(spec, [entry.row for entry in entries], required)
        except DeltaWriteError as exc:
            if not exc.rows:
                return entries  # the whole batch is at fault: the write reports it
            return _drop_rejected(table, entries, exc, out)
        return entries

    def _write(
        self,
        table: Table,
        key: TopicPartitionKey,
        entries: list[_Pending],
        version: int,
        out: list[Outcome],
    ) -> bool:
        """Commit the entries' rows; True once committed (or found committed already)."""
        write = table.sink.merge if table.operation == "merge" else table.sink.append
        while entries:
            try:
                write([entry.row for entry in entries], self.app_id(key), version)
                return True
            except DeltaWriteError as exc:
                if exc.category is not Category.PERMANENT or not exc.rows:
                    raise
                kept = _drop_rejected(table, entries, exc, out)
                if len(kept) == len(entries):
                    raise  # names no row of this write: not a row problem
                entries = kept
        return False


def _drop_rejected(
    table: Table, entries: list[_Pending], exc: DeltaWriteError, out: list[Outcome]
) -> list[_Pending]:
    bad = set(exc.rows)
    for position in bad:
        if position < len(entries):
            out[entries[position].at] = Dead(f"row rejected by {table.name}: {exc.message}")
    return [entry for position, entry in enumerate(entries) if position not in bad]
