"""`xact-event-ingester` (xact.md §7): validate, dedup over a persistent window, emit tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from vpipe_core import metrics
from vpipe_core.context import WorkerContext
from vpipe_core.dedup import DedupWindow
from vpipe_core.outcome import Dead, Done, Outcome, Output
from vpipe_core.record import Record
from vpipe_xact.events import InvalidEvent, XactEvent, iso_micro, parse_event
from vpipe_xact.settings import XactSettings
from vpipe_xact.topics import ENRICHMENT

NOTHING = Done(())


def enrichment_task(event: XactEvent, now: datetime) -> dict[str, Any]:
    """The §5.1 enrichment task."""
    return {
        "event_id": event.event_id,
        "trace_id": event.trace_id,
        "event_type": "xact",
        "status_subtype": event.status_subtype,
        "assignment_id": event.assignment_id,
        "estimate_version": event.estimate_version,
        "attachments": event.attachments,
        "data": event.data,
        "original_timestamp": iso_micro(event.event_time),
        "created_at": iso_micro(now),
        "metadata": {},
    }


class Ingester:
    def __init__(self, dedup: DedupWindow, worker: str) -> None:
        self._dedup = dedup
        self._dedup_hits = metrics.dedup_hits.labels(worker)

    def handle(self, record: Record) -> Outcome:
        try:
            event = parse_event(record.value)
        except InvalidEvent as exc:
            return Dead(f"invalid XACT event: {exc}")
        where = (record.topic, record.partition)
        if self._dedup.is_duplicate(event.trace_id, where, record.offset):
            self._dedup_hits.inc()
            return NOTHING
        if event.assignment_id is None:
            return NOTHING  # written to xact_events by the delta writer, never enriched
        self._dedup.hold(event.trace_id, where, record.offset)
        task = orjson.dumps(enrichment_task(event, datetime.now(UTC)))
        trace = event.trace_id.encode()
        return Done((Output(ENRICHMENT, task, trace, [("trace_id", trace)]),))

    def on_commit(self, positions: dict[tuple[str, int], int]) -> None:
        self._dedup.on_commit(positions)

    def on_revoke(self, partitions: list[Any]) -> None:
        self._dedup.release({(tp.topic, tp.partition) for tp in partitions})

    def close(self) -> None:
        self._dedup.close()


def build(ctx: WorkerContext) -> Ingester:
    settings = ctx.settings_for(XactSettings)
    store = ctx.settings.state_dir / f"{ctx.spec.name}.dedup.sqlite"
    window = DedupWindow(store, settings.dedup_window_hours * 3600, ctx.settings.dedup_max_entries)
    return Ingester(window, ctx.spec.name)
