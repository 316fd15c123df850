"""`xact-delta-writer` (xact.md §8): `xact.events.raw` → `xact_events`, appended exactly once
(`vpipe_core.delta.multi_table`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from vpipe_core.context import WorkerContext
from vpipe_core.delta.multi_table import MultiTableWriter, RecordRows, Row, rows_each
from vpipe_core.delta.writers import TableTarget, WritesDisabled, table_writer
from vpipe_core.outcome import Dead
from vpipe_core.record import Record
from vpipe_xact.events import InvalidEvent, parse_event
from vpipe_xact.settings import XactSettings
from vpipe_xact.tables import XACT_EVENTS, event_row

BATCH_MAX_WAIT_S = 10.0


class EventRows:
    """Raw events to rows (`multi_table.RowsFor`); a trace id seen earlier in the same batch is
    dropped (§8), so the writer starts each batch with `new_batch`."""

    def __init__(self) -> None:
        self._batch_traces: set[str] = set()

    def __call__(self, records: Sequence[Record]) -> list[RecordRows]:
        return rows_each(XACT_EVENTS.name, self._row, records)

    def new_batch(self) -> None:
        self._batch_traces.clear()

    def _row(self, record: Record) -> Row | Dead | None:
        try:
            event = parse_event(record.value)
        except InvalidEvent as exc:
            return Dead(f"invalid XACT event: {exc}")
        if event.trace_id in self._batch_traces:
            return None
        self._batch_traces.add(event.trace_id)
        return event_row(event, datetime.now(UTC))


def build(ctx: WorkerContext) -> MultiTableWriter | WritesDisabled:
    settings = ctx.settings_for(XactSettings)
    table = TableTarget(
        XACT_EVENTS, settings.delta_events_table, "XACT_DELTA_EVENTS_TABLE", "append"
    )
    return table_writer(ctx, [table], EventRows(), settings.delta_batch_size, BATCH_MAX_WAIT_S)
