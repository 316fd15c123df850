"""`claimx-ingester` (claimx.md §6): validate, dedup on event_id over a persistent window, emit
enrichment tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from vpipe_claimx.events import InvalidEvent, check_enrichable, enrichment_task, parse_raw
from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.topics import ENRICHMENT
from vpipe_core import metrics
from vpipe_core.context import WorkerContext
from vpipe_core.dedup import DedupWindow
from vpipe_core.outcome import Dead, Done, Outcome, Output
from vpipe_core.record import Record

NOTHING = Done(())


class Ingester:
    def __init__(self, dedup: DedupWindow, worker: str) -> None:
        self._dedup = dedup
        self._dedup_hits = metrics.dedup_hits.labels(worker)

    def handle(self, record: Record) -> Outcome:
        try:
            event = parse_raw(record.value, record.timestamp_ms)
            check_enrichable(event)
        except InvalidEvent as exc:
            return Dead(f"invalid ClaimX event: {exc}")
        where = (record.topic, record.partition)
        if self._dedup.is_duplicate(event.event_id, where, record.offset):
            self._dedup_hits.inc()
            return NOTHING
        self._dedup.hold(event.event_id, where, record.offset)
        task = orjson.dumps(enrichment_task(event, datetime.now(UTC)))
        key = event.event_id.encode()
        return Done((Output(ENRICHMENT, task, key, [("trace_id", key)]),))

    def on_commit(self, positions: dict[tuple[str, int], int]) -> None:
        self._dedup.on_commit(positions)

    def on_revoke(self, partitions: list[Any]) -> None:
        self._dedup.release({(tp.topic, tp.partition) for tp in partitions})

    def close(self) -> None:
        self._dedup.close()


def build(ctx: WorkerContext) -> Ingester:
    settings = ctx.settings_for(ClaimxSettings)
    store = ctx.settings.state_dir / f"{ctx.spec.name}.dedup.sqlite"
    window = DedupWindow(store, settings.dedup_window_hours * 3600, ctx.settings.dedup_max_entries)
    return Ingester(window, ctx.spec.name)
