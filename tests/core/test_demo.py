"""`vpipe demo` (the README's first command) accounts for every event and cleans up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run_demo(tmp_path, *options: str, timeout_s: float = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vpipe_core.cli.main", "demo", "--workdir", str(tmp_path)]
    return subprocess.run([*command, *options], capture_output=True, text=True, timeout=timeout_s)


def no_leftovers(tmp_path) -> bool:
    """No process still runs with the demo's directory in its environment."""
    marker = str(tmp_path).encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes():
                return False
        except OSError:
            continue
    return True


def test_runtime_demo_accounts_for_retries_and_poison(tmp_path):
    result = run_demo(tmp_path, "--scenario", "echo", "--events", "120", "--fault-rate", "0.2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every event is accounted for" in result.stdout
    assert "3 processes" in result.stdout, "two echo instances and the retry scheduler"
    assert no_leftovers(tmp_path)


@pytest.mark.slow
def test_default_demo_runs_the_domains_end_to_end(tmp_path):
    result = run_demo(tmp_path, "--events", "60", "--fault-rate", "0.3")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "every event is accounted for" in result.stdout
    assert "xact tables" in result.stdout
    assert (tmp_path / "tables" / "xact_events" / "_delta_log").is_dir()
    assert no_leftovers(tmp_path)


def test_unknown_scenario_is_refused_with_the_installed_names(tmp_path):
    result = run_demo(tmp_path, "--scenario", "nope")
    assert result.returncode != 0
    assert "no scenario nope; installed:" in result.stderr and "echo" in result.stderr
