"""deploy/manage-workers.sh driven with fake systemctl/journalctl/curl: exactly the expected calls
per command, instance ranges, and clear errors for unknown workers and bad counts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deploy_facts import DEPLOY
from fakes import FakeSystem, vpipe_command

SCRIPT = DEPLOY / "manage-workers.sh"
DL = "kafka-pipeline-xact-download"
UP = "kafka-pipeline-xact-upload"
SINGLE = "kafka-pipeline-xact-result-processor.service"
LIST = "systemctl list-units --all --plain --no-legend --no-pager"
SHOW = "systemctl show --property=ActiveState,SubState,MainPID"


def dl(*instances: int) -> str:
    return " ".join(f"{DL}@{n}.service" for n in instances)


def up(*instances: int) -> str:
    return " ".join(f"{UP}@{n}.service" for n in instances)


THREE_RUNNING = (
    f"{DL}@1.service active running 101",
    f"{DL}@2.service active running 102",
    f"{DL}@3.service active running 103",
    f"{DL}@4.service failed failed 0",
)

# (arguments, units the fake systemd knows, expected calls in order)
CALL_TABLE = [
    (["start", "xact-download", "4"], (), [f"systemctl start {dl(1, 2, 3, 4)}"]),
    (["start", "xact-download"], (), [f"systemctl start {dl(1)}"]),
    (["start", "xact-download", "10"], (), [f"systemctl start {dl(*range(1, 11))}"]),
    (["start", "xact-result-processor"], (), [f"systemctl start {SINGLE}"]),
    (["stop", "xact-download"], (), [f"systemctl stop {DL}@*.service"]),
    (["stop", "xact-download", "3"], (), [f"systemctl stop {dl(3)}"]),
    (["stop", "xact-result-processor"], (), [f"systemctl stop {SINGLE}"]),
    (
        ["restart", "xact-download"],
        THREE_RUNNING,
        [
            f"{LIST} {DL}@*.service",
            f"systemctl stop {DL}@*.service",
            f"systemctl start {dl(1, 2, 3)}",
        ],
    ),
    (
        ["restart", "xact-download"],
        (),
        [
            f"{LIST} {DL}@*.service",
            f"systemctl stop {DL}@*.service",
            f"systemctl start {dl(1)}",
        ],
    ),
    (
        ["restart", "xact-download", "2"],
        THREE_RUNNING,
        [f"systemctl stop {DL}@*.service", f"systemctl start {dl(1, 2)}"],
    ),
    (["restart", "xact-result-processor"], (), [f"systemctl restart {SINGLE}"]),
    (["enable", "xact-upload", "2"], (), [f"systemctl enable {up(1, 2)}"]),
    (["enable", "xact-result-processor"], (), [f"systemctl enable {SINGLE}"]),
    (["disable", "xact-upload"], (), [f"systemctl disable {up(*range(1, 11))}"]),
    (["disable", "xact-upload", "2"], (), [f"systemctl disable {up(2)}"]),
    (["logs", "xact-download"], (), [f"journalctl -f -u {DL}@*.service"]),
    (["logs", "xact-download", "2"], (), [f"journalctl -f -u {dl(2)}"]),
    (["logs", "xact-result-processor"], (), [f"journalctl -f -u {SINGLE}"]),
    (
        ["pid", "xact-download"],
        THREE_RUNNING,
        [f"{LIST} {DL}@*.service", f"{SHOW} {dl(1)}", f"{SHOW} {dl(2)}", f"{SHOW} {dl(3)}"],
    ),
    (["pid", "xact-download", "2"], THREE_RUNNING, [f"{SHOW} {dl(2)}"]),
    (
        ["status", "xact-download"],
        THREE_RUNNING,
        [
            f"{LIST} {DL}@*.service",
            f"{SHOW} {dl(1)}",
            "curl -s -o /dev/null -w %{http_code} --max-time 2 http://127.0.0.1:8000/healthz",
            f"{SHOW} {dl(2)}",
            "curl -s -o /dev/null -w %{http_code} --max-time 2 http://127.0.0.1:8001/healthz",
            f"{SHOW} {dl(3)}",
            "curl -s -o /dev/null -w %{http_code} --max-time 2 http://127.0.0.1:8002/healthz",
            f"{SHOW} {dl(4)}",
        ],
    ),
    (
        ["status", "xact-result-processor"],
        (),
        [f"{SHOW} {SINGLE}"],
    ),
]

# (arguments, expected message on stderr); none of these may call systemctl or journalctl.
ERROR_TABLE = [
    (["start", "nope"], "unknown worker 'nope'; installed workers: "),
    (["stop", "nope", "1"], "unknown worker 'nope'"),
    (["start"], "this command needs a worker name"),
    (["start", "xact-download", "11"], "count for xact-download must be a whole number from 1 to"),
    (["start", "xact-download", "0"], "from 1 to 10 (got '0')"),
    (["start", "xact-download", "two"], "from 1 to 10 (got 'two')"),
    (["start", "xact-download", "-1"], "from 1 to 10 (got '-1')"),
    (["stop", "xact-download", "12"], "instance for xact-download must be a whole number"),
    (
        ["stop", "xact-result-processor", "2"],
        "instance for xact-result-processor must be a whole number from 1 to 1",
    ),
    (["logs", "xact-download", "x"], "instance for xact-download must be"),
    (["restart", "xact-download", "99"], "count for xact-download must be"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["start", "xact-download", "1", "extra"], "too many arguments"),
]


@pytest.fixture
def system(tmp_path: Path) -> FakeSystem:
    return FakeSystem(tmp_path)


@pytest.mark.parametrize(
    ("args", "units", "expected"), CALL_TABLE, ids=[" ".join(case[0]) for case in CALL_TABLE]
)
def test_commands_issue_exactly_the_expected_calls(system, args, units, expected):
    system.units(*units)
    run = system.run(SCRIPT, *args)
    assert run.returncode == 0, run.stderr
    assert run.calls == expected


@pytest.mark.parametrize(
    ("args", "message"), ERROR_TABLE, ids=[" ".join(case[0]) for case in ERROR_TABLE]
)
def test_bad_input_exits_1_with_a_message_and_calls_nothing(system, args, message):
    run = system.run(SCRIPT, *args)
    assert run.returncode == 1
    assert message in run.stderr
    assert run.calls == []


def test_unknown_worker_prints_usage_and_the_installed_workers(system):
    run = system.run(SCRIPT, "start", "nope")
    assert "Usage: manage-workers.sh" in run.stderr
    assert "xact-download" in run.stderr and "xact-poller" in run.stderr


def test_single_instance_worker_ignores_count_with_a_note(system):
    run = system.run(SCRIPT, "start", "xact-result-processor", "3")
    assert run.returncode == 0
    assert run.calls == [f"systemctl start {SINGLE}"]
    assert "runs a single instance; count 3 ignored" in run.stderr


def test_status_shows_running_count_state_pid_port_and_health(system):
    system.units(*THREE_RUNNING)
    run = system.run(SCRIPT, "status", "xact-download")
    rows = [line.split() for line in run.stdout.splitlines()[1:]]
    assert rows[0] == ["xact-download", "3/10", "@1", "active/running", "101", "8000", "ok"]
    assert rows[3] == ["xact-download", "3/10", "@4", "failed/failed", "-", "8003", "-"]


def test_status_lists_every_installed_worker_even_when_systemctl_fails(system):
    system.units(*THREE_RUNNING)
    run = system.run(SCRIPT, "status", FAKE_SYSTEMCTL_EXIT="1")
    assert run.returncode == 0, run.stderr
    listed = {line.split()[0] for line in run.stdout.splitlines()[1:]}
    workers = {line.split()[0] for line in system.run(SCRIPT, "list").stdout.splitlines()[1:]}
    assert listed == workers
    assert {"xact-download", "xact-poller", "xact-upload"} <= listed


def test_status_of_a_stopped_template_worker_says_inactive(system):
    run = system.run(SCRIPT, "status", "xact-upload")
    row = run.stdout.splitlines()[1].split()
    assert row == ["xact-upload", "0/10", "-", "inactive", "-", "-", "-"]


def test_pid_prints_main_pids_and_fails_when_none_runs(system):
    system.units(*THREE_RUNNING)
    assert system.run(SCRIPT, "pid", "xact-download").stdout.splitlines() == [
        f"{DL}@1.service 101",
        f"{DL}@2.service 102",
        f"{DL}@3.service 103",
    ]
    system.units()
    run = system.run(SCRIPT, "pid", "xact-download")
    assert run.returncode == 1 and "no running instance of xact-download" in run.stderr


def test_list_comes_from_vpipe_workers_list(system):
    run = system.run(SCRIPT, "list")
    rows = {line.split()[0]: line.split()[1:] for line in run.stdout.splitlines()[1:]}
    assert rows["xact-download"] == ["10", "8000-8009", f"{DL}@.service"]
    assert rows["xact-result-processor"] == ["1", "8102", SINGLE]
    assert rows["xact-poller"] == ["2", "8104-8105", "kafka-pipeline-xact-poller@.service"]
    assert run.calls == []


def test_a_failing_systemctl_fails_the_command(system):
    run = system.run(SCRIPT, "start", "xact-download", "2", FAKE_SYSTEMCTL_EXIT="1")
    assert run.returncode != 0
    assert run.calls == [f"systemctl start {dl(1, 2)}"]


def test_missing_vpipe_says_how_to_fix(system, tmp_path):
    run = system.run(SCRIPT, "list", VPIPE_BIN="", INSTALL_DIR=str(tmp_path), PATH="/usr/bin:/bin")
    assert run.returncode == 1
    assert "cannot find the vpipe command" in run.stderr and "VPIPE_BIN" in run.stderr


@pytest.mark.parametrize("flag", ["help", "--help", "-h"])
def test_help(system, flag):
    run = system.run(SCRIPT, flag)
    assert run.returncode == 0 and run.stdout.startswith("Usage: manage-workers.sh")
    assert run.calls == []


def test_start_all_starts_each_worker_at_its_recommended_count_pollers_last(system):
    run = system.run(SCRIPT, "start-all")
    assert run.returncode == 0, run.stderr
    starts = [call for call in run.calls if call.startswith("systemctl start ")]
    assert f"systemctl start {dl(1, 2, 3, 4)}" in starts, "xact-download: 4 recommended"
    assert f"systemctl start {up(1, 2)}" in starts
    # the source workers (the pollers and the table maintenance, no input topic) come last
    sources = [i for i, call in enumerate(starts) if _is_source(call)]
    assert sources == list(range(len(starts) - 4, len(starts)))
    assert sum("-poller" in starts[i] for i in sources) == 2


def test_stop_all_stops_the_pollers_first_then_every_instance(system):
    run = system.run(SCRIPT, "stop-all")
    assert run.returncode == 0, run.stderr
    stops = [call for call in run.calls if call.startswith("systemctl stop ")]
    assert all(_is_source(call) for call in stops[:4])
    assert sum("-poller" in call for call in stops[:4]) == 2
    assert f"systemctl stop {DL}@*.service" in stops
    assert not any(_is_source(call) for call in stops[4:])


def _is_source(call: str) -> bool:
    return "-poller" in call or "-table-maintenance" in call


def test_an_installed_copy_acts_on_its_own_install_without_variables(system, tmp_path):
    """install.sh --install-dir X puts the scripts in X/app/deploy: run from there, they use
    X/venv/bin/vpipe with neither INSTALL_DIR nor VPIPE_BIN set."""
    install = tmp_path / "srv" / "vpipe"
    deploy = install / "app" / "deploy"
    deploy.mkdir(parents=True)
    for script in ("manage-workers.sh", "install-lookup"):
        shutil.copy(DEPLOY / script, deploy / script)
    (install / "venv" / "bin").mkdir(parents=True)
    vpipe = install / "venv" / "bin" / "vpipe"
    vpipe.write_text(f'#!/usr/bin/env bash\nexec {vpipe_command()} "$@"\n')
    vpipe.chmod(0o755)
    run = system.run(deploy / "manage-workers.sh", "list", VPIPE_BIN="")
    assert run.returncode == 0, run.stderr
    assert "xact-download" in run.stdout
