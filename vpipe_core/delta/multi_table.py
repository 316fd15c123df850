"""Exactly once into Delta: the batch handler of every table writer, for one table or several.

One record gives a row of one table (an events writer: `<domain>_events`; a result processor:
`<domain>_attachments` or `<domain>_attachments_failed`), rows of several (an entity-rows
message may carry rows for several entity tables), or none. A
single-table writer is this writer with one table; `rows_each` turns a per-record converter of
one table into its `RowsFor`.

How every row lands exactly once in its table, across crashes and replays:

1. Application transactions. Each table is written with one commit per batch, carrying one Delta
   application transaction per partition of the batch: `<worker>-<topic>-<partition>`, version =
   that partition's last offset in the batch. Rows and transactions commit atomically.
2. Watermarks. Per partition, each table has its watermark: the version it records for the
   partition, read from that table's log on the partition's first batch after an assignment
   (read then, not on the assignment, so an assignment does not start the Delta process of an
   idle writer; read again after every assignment, since another member may have written
   meanwhile). A record's rows for a table are written only when the record's offset is above
   that table's watermark; once the commit succeeded the watermark moves to the batch's offset.
3. Offsets last. Kafka offsets are committed only after every commit of the batch succeeded (the
   records are routed only then). After a crash between a Delta commit and the Kafka commit, the
   redelivered records (even when the new batch starts inside the old one) are at or below the
   watermark: acknowledged without a write, never duplicate rows. (A merge that changes nothing
   makes no commit, so its versions are not recorded; redelivered, it changes nothing again.)
4. Crash ordering across tables. The tables are written one after the other, in the declared
   order, each in its own commit: Delta has no atomic commit across tables. A crash (or a
   storage failure) between two commits of one batch leaves the earlier table ahead of the later
   one. Because the watermarks are per table, the redelivered batch skips, in the earlier table,
   the records it already holds and writes, in the later table, the rows it lacks. Until the
   redelivery, a reader can see the batch's rows in the earlier table without its rows in the
   later one (never the reverse, and never a duplicate).
5. Dead letters derived again. Every record of the batch, replayed ones included, is converted
   and checked against its tables' schemas before the watermarks apply: a record that was dead
   is dead again, since the commit that moved the watermark past it may have been the last thing
   the process did before its dead letter was sent. A record is dead as a whole when `rows_for`
   says so, raises on it alone (`vpipe_core.delta.isolate`), or gives a row its table rejects
   (e.g. a key the table does not declare: logged at ERROR with the table and the message): its
   other rows are not written either, and the rest of the batch is.
6. Failures. Rows a write rejects by position (permanent) are dead and the rest is written now:
   retrying them in place would fail the same batch forever. Any other Delta failure retries the
   whole batch in place (the tables already committed skip their part).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import attrs

from vpipe_core.delta.convert import rejected_rows
from vpipe_core.delta.errors import DeltaWriteError
from vpipe_core.delta.isolate import batch_or_each, each_or_dead
from vpipe_core.delta.process import DeltaProcess
from vpipe_core.delta.sink import DeltaSink, Operation
from vpipe_core.outcome import Category, Dead, Done, Outcome, Retry
from vpipe_core.record import Record

TopicPartitionKey = tuple[str, int]
NOTHING = Done(())

log = logging.getLogger("vpipe.delta")


@attrs.frozen
class Table:
    """One target table; `name` is what `TableRow.table` refers to."""

    name: str
    sink: DeltaSink
    operation: Operation = "merge"


Row = dict[str, Any]


class TableRow(NamedTuple):
    table: str
    row: Row


RecordRows = TableRow | Sequence[TableRow] | Dead | None
RowsFor = Callable[[Sequence[Record]], Sequence[RecordRows]]
"""One partition's records (in offset order) → per record: its row(s) (one `TableRow`, or a
sequence of them for any of the tables), `Dead` (the record is invalid), or None (nothing to
write)."""


@runtime_checkable
class BatchScoped(Protocol):
    """A `RowsFor` whose state spans the partitions of one batch (e.g. a duplicate check within
    the batch): the writer calls `new_batch` before each batch."""

    def new_batch(self) -> None: ...


def rows_each(
    table: str, to_row: Callable[[Record], Row | Dead | None], records: Sequence[Record]
) -> list[RecordRows]:
    """`to_row` (one record → its row of `table`, `Dead`, or None) applied to each record; a
    record it raises on is dead alone, and `to_row` never sees a record twice."""
    items = each_or_dead(to_row, records)
    return [
        item if item is None or isinstance(item, Dead) else TableRow(table, item) for item in items
    ]


class _Pending(NamedTuple):
    at: int  # position in the batch handed to handle_batch
    partition: TopicPartitionKey
    offset: int
    row: Row


class MultiTableWriter:
    """The batch handler writing `rows_for`'s rows into `tables` exactly once (module docstring).
    `process`: the Delta process the tables' sinks share, stopped and closed with them."""

    def __init__(
        self,
        tables: Sequence[Table],
        worker: str,
        rows_for: RowsFor,
        batch_size: int,
        batch_max_wait_s: float,
        process: DeltaProcess | None = None,
        batch_min_interval_s: float | None = None,
    ) -> None:
        if len({table.name for table in tables}) != len(tables):
            raise ValueError("table names must be unique")
        self._tables = tuple(tables)
        self._worker = worker
        self._rows_for = rows_for
        self.batch_size = batch_size
        self.batch_max_wait_s = batch_max_wait_s
        self.batch_min_interval_s = batch_min_interval_s
        self._process = process
        self._ensured: set[str] = set()
        self._watermarks: dict[TopicPartitionKey, dict[str, int]] = {}

    def app_id(self, key: TopicPartitionKey) -> str:
        return f"{self._worker}-{key[0]}-{key[1]}"

    def ensure_tables(self) -> None:
        """Create missing tables and add declared columns (additive) now, e.g. at startup;
        otherwise this happens before the first write."""
        for table in self._tables:
            if table.name not in self._ensured:
                table.sink.ensure_table()
                self._ensured.add(table.name)

    def stop_delta_processes(self) -> None:
        """Stop the Delta processes now (e.g. once the tables are prepared): an idle writer does
        not hold deltalake. The next Delta call starts them again."""
        for table in self._tables:
            table.sink.process.stop()
        if self._process is not None:
            self._process.stop()

    def on_assign(self, partitions: Sequence[Any]) -> None:
        for tp in partitions:  # read again on first use: another member may have written
            self._watermarks.pop((tp.topic, tp.partition), None)

    def on_revoke(self, partitions: Sequence[Any]) -> None:
        for tp in partitions:
            self._watermarks.pop((tp.topic, tp.partition), None)

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        """One commit per table for the whole batch, carrying one application transaction per
        partition (version = the partition's last offset in the batch)."""
        if isinstance(self._rows_for, BatchScoped):
            self._rows_for.new_batch()
        out: list[Outcome] = [NOTHING] * len(records)
        last: dict[TopicPartitionKey, int] = {}
        for record in records:
            key = (record.topic, record.partition)
            last[key] = max(last.get(key, -1), record.offset)
        pending = self._pending(records, out)
        self._reject_unconvertible(pending, records, out)
        try:
            watermarks = {key: self._watermarks_of(key) for key in last}
            for table in self._tables:
                self._write_table(table, pending.get(table.name, []), watermarks, last, out)
        except DeltaWriteError as exc:
            retry = Retry(f"delta write failed: {exc.message}", _retry_category(exc))
            for index, outcome in enumerate(out):
                if not isinstance(outcome, Dead):
                    out[index] = retry
        return out

    def close(self) -> None:
        for table in self._tables:
            table.sink.close()
        if self._process is not None:
            self._process.close()

    # -- steps ------------------------------------------------------------------------------

    def _pending(self, records: Sequence[Record], out: list[Outcome]) -> dict[str, list[_Pending]]:
        """Per table, the rows of the batch's records (partition by partition, in offset order:
        `rows_for` sees one partition's records at a time)."""
        groups: dict[TopicPartitionKey, list[int]] = {}
        for index, record in enumerate(records):
            groups.setdefault((record.topic, record.partition), []).append(index)
        known = {table.name for table in self._tables}
        pending: dict[str, list[_Pending]] = {}
        for key, indexes in groups.items():
            items = batch_or_each(self._rows_for, [records[i] for i in indexes])
            if len(items) != len(indexes):
                raise RuntimeError(f"rows_for returned {len(items)} items for {len(indexes)}")
            for index, item in zip(indexes, items, strict=True):
                if isinstance(item, Dead):
                    out[index] = item
                    continue
                for table_row in _table_rows(item):
                    if table_row.table not in known:
                        raise ValueError(f"row for unknown table {table_row.table!r}")
                    entry = _Pending(index, key, records[index].offset, table_row.row)
                    pending.setdefault(table_row.table, []).append(entry)
        return pending

    def _reject_unconvertible(
        self, pending: dict[str, list[_Pending]], records: Sequence[Record], out: list[Outcome]
    ) -> None:
        """Records with a row some table rejects become dead before any write."""
        for table in self._tables:
            for entry, problem in _rejected(table, pending.get(table.name, [])):
                if not _is_dead(out[entry.at]):
                    _log_rejected(table.name, records[entry.at], problem)
                    out[entry.at] = Dead(f"row rejected by {table.name}: {problem}")

    def _watermarks_of(self, key: TopicPartitionKey) -> dict[str, int]:
        watermarks = self._watermarks.get(key)
        if watermarks is None:
            self.ensure_tables()
            watermarks = {}
            for table in self._tables:
                version = table.sink.committed_version(self.app_id(key))
                watermarks[table.name] = -1 if version is None else version
            self._watermarks[key] = watermarks
        return watermarks

    def _write_table(
        self,
        table: Table,
        entries: list[_Pending],
        watermarks: dict[TopicPartitionKey, dict[str, int]],
        last: dict[TopicPartitionKey, int],
        out: list[Outcome],
    ) -> None:
        """Commit the table's fresh rows; then its watermarks move to the batch's offsets."""
        behind = {key for key, marks in watermarks.items() if last[key] > marks[table.name]}
        fresh = [
            entry
            for entry in entries
            if entry.partition in behind
            and entry.offset > watermarks[entry.partition][table.name]
            and not _is_dead(out[entry.at])
        ]
        transactions = {self.app_id(key): last[key] for key in behind}
        if self._write(table, fresh, transactions, out):
            for key in behind:
                watermarks[key][table.name] = last[key]

    def _write(
        self,
        table: Table,
        entries: list[_Pending],
        transactions: dict[str, int],
        out: list[Outcome],
    ) -> bool:
        """Commit the entries' rows; True once committed (or found committed already)."""
        while entries:
            try:
                table.sink.write(table.operation, [e.row for e in entries], transactions)
                return True
            except DeltaWriteError as exc:
                if exc.category is not Category.PERMANENT or not exc.rows:
                    raise
                kept = _drop_rejected(table, entries, exc, out)
                if len(kept) == len(entries):
                    raise  # names no row of this write: not a row problem
                entries = kept
        return False


