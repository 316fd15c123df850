"""ExactlyOnceWriter: skipping what the table already holds, and rejected rows."""

from __future__ import annotations

from vpipe_core.delta.errors import permanent
from vpipe_core.delta.exactly_once import ExactlyOnceWriter
from vpipe_core.outcome import Dead, Done
from vpipe_core.record import Record


class FakeSink:
    """Speaks the DeltaSink interface the writer uses; rejects rows whose value is 'bad'."""

    def __init__(self) -> None:
        self.appends: list[tuple[list[dict], str, int]] = []

    def append(self, rows, app_id, version):
        bad = tuple(i for i, row in enumerate(rows) if row["v"] == "bad")
        if bad:
            raise permanent("value does not fit", bad)
        self.appends.append((rows, app_id, version))

    def ensure_table(self): ...

    def committed_version(self, app_id):
        return 1  # offsets 0 and 1 were written before a crash

    def close(self): ...


def records(*values: str) -> list[Record]:
    return [Record("in", 0, offset, None, value.encode()) for offset, value in enumerate(values)]


def writer(sink: FakeSink) -> ExactlyOnceWriter:
    return ExactlyOnceWriter(sink, "w", lambda r: {"v": r.value.decode()}, batch_size=10)


def test_a_rejected_row_is_dead_alone_and_the_rest_is_written_now():
    sink = FakeSink()
    outcomes = writer(sink).handle_batch(records("a", "bad", "c"))
    assert [type(o) for o in outcomes] == [Done, Dead, Done]
    assert sink.appends == [([{"v": "a"}, {"v": "c"}], "w-in-0", 2)]


def test_records_already_in_the_table_are_skipped():
    sink = FakeSink()
    loaded = writer(sink)

    class Assigned:
        topic, partition = "in", 0

    loaded.on_assign([Assigned()])
    outcomes = loaded.handle_batch(records("a", "b", "c"))
    assert all(isinstance(o, Done) for o in outcomes)
    assert sink.appends == [([{"v": "c"}], "w-in-0", 2)], "offsets 0 and 1 are not written again"
