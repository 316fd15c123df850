"""What runs inside the Delta worker process: a request loop and the Delta operations.

Only this module and `maintenance` (table maintenance, registered below) import deltalake, and
only the worker process imports them (delta-rs
holds the GIL while it works; in the loop's process it starved heartbeats and health probes).
Requests are `(operation, args)`; replies are `("ok", value)` or
`("error", category, message, row_indexes)`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import DeltaProtocolError, SchemaMismatchError, TableNotFoundError
from deltalake.schema import Field, PrimitiveType

from vpipe_core.delta import maintenance
from vpipe_core.delta.convert import (
    ARROW_CONVERSION_ERRORS,
    Casts,
    cast_columns,
    from_ipc,
    mask_name,
    prepare,
)
from vpipe_core.delta.errors import DeltaWriteError, permanent
from vpipe_core.delta.merge import merge_plan
from vpipe_core.delta.schema import TableSpec, arrow_schema
from vpipe_core.outcome import Category

Options = Mapping[str, str] | None
Payload = tuple[Literal["arrow"], bytes] | tuple[Literal["rows"], list[dict[str, Any]]]
Reply = tuple[Any, ...]
Transactions = Mapping[str, int]
WRITTEN, SKIPPED = "written", "skipped"
PERMANENT_ERRORS = (SchemaMismatchError, DeltaProtocolError, *ARROW_CONVERSION_ERRORS)

_tables: dict[str, tuple[dict[str, str] | None, DeltaTable]] = {}  # uri -> (options, table)


def serve(conn: Connection) -> None:
    """Answer requests until the parent closes the pipe or sends None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this process ends
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        conn.send(handle(*request))


def handle(operation: str, args: tuple[Any, ...]) -> Reply:
    try:
        return ("ok", OPERATIONS[operation](*args))
    except Exception as exc:
        if args and isinstance(args[0], str):
            _tables.pop(args[0], None)  # the cached snapshot may be stale after a failure
        error = classify(exc)
        return ("error", str(error.category), error.message, error.rows)


def classify(exc: Exception) -> DeltaWriteError:
    """Schema and conversion errors are permanent; everything else (object-store I/O, commit
    conflicts, unknown failures) is transient and retried in place."""
    if isinstance(exc, DeltaWriteError):
        return exc
    category = Category.PERMANENT if isinstance(exc, PERMANENT_ERRORS) else Category.TRANSIENT
    return DeltaWriteError(category, f"{type(exc).__name__}: {exc}")


def ensure(uri: str, options: Options, spec: TableSpec) -> dict[str, pa.DataType]:
    """Create the table from the declaration, or add declared columns it lacks (additive).
    Returns the columns the table holds in another type than declared: writes cast to it."""
    table = _open(uri, options) or _create(uri, options, spec)
    missing = [c for c in spec.columns if c.name not in _table_types(table)]
    if missing:
        table.alter.add_columns([Field(c.name, PrimitiveType(c.type)) for c in missing])
    return _casts(table, spec)


def committed_version(uri: str, options: Options, app_id: str) -> int | None:
    table = _open(uri, options)
    return None if table is None else table.transaction_version(app_id)


def append(
    uri: str, options: Options, spec: TableSpec, payload: Payload, transactions: Transactions
) -> str:
    table = _open(uri, options) or _create(uri, options, spec)
    pending = _not_committed(table, transactions)
    if not pending:
        return SKIPPED
    data = decode(spec, payload, for_merge=False, casts=_casts(table, spec))
    data = _fill_undeclared(table, spec, data)
    write_deltalake(table, data, mode="append", commit_properties=_txn(pending))
    return WRITTEN


def merge(
    uri: str, options: Options, spec: TableSpec, payload: Payload, transactions: Transactions
) -> str:
    table = _open(uri, options) or _create(uri, options, spec)
    pending = _not_committed(table, transactions)
    if not pending:
        return SKIPPED
    data = decode(spec, payload, for_merge=True, casts=_casts(table, spec))
    _upsert(table, spec, data, _txn(pending))
    return WRITTEN


def sleep(seconds: float) -> None:
    """Test hook: a deliberately slow operation, to exercise the timeout and the kill."""
    time.sleep(seconds)


def environment_variable(name: str) -> str | None:
    """Diagnostic: what the worker process sees (e.g. the exported `SSL_CERT_FILE`)."""
    return os.environ.get(name)