def _table_rows(item: RecordRows) -> Sequence[TableRow]:
    if item is None:
        return ()
    if isinstance(item, TableRow):
        return (item,)
    assert not isinstance(item, Dead)
    return item


def _is_dead(outcome: Outcome) -> bool:
    return isinstance(outcome, Dead)


def _retry_category(exc: DeltaWriteError) -> Category:
    return Category.AUTH if exc.category is Category.AUTH else Category.TRANSIENT


def _rejected(table: Table, entries: list[_Pending]) -> list[tuple[_Pending, str]]:
    """Entries whose row does not convert to the table's schema, with the reason. (When no
    row is at fault on its own, the whole batch is, and the write reports it.)"""
    if not entries:
        return []
    spec = table.sink.spec
    required = spec.merge_keys if table.operation == "merge" else ()
    problems = rejected_rows(spec, [entry.row for entry in entries], required)
    return [(entries[i], problem) for i, problem in sorted(problems.items())]


def _log_rejected(table: str, record: Record, problem: str) -> None:
    log.error(
        "row rejected by the table: message dead-lettered",
        extra={
            "table": table,
            "error": problem,
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": record.key.decode(errors="replace") if record.key else None,
        },
    )


def _drop_rejected(
    table: Table, entries: list[_Pending], exc: DeltaWriteError, out: list[Outcome]
) -> list[_Pending]:
    bad = set(exc.rows)
    for position in bad:
        if position < len(entries):
            out[entries[position].at] = Dead(f"row rejected by {table.name}: {exc.message}")
    return [entry for position, entry in enumerate(entries) if position not in bad]
