"""Starting workers: config errors, discovery, the third domain, log files, plugins, ports."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

import vpipe_core
from vpipe_core import runner
from vpipe_core.spec import WorkerSpec
from vpipe_testing.kafka import produce, read_all
from vpipe_testing.workers import worker_command, worker_environment

CORE_DIR = Path(vpipe_core.__file__).parent


def run_worker_cli(tmp_path, *args, bootstrap="127.0.0.1:1", **env):
    environment = worker_environment(bootstrap, tmp_path, STARTUP_MAX_RETRIES="0", **env)
    return subprocess.run(
        [*worker_command(), *args], env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "KAFKA_SESSION_TIMEOUT_MS",
            "abc",
            "KAFKA_SESSION_TIMEOUT_MS: got 'abc', expected an integer",
        ),
        ("JSON_LOGS", "maybe", "JSON_LOGS: got 'maybe', expected"),
        ("KAFKA_AUTO_OFFSET_RESET", "middle", "KAFKA_AUTO_OFFSET_RESET: got 'middle', expected"),
        ("RETRY_DELAYS", "300,soon", "RETRY_DELAYS: got '300,soon', expected"),
        ("LOCAL_KAFKA_BOOTSTRAP_SERVERS", "x:1", "KAFKA_BOOTSTRAP_SERVERS"),
        ("VPIPE_PLUGINZ", "a", "VPIPE_PLUGINZ: unknown variable"),
        ("TESTDOM_SLEEP_MS", "-5", "TESTDOM_SLEEP_MS: got '-5', expected"),
        ("TESTDOM_RETRY_DELAYS", "300,soon", "TESTDOM_RETRY_DELAYS: got '300,soon', expected"),
    ],
)
def test_config_errors_name_the_variable_and_exit_2(tmp_path, variable, value, expected):
    result = run_worker_cli(tmp_path, "--name", "testdom-echo", **{variable: value})
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr


def test_secret_values_are_masked_in_config_errors(tmp_path):
    result = run_worker_cli(
        tmp_path, "--name", "testdom-echo", KAFKA_SASL_PASSWORD="hunter22", JSON_LOGS="maybe"
    )
    assert result.returncode == 2
    assert "hunter22" not in result.stderr


def test_a_log_dir_that_cannot_be_written_is_a_config_error_naming_log_dir(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    log_dir = tmp_path / "a-file" / "logs"
    result = run_worker_cli(tmp_path, "--name", "testdom-echo", LOG_DIR=str(log_dir))
    assert result.returncode == 2, result.stderr
    assert f"LOG_DIR={log_dir}: cannot write the log there" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("worker", ["xact-upload", "xact-download"])
def test_a_malformed_onelake_destination_is_a_config_error(tmp_path, worker):
    """Both transfer workers open the destination store: the download worker stages there."""
    result = run_worker_cli(tmp_path, "--name", worker, ONELAKE_BASE_PATH="abfss://nope")
    assert result.returncode == 2, result.stderr
    assert f"OneLake destination of {worker} (ONELAKE_BASE_PATH" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_worker_lists_the_installed_ones(tmp_path):
    result = run_worker_cli(tmp_path, "--name", "xact-nope")
    assert result.returncode == 2
    assert "testdom-echo" in result.stderr and "vpipe workers list" in result.stderr


def test_instance_above_maximum_is_refused(tmp_path):
    result = run_worker_cli(tmp_path, "--name", "testdom-echo", "--instance", "5")
    assert result.returncode == 2
    assert "testdom-echo" in result.stderr and "5" in result.stderr


def test_missing_topics_are_a_config_error(tmp_path, fresh_kafka):
    result = run_worker_cli(tmp_path, "--name", "testdom-echo", bootstrap=fresh_kafka)
    assert result.returncode == 2
    assert "testdom.in" in result.stderr and "vpipe topics create" in result.stderr


def test_third_domain_runs_without_core_knowing_it(tmp_path):
    listed = subprocess.run(
        [sys.executable, "-m", "vpipe_core.cli.main", "workers", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "testdom-echo" in listed.stdout and "testdom-retry-scheduler" in listed.stdout
    for source in CORE_DIR.rglob("*.py"):
        assert "testdom" not in source.read_text(), f"{source} names the test domain"


def test_overlapping_port_ranges_are_refused_naming_both(monkeypatch, capsys):
    intruder = WorkerSpec(
        name="other-intruder", domain="other", handler="x:y", port_base=8902, max_instances=3
    )
    from vpipe_core import registry

    real = registry.load_all_workers

    def with_intruder():
        specs, failures = real()
        return [*specs, intruder], failures

    monkeypatch.setattr(registry, "load_all_workers", with_intruder)
    monkeypatch.setenv("VPIPE_ENV_FILE", "/dev/null")
    assert runner.run_worker("testdom-echo", 1) == 2
    error = capsys.readouterr().err
    assert "testdom-echo" in error and "other-intruder" in error
    assert "8900-8903" in error and "8902-8904" in error


def test_log_file_layout_and_presigned_url_redaction(testdom, start_worker, tmp_path):
    days = {datetime.now(UTC).date()}  # the day the log file was opened, should midnight (UTC) pass
    worker = start_worker("testdom-echo", testdom)
    url = (
        "https://bucket.s3.amazonaws.com/claims/photo.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20260120&X-Amz-Signature=deadbeefcafe1234&X-Amz-Expires=900"
    )
    produce(testdom, "testdom.in", [orjson.dumps({"id": "u", "log_url": url})])
    read_all(testdom, "testdom.out", expect=1)
    worker.stop()

    days.add(datetime.now(UTC).date())
    logs = tmp_path / "logs" / "testdom"
    found = [
        (day, sorted((logs / f"{day:%Y-%m-%d}").glob("testdom_echo_*.log"))) for day in sorted(days)
    ]
    found = [(day, files) for day, files in found if files]
    assert found, f"no log file in {logs}"
    day, files = found[0]
    pattern = rf"testdom_echo_{day:%m%d}_\d{{4}}_[a-z]+-[a-z]+\.log"
    assert re.fullmatch(pattern, files[-1].name)
    text = files[-1].read_text()
    assert "fetching https://bucket.s3.amazonaws.com/claims/photo.jpg" in text
    assert "deadbeefcafe1234" not in text and "AKIAEXAMPLE" not in text
    assert "deadbeefcafe1234" not in worker.output()
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert all(line["worker_id"] == "testdom-echo-1" for line in lines)


def test_broken_plugin_is_reported_and_does_not_stop_workers(testdom, start_worker, tmp_path):
    doctor = subprocess.run(
        [sys.executable, "-m", "vpipe_core.cli.main", "plugins", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert doctor.returncode == 1
    assert "broken_import" in doctor.stdout + doctor.stderr
    worker = start_worker("testdom-echo", testdom)
    produce(testdom, "testdom.in", [orjson.dumps({"id": "p"})])
    assert len(read_all(testdom, "testdom.out", expect=1)) == 1
    assert "plugin skipped" in worker.output() and "broken_import" in worker.output()


def test_strict_plugins_stop_the_worker_at_start(tmp_path, testdom):
    result = run_worker_cli(
        tmp_path, "--name", "testdom-echo", bootstrap=testdom, VPIPE_PLUGINS_STRICT="true"
    )
    assert result.returncode == 2
    assert "broken_import" in result.stderr


def test_topics_create_is_idempotent(tmp_path, fresh_kafka):
    def create():
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "vpipe_core.cli.main",
                "topics",
                "create",
                "--bootstrap",
                fresh_kafka,
                "--partitions",
                "2",
            ],
            env=worker_environment(fresh_kafka, tmp_path, RETRY_DELAYS="1,2"),
            capture_output=True,
            text=True,
            timeout=60,
        )

    first, second = create(), create()
    assert first.returncode == 0, first.stderr
    created = int(re.search(r"^(\d+) created, 0 already existed", first.stdout, re.M).group(1))
    assert created > 0
    assert second.returncode == 0
    assert f"\n0 created, {created} already existed" in second.stdout
    for topic in ("testdom.in", "testdom.retry.1s", "testdom.retry.2s", "testdom.dlq", "xact.dlq"):
        assert topic in first.stdout
