"""`xact-event-ingester` (xact.md §7): validate, dedup over a window that follows the partition,
emit tasks."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson

from vpipe_core.context import WorkerContext
from vpipe_core.ingest.ingester import DedupIngester, Reading
from vpipe_core.outcome import Dead, Output
from vpipe_core.record import Record
from vpipe_core.state.store import KeyStore, worker_key_store
from vpipe_core.values.timestamps import iso_utc_now
from vpipe_xact.events import InvalidEvent, XactEvent, parse_event
from vpipe_xact.settings import XactSettings
from vpipe_xact.topics import ENRICHMENT


def enrichment_task(event: XactEvent, created_at: str) -> dict[str, Any]:
    """The §5.1 enrichment task; `created_at` as `iso_utc` writes it."""
    return {
        "event_id": event.event_id,
        "trace_id": event.trace_id,
        "event_type": "xact",
        "status_subtype": event.status_subtype,
        "assignment_id": event.assignment_id,
        "estimate_version": event.estimate_version,
        "attachments": event.attachments,
        "data": event.data,
        "original_timestamp": event.original_timestamp,
        "created_at": created_at,
        "metadata": {},
    }


def read_event(record: Record, tasks: str = ENRICHMENT) -> Reading:
    """Keyed by trace id; an event without an assignment is written to xact_events by the delta
    writer and never enriched (no task). `tasks`: the topic of the task."""
    try:
        event = parse_event(record.value)
    except InvalidEvent as exc:
        return Dead(f"invalid XACT event: {exc}")
    task = enrichment_task(event, iso_utc_now())
    trace_id = event.trace_id
    if task["assignment_id"] is None:
        return trace_id, None
    trace = trace_id.encode()
    return trace_id, Output(tasks, orjson.dumps(task), trace, [("trace_id", trace)])


def ingester(seen: KeyStore, worker: str, tasks: str = ENRICHMENT) -> DedupIngester:
    return DedupIngester(seen, worker, partial(read_event, tasks=tasks))


def build(ctx: WorkerContext) -> DedupIngester:
    """The window is XACT_DEDUP_WINDOW_HOURS (the spec's `changelog_hours_setting`)."""
    ctx.settings_for(XactSettings)  # checks and redacts the domain's settings
    return ingester(worker_key_store(ctx), ctx.spec.name)
