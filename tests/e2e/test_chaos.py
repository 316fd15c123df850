"""Chaos: both domains end to end while worker instances are SIGKILLed and restarted, with
poison events, failing and missing files and a throttling API: zero lost, zero duplicated.
On Apache Kafka the broker itself is SIGKILLed twice and restarted on its log directory, and
every multi-instance worker is scaled 2 -> 3 -> 1 -> 2 so partitions move.

CI runs 600 events per domain; `nox -s e2e` (or VPIPE_CHAOS_EVENTS=2000) runs the full one.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vpipe_testing.brokers import broker_kind

EVENTS = int(os.environ.get("VPIPE_CHAOS_EVENTS", "600"))


@pytest.mark.slow
def test_no_event_lost_or_duplicated_while_workers_are_killed(tmp_path):
    on_kafka = broker_kind() == "kafka"
    command = [
        sys.executable,
        "-m",
        "vpipe_core.cli.main",
        "demo",
        "--scenario",
        "xact",
        "--scenario",
        "claimx",
        "--events",
        str(EVENTS),
        "--fault-rate",
        "0.15",
        "--chaos-interval",
        "2",
        "--duration",
        str(max(240, EVENTS // 5)),
        "--workdir",
        str(tmp_path),
        "--broker",
        broker_kind(),
        *(["--broker-kills", "2", "--scale"] if on_kafka else []),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    print(result.stdout)
    assert result.returncode == 0, output[-8000:]
    assert "every event is accounted for" in result.stdout
    assert result.stdout.count("with SIGKILL; restarted") >= 3, "the chaos monkey struck"
    if on_kafka:
        assert result.stdout.count("killed the broker with SIGKILL") == 2
        assert result.stdout.count("scaled every multi-instance worker") == 3
