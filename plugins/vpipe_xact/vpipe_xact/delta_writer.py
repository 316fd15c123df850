"""`xact-delta-writer` (xact.md §8): `xact.events.raw` → `xact_events`, exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from vpipe_core.context import WorkerContext
from vpipe_core.delta.exactly_once import ExactlyOnceWriter, RowOrDead
from vpipe_core.delta.sink import DeltaSink
from vpipe_core.delta.writers import (
    WritesDisabled,
    delta_settings,
    ensure_at_start,
    required_table,
    table_sink,
    writes_disabled,
)
from vpipe_core.outcome import Dead, Outcome
from vpipe_core.record import Record
from vpipe_xact.events import InvalidEvent, parse_event
from vpipe_xact.settings import XactSettings
from vpipe_xact.tables import XACT_EVENTS, event_row

BATCH_MAX_WAIT_S = 10.0


class EventRows:
    """Raw events to rows; a trace id seen earlier in the same batch is dropped (§8)."""

    def __init__(self) -> None:
        self._batch_traces: set[str] = set()

    def __call__(self, record: Record) -> RowOrDead | None:
        try:
            event = parse_event(record.value)
        except InvalidEvent as exc:
            return Dead(f"invalid XACT event: {exc}")
        if event.trace_id in self._batch_traces:
            return None
        self._batch_traces.add(event.trace_id)
        return event_row(event, datetime.now(UTC))

    def new_batch(self) -> None:
        self._batch_traces.clear()


class XactEventsWriter(ExactlyOnceWriter):
    def __init__(self, sink: DeltaSink, worker: str, batch_size: int) -> None:
        self._rows = EventRows()
        super().__init__(sink, worker, self._rows, batch_size)

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        self._rows.new_batch()
        return super().handle_batch(records)


def build(ctx: WorkerContext) -> XactEventsWriter | WritesDisabled:
    settings = ctx.settings_for(XactSettings)
    delta = delta_settings(ctx)
    disabled = writes_disabled(ctx, delta, settings.delta_batch_size, BATCH_MAX_WAIT_S)
    if disabled is not None:
        return disabled
    uri = required_table(
        settings.delta_events_table, "XACT_DELTA_EVENTS_TABLE", ctx, XACT_EVENTS.name
    )
    sink = table_sink(ctx, uri, XACT_EVENTS, delta)
    writer = XactEventsWriter(sink, ctx.spec.name, settings.delta_batch_size)
    ensure_at_start(writer)
    return writer
