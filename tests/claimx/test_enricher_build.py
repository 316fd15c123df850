"""`vpipe_claimx.enricher:build` honours the enricher's settings (runtime.md §7: a test per
variable that changes it and observes the effect)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from enricher_support import record, records, task_of

from vpipe_claimx.enricher import ClaimxEnricher, build
from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import ConfigError
from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Dead
from vpipe_core.registry import load_worker
from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault

E1 = r"/export/project/\d+$"


@pytest.fixture
def fake() -> Iterator[FakeClaimxApi]:
    with FakeClaimxApi() as server:
        yield server


def built(fake: FakeClaimxApi, tmp_path: Path, **env: str) -> ClaimxEnricher:
    settings = CoreSettings(state_dir=tmp_path / "state", plugins=())
    env = {"CLAIMX_API_URL": fake.url, "CLAIMX_API_TOKEN": fake.token, **env}
    ctx = WorkerContext(load_worker("claimx-enricher"), 1, "g", settings, env, logging.getLogger())
    return build(ctx)


def projects_table(tmp_path: Path) -> str:
    uri = str(tmp_path / "claimx_projects")
    write_deltalake(uri, pa.table({"project_id": ["5517342", "5520917"]}))
    return uri


def test_batch_size(fake, tmp_path):
    assert built(fake, tmp_path).batch_size == 100
    assert built(fake, tmp_path, CLAIMX_ENRICH_BATCH_SIZE="7").batch_size == 7


@pytest.mark.parametrize(("ttl", "e1_calls"), [("1800", 0), ("0", 1)])
def test_preload_skips_the_pre_flight_unless_the_cache_is_off(fake, tmp_path, ttl, e1_calls):
    enricher = built(
        fake,
        tmp_path,
        CLAIMX_PROJECT_CACHE_PRELOAD="true",
        CLAIMX_DELTA_PROJECTS_TABLE=projects_table(tmp_path),
        CLAIMX_PROJECT_CACHE_TTL_SECONDS=ttl,
    )
    enricher.handle_batch([record(task_of(3))])
    assert fake.count(E1) == e1_calls


def test_preload_off_by_default_and_a_missing_table_is_not_fatal(fake, tmp_path, caplog):
    built(fake, tmp_path, CLAIMX_DELTA_PROJECTS_TABLE=projects_table(tmp_path)).handle_batch(
        [record(task_of(3))]
    )
    assert fake.count(E1) == 1
    missing = str(tmp_path / "nowhere")
    enricher = built(
        fake, tmp_path, CLAIMX_PROJECT_CACHE_PRELOAD="true", CLAIMX_DELTA_PROJECTS_TABLE=missing
    )
    assert "project cache preload from" in caplog.text
    enricher.handle_batch([record(task_of(3))])
    assert fake.count(E1) == 2


def test_api_concurrency_bounds_calls_in_flight(fake, tmp_path):
    fake.inject(E1, Fault.slow(0.3), times=None)
    enricher = built(fake, tmp_path, CLAIMX_API_CONCURRENCY="3")
    tasks = [task_of(1, project_id=str(7000000 + n), event_id=f"e{n}") for n in range(6)]
    outcomes = enricher.handle_batch(records(tasks))
    assert all(isinstance(o, Dead) for o in outcomes), "unknown projects: 404"
    assert fake.count(E1) == 6 and fake.max_in_flight == 3


def test_a_missing_token_is_a_config_error(fake, tmp_path):
    with pytest.raises(ConfigError, match="CLAIMX_API_TOKEN"):
        built(fake, tmp_path, CLAIMX_API_TOKEN="")
