"""MultiTableWriter with one appended table: skipping what the table already holds, and
rejected rows."""

from __future__ import annotations

from vpipe_core.delta.errors import permanent, transient
from vpipe_core.delta.multi_table import MultiTableWriter, Table, rows_each
from vpipe_core.delta.schema import Column, TableSpec
from vpipe_core.outcome import Dead, Done, Retry
from vpipe_core.record import Record


class FakeSink:
    """Speaks the DeltaSink interface the writer uses; rejects rows whose value is 'bad'.
    `recorded`: the version the table holds (None: none), or the error reading it raises."""

    spec = TableSpec("t", (Column("v", "string"),))

    def __init__(self, recorded: int | Exception | None = None) -> None:
        self.appends: list[tuple[list[dict], str, int]] = []
        self.recorded = recorded
        self.version_reads = 0

    def write(self, operation, rows, transactions):
        assert operation == "append"
        bad = tuple(i for i, row in enumerate(rows) if row["v"] == "bad")
        if bad:
            raise permanent("value does not fit", bad)
        [(app_id, version)] = transactions.items()
        self.appends.append((rows, app_id, version))

    def ensure_table(self): ...

    def committed_version(self, app_id):
        self.version_reads += 1
        if isinstance(self.recorded, Exception):
            raise self.recorded
        return self.recorded

    def close(self): ...


def records(*values: str) -> list[Record]:
    return [Record("in", 0, offset, None, value.encode()) for offset, value in enumerate(values)]


def writer(sink: FakeSink) -> MultiTableWriter:
    table = Table("t", sink, "append")  # type: ignore[arg-type]
    return MultiTableWriter([table], "w", value_rows, batch_size=10, batch_max_wait_s=1.0)


def value_rows(batch: list[Record]) -> list:
    return rows_each("t", lambda r: {"v": r.value.decode()}, batch)


def test_a_rejected_row_is_dead_alone_and_the_rest_is_written_now():
    sink = FakeSink()
    outcomes = writer(sink).handle_batch(records("a", "bad", "c"))
    assert [type(o) for o in outcomes] == [Done, Dead, Done]
    assert sink.appends == [([{"v": "a"}, {"v": "c"}], "w-in-0", 2)]


class Assigned:
    topic, partition = "in", 0


def test_records_already_in_the_table_are_skipped():
    sink = FakeSink(recorded=1)  # offsets 0 and 1 were written before a crash
    loaded = writer(sink)
    loaded.on_assign([Assigned()])
    outcomes = loaded.handle_batch(records("a", "b", "c"))
    assert all(isinstance(o, Done) for o in outcomes)
    assert sink.appends == [([{"v": "c"}], "w-in-0", 2)], "offsets 0 and 1 are not written again"


def test_the_recorded_version_is_read_on_the_first_batch_not_on_assignment():
    sink = FakeSink(recorded=1)
    loaded = writer(sink)
    loaded.on_assign([Assigned()])
    assert sink.version_reads == 0, "an assignment alone needs no Delta process"
    loaded.handle_batch(records("a", "b", "c"))
    loaded.handle_batch(records("a", "b", "c", "d"))
    assert sink.version_reads == 1
    assert sink.appends[-1] == ([{"v": "d"}], "w-in-0", 3)
    loaded.on_assign([Assigned()])  # reassigned: another member may have written meanwhile
    loaded.handle_batch(records("a", "b", "c", "d", "e"))
    assert sink.version_reads == 2


def test_a_failed_read_of_the_recorded_version_retries_the_partition_and_writes_nothing():
    sink = FakeSink(recorded=transient("storage unreachable"))
    loaded = writer(sink)
    outcomes = loaded.handle_batch(records("a", "b"))
    assert all(isinstance(o, Retry) for o in outcomes)
    assert sink.appends == []
    sink.recorded = 0
    assert all(isinstance(o, Done) for o in loaded.handle_batch(records("a", "b")))
    assert sink.appends == [([{"v": "b"}], "w-in-0", 1)]