def decode(
    spec: TableSpec, payload: Payload, for_merge: bool, casts: Casts | None = None
) -> pa.Table:
    """The batch in the table's column types (`arrow` payloads may have been cast already)."""
    if payload[0] == "arrow":
        return cast_columns(spec, from_ipc(payload[1]), (), casts or {})
    return prepare(spec, payload[1], for_merge, casts)


def _open(uri: str, options: Options) -> DeltaTable | None:
    """The cached table, reopened when the storage options changed (a renewed token)."""
    storage = dict(options) if options else None
    cached = _tables.get(uri)
    if cached is not None and cached[0] == storage:
        cached[1].update_incremental()
        return cached[1]
    try:
        table = DeltaTable(uri, storage_options=storage)
    except TableNotFoundError:
        if not DeltaTable.is_deltatable(uri, storage_options=storage):
            return None  # really absent; any other storage failure propagates (transient)
        raise
    _tables[uri] = (storage, table)
    return table


def _create(uri: str, options: Options, spec: TableSpec) -> DeltaTable:
    table = DeltaTable.create(
        uri,
        arrow_schema(spec),
        mode="ignore",
        partition_by=list(spec.partition_by) or None,
        name=spec.name,
        storage_options=dict(options) if options else None,
    )
    _tables[uri] = (dict(options) if options else None, table)
    return table


def _upsert(table: DeltaTable, spec: TableSpec, source: pa.Table, txn: CommitProperties) -> None:
    plan = merge_plan(spec, _carried(spec, source) if spec.partial_rows else None)
    merger = table.merge(
        source,
        predicate=plan.predicate,
        source_alias="s",
        target_alias="t",
        commit_properties=txn,
    )
    if plan.updates:
        merger = merger.when_matched_update(plan.updates, predicate=plan.update_predicate)
    merger.when_not_matched_insert(plan.inserts).execute()


def _carried(spec: TableSpec, source: pa.Table) -> dict[str, bool | None]:
    """Per column: carried by every source row (no mask), by none (all false), or by some."""
    carried: dict[str, bool | None] = {}
    for column in spec.column_names:
        name = mask_name(column)
        if name not in source.column_names:
            carried[column] = True
        elif pc.any(source.column(name)).as_py():
            carried[column] = True if pc.all(source.column(name)).as_py() else None
        else:
            carried[column] = False
    return carried


def _not_committed(table: DeltaTable, transactions: Transactions) -> dict[str, int]:
    """The transactions whose version is above the recorded one (a recorded version is never
    lowered)."""
    pending = {}
    for app_id, version in transactions.items():
        committed = table.transaction_version(app_id)
        if committed is None or committed < version:
            pending[app_id] = version
    return pending


def _txn(transactions: Transactions) -> CommitProperties:
    return CommitProperties(
        app_transactions=[Transaction(app_id, version) for app_id, version in transactions.items()]
    )


def _table_types(table: DeltaTable) -> dict[str, str]:
    return {f.name: getattr(f.type, "type", str(f.type)) for f in table.schema().fields}


def _casts(table: DeltaTable, spec: TableSpec) -> dict[str, pa.DataType]:
    """Declared columns the table holds in another type (tables of earlier pipelines, e.g. a
    string `updated_at`), with the table's Arrow type. A declared column the table lacks is a
    permanent error: `ensure` adds it, writes never evolve the schema on their own."""
    actual = _table_types(table)
    missing = [name for name in spec.column_names if name not in actual]
    if missing:
        raise permanent(
            f"table {spec.name} at {table.table_uri}: declared columns missing: {missing} "
            "(ensure_table adds them)"
        )
    differing = [name for name, declared in spec.column_types().items() if actual[name] != declared]
    if not differing:
        return {}
    stored = pa.schema(table.schema().to_arrow())
    return {name: stored.field(name).type for name in differing}


def _fill_undeclared(table: DeltaTable, spec: TableSpec, data: pa.Table) -> pa.Table:
    """Columns the table has but the declaration lacks (older writers) are written as null."""
    stored = pa.schema(table.schema().to_arrow())
    if stored.names == data.schema.names:
        return data
    columns = [
        data.column(f.name) if f.name in spec.column_names else pa.nulls(data.num_rows, f.type)
        for f in stored
    ]
    return pa.Table.from_arrays(columns, schema=stored)


OPERATIONS: dict[str, Callable[..., Any]] = {
    "ensure": ensure,
    "committed_version": committed_version,
    "append": append,
    "merge": merge,
    "sleep": sleep,
    "environment_variable": environment_variable,
    "table_health": maintenance.health,
    "table_compact": maintenance.compact,
    "table_checkpoint": maintenance.checkpoint,
    "table_vacuum": maintenance.vacuum,
}
