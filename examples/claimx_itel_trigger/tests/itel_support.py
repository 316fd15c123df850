"""Helpers of the plugin's tests: ClaimX fixture rows as enrichment tasks, the claimx-enricher
wired to the fake ClaimX API with a plugin set, and reading its outputs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson

from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.enricher import ClaimxEnricher
from vpipe_claimx.events import enrichment_task, event_from_row
from vpipe_claimx.fetching import Fetcher
from vpipe_claimx.project_cache import ProjectCache
from vpipe_claimx.topics import ENRICHMENT
from vpipe_core.outcome import Done, Output
from vpipe_core.plugins.plugin_set import PluginSet
from vpipe_core.record import Record
from vpipe_core.values.timestamps import iso_utc
from vpipe_testing.claimx.fake_api import FakeClaimxApi

PLUGIN = "claimx_itel_trigger"
TRACKING = "itel.cabinet.task.tracking"
COMPLETED = "itel.cabinet.completed"
CREATED_AT = datetime(2026, 2, 4, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 2, 4, 12, 0, 5, tzinfo=UTC)


def fixture_row(number: int) -> dict[str, Any]:
    """ClaimX fixture row `number` (1-based, claimx.md §13), without its `_case` note."""
    text = resources.files("vpipe_claimx").joinpath("data/claimx_events.jsonl").read_text()
    row: dict[str, Any] = json.loads(text.splitlines()[number - 1])
    row.pop("_case", None)
    return row


def task_of(number: int, **changes: Any) -> dict[str, Any]:
    """Fixture row `number` as the ingester forwards it to the enricher."""
    return {**enrichment_task(event_from_row(fixture_row(number)), iso_utc(CREATED_AT)), **changes}


def records(tasks: Iterable[Mapping[str, Any]]) -> list[Record]:
    return [
        Record(ENRICHMENT, 0, offset, str(task["event_id"]).encode(), orjson.dumps(task), [])
        for offset, task in enumerate(tasks)
    ]


def make_enricher(fake: FakeClaimxApi, plugins: PluginSet) -> ClaimxEnricher:
    """The claimx-enricher's handler as `vpipe_claimx.enricher.build` makes it."""
    api = ClaimxApi(fake.url, fake.token, sender_username="vpipe-test")
    return ClaimxEnricher(
        api, ProjectCache(1800), Fetcher(4), plugins, batch_size=100, clock=lambda: NOW
    )


def outputs_on(outcome: object, topic: str) -> list[Output]:
    assert isinstance(outcome, Done), outcome
    return [output for output in outcome.outputs if output.topic == topic]
