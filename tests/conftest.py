from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vpipe_core.testing.kafka import ensure_topics
from vpipe_core.testing.workers import WorkerProcess, worker_environment

TESTDOM_TOPICS = [
    "testdom.in",
    "testdom.out",
    "testdom.batch.in",
    "testdom.batch.out",
    "testdom.retry.1s",
    "testdom.retry.2s",
    "testdom.dlq",
]
PORTS = {"testdom-echo": 8900, "testdom-batch": 8910, "testdom-retry-scheduler": 8920}


@pytest.fixture
def testdom(fresh_kafka: str) -> str:
    """A fresh broker with the test domain's topics (tiers of 1 s and 2 s)."""
    ensure_topics(fresh_kafka, TESTDOM_TOPICS)
    return fresh_kafka


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """start_worker(name, bootstrap, instance=1, **env) -> a started, ready WorkerProcess."""
    started: list[WorkerProcess] = []

    def start(
        name: str, bootstrap: str, instance: int = 1, ready: bool = True, **overrides: str
    ) -> WorkerProcess:
        env = worker_environment(bootstrap, tmp_path, RETRY_DELAYS="1,2", **overrides)
        port = PORTS.get(name, 0) + instance - 1
        worker = WorkerProcess(name, env, tmp_path, instance, port).start()
        started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
