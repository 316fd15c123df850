from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vpipe_testing.kafka import ensure_topics
from vpipe_testing.workers import WorkerProcess, worker_environment

TESTDOM_TOPICS = [
    "testdom.in",
    "testdom.out",
    "testdom.batch.in",
    "testdom.batch.out",
    "testdom.retry.1s",
    "testdom.retry.2s",
    "testdom.dlq",
]


def port_of(name: str, instance: int) -> int:
    """The worker's metrics port, from its installed spec."""
    from vpipe_core.registry import load_worker

    return load_worker(name).port_for(instance)


@pytest.fixture
def testdom(fresh_kafka: str) -> str:
    """A fresh broker with the test domain's topics (tiers of 1 s and 2 s)."""
    ensure_topics(fresh_kafka, TESTDOM_TOPICS)
    return fresh_kafka


@pytest.fixture(params=["classic", "consumer"])
def group_protocol(request: pytest.FixtureRequest) -> str:
    """KAFKA_GROUP_PROTOCOL for tests that must hold under both group protocols; the KIP-848
    `consumer` protocol needs Apache Kafka (the memory-only broker has only the classic one)."""
    from vpipe_testing.brokers import broker_kind

    if request.param == "consumer" and broker_kind() != "kafka":
        pytest.skip("the consumer group protocol (KIP-848) needs --broker kafka")
    return str(request.param)


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """start_worker(name, bootstrap, instance=1, **env) -> a started, ready WorkerProcess."""
    started: list[WorkerProcess] = []

    def start(
        name: str, bootstrap: str, instance: int = 1, ready: bool = True, **overrides: str
    ) -> WorkerProcess:
        env = worker_environment(bootstrap, tmp_path, RETRY_DELAYS="1,2", **overrides)
        port = port_of(name, instance)
        worker = WorkerProcess(name, env, tmp_path, instance, port).start()
        started.append(worker)
        if ready:
            worker.wait_ready(60)  # start + group join on a loaded 2-core CI machine
        return worker

    yield start
    for worker in started:
        worker.stop()
