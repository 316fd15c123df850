"""An idle `xact-delta-writer` holds no Delta process (deltalake, pyarrow): its table is prepared
at start, then the process stops; a write starts it, a quiet period stops it again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
from xact_fixtures import fixture_rows

from vpipe_testing.delta import wait_rows
from vpipe_testing.kafka import produce


def test_an_idle_writer_holds_no_delta_process(xact_kafka, start_worker, tmp_path):
    table = tmp_path / "tables" / "xact_events"
    env = {"XACT_DELTA_EVENTS_TABLE": str(table), "DELTA_PROCESS_IDLE_SECONDS": "1"}
    worker = start_worker("xact-delta-writer", xact_kafka, **env)
    pid = worker.process.pid
    assert (table / "_delta_log").is_dir(), "the table is prepared at start"
    assert not delta_loaded(pid), "and the Delta process stopped after that"

    rows = [orjson.dumps({**fixture_rows()[0], "traceId": f"t-{n}"}) for n in range(3)]
    produce(xact_kafka, "xact.events.raw", rows[:2])
    wait_rows(table, 2)
    wait_for(lambda: not delta_loaded(pid), "stopped after the quiet period")
    produce(xact_kafka, "xact.events.raw", rows[2:])
    assert len(wait_rows(table, 3)) == 3, "a write after the stop starts it again"
    starts = [line for line in worker.output().splitlines() if "delta process started" in line]
    assert len(starts) >= 3, "at start, on the first write, on the write after the stop"
    assert "idle for 1s" in worker.output()


def delta_loaded(pid: int) -> bool:
    """Whether `pid` or a process it started has deltalake loaded."""
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            if "deltalake" in Path(f"/proc/{current}/maps").read_text():
                return True
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # ended meanwhile
        pending.extend(int(child) for child in children)
    return False


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not {what} within {timeout_s:g}s"
        time.sleep(0.1)
