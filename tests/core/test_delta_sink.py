"""Delta sinks against real Delta tables on disk (delta-rs in the Delta worker process).

The exactly-once proof: a batch committed with (app_id, version) and offered again, as after a
crash between the Delta commit and the Kafka commit, is skipped and adds no rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from vpipe_core.delta import (
    Column,
    DeltaProcess,
    DeltaSink,
    DeltaWriteError,
    DeltaWriteTimeout,
    TableSpec,
    WriteStatus,
    arrow_schema,
)
from vpipe_core.outcome import Category

EVENTS = TableSpec(
    name="events",
    columns=(
        Column("event_id", "string"),
        Column("count", "long"),
        Column("score", "double"),
        Column("ok", "boolean"),
        Column("ingested_at", "timestamp"),
        Column("event_date", "date"),
    ),
    partition_by=("event_date",),
)
ENTITIES = TableSpec(
    name="entities",
    columns=(
        Column("entity_id", "string"),
        Column("status", "string"),
        Column("updated_at", "timestamp"),
        Column("created_at", "timestamp"),
    ),
    merge_keys=("entity_id",),
    order_column="updated_at",
    keep_on_update=("created_at",),
)
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
APP = "xact-delta-writer-xact.events.raw-0"


@pytest.fixture(scope="module")
def process() -> Iterator[DeltaProcess]:
    """One worker process for the module, as a worker shares one between its sinks."""
    shared = DeltaProcess()
    yield shared
    shared.close()


@pytest.fixture(params=["arrow", "rows"])
def events(request: pytest.FixtureRequest, tmp_path: Path, process: DeltaProcess) -> DeltaSink:
    return DeltaSink(
        str(tmp_path / "events"), EVENTS, timeout_s=60, process=process, wire=request.param
    )


@pytest.fixture(params=["arrow", "rows"])
def entities(request: pytest.FixtureRequest, tmp_path: Path, process: DeltaProcess) -> DeltaSink:
    return DeltaSink(
        str(tmp_path / "entities"), ENTITIES, timeout_s=60, process=process, wire=request.param
    )


def event(n: int, **values: Any) -> dict[str, Any]:
    row = {
        "event_id": f"e{n}",
        "count": n,
        "score": n / 2,
        "ok": n % 2 == 0,
        "ingested_at": T0 + timedelta(minutes=n),
        "event_date": (T0 + timedelta(days=n)).date(),
    }
    return row | values


def entity(entity_id: str, status: str, minutes: int | None) -> dict[str, Any]:
    updated = None if minutes is None else T0 + timedelta(minutes=minutes)
    return {"entity_id": entity_id, "status": status, "updated_at": updated, "created_at": updated}


def read(sink: DeltaSink) -> list[dict[str, Any]]:
    rows = DeltaTable(sink.table_uri).to_pyarrow_table().to_pylist()
    return sorted(rows, key=lambda row: str(row[sink.spec.column_names[0]]))


def delta_types(uri: str) -> dict[str, str]:
    return {f.name: getattr(f.type, "type", str(f.type)) for f in DeltaTable(uri).schema().fields}


DECLARED_EVENT_TYPES = {
    "event_id": "string",
    "count": "long",
    "score": "double",
    "ok": "boolean",
    "ingested_at": "timestamp",
    "event_date": "date",
}


def test_ensure_table_creates_the_declared_schema_and_partitioning(events: DeltaSink) -> None:
    events.ensure_table()
    events.ensure_table()  # idempotent
    table = DeltaTable(events.table_uri)
    assert delta_types(events.table_uri) == DECLARED_EVENT_TYPES
    assert table.metadata().partition_columns == ["event_date"]
    assert table.to_pyarrow_table().num_rows == 0


def test_an_all_null_first_batch_keeps_the_declared_types(events: DeltaSink) -> None:
    nulls = {name: None for name in EVENTS.column_names}
    status = events.append([nulls | {"event_id": "a"}, nulls | {"event_id": "b"}], APP, 1)
    assert status == WriteStatus.WRITTEN
    assert delta_types(events.table_uri) == DECLARED_EVENT_TYPES
    schema = DeltaTable(events.table_uri).to_pyarrow_table().schema
    assert schema.field("ingested_at").type == pa.timestamp("us", tz="UTC")


def test_append_records_the_application_transaction(events: DeltaSink) -> None:
    assert events.committed_version(APP) is None, "no table yet"
    events.ensure_table()
    assert events.committed_version(APP) is None
    assert events.append([event(1), event(2)], APP, 41) == WriteStatus.WRITTEN
    assert events.committed_version(APP) == 41
    assert events.append([event(3)], APP, 42) == WriteStatus.WRITTEN
    assert events.committed_version(APP) == 42
    assert [row["event_id"] for row in read(events)] == ["e1", "e2", "e3"]
    assert read(events)[0] == event(1)


def test_a_replayed_batch_is_skipped_exactly_once(events: DeltaSink) -> None:
    batch = [event(n) for n in range(5)]
    assert events.append(batch, APP, 104) == WriteStatus.WRITTEN
    # The worker died after the Delta commit, before the Kafka commit: the batch comes again.
    assert events.append(batch, APP, 104) == WriteStatus.SKIPPED
    assert events.append(batch[:3], APP, 102) == WriteStatus.SKIPPED, "an older offset too"
    assert len(read(events)) == 5
    assert DeltaTable(events.table_uri).version() == 1, "create + one append, no other commit"


def test_app_ids_of_different_partitions_are_independent(events: DeltaSink) -> None:
    partition_0, partition_1 = f"{APP[:-2]}-0", f"{APP[:-2]}-1"
    assert events.append([event(1)], partition_0, 500) == WriteStatus.WRITTEN
    assert events.append([event(2)], partition_1, 7) == WriteStatus.WRITTEN
    assert events.append([event(3)], partition_1, 8) == WriteStatus.WRITTEN
    assert events.committed_version(partition_0) == 500
    assert events.committed_version(partition_1) == 8
    assert len(read(events)) == 3


def test_an_empty_batch_commits_nothing(events: DeltaSink) -> None:
    assert events.append([], APP, 3) == WriteStatus.EMPTY
    assert events.committed_version(APP) is None


def test_merge_upserts_by_key(entities: DeltaSink) -> None:
    entities.merge([entity("a", "new", 1), entity("b", "new", 1)], "app", 1)
    assert entities.merge([entity("a", "closed", 2), entity("c", "new", 2)], "app", 2) == "written"
    assert [(r["entity_id"], r["status"]) for r in read(entities)] == [
        ("a", "closed"),
        ("b", "new"),
        ("c", "new"),
    ]
    assert entities.committed_version("app") == 2
    assert read(entities)[0]["created_at"] == T0 + timedelta(minutes=1), "kept on update"
    assert entities.merge([entity("a", "reopened", 9)], "app", 2) == WriteStatus.SKIPPED
    assert read(entities)[0]["status"] == "closed"


def test_a_late_older_row_never_overwrites_a_newer_one(entities: DeltaSink) -> None:
    entities.merge(
        [entity("a", "v10", 10), entity("b", "v10", 10), entity("n", "unset", None)], "app", 1
    )
    late = [entity("a", "v5", 5), entity("b", "v10-again", 10), entity("n", "v1", 1)]
    entities.merge(late, "app", 2)
    stored = {row["entity_id"]: row for row in read(entities)}
    assert stored["a"]["status"] == "v10", "older row arrived late: ignored"
    assert stored["a"]["updated_at"] == T0 + timedelta(minutes=10)
    assert stored["b"]["status"] == "v10-again", "equal order value: source wins"
    assert stored["n"]["status"] == "v1", "a known order value beats a stored null"
    entities.merge([entity("a", "no-time", None)], "app", 3)
    assert {r["entity_id"]: r["status"] for r in read(entities)}["a"] == "v10"


def test_duplicate_keys_in_one_batch_keep_the_newest(entities: DeltaSink) -> None:
    batch = [
        entity("a", "v3", 3),
        entity("a", "v7", 7),
        entity("a", "v5", 5),
        entity("b", "first", 1),
        entity("b", "second", 1),
    ]
    assert entities.merge(batch, "app", 1) == WriteStatus.WRITTEN
    assert [(r["entity_id"], r["status"]) for r in read(entities)] == [("a", "v7"), ("b", "second")]


def test_bad_values_are_permanent_for_the_offending_rows_only(events: DeltaSink) -> None:
    batch = [
        event(0),
        event(1, count="seven"),
        event(2, event_id=3),
        event(3, count=1.5),
        event(4, surprise="x"),
        event(5),
    ]
    with pytest.raises(DeltaWriteError) as caught:
        events.append(batch, APP, 10)
    assert caught.value.category == Category.PERMANENT
    assert caught.value.rows == (1, 2, 3, 4)
    assert "'count'" in caught.value.message and "surprise" in caught.value.message
    assert events.committed_version(APP) is None, "nothing committed"
    good = [row for i, row in enumerate(batch) if i not in caught.value.rows]
    assert events.append(good, APP, 10) == WriteStatus.WRITTEN
    assert [row["event_id"] for row in read(events)] == ["e0", "e5"]


def test_a_merge_row_without_its_key_is_permanent(entities: DeltaSink) -> None:
    with pytest.raises(DeltaWriteError) as caught:
        entities.merge([entity("a", "ok", 1), entity(None, "orphan", 1)], "app", 1)  # type: ignore[arg-type]
    assert (caught.value.category, caught.value.rows) == (Category.PERMANENT, (1,))


def test_a_column_an_older_table_holds_in_another_type_is_cast_to_it(
    tmp_path: Path, process: DeltaProcess
) -> None:
    """claimx.md §9.1: earlier pipelines' tables (a string `updated_at`) are written in their
    own types, reported once by ensure_table; a value that does not cast is dead alone."""
    uri = str(tmp_path / "legacy")
    write_deltalake(uri, pa.table({"entity_id": ["a"], "status": ["x"], "updated_at": ["2024"]}))
    sink = DeltaSink(uri, ENTITIES, timeout_s=60, process=process)
    assert sink.ensure_table() == {"updated_at": pa.string()}
    sink.merge([entity("a", "new", 1), entity("b", "new", 2)], "app", 1)
    rows = {row["entity_id"]: row for row in DeltaTable(uri).to_pyarrow_table().to_pylist()}
    assert rows["a"]["updated_at"] == "2024-05-01T12:01:00.000000Z"
    assert rows["b"]["status"] == "new" and rows["b"]["created_at"] == T0 + timedelta(minutes=2)

    counts = str(tmp_path / "counts")
    write_deltalake(counts, pa.table({"event_id": ["e0"], "count": ["old"]}))
    events = DeltaSink(counts, EVENTS, timeout_s=60, process=process)
    assert events.ensure_table() == {"count": pa.string()}
    events.append([event(1)], APP, 1)
    assert {row["count"] for row in DeltaTable(counts).to_pyarrow_table().to_pylist()} == {
        "old",
        "1",
    }


def test_ensure_table_adds_declared_columns_to_an_older_table(
    tmp_path: Path, process: DeltaProcess
) -> None:
    uri = str(tmp_path / "older")
    write_deltalake(uri, pa.table({"entity_id": ["a"], "status": ["x"], "legacy": [1]}))
    sink = DeltaSink(uri, ENTITIES, timeout_s=60, process=process)
    sink.ensure_table()
    assert delta_types(uri) == {
        "entity_id": "string",
        "status": "string",
        "legacy": "long",
        "updated_at": "timestamp",
        "created_at": "timestamp",
    }
    sink.merge([entity("a", "merged", 1), entity("b", "new", 1)], "app", 1)
    rows = {row["entity_id"]: row for row in DeltaTable(uri).to_pyarrow_table().to_pylist()}
    assert rows["a"]["legacy"] == 1 and rows["a"]["status"] == "merged"
    assert rows["b"]["legacy"] is None


def test_an_append_to_a_table_with_extra_columns_writes_them_null(
    tmp_path: Path, process: DeltaProcess
) -> None:
    uri = str(tmp_path / "wider")
    wider = pa.schema([("legacy", pa.string()), *arrow_schema(EVENTS)])
    write_deltalake(uri, wider.empty_table(), partition_by=["event_date"])
    sink = DeltaSink(uri, EVENTS, timeout_s=60, process=process)
    assert sink.append([event(1)], APP, 1) == WriteStatus.WRITTEN
    [row] = DeltaTable(uri).to_pyarrow_table().to_pylist()
    assert row["legacy"] is None and row["event_id"] == "e1"


def test_storage_failures_are_transient(tmp_path: Path, process: DeltaProcess) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    sink = DeltaSink(str(blocker / "table"), EVENTS, timeout_s=60, process=process)
    with pytest.raises(DeltaWriteError) as caught:
        sink.append([event(1)], APP, 1)
    assert caught.value.category == Category.TRANSIENT


def test_a_timeout_kills_the_worker_process_and_the_next_call_works(tmp_path: Path) -> None:
    with DeltaSink(str(tmp_path / "events"), EVENTS, timeout_s=60) as sink:
        sink.ensure_table()
        first_pid = sink.process.pid
        assert first_pid is not None
        with pytest.raises(DeltaWriteTimeout) as caught:
            sink.process.call("sleep", (60.0,), timeout_s=0.5)  # test hook: a stuck operation
        assert caught.value.category == Category.TRANSIENT
        assert not _alive(first_pid), "the stuck process was killed"
        assert sink.append([event(1)], APP, 1) == WriteStatus.WRITTEN
        assert sink.process.pid not in (None, first_pid)
        assert sink.committed_version(APP) == 1


def test_a_worker_process_that_died_is_replaced(tmp_path: Path) -> None:
    with DeltaSink(str(tmp_path / "events"), EVENTS, timeout_s=60) as sink:
        sink.ensure_table()
        pid = sink.process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # e.g. the OOM killer, between two batches
        deadline = time.monotonic() + 10
        while sink.process.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sink.append([event(1)], APP, 1) == WriteStatus.WRITTEN
        assert sink.process.pid != pid


def test_a_worker_process_dying_mid_call_is_transient_and_replaced(tmp_path: Path) -> None:
    with DeltaSink(str(tmp_path / "events"), EVENTS, timeout_s=60) as sink:
        sink.ensure_table()
        pid = sink.process.pid
        assert pid is not None
        killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
        killer.start()
        with pytest.raises(DeltaWriteError) as caught:
            sink.process.call("sleep", (30.0,), timeout_s=60)
        killer.join()
        assert caught.value.category == Category.TRANSIENT
        assert sink.append([event(1)], APP, 1) == WriteStatus.WRITTEN


def test_the_package_does_not_import_deltalake_in_the_calling_process() -> None:
    code = "import sys, vpipe_core.delta; print('deltalake' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_a_spec_naming_undeclared_columns_is_rejected() -> None:
    with pytest.raises(ValueError, match="undeclared"):
        TableSpec("t", (Column("a", "string"),), merge_keys=("b",))
    with pytest.raises(ValueError, match="unknown type"):
        Column("a", "int")  # type: ignore[arg-type]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
