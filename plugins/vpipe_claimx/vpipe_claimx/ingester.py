"""`claimx-ingester` (claimx.md §6): validate, dedup on event_id over a window that follows the
partition, emit enrichment tasks."""

from __future__ import annotations

from functools import partial

import orjson

from vpipe_claimx.events import InvalidEvent, check_enrichable, enrichment_task, parse_raw
from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.topics import ENRICHMENT
from vpipe_core.context import WorkerContext
from vpipe_core.ingest.ingester import DedupIngester, Reading
from vpipe_core.outcome import Dead, Output
from vpipe_core.record import Record
from vpipe_core.state.store import KeyStore, worker_key_store
from vpipe_core.values.timestamps import iso_utc_now


def read_event(record: Record, tasks: str = ENRICHMENT) -> Reading:
    """Keyed by event_id; every valid event gets a task, to `tasks`."""
    try:
        event = parse_raw(record.value, record.timestamp_ms)
        check_enrichable(event)
    except InvalidEvent as exc:
        return Dead(f"invalid ClaimX event: {exc}")
    task = orjson.dumps(enrichment_task(event, iso_utc_now()))
    key = event.event_id.encode()
    return event.event_id, Output(tasks, task, key, [("trace_id", key)])


def ingester(seen: KeyStore, worker: str, tasks: str = ENRICHMENT) -> DedupIngester:
    return DedupIngester(seen, worker, partial(read_event, tasks=tasks))


def build(ctx: WorkerContext) -> DedupIngester:
    """The window is CLAIMX_DEDUP_WINDOW_HOURS (the spec's `changelog_hours_setting`)."""
    ctx.settings_for(ClaimxSettings)  # checks and redacts the domain's settings
    return ingester(worker_key_store(ctx), ctx.spec.name)
