"""Writers at full rate while the real maintenance worker compacts, checkpoints and vacuums the
same tables and is SIGKILLed (its Delta process first, mid-operation) again and again: every
record is in the tables exactly once, the writers' versions are intact, readers never meet a
broken table, and no file of the live table was deleted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from vpipe_core.cli.main import main
from vpipe_core.kafka.topics import create_worker_topics
from vpipe_core.registry import load_worker
from vpipe_testing.workers import WorkerProcess, worker_environment

WRITER = Path(__file__).with_name("chaos_table_writer.py")
BATCHES, ROWS = 150, 20
KILLS = 6
MAINTENANCE = "xact-table-maintenance"


def busy_delta_child(pid: int, timeout_s: float = 3.0) -> tuple[int | None, bool]:
    """A Delta worker process of the worker `pid` (`python -m vpipe_core.delta.child`), caught
    running (state R: in the middle of an operation) if it gets there within `timeout_s`."""
    deadline, child = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue
            if int(fields[1]) == pid and b"vpipe_core.delta.child" in cmdline:
                child = int(stat.parent.name)
                if fields[0] == "R":
                    return child, True
        time.sleep(0.002)
    return child, False


HEALTH = [
    f'vpipe_table_{metric}{{table="{name}"}}'
    for name in ("xact_events", "xact_attachments")
    for metric in ("files", "last_vacuum_timestamp_seconds", "last_optimize_timestamp_seconds")
]


def wait_for_health(worker: WorkerProcess, *expected: str, timeout_s: float = 180) -> str:
    """The worker's /metrics once every line of `expected` is in it: each table has had its
    passes since the writers finished (a step that failed, e.g. after a kill, runs again the
    next cycle, and the tables are maintained one after the other)."""
    deadline = time.monotonic() + timeout_s
    text = worker.metrics_text()
    while any(line not in text for line in expected) and time.monotonic() < deadline:
        time.sleep(0.5)
        text = worker.metrics_text()
    return text


class Readers(threading.Thread):
    """Reads both tables whole, over and over; any failure is a broken table seen by a reader."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__(daemon=True)
        self.paths, self.reads, self.failures = paths, 0, []
        self.stop = threading.Event()

    def run(self) -> None:
        from deltalake import DeltaTable

        while not self.stop.is_set():
            for path in self.paths:
                if not (path / "_delta_log").exists():
                    continue
                try:
                    DeltaTable(str(path)).to_pyarrow_table()
                    self.reads += 1
                except Exception as exc:
                    self.failures.append(f"{path.name}: {type(exc).__name__}: {exc}")
            time.sleep(0.05)


