"""The `<domain>-table-maintenance` worker: a source worker that publishes nothing.

Each cycle (`TABLES_CHECK_INTERVAL_SECONDS`) it reads the health of every table its domain
declares and whose URI is set, exports it as metrics, and runs what is due: compaction of the
worst partitions, a checkpoint with log cleanup, a daily vacuum. A failing table is logged and
counted (`vpipe_table_maintenance_total{outcome="error"}`) and tried again next cycle; the others
go on. One instance is enough: two would only repeat each other's work (Delta's conflict checks
keep even that safe).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from vpipe_core.context import WorkerContext
from vpipe_core.delta.process import DeltaProcess
from vpipe_core.delta.settings import DeltaSettings
from vpipe_core.delta.storage import process_environment
from vpipe_core.ops import metrics
from vpipe_core.outcome import Output
from vpipe_core.tables.declared import Target, targets
from vpipe_core.tables.maintainer import Maintainer
from vpipe_core.tables.settings import TableSettings

TICK_S = 1.0
T = TypeVar("T")

log = logging.getLogger("vpipe.tables")


class MaintenanceSource:
    def __init__(self, ctx: WorkerContext, maintainer: Maintainer, tables: list[Target]) -> None:
        self._ctx = ctx
        self._maintainer = maintainer
        self._tables = tables
        self._waiter = ThreadPoolExecutor(1, thread_name_prefix="table-maintenance")

    @property
    def poll_interval_s(self) -> float:
        return float(self._maintainer.settings.check_interval_s)

    @property
    def max_backoff_s(self) -> float:
        return self.poll_interval_s

    def poll(self) -> tuple[Sequence[Output], bool]:
        for target in self._tables:
            try:
                ran = self._alive_while(self._maintainer.run_due, target)
            except Exception as exc:  # its health could not be read (storage, token): no step ran
                metrics.table_maintenance.labels(target.table.name, "health", "error").inc()
                log.warning(
                    "table health not read; tried again next cycle",
                    extra={"table": target.table.name, "error": str(exc)},
                )
                continue
            if ran:
                log.info("table maintained", extra={"table": target.table.name, "ran": ran})
        return (), False

    def acknowledged(self, published: Any) -> None:
        """Nothing is published."""

    def close(self) -> None:
        self._waiter.shutdown(wait=False, cancel_futures=True)
        self._maintainer.close()

    def _alive_while(self, call: Callable[..., T], *args: Any) -> T:
        """Run `call` (bounded by TABLES_OPERATION_TIMEOUT_SECONDS per operation) while the loop
        keeps reporting progress: a long compaction is work, not a stall."""
        future = self._waiter.submit(call, *args)
        while True:
            try:
                return future.result(TICK_S)
            except TimeoutError:
                self._ctx.health.progressed()


def build(ctx: WorkerContext) -> MaintenanceSource:
    settings = ctx.settings_for(TableSettings)
    # the Delta process (deltalake, pyarrow) runs only while there is work: a pass every
    # TABLES_CHECK_INTERVAL_SECONDS, idle between them
    idle_s = ctx.settings_for(DeltaSettings).process_idle_s
    process = DeltaProcess(process_environment(ctx.settings.ca_bundle), idle_s)
    declared = targets(ctx.env, ctx.domain)
    tables = [target for target in declared if target.uri]
    unset = [target.table.uri_setting for target in declared if not target.uri]
    if unset:
        log.info("tables not maintained: their settings are unset", extra={"settings": unset})
    return MaintenanceSource(ctx, Maintainer(settings, ctx.env, process), tables)
