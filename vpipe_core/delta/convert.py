"""Rows (dicts) to an Arrow table of the declared schema, naming the rows that do not fit.

A row fails on its own when it carries a key the table does not declare (never silently
dropped), lacks a merge key, or holds a value that does not convert to the declared type (or to
the type an existing table holds the column in, `casts`).

Partial rows (`TableSpec.partial_rows`): which columns a row carries is part of the data. Rows
of one key are coalesced first (`coalesce_rows`); a column carried by only some of the merged
rows travels with a boolean mask column `__carried__<column>` (true where the row carries it),
and a column carried by none of them with an all-false mask. A column without a mask is carried
by every row. Mask columns exist only in the merge source, never in the table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vpipe_core.delta.errors import DeltaWriteError, permanent
from vpipe_core.delta.schema import TableSpec, arrow_schema

Row = Mapping[str, Any]
Casts = Mapping[str, pa.DataType]  # column -> the type an existing table holds it in
MAX_REPORTED = 5
ARROW_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
CARRIED_PREFIX = "__carried__"
TIMESTAMP_TEXT = "%Y-%m-%dT%H:%M:%SZ"  # `%S` carries the µs fraction: …:41.509331Z


def prepare(
    spec: TableSpec, rows: Sequence[Row], for_merge: bool, casts: Casts | None = None
) -> pa.Table:
    """The batch as Arrow; for a merge, one row per key and keys required (the newest row, or
    for partial rows the coalesced one with its carried-column masks)."""
    if for_merge and spec.partial_rows:
        return _partial_rows(spec, rows, casts or {})
    table = to_arrow(spec, rows, required=spec.merge_keys if for_merge else ())
    table = cast_columns(spec, table, rows, casts or {})
    if not for_merge:
        return table
    keep = newest_per_key(table, spec.merge_keys, spec.order_column)
    return table if len(keep) == table.num_rows else table.take(keep)


def mask_name(column: str) -> str:
    return CARRIED_PREFIX + column


def _partial_rows(spec: TableSpec, rows: Sequence[Row], casts: Casts) -> pa.Table:
    problems = row_problems(spec, rows, spec.merge_keys)
    if problems:
        raise _rows_error(spec, problems)
    merged = coalesce_rows(spec, rows)
    try:
        table = pa.Table.from_pylist([values for values, _ in merged], schema=arrow_schema(spec))
    except ARROW_CONVERSION_ERRORS:
        to_arrow(spec, rows)  # names the offending rows of the batch the caller passed
        raise
    table = cast_columns(spec, table, rows, casts)
    for column in spec.column_names:
        carried = [column in keys for _, keys in merged]
        if not all(carried):
            table = table.append_column(mask_name(column), pa.array(carried, pa.bool_()))
    return table


def coalesce_rows(spec: TableSpec, rows: Sequence[Row]) -> list[tuple[dict[str, Any], set[str]]]:
    """One (values, carried columns) per key, keys in order of first appearance.

    Rows are folded in batch order: a later row's non-null values win, unless it is older by
    `order_column` than what is folded so far (a late retry): then it only fills nulls.
    `keep_existing` columns keep their first non-null value, as the table does. Nulls never
    blank a folded value; the column still counts as carried.
    """
    keys, order = spec.merge_keys, spec.order_column
    keep = frozenset(spec.keep_existing)
    folded: dict[tuple[Any, ...], tuple[dict[str, Any], set[str]]] = {}
    for row in rows:
        key = tuple(row[name] for name in keys)
        current = folded.get(key)
        if current is None:
            folded[key] = (dict(row), set(row))
            continue
        values, carried = current
        newer = order is None or _not_older(row.get(order), values.get(order), unordered=True)
        carried.update(row)
        for column, value in row.items():
            if value is None:
                values.setdefault(column, None)
            elif values.get(column) is None or (newer and column not in keep):
                values[column] = value
    return list(folded.values())


def cast_columns(spec: TableSpec, table: pa.Table, rows: Sequence[Row], casts: Casts) -> pa.Table:
    """Columns an existing table holds in another type, cast to that type. Values that do not
    cast are permanent errors naming their rows in `rows`."""
    for column, target in casts.items():
        if column not in table.column_names or table.schema.field(column).type == target:
            continue
        index = table.schema.get_field_index(column)
        try:
            array = cast_array(table.column(column), target)
        except ARROW_CONVERSION_ERRORS:
            raise _cast_error(spec, column, target, rows) from None
        table = table.set_column(index, pa.field(column, target), array)
    return table


def cast_array(array: pa.ChunkedArray | pa.Array, target: pa.DataType) -> Any:
    """Arrow's safe cast; timestamps become ISO text with `Z` when the table holds strings."""
    if pa.types.is_timestamp(array.type) and pa.types.is_string(target):
        return pc.strftime(array, format=TIMESTAMP_TEXT)
    return pc.cast(array, target, safe=True)


def _cast_error(
    spec: TableSpec, column: str, target: pa.DataType, rows: Sequence[Row]
) -> Exception:
    declared = arrow_schema(spec).field(column).type
    problems: dict[int, str] = {}
    for index, row in enumerate(rows):
        try:
            cast_array(pa.array([row.get(column)], declared), target)
        except ARROW_CONVERSION_ERRORS as exc:
            problems[index] = f"column {column!r} does not cast to the table's {target}: {exc}"
    return _rows_error(spec, problems)


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


def rejected_rows(
    spec: TableSpec, rows: Sequence[Row], required: Sequence[str] = ()
) -> dict[int, str]:
    """What `to_arrow` would reject, per row index, without raising."""
    try:
        to_arrow(spec, rows, required)
    except DeltaWriteError:
        problems = row_problems(spec, rows, required)
        problems.update(_conversion_problems(arrow_schema(spec), rows, skip=problems.keys()))
        return problems
    return {}


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


def _not_older(candidate: Any, current: Any, unordered: bool = False) -> bool:
    """`candidate >= current`; a null current is older. A null candidate is older too, unless
    `unordered`: then it carries no claim about its age (a partial row) and counts as newer."""
    if candidate is None:
        return unordered or current is None
    return current is None or bool(candidate >= current)


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
