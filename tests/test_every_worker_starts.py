"""Smoke test (claimx.md §14: a removed constructor argument once crashed a worker at start):
every installed domain worker starts as a real process and reports ready."""

from __future__ import annotations

import pytest

from vpipe_core.kafka.topics import create_worker_topics
from vpipe_core.registry import load_all_workers
from vpipe_testing.claimx.demo import table_env as claimx_tables
from vpipe_testing.workers import WorkerProcess, worker_environment
from vpipe_testing.xact.demo import table_env as xact_tables

DOMAINS = ("xact", "claimx")


@pytest.mark.slow
def test_every_domain_worker_starts_and_is_ready(fresh_kafka, tmp_path):
    specs, failures = load_all_workers()
    assert not failures, failures
    chosen = [spec for spec in specs if spec.domain in DOMAINS]
    env = worker_environment(
        fresh_kafka,
        tmp_path,
        EVENT_SOURCE="sample",
        ONELAKE_BASE_PATH=f"file://{tmp_path / 'onelake'}",
        CLAIMX_API_URL="http://127.0.0.1:9/service/cxedirest",
        CLAIMX_API_TOKEN="dXNlcjpwYXNz",
        **xact_tables(tmp_path / "tables"),
        **claimx_tables(tmp_path / "tables"),
    )
    create_worker_topics(fresh_kafka, chosen, env)
    workers = [
        WorkerProcess(spec.name, env, tmp_path, 1, spec.port_for(1)).start() for spec in chosen
    ]
    try:
        for worker in workers:
            worker.wait_ready(90)
    finally:
        for worker in workers:
            worker.stop()
    assert len(workers) >= 17
