"""What both end-to-end runs share: `vpipe demo` over both domains, and its report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vpipe_testing.brokers import broker_kind

# CI runs 600 events per domain; `nox -s e2e` (or VPIPE_CHAOS_EVENTS=2000) runs the full size.
EVENTS = int(os.environ.get("VPIPE_CHAOS_EVENTS", "600"))


def run_demo(workdir: Path, duration: int, *options: str) -> str:
    """`vpipe demo` on both domains with faults on the test broker; its output, once it said
    that every event is accounted for (else the assertion shows the end of its output)."""
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
        "--duration",
        str(duration),
        "--workdir",
        str(workdir),
        "--broker",
        broker_kind(),
        *options,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    print(result.stdout)
    assert result.returncode == 0, (result.stdout + result.stderr)[-8000:]
    assert "every event is accounted for" in result.stdout
    return result.stdout
