"""deploy/setup-kafka.sh with fake podman, podman-compose, dnf, systemctl, journalctl and vpipe
(no Podman here): the calls per command, and the compose file's broker settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from deploy_facts import DEPLOY
from fakes import FakeSystem, logging_command, write_command

from vpipe_testing.apache_kafka import KAFKA_VERSION, production_settings

SCRIPT = DEPLOY / "setup-kafka.sh"
COMPOSE = DEPLOY / "kafka-compose.yml"
CONTAINER = "kafka-pipeline-local"
UNIT = f"container-{CONTAINER}.service"
UP = f"podman-compose -p kafka-pipeline -f {COMPOSE} up -d"
HEALTH = f"podman healthcheck run {CONTAINER}"

# Health checks fail $FAKE_UNHEALTHY_TIMES times, then pass.
PODMAN = r"""#!/usr/bin/env bash
printf 'podman %s\n' "$*" >> "$FAKE_CALLS"
case "$1 ${2:-}" in
    "healthcheck run")
        count=$(cat "$FAKE_CALLS.health" 2>/dev/null || echo 0)
        echo $((count + 1)) > "$FAKE_CALLS.health"
        [[ $count -ge ${FAKE_UNHEALTHY_TIMES:-0} ]] || exit 1
        ;;
    "generate systemd") printf '[Unit]\nDescription=fake podman unit\n' ;;
    "inspect --format") echo running ;;
