"""`claimx-entity-writer` as a real worker process killed with SIGKILL: between two table
commits of one batch, and between the last Delta commit and the Kafka commit. Every row lands
in its table exactly once (no loss, no duplicate, no second merge of a committed table)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import orjson
from deltalake import DeltaTable
from entity_messages import numbered_message

from vpipe_claimx.entity_writer import TABLE_SETTINGS
from vpipe_claimx.tables import ENTITY_TABLES
from vpipe_testing.delta import (
    merged_source_rows,
    rewind_group,
    table_rows,
    wait_committed,
    wait_until,
)
from vpipe_testing.kafka import produce

WORKER = "claimx-entity-writer"
TOPIC = "claimx.entities.rows"
MESSAGES = 60
MEDIA_PER_MESSAGE = 40  # a slow media merge keeps the kill inside the batch


def descendants(pid: int) -> list[int]:
    """Child processes of `pid`, recursively (the Delta process)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(worker) -> None:
    """SIGKILL the worker and the processes it started, at once (a host crash)."""
    pids = [worker.process.pid, *descendants(worker.process.pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(10)


def version(tables: Path, key: str) -> int:
    return DeltaTable(str(tables / ENTITY_TABLES[key].name)).version()


def expected_counts() -> dict[str, int]:
    sample = numbered_message(0, MEDIA_PER_MESSAGE)
    contacts = {(r["contact_type"], r["contact_email"]) for r in sample["contacts"]}
    per_message = {key: len(sample[key]) for key in ENTITY_TABLES} | {"contacts": len(contacts)}
    return {key: count * MESSAGES for key, count in per_message.items()}


def counts(tables: Path) -> dict[str, int]:
    return {key: len(table_rows(tables / spec.name)) for key, spec in ENTITY_TABLES.items()}


def test_sigkill_mid_batch_and_before_the_kafka_commit_loses_and_duplicates_nothing(
    claimx_kafka, start_worker, tmp_path
):
    tables = tmp_path / "tables"
    env = {
        variable: str(tables / ENTITY_TABLES[key].name)
        for key, (_, variable) in TABLE_SETTINGS.items()
    }
    env["CLAIMX_ENTITY_BATCH_SIZE"] = str(MESSAGES)
    messages = [orjson.dumps(numbered_message(n, MEDIA_PER_MESSAGE)) for n in range(MESSAGES)]
    worker = start_worker(WORKER, claimx_kafka, **env)  # creates the seven tables
    assert all(version(tables, key) == 0 for key in ENTITY_TABLES)
    produce(claimx_kafka, TOPIC, messages)

    # 1. killed as soon as the first table of the batch is committed
    projects_commit = tables / "claimx_projects" / "_delta_log" / f"{1:020d}.json"
    deadline = time.monotonic() + 60
    while not projects_commit.exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    kill_tree(worker)
    assert projects_commit.exists(), worker.output()[-3000:]
    assert version(tables, "video_collab") == 0, "the kill landed after the last table"
    assert counts(tables)["projects"] == MESSAGES

    worker = start_worker(WORKER, claimx_kafka, **env)  # the batch is redelivered
    expected = expected_counts()
    wait_until(tables / "claimx_video_collab", lambda rows: len(rows) >= MESSAGES)
    assert wait_committed(claimx_kafka, WORKER, TOPIC)
    assert counts(tables) == expected
    assert version(tables, "projects") == 1, "projects were not merged a second time"
    for key, spec in ENTITY_TABLES.items():
        assert merged_source_rows(tables / spec.name) == expected[key], f"{key} merged twice"

    # 2. killed after every Delta commit, before the Kafka commit: all offsets back at 0;
    # and the same messages once more at new offsets (a replayed source)
    kill_tree(worker)
    rewind_group(claimx_kafka, WORKER, TOPIC)
    before = {
        key: sorted(map(repr, table_rows(tables / s.name))) for key, s in ENTITY_TABLES.items()
    }
    versions = {key: version(tables, key) for key in ENTITY_TABLES}
    produce(claimx_kafka, TOPIC, messages)
    worker = start_worker(WORKER, claimx_kafka, **env)
    assert wait_committed(claimx_kafka, WORKER, TOPIC, timeout_s=90)
    assert {key: version(tables, key) for key in ENTITY_TABLES} == versions, "no commit at all"
    after = {
        key: sorted(map(repr, table_rows(tables / s.name))) for key, s in ENTITY_TABLES.items()
    }
    assert after == before
    done = f'vpipe_message_outcomes_total{{category="",outcome="done",worker="{WORKER}"}}'
    assert f"{done} {2.0 * MESSAGES}" in worker.metrics_text(), "rewound and replayed"
    assert worker.process.poll() is None
