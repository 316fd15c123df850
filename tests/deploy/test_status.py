"""`vpipe status` against fake metrics servers (health, readiness, lag figures) and a fake
systemctl: which instances it lists, what it reads from each, and its exit code."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from fakes import SYSTEMCTL, write_command
from prometheus_client import generate_latest

from vpipe_core.cli.main import main
from vpipe_core.deploy import catalogue
from vpipe_core.deploy.lag import partition_lags, total_by_group
from vpipe_core.deploy.status import collect_status
from vpipe_core.ops import metrics
from vpipe_core.spec import WorkerSpec
from vpipe_testing.brokers import broker_kind

METRICS = """\
# HELP vpipe_consumer_lag Consumer lag from consumer statistics
# TYPE vpipe_consumer_lag gauge
vpipe_consumer_lag{partition="0",topic="fake.in",worker="GROUP"} 12.0
vpipe_consumer_lag{partition="1",topic="fake.in",worker="GROUP"} 3.0
# HELP vpipe_committed_offset Last committed offset
# TYPE vpipe_committed_offset gauge
vpipe_committed_offset{partition="0",topic="fake.in",worker="GROUP"} 100.0
vpipe_committed_offset{partition="1",topic="fake.in",worker="GROUP"} 42.0
# HELP vpipe_in_flight Records consumed and not yet complete
# TYPE vpipe_in_flight gauge
vpipe_in_flight{worker="GROUP"} 0.0
"""


class FakeWorker:
    """Serves /healthz, /readyz and /metrics like a worker instance would."""

    def __init__(self, group: str, healthy: bool = True, reasons: tuple[str, ...] = ()) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = owner.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.group, self.healthy, self.reasons = group, healthy, reasons
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[int, bytes]:
        if path == "/healthz":
            return (200 if self.healthy else 503), b'{"status": "ok"}'
        if path == "/readyz":
            if not self.reasons:
                return 200, b'{"status": "ready"}'
            return 503, json.dumps({"reasons": list(self.reasons)}).encode()
        return 200, METRICS.replace("GROUP", self.group).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spec(name: str, port_base: int, instances: int = 1) -> WorkerSpec:
    return WorkerSpec(
        name=name, domain="fake", handler="x:y", max_instances=instances, port_base=port_base
    )


@pytest.fixture
def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A systemctl on PATH that knows the units listed in the returned file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_command(bin_dir, "systemctl", SYSTEMCTL)
    units = tmp_path / "units"
    units.write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("FAKE_UNITS", str(units))
    return units


@pytest.fixture
def workers() -> Iterator[list[FakeWorker]]:
    started: list[FakeWorker] = []
    yield started
    for worker in started:
        worker.close()


def test_lists_instances_with_unit_state_health_readiness_and_lag(fake_systemctl, workers):
    single = FakeWorker("fake-single", reasons=("no_partitions",))
    second = FakeWorker("fake-tmpl")
    workers += [single, second]
    fake_systemctl.write_text(
        "kafka-pipeline-fake-single.service active running 66\n"
        "kafka-pipeline-fake-tmpl@2.service active running 77\n"
        "kafka-pipeline-fake-tmpl@3.service failed failed 0\n"
    )
    # Instance 2 of the template answers on second.port, so its port base is one lower.
    specs = [spec("fake-single", single.port), spec("fake-tmpl", second.port - 1, instances=3)]
    report = collect_status(specs, "127.0.0.1", 2.0)

    rows = {(row.worker, row.instance): row for row in report.instances}
    assert set(rows) == {("fake-single", 1), ("fake-tmpl", 2), ("fake-tmpl", 3)}
    assert rows[("fake-single", 1)].state == "active/running"
    assert rows[("fake-single", 1)].pid == 66
    assert rows[("fake-single", 1)].ready == "no_partitions"
    assert rows[("fake-tmpl", 2)].health == "ok" and rows[("fake-tmpl", 2)].pid == 77
    assert rows[("fake-tmpl", 3)].state == "failed/failed" and rows[("fake-tmpl", 3)].health == "-"
    assert report.unhealthy == []

    lag = [(r.group, r.topic, r.partition, r.lag, r.committed, r.instance) for r in report.lag]
    assert lag == [
        ("fake-single", "fake.in", 0, 12, 100, "fake-single-1"),
        ("fake-single", "fake.in", 1, 3, 42, "fake-single-1"),
        ("fake-tmpl", "fake.in", 0, 12, 100, "fake-tmpl-2"),
        ("fake-tmpl", "fake.in", 1, 3, 42, "fake-tmpl-2"),
    ]


def test_without_systemd_the_ports_still_tell_what_runs(monkeypatch, workers):
    monkeypatch.setenv("PATH", "/nonexistent")
    worker = FakeWorker("fake-tmpl")
    workers.append(worker)
    report = collect_status([spec("fake-tmpl", worker.port, instances=2)], "127.0.0.1", 2.0)
    assert [(row.instance, row.state, row.health) for row in report.instances] == [(1, "-", "ok")]


def test_a_template_worker_with_nothing_running_gets_one_row(fake_systemctl):
    report = collect_status([spec("fake-tmpl", free_port(), instances=2)], "127.0.0.1", 0.5)
    [row] = report.instances
    assert (row.instance, row.state, row.health) == (None, "not running", "-")
    assert row.unit == "kafka-pipeline-fake-tmpl@.service"


def test_an_active_instance_that_does_not_answer_is_unhealthy(fake_systemctl):
    port = free_port()
    fake_systemctl.write_text("kafka-pipeline-fake-single.service active running 66\n")
    report = collect_status([spec("fake-single", port)], "127.0.0.1", 0.5)
    assert [row.health for row in report.unhealthy] == ["no answer"]


def commit_lag(bootstrap: str, group: str, topic: str, ends: list[int], committed: list[int]):
    """`topic` with ends[p] records in partition p, and `group` committed at committed[p]."""
    from confluent_kafka import Producer, TopicPartition

    from vpipe_testing.kafka import commit_offsets, ensure_topics

    ensure_topics(bootstrap, [topic], partitions=len(ends))
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition, count in enumerate(ends):
        for _ in range(count):
            producer.produce(topic, b"x", partition=partition)
    assert producer.flush(30) == 0
    offsets = [TopicPartition(topic, p, offset) for p, offset in enumerate(committed)]
    commit_offsets(bootstrap, group, offsets)


def test_cli_prints_both_tables_and_exits_1_on_a_stalled_instance(
    fake_systemctl, workers, monkeypatch, kafka_bootstrap
):
    if broker_kind() != "kafka":
        pytest.skip("the memory-only broker reports a partition's end as its count of batches")
    stalled = FakeWorker("fake-single", healthy=False)
    workers.append(stalled)
    consumer_spec = attrs.evolve(spec("fake-single", stalled.port), input_topics=("fake.in",))
    monkeypatch.setattr(catalogue, "installed_specs", lambda domains=(): [consumer_spec])
    commit_lag(kafka_bootstrap, "fake-single", "fake.in", ends=[112, 45], committed=[100, 42])
    result = CliRunner().invoke(main, ["status", "--bootstrap", kafka_bootstrap])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["WORKER", "INSTANCE", "STATE", "PID", "PORT", "HEALTH", "READY"]
    assert lines[1].split()[:6] == [
        "fake-single",
        "1",
        "inactive/dead",
        "-",
        str(stalled.port),
        "stalled",
    ]
    assert "fake.in" in result.output
    assert "total lag per group: fake-single 15" in result.output

    as_json = CliRunner().invoke(main, ["status", "--json", "--bootstrap", kafka_bootstrap])
    assert [
        (r["partition"], r["lag"], r["committed"]) for r in json.loads(as_json.output)["lag"]
    ] == [
        (0, 12, 100),
        (1, 3, 42),
    ]


def test_cli_rejects_unknown_workers(monkeypatch):
    monkeypatch.setattr(catalogue, "installed_specs", lambda domains=(): [spec("fake-a", 8999)])
    result = CliRunner().invoke(main, ["status", "nope"])
    assert result.exit_code == 2 and "unknown worker(s): nope" in result.output


def test_lag_parsing_keeps_rows_without_lag_yet():
    text = METRICS.replace("GROUP", "g").replace(
        'vpipe_consumer_lag{partition="1",topic="fake.in",worker="g"} 3.0\n', ""
    )
    rows = partition_lags(text, "g-1")
    assert [(row.partition, row.lag, row.committed) for row in rows] == [
        (0, 12, 100),
        (1, None, 42),
    ]
    assert total_by_group(rows) == {"g": 12}


def test_a_revoked_partition_loses_its_gauges():
    metrics.consumer_lag.labels("status-test", "t", "3").set(9)
    metrics.committed_offset.labels("status-test", "t", "3").set(90)
    metrics.forget_partition("status-test", "t", 3)
    metrics.forget_partition("status-test", "t", 3)  # twice: nothing left to remove is fine
    assert 'worker="status-test"' not in generate_latest(metrics.REGISTRY).decode()
