"""The ClaimX table writers prepare their tables at start and then leave no Delta process
(deltalake, pyarrow) running: an idle writer stays small; the first write starts it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import load_settings
from vpipe_core.context import WorkerContext
from vpipe_core.delta.multi_table import MultiTableWriter
from vpipe_core.registry import handler_factory, load_worker
from vpipe_testing.claimx.demo import table_env

WRITERS = ("claimx-delta-writer", "claimx-entity-writer", "claimx-result-processor")


def build(worker: str, env: dict[str, str]) -> MultiTableWriter:
    spec = load_worker(worker)
    settings = load_settings(CoreSettings, env)
    ctx = WorkerContext(spec, 1, spec.name, settings, env, logging.getLogger("test"))
    handler = handler_factory(spec)(ctx)
    assert isinstance(handler, MultiTableWriter)
    return handler


@pytest.mark.parametrize("worker", WRITERS)
def test_tables_are_prepared_at_start_and_no_delta_process_is_left_running(
    worker: str, tmp_path: Path
) -> None:
    handler = build(worker, table_env(tmp_path / "tables"))
    try:
        sinks = [table.sink for table in handler._tables]
        assert all((Path(sink.table_uri) / "_delta_log").is_dir() for sink in sinks)
        assert not any(sink.process.alive for sink in sinks)
    finally:
        handler.close()


@pytest.mark.parametrize("worker", WRITERS)
def test_the_quiet_period_comes_from_the_setting(worker: str, tmp_path: Path) -> None:
    env = table_env(tmp_path / "tables")
    handler = build(worker, {**env, "DELTA_PROCESS_IDLE_SECONDS": "7"})
    try:
        assert {table.sink.process.idle_s for table in handler._tables} == {7}
    finally:
        handler.close()
    handler = build(worker, env)
    handler.close()
    assert {table.sink.process.idle_s for table in handler._tables} == {60}
