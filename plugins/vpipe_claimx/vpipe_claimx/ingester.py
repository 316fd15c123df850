"""`claimx-ingester` (claimx.md §6): validate, dedup on event_id over a window that follows the
partition, emit enrichment tasks."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from vpipe_claimx.events import InvalidEvent, check_enrichable, enrichment_task, parse_raw
from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.topics import ENRICHMENT
from vpipe_core.context import WorkerContext
from vpipe_core.ingest.ingester import DedupIngester, Reading
from vpipe_core.outcome import Dead, Output
from vpipe_core.record import Record
from vpipe_core.state.store import worker_key_store


def read_event(record: Record) -> Reading:
    """Keyed by event_id; every valid event gets a task."""
    try:
        event = parse_raw(record.value, record.timestamp_ms)
        check_enrichable(event)
    except InvalidEvent as exc:
        return Dead(f"invalid ClaimX event: {exc}")
    task = orjson.dumps(enrichment_task(event, datetime.now(UTC)))
    key = event.event_id.encode()
    return event.event_id, Output(ENRICHMENT, task, key, [("trace_id", key)])


def build(ctx: WorkerContext) -> DedupIngester:
    """The window is CLAIMX_DEDUP_WINDOW_HOURS (the spec's `changelog_hours_setting`)."""
    ctx.settings_for(ClaimxSettings)  # checks and redacts the domain's settings
    return DedupIngester(worker_key_store(ctx), ctx.spec.name, read_event)
