"""Rows (dicts) to an Arrow table of the declared schema, naming the rows that do not fit.

A row fails on its own when it carries a key the table does not declare (never silently
dropped), lacks a merge key, or holds a value that does not convert to the declared type.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from vpipe_core.delta.errors import permanent
from vpipe_core.delta.schema import TableSpec, arrow_schema

Row = Mapping[str, Any]
MAX_REPORTED = 5
ARROW_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


def prepare(spec: TableSpec, rows: Sequence[Row], for_merge: bool) -> pa.Table:
    """The batch as Arrow; for a merge, one row per key (the newest) and keys required."""
    table = to_arrow(spec, rows, required=spec.merge_keys if for_merge else ())
    if not for_merge:
        return table
    keep = newest_per_key(table, spec.merge_keys, spec.order_column)
    return table if len(keep) == table.num_rows else table.take(keep)


def to_arrow(spec: TableSpec, rows: Sequence[Row], required: Sequence[str] = ()) -> pa.Table:
    """Convert rows; a `permanent` DeltaWriteError lists the offending row indexes."""
    schema = arrow_schema(spec)
    problems = row_problems(spec, rows, required)
    if not problems:
        try:
            return pa.Table.from_pylist(list(rows), schema=schema)
        except ARROW_CONVERSION_ERRORS:
            pass
    problems.update(_conversion_problems(schema, rows, skip=problems.keys()))
    raise _rows_error(spec, dict(sorted(problems.items())))


def row_problems(spec: TableSpec, rows: Sequence[Row], required: Sequence[str]) -> dict[int, str]:
    """Checks Arrow would not make: unknown keys, missing keys, floats in `long` columns.

    (pyarrow silently truncates 1.5 to 1 when converting to int64.)
    """
    declared = frozenset(spec.column_names)
    longs = [c.name for c in spec.columns if c.type == "long"]
    problems: dict[int, str] = {}
    for index, row in enumerate(rows):
        problem = _row_problem(row, declared, required, longs)
        if problem:
            problems[index] = problem
    return problems


def _row_problem(
    row: Row, declared: frozenset[str], required: Sequence[str], longs: Iterable[str]
) -> str | None:
    unknown = row.keys() - declared
    if unknown:
        return f"columns not in the table: {sorted(unknown)}"
    missing = [key for key in required if row.get(key) is None]
    if missing:
        return f"merge key columns are null: {missing}"
    for name in longs:
        value = row.get(name)
        if value is not None and type(value) is not int:
            return f"column {name!r} is long but got {type(value).__name__}"
    return None


def _conversion_problems(
    schema: pa.Schema, rows: Sequence[Row], skip: Collection[int]
) -> dict[int, str]:
    """Slow path, only for a failing batch: convert each row's values alone."""
    problems: dict[int, str] = {}
    for index, row in enumerate(rows):
        problem = None if index in skip else _value_problem(schema, row)
        if problem:
            problems[index] = problem
    return problems


def _value_problem(schema: pa.Schema, row: Row) -> str | None:
    for field in schema:
        value = row.get(field.name)
        try:
            pa.array([value], type=field.type)
        except ARROW_CONVERSION_ERRORS as exc:
            return f"column {field.name!r} ({field.type}) got {type(value).__name__}: {exc}"
    return None


def _rows_error(spec: TableSpec, problems: dict[int, str]) -> Exception:
    if not problems:  # the batch failed yet every row converts alone: blame the batch
        return permanent(f"table {spec.name}: the batch does not convert to the declared schema")
    shown = "; ".join(f"row {i}: {text}" for i, text in list(problems.items())[:MAX_REPORTED])
    more = len(problems) - MAX_REPORTED
    suffix = f"; and {more} more" if more > 0 else ""
    return permanent(f"table {spec.name}: {shown}{suffix}", rows=tuple(problems))


def newest_per_key(table: pa.Table, keys: Sequence[str], order_column: str | None) -> list[int]:
    """Indexes of the row to keep for each key: the newest by `order_column`, ties and
    unordered tables keep the later row; a null order value never beats a known one."""
    key_values = zip(*(table.column(key).to_pylist() for key in keys), strict=True)
    orders = table.column(order_column).to_pylist() if order_column else None
    chosen: dict[tuple[Any, ...], int] = {}
    for index, key in enumerate(key_values):
        current = chosen.get(key)
        if current is None or orders is None or _not_older(orders[index], orders[current]):
            chosen[key] = index
    return sorted(chosen.values())


def _not_older(candidate: Any, current: Any) -> bool:
    if candidate is None:
        return current is None
    return current is None or bool(candidate >= current)


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
