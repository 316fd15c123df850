"""The Delta worker process runs only while there is Delta work: started by the first call,
stopped after a quiet period or on request, started again by the next call (real processes,
real Delta tables on disk)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vpipe_core.delta import Column, DeltaProcess, DeltaSink, TableSpec, WriteStatus
from vpipe_testing.delta import table_rows

EVENTS = TableSpec(name="events", columns=(Column("event_id", "string"), Column("at", "timestamp")))
APP = "w-in-0"
GENEROUS_S = 30.0


def event(n: int) -> dict[str, object]:
    return {"event_id": f"e{n}", "at": datetime(2024, 5, 1, tzinfo=UTC)}


def wait_stopped(process: DeltaProcess) -> None:
    deadline = time.monotonic() + GENEROUS_S
    while process.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.alive, f"still running after {GENEROUS_S:g}s"


def test_the_first_write_starts_the_process_the_quiet_period_stops_it_the_next_write_restarts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vpipe.delta")
    with DeltaSink(str(tmp_path / "events"), EVENTS, timeout_s=60, idle_s=1) as sink:
        assert not sink.process.alive, "nothing runs before the first call"
        assert sink.append([event(1)], APP, 1) == WriteStatus.WRITTEN
        first_pid = sink.process.pid
        assert first_pid is not None

        wait_stopped(sink.process)
        assert sink.process.pid is None

        assert sink.append([event(2)], APP, 2) == WriteStatus.WRITTEN
        assert sink.process.pid not in (None, first_pid)
        assert sink.committed_version(APP) == 2
    assert sorted(row["event_id"] for row in table_rows(tmp_path / "events")) == ["e1", "e2"]
    messages = [(r.getMessage(), getattr(r, "reason", None)) for r in caplog.records]
    assert ("delta process started", None) in messages
    assert ("delta process stopped", "idle for 1s") in messages


def test_a_call_in_flight_is_never_cut_by_the_quiet_period() -> None:
    process = DeltaProcess(idle_s=0.2)
    try:
        # ten quiet periods long: a stop in between would fail the call (process died)
        assert process.call("sleep", (2.0,), timeout_s=60) is None
    finally:
        process.close()


def test_stop_ends_the_process_at_once_and_the_next_call_starts_another(tmp_path: Path) -> None:
    process = DeltaProcess()  # no quiet period: runs until stopped
    sink = DeltaSink(str(tmp_path / "events"), EVENTS, timeout_s=60, process=process)
    try:
        sink.ensure_table()
        pid = process.pid
        process.stop()
        assert not process.alive and process.pid is None
        process.stop()  # idempotent
        assert sink.append([event(1)], APP, 1) == WriteStatus.WRITTEN
        assert process.pid not in (None, pid)
    finally:
        process.close()
