"""`claimx-delta-writer` (claimx.md §9.2): every fixture event once in `claimx_events`, also when
the source is replayed; invalid rows dead, never dropped."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from claimx_fixtures import fixture_row, fixture_rows
from deltalake import DeltaTable

from vpipe_claimx.delta_writer import BATCH_MAX_WAIT_S, build
from vpipe_claimx.events import derive_event_id, raw_message
from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import load_settings
from vpipe_core.context import WorkerContext
from vpipe_core.delta.multi_table import MultiTableWriter
from vpipe_core.outcome import Dead, Done
from vpipe_core.record import Record
from vpipe_core.registry import load_worker
from vpipe_testing.delta import rewind_group, table_rows, wait_committed, wait_rows
from vpipe_testing.kafka import produce, read_all

WORKER = "claimx-delta-writer"
TOPIC = "claimx.events.raw"
ROW_4_ID = "15a105d69674e2896abe44a8b5d69d82f04156149168beeb0764c199e1000432"


def context(env: dict[str, str]) -> WorkerContext:
    spec = load_worker(WORKER)
    return WorkerContext(
        spec, 1, spec.name, load_settings(CoreSettings, env), env, logging.getLogger("test")
    )


@pytest.fixture
def table(tmp_path: Path) -> Path:
    return tmp_path / "claimx_events"


@pytest.fixture
def writer(table: Path) -> Iterator[MultiTableWriter]:
    handler = build(context({"CLAIMX_DELTA_EVENTS_TABLE": str(table)}))
    assert isinstance(handler, MultiTableWriter)
    yield handler
    handler.close()


def records(values: list[Any], start: int = 0) -> list[Record]:
    return [
        Record(TOPIC, 0, start + i, None, v if isinstance(v, bytes) else orjson.dumps(v))
        for i, v in enumerate(values)
    ]


def by_id(table: Path) -> dict[str, dict[str, Any]]:
    return {row["event_id"]: row for row in table_rows(table)}


def test_fixture_events_become_one_row_each_with_the_spec_ids(writer, table):
    messages = [raw_message(row) for row in fixture_rows()]
    outcomes = writer.handle_batch(records(messages))
    dead = [i + 1 for i, o in enumerate(outcomes) if isinstance(o, Dead)]
    assert dead == [19], "missing project id"
    assert "project_id" in outcomes[18].error  # type: ignore[union-attr]
    rows = by_id(table)
    assert len(rows) == 19, "21 rows: row 16 repeats row 4, row 19 is dead"
    for expected in (
        "a91e8944bc989f060ac076e502f30615dfef43502d35553d70452fb84f64d761",
        ROW_4_ID,
        "dd0ffa2648ae037be00890193a45621423c727a41e9258c8cc05469cc5f557d3",
        "4b7843c411a8af2b74c262ca37c34e18193c414a2fadd5aae0220bc93cc88909",
        "cx-src-000000123",
    ):
        assert expected in rows
    media = rows[ROW_4_ID]
    assert (media["event_type"], media["project_id"], media["media_id"]) == (
        "PROJECT_FILE_ADDED",
        "5517342",
        "98810452",
    )
    assert media["ingestion_time"] == "2026-02-03T10:22:41.5093318Z"
    assert media["ingested_at"] == datetime(2026, 2, 3, 10, 22, 41, 509331, tzinfo=UTC)
    assert media["event_date"] == date(2026, 2, 3)
    assert orjson.loads(media["raw_json"]) == fixture_row(4)
    non_numeric = next(r for r in rows.values() if r["task_assignment_id"] == "TA-77X")
    assert non_numeric["event_type"] == "CUSTOM_TASK_ASSIGNED", "recorded, unlike the ingester"
    assert DeltaTable(str(table)).metadata().partition_columns == ["event_date"]


def test_bare_camel_case_rows_and_rows_without_event_type_are_recorded(writer, table):
    row = {k: v for k, v in fixture_row(1).items() if k != "eventType"}
    outcomes = writer.handle_batch(records([fixture_row(4), row]))
    assert outcomes == [Done(())] * 2
    derived = derive_event_id("5517342", None, "2026-02-03T10:04:15.2875531Z")
    assert set(by_id(table)) == {ROW_4_ID, derived}
    assert by_id(table)[derived]["event_type"] is None


def test_invalid_values_are_dead_with_the_reason(writer, table):
    no_time = {"eventType": "PROJECT_CREATED", "projectId": "1"}
    outcomes = writer.handle_batch(records([b"{", b"[1]", {"projectId": {"x": 1}}]))
    assert all(isinstance(o, Dead) for o in outcomes)
    texts = [o.error for o in outcomes]  # type: ignore[union-attr]
    assert "not JSON" in texts[0] and "JSON object" in texts[1] and "project_id" in texts[2]
    [timeless] = writer.handle_batch(records([no_time], start=3))
    assert isinstance(timeless, Dead) and "ingestion time" in timeless.error
    assert table_rows(table) == []


def test_a_record_timestamp_is_the_ingestion_time_of_a_row_without_one(writer, table):
    row = {"eventType": "PROJECT_CREATED", "projectId": "1"}

    class Message:  # what the record reads its timestamp from
        def timestamp(self) -> tuple[int, int]:
            return (1, 1_770_113_055_287)

    record = Record(TOPIC, 0, 0, None, orjson.dumps(row), None, Message())
    assert writer.handle_batch([record]) == [Done(())]
    [stored] = table_rows(table)
    assert stored["ingestion_time"] == "2026-02-03T10:04:15.2870000Z"


def test_a_replayed_event_at_a_new_offset_adds_no_row(writer, table):
    messages = [raw_message(fixture_row(n)) for n in (1, 4, 8)]
    writer.handle_batch(records(messages))
    version = DeltaTable(str(table)).version()
    outcomes = writer.handle_batch(records([*messages, messages[0]], start=3))
    assert outcomes == [Done(())] * 4
    assert len(table_rows(table)) == 3
    assert DeltaTable(str(table)).version() == version, "nothing new: no commit"


# -- the worker process ---------------------------------------------------------------------


def test_worker_records_each_event_once_across_a_lost_commit_and_a_replayed_source(
    claimx_kafka, start_worker, tmp_path
):
    table = tmp_path / "tables" / "claimx_events"
    env = {"CLAIMX_DELTA_EVENTS_TABLE": str(table)}
    raw = [orjson.dumps(raw_message(row)) for row in fixture_rows()]
    produce(claimx_kafka, TOPIC, raw)
    worker = start_worker(WORKER, claimx_kafka, **env)
    assert len(wait_rows(table, 19)) == 19
    dead = read_all(claimx_kafka, "claimx.dlq", expect=1)
    assert b"project_id" in dict(dead[0].headers())["vpipe_error"]
    assert wait_committed(claimx_kafka, WORKER, TOPIC)
    version = DeltaTable(str(table)).version()

    worker.signal(signal.SIGKILL)
    worker.wait(10)
    rewind_group(claimx_kafka, WORKER, TOPIC)
    produce(claimx_kafka, TOPIC, raw)  # the whole source once more, at new offsets
    again = start_worker(WORKER, claimx_kafka, **env)
    assert wait_committed(claimx_kafka, WORKER, TOPIC)
    assert len(table_rows(table)) == 19
    assert DeltaTable(str(table)).version() == version
    assert again.process.poll() is None


def test_a_partial_batch_is_written_once_the_writer_has_caught_up_not_at_the_timer(
    claimx_kafka, start_worker, tmp_path
):
    """19 events never fill a batch of 1,500: they are written as soon as the input is drained
    (DELTA_BATCH_MIN_INTERVAL_SECONDS, 1 s), long before the 10 s batch timer."""
    table = tmp_path / "tables" / "claimx_events"
    start_worker(WORKER, claimx_kafka, CLAIMX_DELTA_EVENTS_TABLE=str(table))
    started = time.monotonic()
    produce(claimx_kafka, TOPIC, (orjson.dumps(raw_message(row)) for row in fixture_rows()))
    assert len(wait_rows(table, 19, timeout_s=BATCH_MAX_WAIT_S)) == 19
    assert time.monotonic() - started < BATCH_MAX_WAIT_S / 2


def test_a_trickle_makes_at_most_one_commit_per_interval(claimx_kafka, start_worker, tmp_path):
    table = tmp_path / "tables" / "claimx_events"
    env = {"CLAIMX_DELTA_EVENTS_TABLE": str(table), "DELTA_BATCH_MIN_INTERVAL_SECONDS": "2"}
    start_worker(WORKER, claimx_kafka, **env)
    first = DeltaTable(str(table)).version()
    events = [orjson.dumps(raw_message(row)) for row in fixture_rows()][:12]
    started = time.monotonic()
    for event in events:  # one event every 0.25 s: 3 s of trickle
        produce(claimx_kafka, TOPIC, [event])
        time.sleep(0.25)
    assert len(wait_rows(table, len(events), timeout_s=BATCH_MAX_WAIT_S)) == len(events)
    elapsed = time.monotonic() - started
    commits = DeltaTable(str(table)).version() - first
    assert 2 <= commits <= elapsed / 2 + 1


def test_missing_table_setting_is_a_config_error(claimx_kafka, start_worker):
    worker = start_worker(WORKER, claimx_kafka, ready=False)
    assert worker.wait(30) == 2
    assert "CLAIMX_DELTA_EVENTS_TABLE" in worker.output()
