"""Real workers, real /metrics: every `vpipe_` name the alert rules and dashboards use is exported,
and `vpipe status` reads the same instances (health from the port, lag from their figures).

The workers run as instance 10 (ports 8009 and 8139), away from the instance-1 ports other test
modules use; between them they load every metric module the rules and dashboards draw on (core,
transfer, ClaimX API)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from monitoring import exposed_sample_names, referenced_names

from vpipe_testing.brokers import broker_kind
from vpipe_testing.kafka import produce
from vpipe_testing.workers import worker_environment

INSTANCE = 10
WORKERS = ("xact-download", "claimx-enricher")
SETTINGS = {"CLAIMX_API_TOKEN": "test-token", "CLAIMX_API_URL": "http://127.0.0.1:9/api"}
VPIPE = str(Path(sys.executable).parent / "vpipe")


MEMORY_BROKER_LAG = (
    "exported metrics checked; the lag half needs --broker kafka: the memory-only broker "
    "reports a partition's end as its count of batches, not of records, and no partition owners"
)


def vpipe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VPIPE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.slow
def test_rules_and_dashboards_use_only_exported_metrics_and_status_reads_them(
    fresh_kafka, start_worker, tmp_path
):
    settings = {**SETTINGS, "ONELAKE_BASE_PATH": (tmp_path / "onelake").as_uri()}  # staging
    env = worker_environment(fresh_kafka, tmp_path / "cli", RETRY_DELAYS="1,2", **settings)
    created = vpipe(env, "topics", "create", "--bootstrap", fresh_kafka)
    assert created.returncode == 0, created.stderr
    workers = [start_worker(name, fresh_kafka, INSTANCE, **settings) for name in WORKERS]

    exposed = set().union(*(exposed_sample_names(worker.metrics_text()) for worker in workers))
    missing = {name: sorted(files) for name, files in referenced_names().items()}
    missing = {name: files for name, files in missing.items() if name not in exposed}
    assert not missing, (
        f"metrics used by deploy/prometheus or deploy/grafana but exported by no worker: "
        f"{missing}; rename them in the rules/dashboards, or export them in the code"
    )

    if broker_kind() != "kafka":
        pytest.skip(MEMORY_BROKER_LAG)
    # One undecodable record: dead-lettered and committed, so the group has an offset to show.
    produce(fresh_kafka, "xact.downloads.pending", [b"not json"], key=b"k")
    report = wait_for_lag(env, f"xact-download-{INSTANCE}")
    rows = {(row["worker"], row["instance"]): row for row in report["instances"]}
    for name in WORKERS:
        assert rows[(name, INSTANCE)]["health"] == "ok", rows[(name, INSTANCE)]
    # The broker names the holder by its client id, `<worker>-<instance>@<host>`.
    lag = [
        row for row in report["lag"] if row["instance"].split("@")[0] == f"xact-download-{INSTANCE}"
    ]
    assert any(row["committed"] == 1 for row in lag), lag


def wait_for_lag(env: dict[str, str], instance: str, timeout_s: float = 60.0) -> dict:
    """`vpipe status --json` once it shows a committed offset reported by `instance` (other
    instances of the same workers may be running on this machine) and every worker healthy (a
    probe slower than the 2 s timeout on a loaded machine is asked again, not a failure)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = vpipe(env, "status", *WORKERS, "--json", "--timeout", "2")
        report = json.loads(result.stdout)
        healthy = {
            (row["worker"], row["instance"]) for row in report["instances"] if row["health"] == "ok"
        }
        if all((name, INSTANCE) in healthy for name in WORKERS) and any(
            row["instance"].split("@")[0] == instance and row["committed"] for row in report["lag"]
        ):
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"no committed offset from {instance}: {report}\n{result.stderr}")
        time.sleep(1)
