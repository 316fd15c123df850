"""Maintenance of declared tables, run in the Delta worker process (`delta.maintenance`).

Used by `vpipe tables` and by the `<domain>-table-maintenance` workers alike. Every call is bounded
by `TABLES_OPERATION_TIMEOUT_SECONDS`; a call that takes longer kills its process, and a kill
cannot leave half a commit (a Delta commit is one atomic log-file creation).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from vpipe_core.delta.process import DeltaProcess
from vpipe_core.delta.sink import StorageOptions
from vpipe_core.delta.storage import process_environment, storage_options
from vpipe_core.ops import metrics
from vpipe_core.tables.declared import Target
from vpipe_core.tables.health import Due, Partition, TableHealth, compaction_candidates, due
from vpipe_core.tables.settings import MIN_VACUUM_RETENTION_HOURS, TableSettings

HISTORY_LIMIT = 100  # commits read for the last optimize/vacuum (each a storage read)
MB = 1 << 20

log = logging.getLogger("vpipe.tables")


class RetentionTooShort(ValueError):
    """A vacuum retention under Delta's documented minimum, not forced."""


class NotConfigured(ValueError):
    """A declared table whose URI setting is not set."""


class Maintainer:
    def __init__(
        self,
        settings: TableSettings,
        env: Mapping[str, str],
        process: DeltaProcess | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._env = env
        self._process = process or DeltaProcess(process_environment(env.get("CA_BUNDLE")))
        self._clock = clock
        self._options: dict[str, StorageOptions] = {}  # uri -> options (a renewing token)
        # (table, "optimize" | "vacuum") -> the latest run known: its history's or our own
        self._last_ms: dict[tuple[str, str], int] = {}

    @property
    def settings(self) -> TableSettings:
        return self._settings

    def close(self) -> None:
        self._process.close()

    def health(self, target: Target) -> TableHealth | None:
        """None while the table does not exist yet."""
        reply = self._call(
            "table_health",
            target,
            self._settings.small_file_mb * MB,
            HISTORY_LIMIT,
            self._settings.vacuum_retention_hours,
        )
        if reply is None:
            return None
        health = TableHealth.from_reply(reply)
        self._remember(target, "optimize", health.last_optimize_ms)
        self._remember(target, "vacuum", health.last_vacuum_ms)
        self._observe(target, health)
        return health

    def due(self, target: Target, health: TableHealth) -> Due:
        last = self._last_ms.get((target.table.name, "vacuum"))
        return due(health, self._settings, last, self._now_ms())

    def compact(self, target: Target, partitions: list[Partition]) -> dict[str, int]:
        result: dict[str, int] = self._call(
            "table_compact",
            target,
            partitions,
            self._settings.target_file_mb * MB,
            list(target.table.z_order),
            self._settings.compact_max_tasks,
        )
        self._remember(target, "optimize", self._now_ms())
        return result

    def checkpoint(self, target: Target) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "table_checkpoint", target, self._settings.table_properties
        )
        return result

    def vacuum(
        self,
        target: Target,
        dry_run: bool,
        retention_hours: int | None = None,
        force: bool = False,
        full: bool = True,
    ) -> list[str]:
        """Delete (dry run: list) the files removed longer ago than the retention; with `full`,
        also never-committed files older than it."""
        hours = (
            self._settings.vacuum_retention_hours if retention_hours is None else retention_hours
        )
        if hours < MIN_VACUUM_RETENTION_HOURS and not force:
            raise RetentionTooShort(
                f"vacuum retention {hours} h is under {MIN_VACUUM_RETENTION_HOURS} h, Delta's "
                "documented minimum: a reader or a concurrent writer may still need those files. "
                "Use --force only when nothing reads or writes the table"
            )
        deleted: list[str] = self._call("table_vacuum", target, hours, dry_run, full)
        if not dry_run:
            self._remember(target, "vacuum", self._now_ms())
        return deleted

    def run_due(self, target: Target) -> dict[str, Any]:
        """Read the health, run what is due, and read the health again; what ran, by step (a
        failed step says `error: ...` and does not keep the others from running)."""
        ran: dict[str, Any] = {}
        health = self.health(target)
        if health is None:
            return ran
        needed = self.due(target, health)
        if needed.compact:
            ran["optimize"] = self._step(target, "optimize", self.compact, list(needed.compact))
        if needed.checkpoint:
            ran["checkpoint"] = self._step(target, "checkpoint", self.checkpoint)
        if needed.vacuum:
            deleted = self._step(target, "vacuum", self.vacuum, False)
            ran["vacuum"] = len(deleted) if isinstance(deleted, list) else deleted
        if ran:
            self.health(target)
        return ran

    def _step(self, target: Target, operation: str, run: Callable[..., Any], *args: Any) -> Any:
        started = time.monotonic()
        try:
            result = run(target, *args)
        except Exception as exc:
            metrics.table_maintenance.labels(target.table.name, operation, "error").inc()
            log.warning(
                "table maintenance failed; tried again next pass",
                extra={"table": target.table.name, "operation": operation, "error": str(exc)},
            )
            return f"error: {exc}"
        metrics.table_maintenance.labels(target.table.name, operation, "ok").inc()
        log.info(
            "table maintenance",
            extra={
                "table": target.table.name,
                "operation": operation,
                "seconds": round(time.monotonic() - started, 3),
                "result": result if not isinstance(result, list) else len(result),
            },
        )
        return result

    def _call(self, operation: str, target: Target, *args: Any) -> Any:
        if target.uri is None:
            raise NotConfigured(f"table {target.table.name}: {target.table.uri_setting} is not set")
        if target.uri not in self._options:
            timeout_s = self._settings.operation_timeout_s
            self._options[target.uri] = storage_options(target.uri, self._env, timeout_s)
        options = self._options[target.uri]
        resolved = options() if callable(options) else options
        return self._process.call(
            operation, (target.uri, resolved, *args), self._settings.operation_timeout_s
        )

    def _remember(self, target: Target, operation: str, ms: int | None) -> None:
        key = (target.table.name, operation)
        if ms is not None and ms > self._last_ms.get(key, 0):
            self._last_ms[key] = ms

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _observe(self, target: Target, health: TableHealth) -> None:
        name = target.table.name
        gauges = {
            metrics.table_files: health.files,
            metrics.table_small_files: health.small_files,
            metrics.table_bytes: health.bytes,
            metrics.table_version: health.version,
            metrics.table_commits_since_checkpoint: health.commits_since_checkpoint,
            metrics.table_vacuum_pending_files: health.vacuum_pending,
            metrics.table_compaction_due_partitions: len(
                compaction_candidates(health, self._settings)
            ),
            metrics.table_checkpoint_interval: self._settings.checkpoint_interval,
            metrics.table_vacuum_interval: self._settings.vacuum_interval_hours * 3600,
            metrics.table_health_timestamp: self._clock(),
        }
        for operation, gauge in (
            ("optimize", metrics.table_last_optimize),
            ("vacuum", metrics.table_last_vacuum),
        ):
            if (name, operation) in self._last_ms:
                gauges[gauge] = self._last_ms[(name, operation)] / 1000
        for gauge, value in gauges.items():
            gauge.labels(name).set(value)
