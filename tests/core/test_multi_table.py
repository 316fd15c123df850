"""Entity merge rules (vpipe_core.delta.merge) on real Delta tables, and MultiTableWriter:
records with rows for several tables, one commit per table per batch, exactly once per table."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from vpipe_core.delta import Column, DeltaProcess, DeltaSink, DeltaWriteError, TableSpec
from vpipe_core.delta.convert import coalesce_rows, prepare
from vpipe_core.delta.errors import transient
from vpipe_core.delta.merge import merge_plan
from vpipe_core.delta.multi_table import MultiTableWriter, Table, TableRow
from vpipe_core.delta.writers import WritesDisabled
from vpipe_core.outcome import Category, Dead, Done, Retry
from vpipe_core.record import Record

T0 = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
PROJECTS = TableSpec(
    name="projects",
    columns=(
        Column("project_id", "string"),
        Column("status", "string"),
        Column("city", "string"),
        Column("invited_at", "timestamp"),
        Column("fetched_at", "timestamp"),
        Column("event_id", "string"),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp"),
    ),
    merge_keys=("project_id",),
    order_column="fetched_at",
    keep_on_update=("created_at",),
    partial_rows=True,
    keep_existing=("invited_at",),
    bookkeeping=("event_id", "updated_at"),
)
TEMPLATES = TableSpec(
    name="templates",
    columns=(
        Column("task_id", "long"),
        Column("name", "string"),
        Column("modified_date", "string"),
        Column("created_at", "timestamp"),
    ),
    merge_keys=("task_id",),
    keep_on_update=("created_at",),
    partial_rows=True,
    update_if_changed="modified_date",
)
EVENTS = TableSpec(
    name="events",
    columns=(Column("event_id", "string"), Column("note", "string"), Column("day", "date")),
    partition_by=("day",),
    merge_keys=("event_id", "day"),
    insert_only=True,
)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def project(pid: str = "p1", minute: int = 1, **values: Any) -> dict[str, Any]:
    row = {
        "project_id": pid,
        "status": "Active",
        "city": "Boise",
        "fetched_at": at(minute),
        "event_id": f"e{minute}",
        "created_at": at(minute),
        "updated_at": at(minute),
    }
    return row | values


@pytest.fixture(scope="module")
def process() -> Iterator[DeltaProcess]:
    shared = DeltaProcess()
    yield shared
    shared.close()


@pytest.fixture(params=["arrow", "rows"])
def sink_for(request: pytest.FixtureRequest, tmp_path: Path, process: DeltaProcess):
    def make(spec: TableSpec) -> DeltaSink:
        uri = str(tmp_path / spec.name)
        return DeltaSink(uri, spec, timeout_s=60, process=process, wire=request.param)

    return make


class Merger:
    """Merges batches into one table with increasing versions; reads rows back by key."""

    def __init__(self, sink: DeltaSink) -> None:
        self.sink, self.version = sink, 0

    def __call__(self, *rows: dict[str, Any]) -> None:
        self.sink.merge(list(rows), "app", self.version)
        self.version += 1

    def rows(self) -> dict[Any, dict[str, Any]]:
        key = self.sink.spec.merge_keys[0]
        table = DeltaTable(self.sink.table_uri).to_pyarrow_table().to_pylist()
        return {row[key]: row for row in table}

    def commits(self) -> int:
        return DeltaTable(self.sink.table_uri).version()


@pytest.fixture
def projects(sink_for) -> Merger:
    return Merger(sink_for(PROJECTS))


# -- merge rules on real tables -----------------------------------------------------------------


def test_rows_of_one_key_in_a_batch_are_coalesced_later_non_null_values_win(projects):
    projects(project(status="Active", city="Boise"), project(status="Closed", city=None))
    row = projects.rows()["p1"]
    assert (row["status"], row["city"]) == ("Closed", "Boise")


def test_a_matched_row_updates_only_the_columns_the_batch_carries(projects):
    projects(project())
    projects({"project_id": "p1", "status": "Closed", "fetched_at": at(2)})
    row = projects.rows()["p1"]
    assert (row["status"], row["city"], row["event_id"]) == ("Closed", "Boise", "e1")


def test_a_column_some_rows_carry_is_masked_per_row(projects):
    projects(project("p1"), project("p2"))
    # p1 carries city (as null: the API dropped it), p2 does not carry it
    projects(project("p1", 2, city=None), {"project_id": "p2", "status": "X", "fetched_at": at(2)})
    rows = projects.rows()
    assert rows["p1"]["city"] is None, "a carried null blanks (full row)"
    assert rows["p2"]["city"] == "Boise" and rows["p2"]["status"] == "X"


def test_a_late_older_row_never_overwrites_a_newer_one(projects):
    projects(project(minute=5, status="Closed"))
    projects(project(minute=3, status="Reopened-stale", city="Stale"))
    row = projects.rows()["p1"]
    assert (row["status"], row["city"], row["fetched_at"]) == ("Closed", "Boise", at(5))


def test_a_late_older_row_in_the_same_batch_only_fills_gaps(projects):
    projects(project(minute=5, city=None), project(minute=3, status="stale", city="Boise"))
    row = projects.rows()["p1"]
    assert (row["status"], row["city"], row["fetched_at"]) == ("Active", "Boise", at(5))


def test_a_row_without_an_order_value_applies_its_columns(projects):
    projects(project(minute=5))
    projects({"project_id": "p1", "status": "Flagged", "event_id": "e9"})
    assert projects.rows()["p1"]["status"] == "Flagged"


def test_keep_existing_columns_are_never_blanked_nor_replaced(projects):
    projects(project(minute=1))
    projects({"project_id": "p1", "invited_at": at(2), "event_id": "inv"})
    projects(project(minute=5, invited_at=None, status="Closed"))  # later full row
    projects({"project_id": "p1", "invited_at": at(7)})  # invited again
    row = projects.rows()["p1"]
    assert (row["invited_at"], row["status"]) == (at(2), "Closed")


def test_created_at_is_kept_and_bookkeeping_follows_real_changes(projects):
    projects(project(minute=1))
    projects(project(minute=2, status="Closed"))
    row = projects.rows()["p1"]
    assert (row["created_at"], row["updated_at"], row["event_id"]) == (at(1), at(2), "e2")


def test_a_replayed_batch_changes_nothing_and_commits_nothing(projects):
    batch = (project("p1"), project("p2", invited_at=at(3)))
    projects(*batch)
    before, commits = projects.rows(), projects.commits()
    projects(*batch)  # same rows, a new version (new Kafka offsets)
    projects(*(row | {"event_id": "other", "updated_at": at(30)} for row in batch))
    assert projects.rows() == before
    assert projects.commits() == commits, "a merge that changes nothing makes no commit"


def test_update_if_changed_updates_only_when_the_column_differs_or_is_null(sink_for):
    templates = Merger(sink_for(TEMPLATES))
    templates({"task_id": 7, "name": "first", "modified_date": None, "created_at": at(0)})
    templates({"task_id": 7, "name": "second", "modified_date": "2025-12-09T16:45:00Z"})
    assert templates.rows()[7]["name"] == "second", "target null: updated"
    templates({"task_id": 7, "name": "third", "modified_date": "2025-12-09T16:45:00Z"})
    assert templates.rows()[7]["name"] == "second", "same modified_date: not updated"
    templates({"task_id": 7, "name": "fourth", "modified_date": "2026-01-01T00:00:00Z"})
    assert templates.rows()[7]["name"] == "fourth"


def test_insert_only_tables_add_new_keys_and_never_touch_stored_rows(sink_for):
    events = Merger(sink_for(EVENTS))
    day = T0.date()
    events(
        {"event_id": "a", "note": "first", "day": day}, {"event_id": "a", "note": "dup", "day": day}
    )
    events({"event_id": "a", "note": "replayed", "day": day}, {"event_id": "b", "day": day})
    rows = DeltaTable(events.sink.table_uri).to_pyarrow_table().to_pylist()
    assert sorted((r["event_id"], r["note"]) for r in rows) == [("a", "dup"), ("b", None)]


def test_a_missing_table_is_created_from_the_declaration_and_an_older_one_gains_columns(
    tmp_path: Path, process: DeltaProcess
) -> None:
    uri = str(tmp_path / "older")
    write_deltalake(uri, pa.table({"project_id": ["p0"], "status": ["x"]}))
    sink = DeltaSink(uri, PROJECTS, timeout_s=60, process=process)
    sink.ensure_table()
    assert DeltaTable(uri).schema().to_arrow().names == [
        "project_id",
        "status",
        *[c.name for c in PROJECTS.columns[2:]],
    ]
    Merger(sink)(project("p1"))
    assert {row["project_id"] for row in DeltaTable(uri).to_pyarrow_table().to_pylist()} == {
        "p0",
        "p1",
    }


def test_a_value_that_does_not_cast_to_an_older_tables_type_names_its_row(
    tmp_path: Path, process: DeltaProcess
) -> None:
    uri = str(tmp_path / "typed")
    write_deltalake(uri, pa.table({"task_id": [1], "name": ["x"], "modified_date": [5]}))
    sink = DeltaSink(uri, TEMPLATES, timeout_s=60, process=process)
    assert sink.ensure_table() == {"modified_date": pa.int64()}
    rows = [
        {"task_id": 2, "name": "ok", "modified_date": "17"},
        {"task_id": 3, "name": "bad", "modified_date": "December"},
    ]
    with pytest.raises(DeltaWriteError) as caught:
        sink.merge(rows, "app", 1)
    assert caught.value.category == Category.PERMANENT and caught.value.rows == (1,)
    assert "modified_date" in caught.value.message
    sink.merge(rows[:1], "app", 1)
    stored = {
        r["task_id"]: r["modified_date"] for r in DeltaTable(uri).to_pyarrow_table().to_pylist()
    }
    assert stored == {1: 5, 2: 17}


# -- the plan and the masks, without Delta --------------------------------------------------------


def test_the_plan_leaves_columns_no_row_carries_untouched():
    carried = {c: c in ("project_id", "status") for c in PROJECTS.column_names}
    plan = merge_plan(PROJECTS, carried)
    assert set(plan.updates) == {"status"}
    assert "created_at" in plan.inserts and "created_at" not in plan.updates


def test_only_bookkeeping_carried_means_no_update_clause():
    carried = {c: c in ("project_id", "event_id", "updated_at") for c in PROJECTS.column_names}
    assert merge_plan(PROJECTS, carried).updates == {}


def test_masks_mark_columns_some_rows_carry():
    table = prepare(PROJECTS, [project("p1"), {"project_id": "p2", "status": "x"}], True)
    assert "__carried__status" not in table.column_names, "carried by every row"
    assert table.column("__carried__city").to_pylist() == [True, False]
    assert table.column("__carried__invited_at").to_pylist() == [False, False]


def test_coalescing_keeps_the_first_non_null_of_keep_existing_columns():
    [(values, carried)] = coalesce_rows(
        PROJECTS,
        [{"project_id": "p", "invited_at": at(1)}, {"project_id": "p", "invited_at": at(2)}],
    )
    assert values["invited_at"] == at(1) and carried == {"project_id", "invited_at"}


# -- MultiTableWriter ---------------------------------------------------------------------------

A, B = "projects", "templates"
TOPIC = "entities"


PAYLOADS: dict[bytes, Any] = {}


def record(partition: int, offset: int, payload: dict[str, Any] | str) -> Record:
    """A record whose value names its payload: {table: [rows]}, or "dead"."""
    value = f"{partition}:{offset}:{len(PAYLOADS)}".encode()
    PAYLOADS[value] = payload
    return Record(TOPIC, partition, offset, f"k{offset}".encode(), value)


def rows_of(records: Sequence[Record]) -> list[Any]:
    items: list[Any] = []
    for rec in records:
        payload = PAYLOADS[rec.value or b""]
        if payload == "dead":
            items.append(Dead("invalid"))
        else:
            items.append([TableRow(t, row) for t, rows in payload.items() for row in rows])
    return items


def tp(topic: str, partition: int) -> Any:
    class TopicPartition:
        pass

    found = TopicPartition()
    found.topic, found.partition = topic, partition  # type: ignore[attr-defined]
    return found


def writer_for(tmp_path: Path, process: DeltaProcess, worker: str = "w") -> MultiTableWriter:
    tables = [
        Table(A, DeltaSink(str(tmp_path / A), PROJECTS, timeout_s=60, process=process)),
        Table(B, DeltaSink(str(tmp_path / B), TEMPLATES, timeout_s=60, process=process)),
    ]
    return MultiTableWriter(tables, worker, rows_of, 500, 5.0)


def template(task_id: int) -> dict[str, Any]:
    return {"task_id": task_id, "name": f"t{task_id}", "modified_date": "d", "created_at": T0}


def test_one_commit_per_table_per_batch_carrying_every_partition(tmp_path, process):
    writer = writer_for(tmp_path, process)
    batch = [
        record(0, 4, {A: [project("p1")], B: [template(1)]}),
        record(1, 9, {A: [project("p2")]}),
        record(0, 5, {B: [template(2)]}),
    ]
    assert writer.handle_batch(batch) == [Done(())] * 3
    for name in (A, B):
        table = DeltaTable(str(tmp_path / name))
        assert table.version() == 1, "created, then one commit"
        assert table.transaction_version("w-entities-0") == 5
        assert table.transaction_version("w-entities-1") == 9


def test_a_record_with_a_rejected_row_is_dead_as_a_whole_and_the_rest_is_written(
    tmp_path, process, caplog
):
    writer = writer_for(tmp_path, process)
    batch = [
        record(0, 0, {A: [project("p1")], B: [template(1)]}),
        record(0, 1, {A: [project("p2")], B: [template(2) | {"colour": "red"}]}),
        record(0, 2, "dead"),
    ]
    with caplog.at_level(logging.ERROR, logger="vpipe.delta"):
        outcomes = writer.handle_batch(batch)
    assert isinstance(outcomes[0], Done) and isinstance(outcomes[2], Dead)
    dead = outcomes[1]
    assert isinstance(dead, Dead) and "templates" in dead.error and "colour" in dead.error
    [logged] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.table == "templates" and "colour" in logged.error  # type: ignore[attr-defined]
    assert {
        r["project_id"] for r in DeltaTable(str(tmp_path / A)).to_pyarrow_table().to_pylist()
    } == {"p1"}, "the dead record's row of the other table is not written either"
    assert len(DeltaTable(str(tmp_path / B)).to_pyarrow_table()) == 1


class FailingOnce:
    """A sink whose next write fails transiently (a storage failure, or a crash)."""

    def __init__(self, sink: DeltaSink) -> None:
        self.sink, self.spec, self.fail = sink, sink.spec, True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sink, name)

    def write(self, operation, rows, transactions):
        if self.fail:
            self.fail = False
            raise transient("storage unavailable")
        return self.sink.write(operation, rows, transactions)


def test_a_crash_between_two_table_commits_loses_and_duplicates_nothing(tmp_path, process):
    batch = [
        record(0, 0, {A: [project("p1")], B: [template(1)]}),
        record(0, 1, {A: [project("p2")], B: [template(2)]}),
    ]
    first = writer_for(tmp_path, process)
    sink_b = first._tables[1].sink
    first._tables = (first._tables[0], Table(B, FailingOnce(sink_b)))  # type: ignore[arg-type]
    outcomes = first.handle_batch(batch)
    assert all(isinstance(o, Retry) for o in outcomes), "nothing committed to Kafka"
    assert (
        DeltaTable(str(tmp_path / A)).version() == 1
        and DeltaTable(str(tmp_path / B)).version() == 0
    )

    # a new process (fresh watermarks from the logs) gets the redelivered batch
    again = writer_for(tmp_path, process)
    assert again.handle_batch(batch) == [Done(())] * 2
    assert DeltaTable(str(tmp_path / A)).version() == 1, "projects were not merged again"
    assert len(DeltaTable(str(tmp_path / B)).to_pyarrow_table()) == 2
    again.on_revoke([tp(TOPIC, 0)])
    assert again.handle_batch(batch) == [Done(())] * 2  # and once more: skipped everywhere
    assert DeltaTable(str(tmp_path / B)).version() == 1


def test_writes_disabled_acknowledges_every_record_without_writing(caplog):
    with caplog.at_level(logging.WARNING, logger="vpipe.delta"):
        handler = WritesDisabled("some-writer", 10, 1.0)
    assert "WITHOUT writing" in caplog.text
    assert handler.handle_batch([record(0, 0, {}), record(0, 1, {})]) == [Done(())] * 2
