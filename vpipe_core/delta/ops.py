"""What runs inside the Delta worker process: a request loop and the Delta operations.

Only this module imports deltalake, and only the worker process imports this module (delta-rs
holds the GIL while it works; in the loop's process it starved heartbeats and health probes).
Requests are `(operation, args)`; replies are `("ok", value)` or
`("error", category, message, row_indexes)`.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, Literal

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import DeltaProtocolError, SchemaMismatchError, TableNotFoundError
from deltalake.schema import Field, PrimitiveType

from vpipe_core.delta.convert import ARROW_CONVERSION_ERRORS, from_ipc, prepare
from vpipe_core.delta.errors import DeltaWriteError, permanent
from vpipe_core.delta.schema import TableSpec, arrow_schema
from vpipe_core.outcome import Category

Options = Mapping[str, str] | None
Payload = tuple[Literal["arrow"], bytes] | tuple[Literal["rows"], list[dict[str, Any]]]
Reply = tuple[Any, ...]
WRITTEN, SKIPPED = "written", "skipped"
PERMANENT_ERRORS = (SchemaMismatchError, DeltaProtocolError, *ARROW_CONVERSION_ERRORS)

_tables: dict[str, DeltaTable] = {}


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


def ensure(uri: str, options: Options, spec: TableSpec) -> None:
    """Create the table from the declaration, or add declared columns it lacks (additive)."""
    table = _open(uri, options) or _create(uri, options, spec)
    missing = [c for c in spec.columns if c.name not in _table_types(table)]
    if missing:
        table.alter.add_columns([Field(c.name, PrimitiveType(c.type)) for c in missing])
    _check_schema(table, spec)


def committed_version(uri: str, options: Options, app_id: str) -> int | None:
    table = _open(uri, options)
    return None if table is None else table.transaction_version(app_id)


def append(
    uri: str, options: Options, spec: TableSpec, payload: Payload, app_id: str, version: int
) -> str:
    table = _open(uri, options) or _create(uri, options, spec)
    if _already_committed(table, app_id, version):
        return SKIPPED
    _check_schema(table, spec)
    data = _fill_undeclared(table, spec, decode(spec, payload, for_merge=False))
    write_deltalake(table, data, mode="append", commit_properties=_txn(app_id, version))
    return WRITTEN


def merge(
    uri: str, options: Options, spec: TableSpec, payload: Payload, app_id: str, version: int
) -> str:
    table = _open(uri, options) or _create(uri, options, spec)
    if _already_committed(table, app_id, version):
        return SKIPPED
    _check_schema(table, spec)
    _upsert(table, spec, decode(spec, payload, for_merge=True), _txn(app_id, version))
    return WRITTEN


def sleep(seconds: float) -> None:
    """Test hook: a deliberately slow operation, to exercise the timeout and the kill."""
    time.sleep(seconds)


def decode(spec: TableSpec, payload: Payload, for_merge: bool) -> pa.Table:
    if payload[0] == "arrow":
        return from_ipc(payload[1])
    return prepare(spec, payload[1], for_merge)


def _open(uri: str, options: Options) -> DeltaTable | None:
    table = _tables.get(uri)
    if table is not None:
        table.update_incremental()
        return table
    storage = dict(options) if options else None
    try:
        table = DeltaTable(uri, storage_options=storage)
    except TableNotFoundError:
        if not DeltaTable.is_deltatable(uri, storage_options=storage):
            return None  # really absent; any other storage failure propagates (transient)
        raise
    _tables[uri] = table
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
    _tables[uri] = table
    return table


def _upsert(table: DeltaTable, spec: TableSpec, source: pa.Table, txn: CommitProperties) -> None:
    merger = table.merge(
        source,
        predicate=" AND ".join(f"t.`{k}` = s.`{k}`" for k in spec.merge_keys),
        source_alias="s",
        target_alias="t",
        commit_properties=txn,
    )
    fixed = {*spec.merge_keys, *spec.keep_on_update}
    updates = {c: f"s.`{c}`" for c in spec.column_names if c not in fixed}
    if updates:
        merger = merger.when_matched_update(updates, predicate=_newer_or_equal(spec))
    merger.when_not_matched_insert({c: f"s.`{c}`" for c in spec.column_names}).execute()


def _already_committed(table: DeltaTable, app_id: str, version: int) -> bool:
    committed = table.transaction_version(app_id)
    return committed is not None and committed >= version


def _txn(app_id: str, version: int) -> CommitProperties:
    return CommitProperties(app_transactions=[Transaction(app_id, version)])


def _newer_or_equal(spec: TableSpec) -> str | None:
    if spec.order_column is None:
        return None
    column = spec.order_column
    return f"s.`{column}` >= t.`{column}` OR t.`{column}` IS NULL"


def _table_types(table: DeltaTable) -> dict[str, str]:
    return {f.name: getattr(f.type, "type", str(f.type)) for f in table.schema().fields}


def _check_schema(table: DeltaTable, spec: TableSpec) -> None:
    """The declaration must match the table: no implicit casts, no implicit evolution."""
    actual = _table_types(table)
    conflicts = [
        f"{name}: declared {declared}, table has {actual.get(name, 'no such column')}"
        for name, declared in spec.column_types().items()
        if actual.get(name) != declared
    ]
    if conflicts:
        raise permanent(f"table {spec.name} at {table.table_uri}: schema mismatch: {conflicts}")


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
}
