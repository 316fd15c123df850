"""What every domain's table writer builds its sinks from (runtime.md §7, §8, §11).

`DELTA_WRITE_TIMEOUT_SECONDS` bounds each Delta call, `abfss://` tables get a renewing bearer
token from the shared Azure credential, `CA_BUNDLE` is exported to the Delta worker process,
and with `ENABLE_DELTA_WRITES=false` a writer is replaced by `WritesDisabled`: it consumes and
commits without writing (said once, loudly, at start).

The Delta worker process holds deltalake and pyarrow (≈ 115 MB): it is stopped once the tables
are prepared at start and after `DELTA_PROCESS_IDLE_SECONDS` without Delta work, and started
again by the next write.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from vpipe_core.config.loader import ConfigError
from vpipe_core.context import WorkerContext
from vpipe_core.delta.errors import DeltaWriteError
from vpipe_core.delta.process import DeltaProcess
from vpipe_core.delta.schema import TableSpec
from vpipe_core.delta.settings import DeltaSettings
from vpipe_core.delta.sink import DeltaSink
from vpipe_core.delta.storage import process_environment, storage_options
from vpipe_core.outcome import Done, Outcome
from vpipe_core.record import Record

NOTHING = Done(())

log = logging.getLogger("vpipe.delta")


def delta_settings(ctx: WorkerContext) -> DeltaSettings:
    return ctx.settings_for(DeltaSettings)


def missing_table(variable: str, worker: str, table: str) -> str:
    """The configuration problem of a writer without the URI of one of its tables."""
    return (
        f"{variable}: required by {worker}, expected a table URI "
        f"(abfss://…/Tables/{table} or a local path)"
    )


def required_table(uri: str | None, variable: str, ctx: WorkerContext, table: str) -> str:
    """`uri`, or ConfigError (exit 2) naming `variable` when it is not set."""
    if not uri:
        raise ConfigError([missing_table(variable, ctx.spec.name, table)])
    return uri


def writer_process(ctx: WorkerContext, settings: DeltaSettings) -> DeltaProcess:
    """One Delta worker process to share between the sinks of a worker."""
    return DeltaProcess(process_environment(ctx.settings.ca_bundle), settings.process_idle_s)


def table_sink(
    ctx: WorkerContext,
    uri: str,
    spec: TableSpec,
    settings: DeltaSettings,
    process: DeltaProcess | None = None,
) -> DeltaSink:
    """A sink for `uri` with the configured timeout and storage credentials (a process of its
    own when `process` is None)."""
    return DeltaSink(
        uri,
        spec,
        storage_options(uri, ctx.env, settings.write_timeout_s),
        timeout_s=settings.write_timeout_s,
        process=process,
        environment=process_environment(ctx.settings.ca_bundle),
        idle_s=settings.process_idle_s,
    )


class TableWriter(Protocol):
    def ensure_tables(self) -> None: ...

    def stop_delta_processes(self) -> None: ...


def ensure_at_start(writer: TableWriter) -> None:
    """Create missing tables and apply additive schema changes before consuming, then stop the
    Delta process: an idle writer does not hold deltalake (the first write starts it again).
    Storage that does not answer now is not fatal: the writer ensures again before its first
    write (and retries that batch in place until it does)."""
    try:
        writer.ensure_tables()
    except DeltaWriteError as exc:
        log.warning(
            "tables not ensured at start: retried before the first write",
            extra={"error": exc.message, "category": str(exc.category)},
        )
    finally:
        writer.stop_delta_processes()


class WritesDisabled:
    """The batch handler of a table writer while `ENABLE_DELTA_WRITES=false`: every record is
    done without a write, so offsets move on (the records are not written later)."""

    def __init__(self, worker: str, batch_size: int, batch_max_wait_s: float) -> None:
        self.batch_size = batch_size
        self.batch_max_wait_s = batch_max_wait_s
        log.warning(
            "ENABLE_DELTA_WRITES=false: consuming and committing WITHOUT writing any table",
            extra={"worker": worker},
        )

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        return [NOTHING] * len(records)


def writes_disabled(
    ctx: WorkerContext, settings: DeltaSettings, batch_size: int, batch_max_wait_s: float
) -> WritesDisabled | None:
    """The stand-in handler when writes are switched off, else None."""
    if settings.enable_writes:
        return None
    return WritesDisabled(ctx.spec.name, batch_size, batch_max_wait_s)
