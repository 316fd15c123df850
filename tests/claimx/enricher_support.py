"""Helpers for the claimx-enricher tests: fixture rows as enrichment-task records, an enricher
wired to the fake ClaimX API, and reading its outputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from claimx_fixtures import fixture_row

from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.enricher import ClaimxEnricher
from vpipe_claimx.events import enrichment_task, event_from_row
from vpipe_claimx.fetching import Fetcher
from vpipe_claimx.project_cache import ProjectCache
from vpipe_claimx.topics import DOWNLOADS, ENRICHMENT, ENTITIES
from vpipe_core.outcome import Done, Output
from vpipe_core.plugins.manager import plugin_set_from_objects
from vpipe_core.record import Record
from vpipe_core.values.timestamps import iso_utc
from vpipe_testing.claimx.fake_api import FakeClaimxApi

CREATED_AT = datetime(2026, 2, 4, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 2, 4, 12, 0, 5, tzinfo=UTC)


def task_of(number: int, **changes: Any) -> dict[str, Any]:
    """Fixture row `number` as the ingester forwards it (`changes` override task fields)."""
    task = enrichment_task(event_from_row(fixture_row(number)), iso_utc(CREATED_AT))
    return {**task, **changes}


def record(task: Mapping[str, Any] | bytes, offset: int = 0, attempt: int = 0) -> Record:
    value = task if isinstance(task, bytes) else orjson.dumps(task)
    headers = [("vpipe_attempt", str(attempt).encode())] if attempt else []
    key = None if isinstance(task, bytes) else str(task["event_id"]).encode()
    return Record(ENRICHMENT, 0, offset, key, value, headers)


def records(tasks: Iterable[Mapping[str, Any] | bytes]) -> list[Record]:
    return [record(task, offset) for offset, task in enumerate(tasks)]


def make_enricher(
    fake: FakeClaimxApi,
    *,
    plugins: Mapping[str, object] | None = None,
    ttl_s: float = 1800,
    token: str | None = None,
    cache: ProjectCache | None = None,
) -> ClaimxEnricher:
    api = ClaimxApi(fake.url, token or fake.token, sender_username="vpipe-test")
    return ClaimxEnricher(
        api,
        cache or ProjectCache(ttl_s),
        Fetcher(4),
        plugin_set_from_objects(dict(plugins or {}), strict=True),
        batch_size=100,
        clock=lambda: NOW,
    )


def outputs_on(outcome: object, topic: str) -> list[Output]:
    assert isinstance(outcome, Done), outcome
    return [output for output in outcome.outputs if output.topic == topic]


def entities(outcome: object) -> dict[str, Any] | None:
    """The one `claimx.entities.rows` value of a done outcome, or None."""
    found = outputs_on(outcome, ENTITIES)
    assert len(found) <= 1
    return orjson.loads(found[0].value) if found else None


def downloads(outcome: object) -> list[dict[str, Any]]:
    return [orjson.loads(output.value) for output in outputs_on(outcome, DOWNLOADS)]


def committed(enricher: ClaimxEnricher, batch: list[Record]) -> None:
    """What the loop does once the batch's outputs are acknowledged: commit past it."""
    enricher.on_commit({(ENRICHMENT, 0): max(r.offset for r in batch) + 1})
