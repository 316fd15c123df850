"""`vpipe demo` (the README's first command) accounts for every event and cleans up."""

from __future__ import annotations

import subprocess
import sys


def test_demo_accounts_for_every_event_and_exits_0(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vpipe_core.cli.main",
            "demo",
            "--events",
            "120",
            "--fault-rate",
            "0.2",
            "--duration",
            "90",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every event is accounted for" in result.stdout
    assert "worker       testdom-echo-2 on :8901" in result.stdout
    leftovers = subprocess.run(["pgrep", "-f", f"vpipe-worker.*{tmp_path}"], capture_output=True)
    assert leftovers.stdout == b""
