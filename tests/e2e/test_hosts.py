"""Any worker on any host: both domains on simulated hosts (`vpipe demo --hosts N`), each with its
own state, cache and log directories, host name and address, sharing only the broker, the object
store stand-ins and the tables. Once the first rows are written the host of the active poller is
lost (every process SIGKILLed, its directories deleted) and duplicates of handled events are fed
again. The run must finish on the remaining hosts: nothing lost, nothing duplicated, the
duplicates dropped, every attachment stored once with its checksum.

CI runs 600 events per domain on 3 hosts; `nox -s e2e -- --hosts 3` runs the full size (2000).
"""

from __future__ import annotations

import pytest

from e2e.demo_run import EVENTS, run_demo


@pytest.mark.slow
def test_a_lost_host_loses_nothing(tmp_path, request):
    hosts = str(request.config.getoption("--hosts"))
    output = run_demo(tmp_path, max(300, EVENTS // 4), "--hosts", hosts, "--lose-host")
    assert output.count("host lost ") == 1
    assert "poller(s) active again after" in output
    assert output.count("duplicates of events already handled") == 2
