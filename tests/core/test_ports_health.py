"""Port arithmetic and conflicts, the health/metrics server, and worker discovery."""

from __future__ import annotations

import importlib.metadata
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from vpipe_core.ops.health import HealthServer
from vpipe_core.ops.health_state import HealthState
from vpipe_core.ops.ports import PortConflict, check_ports, find_overlaps, port_table
from vpipe_core.registry import (
    WORKERS_NAMESPACE,
    WorkerLoadError,
    WorkerNotFound,
    load_all_workers,
    load_worker,
)
from vpipe_core.spec import WorkerSpec


def make_spec(name: str, port_base: int, max_instances: int = 1) -> WorkerSpec:
    return WorkerSpec(
        name=name, domain="test", handler="x:y", port_base=port_base, max_instances=max_instances
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> tuple[int, str, str]:
    """Status, content type and body, for 2xx and error statuses alike."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def get_json(url: str) -> tuple[int, Any]:
    status, content_type, body = get(url)
    assert content_type == "application/json"
    return status, json.loads(body)


# --- ports ------------------------------------------------------------------------------------


def test_port_is_base_plus_instance_minus_one() -> None:
    spec = make_spec("xact-download", 8000, max_instances=10)
    assert check_ports(spec, 1, [spec]) == 8000
    assert check_ports(spec, 10, [spec]) == 8009


def test_instance_above_max_is_refused() -> None:
    spec = make_spec("xact-download", 8000, max_instances=10)
    with pytest.raises(PortConflict, match=r"'xact-download'.*instance 11.*max_instances=10"):
        check_ports(spec, 11, [spec])


def test_instance_zero_is_refused() -> None:
    spec = make_spec("xact-poller", 8100)
    with pytest.raises(PortConflict, match="instance 0"):
        check_ports(spec, 0, [spec])


def test_port_above_65535_is_refused() -> None:
    spec = make_spec("edge-worker", 65530, max_instances=10)
    assert check_ports(spec, 6, [spec]) == 65535
    with pytest.raises(PortConflict, match="65536"):
        check_ports(spec, 7, [spec])


def test_overlap_names_both_workers_and_ranges() -> None:
    a_worker = make_spec("a-worker", 8300, max_instances=10)
    b_worker = make_spec("b-worker", 8305)
    with pytest.raises(PortConflict) as raised:
        check_ports(a_worker, 1, [a_worker, b_worker])
    message = str(raised.value)
    assert "'a-worker' (8300-8309)" in message
    assert "'b-worker' (8305-8305)" in message
    assert "port_base" in message


def test_find_overlaps_reports_each_overlapping_pair() -> None:
    a_worker = make_spec("a-worker", 8300, max_instances=10)
    b_worker = make_spec("b-worker", 8309)
    c_worker = make_spec("c-worker", 8310, max_instances=5)  # adjacent to a-worker, no overlap
    overlaps = find_overlaps([c_worker, b_worker, a_worker])
    assert [(first.name, second.name) for first, second in overlaps] == [("a-worker", "b-worker")]


def test_disjoint_ranges_pass() -> None:
    xact = make_spec("xact-download", 8000, max_instances=10)
    claimx = make_spec("claimx-enricher", 8130, max_instances=10)
    poller = make_spec("xact-poller", 8100)
    assert find_overlaps([xact, claimx, poller]) == []
    assert check_ports(claimx, 10, [xact, claimx, poller]) == 8139


def test_port_table_rows_and_overlaps() -> None:
    rows = port_table(
        [
            make_spec("b-worker", 8305),
            make_spec("a-worker", 8300, max_instances=10),
            make_spec("xact-poller", 8100),
        ]
    )
    assert rows == [
        {
            "worker": "xact-poller",
            "domain": "test",
            "instances": 1,
            "ports": "8100",
            "overlaps": [],
        },
        {
            "worker": "a-worker",
            "domain": "test",
            "instances": 10,
            "ports": "8300-8309",
            "overlaps": ["b-worker"],
        },
        {
            "worker": "b-worker",
            "domain": "test",
            "instances": 1,
            "ports": "8305",
            "overlaps": ["a-worker"],
        },
    ]


# --- health server ----------------------------------------------------------------------------


@pytest.fixture
def state() -> HealthState:
    return HealthState()


@pytest.fixture
def server(state: HealthState) -> Iterator[HealthServer]:
    health_server = HealthServer(state, free_port(), bind="127.0.0.1")
    health_server.start()
    yield health_server
    health_server.stop()


def url(server: HealthServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def test_metrics_serves_the_vpipe_registry(server: HealthServer) -> None:
    status, content_type, body = get(url(server, "/metrics"))
    assert status == 200
    assert content_type.startswith("text/plain")
    assert "vpipe_messages_consumed_total" in body
    assert "vpipe_build_info" in body


def test_healthz_follows_loop_progress(server: HealthServer, state: HealthState) -> None:
    status, body = get_json(url(server, "/healthz"))
    assert status == 200
    assert body["status"] == "ok"

    state.last_progress = time.monotonic() - 3600
    status, body = get_json(url(server, "/healthz"))
    assert status == 503
    assert body["status"] == "stalled"
    assert body["stalled_for_s"] >= 3600


def test_readyz_lists_reasons_until_ready(server: HealthServer, state: HealthState) -> None:
    state.starting = True
    state.assigned = 0
    status, body = get_json(url(server, "/readyz"))
    assert status == 503
    assert body["status"] == "not_ready"
    assert {"startup_retry", "no_partitions"} <= set(body["reasons"])

    state.starting = False
    state.assigned = 3
    state.broker_answered()
    assert get_json(url(server, "/readyz")) == (200, {"status": "ready"})

    state.set_reason("disk_full", True)
    assert get_json(url(server, "/readyz")) == (
        503,
        {"status": "not_ready", "reasons": ["disk_full"]},
    )


def test_unknown_path_is_404(server: HealthServer) -> None:
    status, _ = get_json(url(server, "/nope"))
    assert status == 404


def test_second_server_on_same_port_is_refused(server: HealthServer, state: HealthState) -> None:
    second = HealthServer(state, server.port, bind="127.0.0.1")
    with pytest.raises(PortConflict, match=str(server.port)):
        second.start()
    second.stop()  # nothing started: still safe


def test_stop_is_idempotent_and_releases_the_port(state: HealthState) -> None:
    port = free_port()
    first = HealthServer(state, port, bind="127.0.0.1")
    first.start()
    first.stop()
    first.stop()
    again = HealthServer(state, port, bind="127.0.0.1")
    again.start()
    again.stop()


# --- worker discovery (real installed entry points) -------------------------------------------


def installed_names() -> list[str]:
    return [ep.name for ep in importlib.metadata.entry_points(group=WORKERS_NAMESPACE)]


def test_missing_worker_lists_installed_names() -> None:
    with pytest.raises(WorkerNotFound) as raised:
        load_worker("no-such-worker")
    message = str(raised.value)
    assert "no-such-worker" in message
    assert "vpipe workers list" in message
    for name in installed_names():
        assert name in message


def test_each_installed_worker_loads_or_fails_clearly() -> None:
    specs, failures = load_all_workers()
    assert sorted([spec.name for spec in specs] + [f.name for f in failures]) == sorted(
        installed_names()
    )
    for failure in failures:
        with pytest.raises(WorkerLoadError, match=failure.name):
            load_worker(failure.name)
    for spec in specs:
        assert load_worker(spec.name) == spec