@pytest.mark.slow
def test_writers_and_maintenance_at_once_with_kills(kafka_bootstrap, tmp_path, monkeypatch):
    from deltalake import DeltaTable

    events, attachments = tmp_path / "xact_events", tmp_path / "xact_attachments"
    env = worker_environment(
        kafka_bootstrap,
        tmp_path,
        XACT_DELTA_EVENTS_TABLE=str(events),
        XACT_DELTA_INVENTORY_TABLE=str(attachments),
        TABLES_CHECK_INTERVAL_SECONDS="1",
        TABLES_COMPACT_MIN_SMALL_FILES="3",
        TABLES_CHECKPOINT_INTERVAL="5",
        TABLES_VACUUM_INTERVAL_HOURS="1",
    )
    spec = load_worker(MAINTENANCE)
    create_worker_topics(kafka_bootstrap, [spec], env)
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WRITER),
                str(path),
                kind,
                str(BATCHES),
                str(ROWS),
                str(tmp_path / f"{kind}.retries"),
            ]
        )
        for path, kind in ((events, "events"), (attachments, "attachments"))
    ]
    readers = Readers([events, attachments])
    readers.start()
    kills_mid_operation = 0
    worker = WorkerProcess(MAINTENANCE, env, tmp_path, 1, spec.port_for(1)).start()
    try:
        for _ in range(KILLS):
            time.sleep(random.uniform(1.0, 3.0))
            child, running = busy_delta_child(worker.process.pid)
            if child is not None:
                os.kill(child, signal.SIGKILL)
            kills_mid_operation += running
            worker.process.kill()
            worker.wait(10)
            worker.close_output()
            worker = WorkerProcess(MAINTENANCE, env, tmp_path, 1, spec.port_for(1)).start()
        for writer in writers:
            assert writer.wait(600) == 0, "a writer failed"
        worker.wait_ready(30)
        health = wait_for_health(worker, *HEALTH)
    finally:
        readers.stop.set()
        worker.stop()
        for writer in writers:
            writer.kill()
    readers.join(10)

    missing = [line for line in HEALTH if line not in health]
    failed_steps = [line for line in worker.output().splitlines() if "failed" in line]
    assert missing == [], (missing, failed_steps[-5:])
    assert readers.failures == [], readers.failures[:5]
    assert readers.reads > 0
    assert kills_mid_operation > 0, "no kill caught the Delta process in an operation"
    for path, key in ((events, "trace_id"), (attachments, "media_id")):
        table = DeltaTable(str(path))
        counts = Counter(table.to_pyarrow_table(columns=[key]).column(key).to_pylist())
        assert len(counts) == BATCHES * ROWS and set(counts.values()) == {1}, path.name
        assert table.transaction_version("chaos-writer-0") == BATCHES - 1
        live = [Path(uri.removeprefix("file://")) for uri in table.file_uris()]
        assert all(file.exists() for file in live), "a live file was deleted"
        operations = Counter(entry.get("operation") for entry in table.history())
        assert operations["OPTIMIZE"] > 0, f"{path.name} was never compacted: {operations}"
        assert (path / "_delta_log" / "_last_checkpoint").exists()

    # With nothing running any more, a forced vacuum may delete every file no version needs:
    # the removed ones and those of compactions killed before their commit.
    monkeypatch.setenv("XACT_DELTA_EVENTS_TABLE", str(events))
    monkeypatch.setenv("XACT_DELTA_INVENTORY_TABLE", str(attachments))
    monkeypatch.delenv("VPIPE_ENV_FILE", raising=False)
    forced = CliRunner().invoke(
        main,
        ["tables", "vacuum", "--domain", "xact", "--retention-hours", "0", "--force"],
    )
    assert forced.exit_code == 0, forced.output
    for path in (events, attachments):
        table = DeltaTable(str(path))
        assert table.to_pyarrow_table().num_rows == BATCHES * ROWS
        live = {Path(uri.removeprefix("file://")) for uri in table.file_uris()}
        stored = {file for file in path.rglob("*.parquet") if "_delta_log" not in file.parts}
        assert stored == live, f"{path.name}: {len(stored - live)} files left behind"
    print(
        f"reads {readers.reads}, kills {KILLS} ({kills_mid_operation} mid-operation), "
        f"writer retries: "
        + ", ".join(
            f"{k} {(tmp_path / f'{k}.retries').read_text()}" for k in ("events", "attachments")
        )
    )


def test_a_table_that_cannot_be_read_is_counted_and_the_worker_stays_ready(
    kafka_bootstrap, tmp_path
):
    broken = tmp_path / "xact_events"
    (broken / "_delta_log").mkdir(parents=True)
    (broken / "_delta_log" / "00000000000000000000.json").write_text("{not a commit")
    env = worker_environment(
        kafka_bootstrap,
        tmp_path,
        XACT_DELTA_EVENTS_TABLE=str(broken),
        TABLES_CHECK_INTERVAL_SECONDS="1",
    )
    spec = load_worker(MAINTENANCE)
    create_worker_topics(kafka_bootstrap, [spec], env)
    worker = WorkerProcess(MAINTENANCE, env, tmp_path, 1, spec.port_for(1)).start()
    try:
        worker.wait_ready(60)
        counted = 'operation="health",outcome="error",table="xact_events"}'
        health = wait_for_health(worker, counted)
        assert counted in health, [line for line in health.splitlines() if "table" in line]
        assert worker.probe("/readyz")[0] == 200
    finally:
        worker.stop()
    assert "table health not read" in worker.output()
