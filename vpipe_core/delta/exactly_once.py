"""An exactly-once Delta batch writer (docs/ARCHITECTURE.md, "Exactly once into Delta").

Per partition, the batch's rows are written in one Delta commit carrying the application
transaction `<worker>-<topic>-<partition>` with version = the partition's last offset in the
batch. On a partition's first batch after its assignment, before anything of it is written, the
recorded version is read, and records at or below it are acknowledged without writing: after a
crash between the Delta commit and the Kafka commit, the redelivered records (even when the new
batch starts inside the old one) never become duplicate rows. (Read then, not on assignment, so
an assignment does not start the Delta process of an idle writer.) Those records are still
converted: the ones that were dead are dead again, since the commit that moved the recorded
version past them may have been the last thing the process did before its dead letters were sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vpipe_core.delta.convert import rejected_rows
from vpipe_core.delta.errors import DeltaWriteError
from vpipe_core.delta.isolate import each_or_dead
from vpipe_core.delta.sink import DeltaSink
from vpipe_core.outcome import Category, Dead, Done, Outcome, Retry
from vpipe_core.record import Record

RowOrDead = dict[str, Any] | Dead
TopicPartitionKey = tuple[str, int]
NOTHING = Done(())


class ExactlyOnceWriter:
    """`to_row(record)` returns a row, `None` (nothing to write, e.g. an in-batch duplicate), or
    `Dead` (the record cannot become a row); a record it raises on is dead alone."""

    def __init__(
        self,
        sink: DeltaSink,
        worker: str,
        to_row: Callable[[Record], RowOrDead | None],
        batch_size: int,
        batch_max_wait_s: float = 10.0,
    ) -> None:
        self._sink = sink
        self._worker = worker
        self._to_row = to_row
        self.batch_size = batch_size
        self.batch_max_wait_s = batch_max_wait_s
        self._ensured = False
        self._written: dict[TopicPartitionKey, int] = {}  # the partition's recorded version

    def app_id(self, key: TopicPartitionKey) -> str:
        return f"{self._worker}-{key[0]}-{key[1]}"

    def ensure_tables(self) -> None:
        """Create the table if missing and add declared columns (additive) now, e.g. at
        startup; otherwise this happens before the first write."""
        if not self._ensured:
            self._sink.ensure_table()
            self._ensured = True

    def stop_delta_processes(self) -> None:
        """Stop the Delta process now (e.g. once the table is prepared); the next Delta call
        starts it again."""
        self._sink.process.stop()

    def on_assign(self, partitions: Sequence[Any]) -> None:
        for tp in partitions:  # read again on first use: another member may have written
            self._written.pop((tp.topic, tp.partition), None)

    def on_revoke(self, partitions: Sequence[Any]) -> None:
        for tp in partitions:
            self._written.pop((tp.topic, tp.partition), None)

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        outcomes: list[Outcome] = [NOTHING] * len(records)
        groups: dict[TopicPartitionKey, list[int]] = {}
        for index, record in enumerate(records):
            groups.setdefault((record.topic, record.partition), []).append(index)
        for key, indexes in groups.items():
            try:
                written = self._recorded_version(key)
            except DeltaWriteError as exc:
                self._failed(exc, [], indexes, outcomes)
                continue
            # Records at or below the recorded version are in the table (written before a crash).
            fresh = [i for i in indexes if records[i].offset > written]
            replayed = [i for i in indexes if records[i].offset <= written]
            self._dead_again(replayed, records, outcomes)
            if fresh:
                self._write_partition(key, [records[i] for i in fresh], fresh, outcomes)
        return outcomes

    def _dead_again(
        self, replayed: list[int], records: Sequence[Record], outcomes: list[Outcome]
    ) -> None:
        """Dead-letter again the replayed records that were dead when their batch was committed:
        their dead letters may have been lost with a crash right after the Delta commit."""
        if not replayed:
            return
        converted = each_or_dead(self._to_row, [records[i] for i in replayed])
        rows = [(i, row) for i, row in zip(replayed, converted, strict=True) if row is not None]
        for index, row in rows:
            if isinstance(row, Dead):
                outcomes[index] = row
        written = [(i, row) for i, row in rows if not isinstance(row, Dead)]
        problems = rejected_rows(self._sink.spec, [row for _, row in written])
        for position, problem in problems.items():
            outcomes[written[position][0]] = Dead(f"row rejected by the table: {problem}")

    def _recorded_version(self, key: TopicPartitionKey) -> int:
        """The partition's last offset in the table (-1: none), read on its first batch."""
        written = self._written.get(key)
        if written is None:
            self.ensure_tables()
            version = self._sink.committed_version(self.app_id(key))
            written = self._written[key] = -1 if version is None else version
        return written

    def _write_partition(
        self,
        key: TopicPartitionKey,
        records: list[Record],
        indexes: list[int],
        outcomes: list[Outcome],
    ) -> None:
        rows, row_indexes = [], []
        converted = each_or_dead(self._to_row, records)
        for index, row in zip(indexes, converted, strict=True):
            if isinstance(row, Dead):
                outcomes[index] = row
            elif row is not None:
                rows.append(row)
                row_indexes.append(index)
        version = records[-1].offset
        try:
            self._sink.append(rows, self.app_id(key), version)
        except DeltaWriteError as exc:
            if exc.category is not Category.PERMANENT or not exc.rows:
                self._failed(exc, row_indexes, indexes, outcomes)
                return
            # Dead-letter the rejected rows and write the rest now: retrying them in place
            # would rewind past the rejected record and fail the same batch forever.
            rejected = set(exc.rows)
            for position in rejected:
                if position < len(row_indexes):
                    outcomes[row_indexes[position]] = Dead(
                        f"row rejected by the table: {exc.message}"
                    )
            kept = [i for i in range(len(rows)) if i not in rejected]
            try:
                self._sink.append([rows[i] for i in kept], self.app_id(key), version)
            except DeltaWriteError as again:
                self._failed(again, [row_indexes[i] for i in kept], indexes, outcomes)
                return
        self._written[key] = version

    @staticmethod
    def _failed(
        exc: DeltaWriteError, row_indexes: list[int], indexes: list[int], outcomes: list[Outcome]
    ) -> None:
        bad = {row_indexes[i] for i in exc.rows if i < len(row_indexes)}
        for index in indexes:
            if index in bad:
                outcomes[index] = Dead(f"row rejected by the table: {exc.message}")
            elif not isinstance(outcomes[index], Dead):
                outcomes[index] = Retry(f"delta write failed: {exc.message}", Category.TRANSIENT)

    def close(self) -> None:
        self._sink.close()
