"""Operator commands with no broker (issue 21): one line naming the bootstrap servers and what
to check, exit 1, no librdkafka log flood and no traceback, well inside 15 s. Arguments are
checked before connecting."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from vpipe_testing.workers import run_vpipe

COMMANDS = [
    ("topics", "list"),
    ("topics", "create"),
    ("dlq", "list", "--domain", "xact"),
    ("dlq", "show", "--domain", "claimx", "0:0"),
    ("status",),
]


@pytest.fixture(scope="module")
def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"  # nothing listens there once the socket is closed


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_each_command_says_the_broker_is_unreachable_in_one_line(
    tmp_path: Path, closed_port: str, args: tuple[str, ...]
) -> None:
    done = run_vpipe(tmp_path, closed_port, *args, timeout_s=15)
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 1, lines
    assert len(lines) <= 3, lines
    assert any(closed_port in line and "KAFKA_BOOTSTRAP_SERVERS" in line for line in lines)
    assert "Traceback" not in done.stderr and "rdkafka" not in done.stderr


def test_an_unknown_domain_is_refused_before_connecting(tmp_path: Path, closed_port: str):
    done = run_vpipe(tmp_path, closed_port, "dlq", "list", "--domain", "xcat", timeout_s=15)
    assert done.returncode == 2
    assert "'xcat' is not an installed domain" in done.stderr
    assert "did not answer" not in done.stderr
