"""Any worker on any host: both domains on simulated hosts (`vpipe demo --hosts N`), each with its
own state, cache and log directories, host name and address, sharing only the broker, the object
store stand-ins and the tables. Once the first rows are written the host of the active
poller is lost (every process SIGKILLed, its directories deleted) and duplicates of handled events
are fed again. The run must finish on the remaining hosts: nothing lost, nothing duplicated, the
duplicates dropped, every attachment stored once with its checksum.

CI runs 600 events per domain on 3 hosts; `nox -s e2e -- --hosts 3` runs the full size (2000).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vpipe_testing.brokers import broker_kind

EVENTS = int(os.environ.get("VPIPE_CHAOS_EVENTS", "600"))


@pytest.mark.slow
def test_a_lost_host_loses_nothing(tmp_path, request):
    hosts = request.config.getoption("--hosts")
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
        "--hosts",
        str(hosts),
        "--lose-host",
        "--duration",
        str(max(300, EVENTS // 4)),
        "--workdir",
        str(tmp_path),
        "--broker",
        broker_kind(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    print(result.stdout)
    assert result.returncode == 0, output[-8000:]
    assert "every event is accounted for" in result.stdout
    assert result.stdout.count("host lost ") == 1
    assert "poller(s) active again after" in result.stdout
    assert result.stdout.count("duplicates of events already handled") == 2
