"""How every domain's table writer is built (runtime.md §7, §8, §11).

`table_writer` takes the domain's facts (its tables with the settings naming them, its row
converter, its batch bounds) and returns the worker's batch handler: a `MultiTableWriter` whose
sinks share one Delta worker process. Every declared table needs its URI (one ConfigError names
each missing variable); `DELTA_WRITE_TIMEOUT_SECONDS` bounds each Delta call, `abfss://` tables
get a renewing bearer token from the shared Azure credential, `CA_BUNDLE` is exported to the
Delta worker process. With `ENABLE_DELTA_WRITES=false` the handler is `WritesDisabled`: it
consumes and commits without writing (said once, loudly, at start), and needs no table URI.

The tables are prepared at start. The Delta worker process holds deltalake
and pyarrow (≈ 115 MB): it is stopped once the tables are prepared and after
`DELTA_PROCESS_IDLE_SECONDS` without Delta work, and started again by the next write.

A batch is written when it holds `batch_size` records, when its first record has waited
`batch_max_wait_s`, or as soon as the writer has caught up with its input (a fetch came back
short) and its previous write started `DELTA_BATCH_MIN_INTERVAL_SECONDS` ago: under load a
batch is what arrived during the previous write, the tail of a burst is written at once instead
of waiting for the timer, and a trickle makes at most one commit per interval.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from vpipe_core.config.loader import ConfigError
from vpipe_core.context import WorkerContext
from vpipe_core.delta.errors import DeltaWriteError
from vpipe_core.delta.multi_table import MultiTableWriter, RowsFor, Table
from vpipe_core.delta.process import DeltaProcess
from vpipe_core.delta.schema import TableSpec
from vpipe_core.delta.settings import DeltaSettings
from vpipe_core.delta.sink import DeltaSink, Operation
from vpipe_core.delta.storage import process_environment, storage_options
from vpipe_core.outcome import Done, Outcome
from vpipe_core.record import Record

NOTHING = Done(())

log = logging.getLogger("vpipe.delta")


@attrs.frozen
class TableTarget:
    """A table a writer writes: its declaration, its URI and the variable that sets it."""

    spec: TableSpec
    uri: str | None
    variable: str
    operation: Operation = "merge"


def table_writer(
    ctx: WorkerContext,
    targets: Sequence[TableTarget],
    rows_for: RowsFor,
    batch_size: int,
    batch_max_wait_s: float,
) -> MultiTableWriter | WritesDisabled:
    """The batch handler writing `rows_for`'s rows into `targets`, tables prepared."""
    settings = ctx.settings_for(DeltaSettings)
    if not settings.enable_writes:
        return WritesDisabled(ctx.spec.name, batch_size, batch_max_wait_s)
    uris = _uris(ctx.spec.name, targets)
    process = DeltaProcess(process_environment(ctx.settings.ca_bundle), settings.process_idle_s)
    tables = [
        Table(t.spec.name, _table_sink(ctx, uri, t.spec, settings, process), t.operation)
        for t, uri in zip(targets, uris, strict=True)
    ]
    writer = MultiTableWriter(
        tables,
        ctx.spec.name,
        rows_for,
        batch_size,
        batch_max_wait_s,
        process=process,
        batch_min_interval_s=settings.batch_min_interval_s,
    )
    _ensure_at_start(writer)
    return writer


def _uris(worker: str, targets: Sequence[TableTarget]) -> list[str]:
    """The targets' URIs; a ConfigError (exit 2) naming every variable that is not set."""
    missing = [
        f"{t.variable}: required by {worker}, expected a table URI "
        f"(abfss://…/Tables/{t.spec.name} or a local path)"
        for t in targets
        if not t.uri
    ]
    if missing:
        raise ConfigError(missing)
    return [t.uri for t in targets if t.uri]


def _table_sink(
    ctx: WorkerContext, uri: str, spec: TableSpec, settings: DeltaSettings, process: DeltaProcess
) -> DeltaSink:
    """A sink for `uri` with the configured timeout and storage credentials."""
    return DeltaSink(
        uri,
        spec,
        storage_options(uri, ctx.env, settings.write_timeout_s),
        timeout_s=settings.write_timeout_s,
        process=process,
    )


def _ensure_at_start(writer: MultiTableWriter) -> None:
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
