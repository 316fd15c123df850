"""`claimx-delta-writer` (claimx.md §9.2): `claimx.events.raw` → `claimx_events`, one row per event.

Every raw event is read by the one mapper, `vpipe_claimx.events.parse_raw` (poller messages and
bare source rows, camelCase or snake_case). Events the ingester rejects are still recorded here
(no event type: the id derived as in §5 with an empty type; non-numeric ids); a value that is
not an event at all (not a JSON object, fields of the wrong type), without a project id (§13
row 19) or without an ingestion time is dead with the reason, never dropped.

One row per event id, also across a replayed source: the table is written with an insert-only
merge on (event_id, event_date) — a second copy of an event (a new Kafka record) finds its row
and adds nothing; copies inside one batch are reduced to one before the merge. The date in the
key lets the merge read only the partitions of the batch's dates. Batches of
`CLAIMX_DELTA_BATCH_SIZE` or 10 s (sooner once caught up: `DELTA_BATCH_MIN_INTERVAL_SECONDS`),
offsets committed after the Delta commit, exactly once per partition by Delta application
transactions (`vpipe_core.delta.multi_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from vpipe_claimx.events import ClaimxEvent, InvalidEvent, ingested_datetime, parse_raw
from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.tables import CLAIMX_EVENTS
from vpipe_core.context import WorkerContext
from vpipe_core.delta.multi_table import MultiTableWriter, RecordRows, TableRow
from vpipe_core.delta.writers import TableTarget, WritesDisabled, table_writer
from vpipe_core.outcome import Dead
from vpipe_core.record import Record

BATCH_MAX_WAIT_S = 10.0


def event_row(event: ClaimxEvent, now: datetime) -> dict[str, Any]:
    """The `claimx_events` row of an event with an ingestion time."""
    assert event.ingested_at is not None
    ingested = ingested_datetime(event.ingested_at)
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "project_id": event.project_id,
        "media_id": event.media_id,
        "task_assignment_id": event.task_assignment_id,
        "video_collaboration_id": event.video_collaboration_id,
        "master_file_name": event.master_file_name,
        "ingested_at": ingested,
        "ingestion_time": event.ingested_at,
        "raw_json": orjson.dumps(event.raw_data).decode(),
        "created_at": now,
        "event_date": ingested.date(),
    }


class EventRows:
    """One partition's raw records → `claimx_events` rows (`multi_table.RowsFor`)."""

    def __call__(self, records: Sequence[Record]) -> list[RecordRows]:
        now = datetime.now(UTC)
        return [self._row(record, now) for record in records]

    @staticmethod
    def _row(record: Record, now: datetime) -> RecordRows:
        try:
            event = parse_raw(record.value, record.timestamp_ms)
        except InvalidEvent as exc:
            return Dead(f"invalid ClaimX event: {exc}")
        if event.project_id is None:
            return Dead("invalid ClaimX event: project_id: required, missing or empty")
        if event.ingested_at is None:
            return Dead("invalid ClaimX event: no ingestion time (row, message or record)")
        return TableRow(CLAIMX_EVENTS.name, event_row(event, now))


def build(ctx: WorkerContext) -> MultiTableWriter | WritesDisabled:
    settings = ctx.settings_for(ClaimxSettings)
    table = TableTarget(CLAIMX_EVENTS, settings.delta_events_table, "CLAIMX_DELTA_EVENTS_TABLE")
    return table_writer(ctx, [table], EventRows(), settings.delta_batch_size, BATCH_MAX_WAIT_S)
