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
    assert "retried (testdom.retry." in result.stdout and "vpipe trace --trace-id" in result.stdout
    assert "dead-lettered (testdom.dlq" in result.stdout
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


def test_without_the_test_kit_the_command_says_what_to_install(monkeypatch):
    from click.testing import CliRunner

    from vpipe_core.cli import main

    monkeypatch.setitem(main.SUBCOMMANDS, "demo", ("no_such_kit.demo.command:demo", "Demo."))
    monkeypatch.setitem(main.PROVIDED_BY, "no_such_kit", "no-such-kit")
    for arguments in (["demo", "--events", "5"], ["demo", "--help"]):
        result = CliRunner().invoke(main.main, arguments)
        assert result.exit_code == 1
        assert "is part of no-such-kit, which is not installed" in result.output
        assert "pip install no-such-kit" in result.output


class MissingImport:
    """An entry point whose module fails to import `missing`."""

    def __init__(self, name: str, module: str, missing: str) -> None:
        self.name, self.module, self.missing = name, module, missing

    def load(self) -> None:
        raise ModuleNotFoundError(f"No module named {self.missing!r}", name=self.missing)


def test_a_kit_scenario_whose_domain_is_not_installed_is_skipped(monkeypatch):
    from importlib.metadata import EntryPoint

    import vpipe_testing.demo as demo

    echo = EntryPoint("echo", "vpipe_testdomain.demo:echo", demo.DEMOS_GROUP)
    gone = MissingImport("gone", "vpipe_testing.gone.demo", "vpipe_gone")
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [echo, gone])
    assert list(demo.installed_scenarios()) == ["echo"]

    broken = MissingImport("broken", "vpipe_testing.gone.demo", "vpipe_testing.gone")
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [echo, broken])
    with pytest.raises(ModuleNotFoundError):
        demo.installed_scenarios()