esac
"""
# dnf "installs" a package by copying its fake from the store into the bin directory.
DNF = r"""#!/usr/bin/env bash
printf 'dnf %s\n' "$*" >> "$FAKE_CALLS"
for package in "${@:3}"; do cp "$FAKE_STORE/$package" "$FAKE_BIN/$package"; done
exit "${FAKE_DNF_EXIT:-0}"
"""


class Host:
    def __init__(self, root: Path) -> None:
        self.system = FakeSystem(root)
        self.store = root / "store"
        self.store.mkdir()
        write_command(self.store, "podman", PODMAN)
        logging_command(self.store, "podman-compose")
        write_command(self.system.bin, "dnf", DNF)
        self.vpipe = logging_command(root, "vpipe")
        self.unit_dir = root / "systemd"
        self.unit_dir.mkdir()

    def install_fake(self, *names: str) -> None:
        for name in names:
            (self.system.bin / name).write_text((self.store / name).read_text())
            (self.system.bin / name).chmod(0o755)

    def run(self, *args: str, **env: str):
        base = {
            "UNIT_DIR": str(self.unit_dir),
            "VPIPE_BIN": str(self.vpipe),
            "HEALTH_INTERVAL": "0",
            "VPIPE_INSTALL_STAGING": "1",
            "FAKE_STORE": str(self.store),
            "FAKE_BIN": str(self.system.bin),
            # Only the fakes and the basic tools: a host without podman.
            "PATH": f"{self.system.bin}:/usr/bin:/bin",
        }
        (self.system.root / "calls.health").unlink(missing_ok=True)
        return self.system.run(SCRIPT, *args, **{**base, **env})

    def unit_installed(self) -> None:
        (self.unit_dir / UNIT).write_text("[Unit]\n")


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_install_starts_waits_installs_the_unit_and_creates_topics(host: Host):
    host.install_fake("podman", "podman-compose")
    run = host.run("install", FAKE_UNHEALTHY_TIMES="2")
    assert run.returncode == 0, run.stderr
    assert run.calls == [
        UP,
        HEALTH,
        HEALTH,
        HEALTH,
        f"podman generate systemd --name {CONTAINER} --restart-policy=always",
        "systemctl daemon-reload",
        f"podman stop {CONTAINER}",
        f"systemctl enable --now {UNIT}",
        HEALTH,
        "vpipe topics create --bootstrap localhost:9094",
    ]
    assert (host.unit_dir / UNIT).read_text().startswith("[Unit]")


def test_install_is_the_default_command(host: Host):
    host.install_fake("podman", "podman-compose")
    assert host.run().calls[0] == UP


@pytest.mark.skipif(
    any(shutil.which(tool, path="/usr/bin:/bin") for tool in ("podman", "podman-compose")),
    reason="podman is installed on this machine, so the script has nothing to install",
)
def test_install_installs_missing_podman_packages(host: Host):
    run = host.run("install")
    assert run.returncode == 0, run.stderr
    assert run.calls[:2] == ["dnf install -y podman podman-compose", UP]


def test_install_explains_where_podman_compose_comes_from_when_dnf_fails(host: Host):
    host.install_fake("podman")
    run = host.run("install", FAKE_DNF_EXIT="1")
    assert run.returncode == 1
    assert run.calls == ["dnf install -y podman-compose"]
    assert "EPEL" in run.stderr and "pip3 install podman-compose" in run.stderr


def test_install_fails_when_kafka_never_becomes_healthy(host: Host):
    host.install_fake("podman", "podman-compose")
    run = host.run("install", FAKE_UNHEALTHY_TIMES="99", HEALTH_TRIES="3")
    assert run.returncode == 1
    assert run.calls == [UP, HEALTH, HEALTH, HEALTH]
    assert f"not healthy after 0 s; see: podman logs {CONTAINER}" in run.stderr


def test_install_without_vpipe_says_how_to_create_topics_later(host: Host, tmp_path: Path):
    host.install_fake("podman", "podman-compose")
    run = host.run("install", VPIPE_BIN="", INSTALL_DIR=str(tmp_path / "none"))
    assert run.returncode == 0, run.stderr
    assert "vpipe topics create --bootstrap localhost:9094" in run.stdout
    assert not any(call.startswith("vpipe") for call in run.calls)


@pytest.mark.parametrize(
    ("command", "unit", "expected"),
    [
        ("start", False, [UP, HEALTH]),
        ("start", True, [f"systemctl start {UNIT}", HEALTH]),
        ("stop", False, [f"podman stop {CONTAINER}"]),
        ("stop", True, [f"systemctl stop {UNIT}"]),
        ("restart", True, [f"systemctl stop {UNIT}", f"systemctl start {UNIT}", HEALTH]),
        ("logs", True, [f"journalctl -f -u {UNIT}"]),
        ("logs", False, [f"podman logs -f {CONTAINER}"]),
        ("topics", False, ["vpipe topics list --bootstrap localhost:9094"]),
    ],
)
def test_commands_issue_the_expected_calls(host: Host, command, unit, expected):
    host.install_fake("podman", "podman-compose")
    if unit:
        host.unit_installed()
    run = host.run(command)
    assert run.returncode == 0, run.stderr
    assert run.calls == expected


def test_status_reports_container_health_and_unit(host: Host):
    host.install_fake("podman", "podman-compose")
    host.unit_installed()
    run = host.run("status")
    assert run.returncode == 0, run.stderr
    assert run.calls == [
        f"podman inspect --format {{{{.State.Status}}}} {CONTAINER}",
        HEALTH,
        f"systemctl is-active {UNIT}",
    ]
    assert f"container {CONTAINER}: running, healthy" in run.stdout


def test_unknown_command_prints_usage(host: Host):
    run = host.run("frobnicate")
    assert run.returncode == 1
    assert "unknown command 'frobnicate'" in run.stderr and "Usage: setup-kafka.sh" in run.stderr
    assert run.calls == []


def test_compose_file_runs_kafka_4_in_kraft_mode_with_persistent_data():
    compose = yaml.safe_load(COMPOSE.read_text())
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"].endswith(f"apache/kafka:{KAFKA_VERSION}"), "the tests' Kafka version"
    assert kafka["container_name"] == CONTAINER
    assert kafka["ports"] == ["127.0.0.1:9094:9094"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "EXTERNAL://localhost:9094" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert f"INTERNAL://{CONTAINER}:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_MESSAGE_MAX_BYTES"] == str(10 * 1024 * 1024)
    assert env["KAFKA_LOG_RETENTION_HOURS"] == "168"
    volume, _, mount = kafka["volumes"][0].partition(":")
    assert mount == env["KAFKA_LOG_DIRS"], "data must live on the volume"
    assert compose["volumes"][volume]["name"] == "kafka-pipeline-data"
    assert "healthcheck" in kafka


def test_compose_file_sets_the_broker_settings_the_tests_run_with():
    """One source: vpipe_core/deploy/kafka.properties, which the test broker also reads."""
    env = yaml.safe_load(COMPOSE.read_text())["services"]["kafka"]["environment"]
    for name, value in production_settings().items():
        variable = "KAFKA_" + name.upper().replace(".", "_")
        assert env.get(variable) == value, f"{variable} in deploy/kafka-compose.yml"


@pytest.mark.parametrize("command", ["start", "stop", "restart", "status", "logs"])
def test_every_command_without_podman_says_what_is_missing_and_how_to_get_it(
    host: Host, command: str
):
    run = host.run(command)
    assert run.returncode == 1
    assert "podman" in run.stderr and "not installed" in run.stderr
    assert "install" in run.stderr and "command not found" not in run.stderr
    assert not any(call.startswith(("podman", "systemctl", "journalctl")) for call in run.calls)
