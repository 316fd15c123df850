"""`vpipe config check` refuses what the workers refuse (issue 21), through the real command:
one message per problem, naming the variable or file and the fix, all at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = {
    "XACT_EVENT_SOURCE": "sample",
    "CLAIMX_EVENT_SOURCE": "sample",
    "CACHE_DIR": "/var/lib/kafka-pipeline/cache",
}


def config_check(tmp_path: Path, lines: dict[str, str], *args: str, mode: int = 0o640):
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in lines.items()))
    env_file.chmod(mode)
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "vpipe_core.cli.main", "config", "check"]
    return subprocess.run(
        [*command, "--env-file", str(env_file), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_good_deployment_passes(tmp_path: Path) -> None:
    done = config_check(tmp_path, GOOD)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")


CASES = {
    "eventhouse-without-cluster-or-database": (
        {"XACT_EVENT_SOURCE": "eventhouse"},
        ["XACT_EVENTHOUSE_CLUSTER_URL: required", "XACT_EVENTHOUSE_DATABASE: required"],
    ),
    "eventhub-without-endpoint": (
        {"CLAIMX_EVENT_SOURCE": "eventhub"},
        ["EVENTHUB_BOOTSTRAP_SERVERS: required", "CLAIMX_EVENTHUB_NAME: required"],
    ),
    "service-principal-without-ids": (
        {"AZURE_AUTH_METHOD": "service-principal"},
        ["AZURE_TENANT_ID: required", "AZURE_CLIENT_ID: required", "AZURE_CLIENT_SECRET"],
    ),
    "retry-delays-unreadable": (
        {"XACT_RETRY_DELAYS": "300,soon"},
        ["XACT_RETRY_DELAYS: got '300,soon', expected positive seconds"],
    ),
    "cache-under-tmp": ({"CACHE_DIR": "/tmp/cache"}, ["CACHE_DIR=/tmp/cache is under /tmp"]),
    "unresolved-reference-hides-nothing": (
        {"KAFKA_SASL_USERNAME": "${NOT_SET}", "TOPIC_PARTITIONS": "0"},
        ["${NOT_SET} is not set", "TOPIC_PARTITIONS: got '0'"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_configuration_the_workers_refuse_fails(tmp_path: Path, case: str) -> None:
    changes, expected = CASES[case]
    done = config_check(tmp_path, {**GOOD, **changes})
    assert done.returncode == 2, done.stdout
    for text in expected:
        assert text in done.stderr, done.stderr
    assert f"{len(done.stderr.splitlines()) - 1} configuration problem(s)" in done.stderr


def test_an_env_file_other_users_can_read_fails(tmp_path: Path) -> None:
    done = config_check(tmp_path, GOOD, mode=0o644)
    assert done.returncode == 2
    assert "is readable by other users (mode 0644)" in done.stderr
    assert f"chmod o-rwx {tmp_path / '.env'}" in done.stderr


def test_no_env_file_read_fails(tmp_path: Path) -> None:
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **GOOD}
    command = [sys.executable, "-m", "vpipe_core.cli.main", "config", "check"]
    done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no env file was read: pass --env-file FILE or set VPIPE_ENV_FILE" in done.stderr


def test_local_runs_allow_tmp_and_any_mode(tmp_path: Path) -> None:
    done = config_check(tmp_path, {**GOOD, "CACHE_DIR": "/tmp/c"}, "--local", mode=0o644)
    assert done.returncode == 0, done.stderr
