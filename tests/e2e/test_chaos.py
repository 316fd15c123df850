"""Chaos: both domains end to end while worker instances are SIGKILLed and restarted, with
poison events, failing and missing files and a throttling API: zero lost, zero duplicated.

CI runs 600 events per domain; `nox -s e2e` (or VPIPE_CHAOS_EVENTS=2000) runs the full one.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

EVENTS = int(os.environ.get("VPIPE_CHAOS_EVENTS", "600"))


@pytest.mark.slow
def test_no_event_lost_or_duplicated_while_workers_are_killed(tmp_path):
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
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    print(result.stdout)
    assert result.returncode == 0, output[-8000:]
    assert "every event is accounted for" in result.stdout
    assert result.stdout.count("killed") >= 3, "the chaos monkey struck"
