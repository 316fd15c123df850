"""LocalBroker (Tansu): how long the first consumer of a group waits for its partitions.

Consumer workers are ready when partitions are assigned, so this hold is most of their
start-to-ready time; `SESSION_TIMEOUT_MS` is chosen from it.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import load_settings
from vpipe_core.kafka.clientconf import consumer_config
from vpipe_testing.broker import SESSION_TIMEOUT_MS, LocalBroker, formation_hold_s


@pytest.fixture
def local_broker(tmp_path):
    """The memory-only broker itself, whichever broker the suite runs on."""
    with LocalBroker(log_path=tmp_path / "tansu.log") as broker:
        yield broker.bootstrap


def first_assignment_s(bootstrap: str, topic: str, session_timeout_ms: int) -> float:
    """Seconds from subscribe() to the assignment callback, for a new group, worker config."""
    settings = load_settings(
        CoreSettings,
        {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_SESSION_TIMEOUT_MS": str(session_timeout_ms)},
    )
    consumer = Consumer(consumer_config(settings, f"g-{uuid.uuid4().hex[:8]}", "probe"))
    assigned: list[float] = []
    try:
        started = time.monotonic()
        consumer.subscribe([topic], on_assign=lambda _c, _p: assigned.append(time.monotonic()))
        while not assigned and time.monotonic() - started < 15:
            consumer.poll(0.02)
        assert assigned, "no assignment within 15 s"
        return assigned[0] - started
    finally:
        consumer.close()


@pytest.mark.parametrize("session_timeout_ms", [SESSION_TIMEOUT_MS, 2000])
def test_group_formation_hold_follows_the_session_timeout(local_broker, session_timeout_ms):
    topic = "formation"
    admin = AdminClient({"bootstrap.servers": local_broker})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(10)
    hold = formation_hold_s(session_timeout_ms)
    took = first_assignment_s(local_broker, topic, session_timeout_ms)
    assert hold - 0.1 <= took <= hold + 1.0, (session_timeout_ms, took)


def test_the_local_broker_session_timeout_leaves_room_in_the_start_to_ready_target():
    # a worker process needs about half a second to subscribe; the target is ready <= 3 s
    assert formation_hold_s(SESSION_TIMEOUT_MS) <= 2
    measured = {1000: 1, 2000: 1, 3000: 2, 4000: 2, 6000: 3, 10000: 5, 45000: 23}
    assert {ms: formation_hold_s(ms) for ms in measured} == measured
