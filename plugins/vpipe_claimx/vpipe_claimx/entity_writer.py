"""`claimx-entity-writer` (claimx.md §9.1): `claimx.entities.rows` → the seven entity tables.

Batches of `CLAIMX_ENTITY_BATCH_SIZE` messages or 10 s. The tables are written in the order of
`ENTITY_TABLES` (projects, contacts, media, tasks, task_templates, external_links,
video_collab), one commit per table per batch, and offsets are committed only after all of them
succeeded; any table failure retries the whole batch in place, exactly once per record and table
(`vpipe_core.delta.multi_table`). Merge rules: `vpipe_claimx.tables`, `vpipe_core.delta.merge`.

Per row: control keys (starting with `_`) are stripped; a `_partial` row carries only its
non-null columns (it never blanks a stored value); `event_id` defaults to the message's;
`created_at` / `updated_at` default to the write time; ISO text becomes timestamps and dates. A
message that is not a `claimx.entities.rows` object, or with a row its table rejects (e.g. a key
the table does not declare), is dead as a whole; the rest of the batch is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.tables import ENTITY_TABLE_VARIABLES, ENTITY_TABLES
from vpipe_core.context import WorkerContext
from vpipe_core.delta.json_rows import typed_row
from vpipe_core.delta.multi_table import MultiTableWriter, RecordRows, TableRow
from vpipe_core.delta.schema import TableSpec
from vpipe_core.delta.writers import TableTarget, WritesDisabled, table_writer
from vpipe_core.outcome import Dead
from vpipe_core.record import Record

BATCH_MAX_WAIT_S = 10.0
PARTIAL = "_partial"
MESSAGE_FIELDS = frozenset({"event_id", "event_type", "project_id", "trace_id"})

# rows key -> (ClaimxSettings attribute, variable)
TABLE_SETTINGS: dict[str, tuple[str, str]] = {
    key: (variable.removeprefix("CLAIMX_").lower(), variable)
    for key, variable in ENTITY_TABLE_VARIABLES.items()
}


class InvalidEntities(ValueError):
    """The message is not a `claimx.entities.rows` value; the text names what is wrong."""


def parse_entities(value: bytes | None) -> tuple[str, dict[str, list[Mapping[str, Any]]]]:
    """(event_id, rows per rows key) of a `claimx.entities.rows` value (§6)."""
    try:
        message = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise InvalidEntities(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise InvalidEntities(f"expected a JSON object, got {type(message).__name__}")
    unknown = sorted(set(message) - MESSAGE_FIELDS - set(ENTITY_TABLES))
    if unknown:
        raise InvalidEntities(f"unknown keys {unknown} (rows keys are {list(ENTITY_TABLES)})")
    event_id = message.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise InvalidEntities(f"event_id: required string, got {event_id!r}")
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for key in ENTITY_TABLES:
        items = message.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidEntities(f"{key}: expected a list of row objects")
        rows[key] = items
    return event_id, rows


def writable_row(
    spec: TableSpec, row: Mapping[str, Any], event_id: str, now: datetime
) -> dict[str, Any]:
    """The row as the table takes it (see the module docstring)."""
    partial = row.get(PARTIAL) is True
    values = {
        column: value
        for column, value in row.items()
        if not column.startswith("_") and not (partial and value is None)
    }
    values.setdefault("event_id", event_id)
    values.setdefault("created_at", now)
    values.setdefault("updated_at", now)
    return typed_row(spec, values)


class EntityMessageRows:
    """One partition's `claimx.entities.rows` records → their rows (`multi_table.RowsFor`)."""

    def __call__(self, records: Sequence[Record]) -> list[RecordRows]:
        now = datetime.now(UTC)
        return [self._rows(record, now) for record in records]

    @staticmethod
    def _rows(record: Record, now: datetime) -> RecordRows:
        try:
            event_id, rows = parse_entities(record.value)
        except InvalidEntities as exc:
            return Dead(f"invalid claimx.entities.rows message: {exc}")
        return [
            TableRow(spec.name, writable_row(spec, row, event_id, now))
            for key, spec in ENTITY_TABLES.items()
            for row in rows[key]
        ]


def build(ctx: WorkerContext) -> MultiTableWriter | WritesDisabled:
    settings = ctx.settings_for(ClaimxSettings)
    tables = [table_target(key, spec, settings) for key, spec in ENTITY_TABLES.items()]
    rows = EntityMessageRows()
    return table_writer(ctx, tables, rows, settings.entity_batch_size, BATCH_MAX_WAIT_S)


def table_target(key: str, spec: TableSpec, settings: ClaimxSettings) -> TableTarget:
    attribute, variable = TABLE_SETTINGS[key]
    return TableTarget(spec, getattr(settings, attribute), variable)
