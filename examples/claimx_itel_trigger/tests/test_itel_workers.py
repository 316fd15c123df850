"""The plugin installed next to real workers: a `claimx-enricher` process publishes the tracking
records of fixture rows 8 and 9, and the `itel-cabinet-tracking` process turns them into
`itel.cabinet.completed` records (both on the test broker, against the fake ClaimX API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from itel_support import COMPLETED, PLUGIN, TRACKING, task_of

from vpipe_core.registry import load_worker
from vpipe_testing.claimx.fake_api import FakeClaimxApi
from vpipe_testing.kafka import ensure_topics, produce, read_all
from vpipe_testing.workers import WorkerProcess, worker_environment

TOPICS = [
    "claimx.enrichment.pending",
    "claimx.entities.rows",
    "claimx.downloads.pending",
    "claimx.retry.1s",
    "claimx.retry.2s",
    "claimx.dlq",
    TRACKING,
    COMPLETED,
]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    workers: list[WorkerProcess] = []
    yield workers
    for worker in workers:
        worker.stop()


def start(name: str, env: dict[str, str], root: Path, workers: list[WorkerProcess]) -> None:
    worker = WorkerProcess(name, env, root, 1, load_worker(name).port_for(1)).start()
    workers.append(worker)
    worker.wait_ready(60)  # start + group join on a loaded 2-core CI machine


def test_enricher_and_tracking_worker_processes(fresh_kafka, tmp_path, started):
    ensure_topics(fresh_kafka, TOPICS)
    with FakeClaimxApi() as fake:
        env = worker_environment(
            fresh_kafka,
            tmp_path,
            RETRY_DELAYS="1,2",
            CLAIMX_API_URL=fake.url,
            CLAIMX_API_TOKEN=fake.token,
            CLAIMX_API_SENDER_USERNAME="vpipe-test",
            VPIPE_PLUGINS=PLUGIN,
            VPIPE_PLUGINS_STRICT="true",
            VPIPE_PLUGIN_CONFIG_DIR=str(tmp_path / "plugins"),
        )
        start("claimx-enricher", env, tmp_path, started)
        legacy_group = {**env, "VPIPE_CONSUMER_GROUP": "itel_cabinet_tracking_group"}
        start("itel-cabinet-tracking", legacy_group, tmp_path, started)

        tasks = [task_of(8), task_of(4), task_of(9)]
        produce(fresh_kafka, "claimx.enrichment.pending", [orjson.dumps(t) for t in tasks])

        tracked = read_all(fresh_kafka, TRACKING, expect=2)
        expected_ids = [tasks[0]["event_id"], tasks[2]["event_id"]]
        assert sorted(m.key().decode() for m in tracked) == sorted(expected_ids)
        for message in tracked:
            headers = dict(message.headers())
            assert headers["x-trigger-name"] == b"itel_cabinet_repair"
            assert headers["x-task-id"] == b"27019"
            value = orjson.loads(message.value())
            assert headers["x-event-type"] == value["event_type"].encode()
            assert (value["assignment_id"], value["task_status"]) == (6021187, "COMPLETED")

        completed = read_all(fresh_kafka, COMPLETED, expect=2)
        assert sorted(m.key().decode() for m in completed) == sorted(expected_ids)
        for message in completed:
            value = orjson.loads(message.value())
            assert value["submission"]["lower_cabinets_lf"] == 14.5
            assert len(value["attachments"]) == 2
        assert read_all(fresh_kafka, "claimx.dlq") == []
