"""Tables declared as data: one declaration gives the Arrow schema, the Delta schema and the rules.

Tables are always created from this declaration, never inferred from a batch (a first batch whose
column is all null would otherwise fix the wrong type forever).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    import pyarrow as pa

ColumnType = Literal["string", "timestamp", "date", "long", "double", "boolean"]
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # safe to quote in merge predicates
COLUMN_TYPES: tuple[ColumnType, ...] = ("string", "timestamp", "date", "long", "double", "boolean")


@attrs.frozen
class Column:
    """One column. `type` is the Delta primitive type name; `timestamp` is µs in UTC."""

    name: str
    type: ColumnType

    def __attrs_post_init__(self) -> None:
        if not IDENTIFIER.fullmatch(self.name):
            raise ValueError(f"column {self.name!r}: names are letters, digits and _")
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"column {self.name!r}: unknown type {self.type!r}")


@attrs.frozen
class TableSpec:
    """A Delta table: its columns, partitioning and (for entity tables) merge rules.

    `merge_keys` identify a row for `DeltaSink.merge`. With `order_column` set, a stored row is
    replaced only by a row whose order value is newer or equal, so a late older row never
    overwrites a newer one. `keep_on_update` columns (e.g. `created_at`) are written when a row
    is inserted and left alone when it is updated.

    `insert_only`: a merge inserts rows whose key is new and never touches stored ones (an
    events table that must stay unchanged when its source is replayed).

    `partial_rows` switches the merge to the entity rules (`vpipe_core.delta.merge`): a row
    updates only the columns it carries (its keys), rows of one key in a batch are coalesced,
    and a stored row is rewritten only when a value changes. Only then apply:
    `keep_existing` columns, once non-null, are never changed (a later row cannot blank them);
    with `update_if_changed` set, a stored row is updated only when that column's new value
    differs from the stored one or the stored one is null; `bookkeeping` columns (the writing
    event, the write time) are written with every update but are not a change on their own, so
    replaying a batch leaves the table as it was.
    """

    name: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()
    merge_keys: tuple[str, ...] = ()
    order_column: str | None = None
    keep_on_update: tuple[str, ...] = ()
    insert_only: bool = False
    partial_rows: bool = False
    keep_existing: tuple[str, ...] = ()
    update_if_changed: str | None = None
    bookkeeping: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name!r}: duplicate column names")
        optional = tuple(c for c in (self.order_column, self.update_if_changed) if c)
        referenced = (
            *self.partition_by,
            *self.merge_keys,
            *optional,
            *self.keep_on_update,
            *self.keep_existing,
            *self.bookkeeping,
        )
        unknown = [name for name in referenced if name not in names]
        if unknown:
            raise ValueError(f"table {self.name!r}: undeclared columns {unknown}")
        if not self.partial_rows and (
            self.keep_existing or self.bookkeeping or self.update_if_changed
        ):
            raise ValueError(
                f"table {self.name!r}: keep_existing, bookkeeping and update_if_changed "
                "need partial_rows"
            )
        if self.insert_only and self.partial_rows:
            raise ValueError(f"table {self.name!r}: insert_only tables have no update rules")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column_types(self) -> dict[str, ColumnType]:
        return {column.name: column.type for column in self.columns}


def arrow_type(column_type: ColumnType) -> pa.DataType:
    import pyarrow as pa

    types: dict[ColumnType, pa.DataType] = {
        "string": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "long": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
    }
    return types[column_type]


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The declared schema as Arrow; every column nullable."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=True) for c in spec.columns])
