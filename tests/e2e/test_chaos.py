"""Chaos: both domains end to end while worker instances are SIGKILLed and restarted, with
poison events, failing and missing files and a throttling API: zero lost, zero duplicated.
On Apache Kafka the broker itself is SIGKILLed twice and restarted on its log directory, and
every multi-instance worker is scaled 2 -> 3 -> 1 -> 2 so partitions move.

CI runs 600 events per domain; `nox -s e2e` (or VPIPE_CHAOS_EVENTS=2000) runs the full one.
"""

from __future__ import annotations

import pytest

from e2e.demo_run import EVENTS, run_demo
from vpipe_testing.brokers import broker_kind


@pytest.mark.slow
def test_no_event_lost_or_duplicated_while_workers_are_killed(tmp_path):
    on_kafka = broker_kind() == "kafka"
    kafka_only = ["--broker-kills", "2", "--scale"] if on_kafka else []
    duration = max(240, EVENTS // 5)
    output = run_demo(tmp_path, duration, "--chaos-interval", "2", *kafka_only)
    assert output.count("with SIGKILL; restarted") >= 3, "the chaos monkey struck"
    if on_kafka:
        assert output.count("killed the broker with SIGKILL") == 2
        assert output.count("scaled every multi-instance worker") == 3
