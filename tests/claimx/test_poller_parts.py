"""The ClaimX poller in-process against the Kusto stand-in: its query, its messages and the
boundary rule of the Clarifications (rows sharing time and cursor key are all published, a
restart after any page neither skips nor repeats). Worker processes: test_poller.py."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from claimx_fixtures import SPEC_IDS, fixture_row, fixture_rows

from vpipe_claimx.events import raw_message
from vpipe_claimx.poller import CURSOR_KEY, POLLER, build, raw_event, republished
from vpipe_claimx.settings import ClaimxSettings
from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import ConfigError, load_settings
from vpipe_core.context import WorkerContext
from vpipe_core.eventsource.eventhouse_source import eventhouse_pages
from vpipe_core.eventsource.settings import EventSourceSettings
from vpipe_core.registry import load_worker
from vpipe_testing.kusto import KustoStandIn

FIXTURES = Path(__file__).parents[2] / "plugins/vpipe_claimx/vpipe_claimx/data/claimx_events.jsonl"
SHARED_TIME = "2026-02-03T10:22:41.5093318Z"  # rows 4, 5 and 16


def expected_ids() -> Counter[str]:
    """One message per fixture row (row 16 repeats row 4's id)."""
    return Counter(raw_message(row)["event_id"] for row in fixture_rows())


@pytest.fixture
def standin() -> Iterator[KustoStandIn]:
    with KustoStandIn.from_jsonl(
        FIXTURES, table="ClaimXEvents", key_column=None, time_column="IngestionTime"
    ) as server:
        yield server


def context(tmp_path: Path, **env: str) -> WorkerContext:
    settings = CoreSettings(state_dir=tmp_path / "state")
    spec = load_worker("claimx-poller")
    return WorkerContext(spec, 1, "g", settings, env, logging.getLogger("test"))


def eventhouse_env(standin: KustoStandIn, batch_size: int) -> dict[str, str]:
    return {
        "CLAIMX_EVENTHOUSE_CLUSTER_URL": standin.url,
        **standin.env,
        "CLAIMX_EVENTHOUSE_DATABASE": standin.database,
        "CLAIMX_EVENTHOUSE_BATCH_SIZE": str(batch_size),
        "CLAIMX_EVENTHOUSE_SETTLE_SECONDS": "0",
        "CLAIMX_EVENTHOUSE_START_FROM": "2026-02-01T00:00:00Z",
    }


def pages_from(tmp_path: Path, **env: str) -> Callable[[dict[str, Any] | None], Any]:
    """The poller's Eventhouse pages after a stored position (what its lease holder runs)."""
    ctx = context(tmp_path, **env)
    settings = ctx.settings_for(ClaimxSettings)
    return eventhouse_pages(ctx, POLLER.source(settings), ctx.settings_for(EventSourceSettings))


def run_pages(
    source: Any, pages: int | None, state: dict[str, Any] | None = None
) -> tuple[list[str], dict[str, Any] | None]:
    """Keys published by `pages` acknowledged pages (None: until a short page), and the
    position stored after them."""
    published: list[str] = []
    count = 0
    while pages is None or count < pages:
        outputs, more = source.poll()
        state = source.acknowledged() or state
        published += [output.key.decode() for output in outputs]
        count += 1
        if not more:
            break
    return published, state


def test_the_query_pages_the_claimx_table_by_its_time_column_and_composite_key(
    standin: KustoStandIn, tmp_path: Path
):
    source = pages_from(tmp_path, **eventhouse_env(standin, 4))(None)
    run_pages(source, 2)
    source.close()

    first, second = standin.queries[:2]
    assert "\nClaimXEvents\n" in first.csl
    assert "| extend ingestion_time = IngestionTime\n" in first.csl
    assert f"cursor_key = {CURSOR_KEY}\n" in first.csl
    assert "strcmp(cursor_key, last_key) >= 0" in first.csl
    assert "| take 4" in first.csl and "| take 5" in second.csl
    # page 1 ends inside the exact duplicate rows 4/16: page 2 resumes at their key
    assert second.parameters == {"last_key": "5517342|PROJECT_FILE_ADDED|98810452|||"}
    assert f"datetime({SHARED_TIME})" in second.csl


def test_every_fixture_row_becomes_its_message_keyed_by_event_id(
    standin: KustoStandIn, tmp_path: Path
):
    source = pages_from(tmp_path, **eventhouse_env(standin, 100))(None)
    outputs, more = source.poll()
    source.close()

    assert not more and len(outputs) == 21
    assert Counter(o.key.decode() for o in outputs) == expected_ids()
    for output in outputs:
        assert output.topic == "claimx.events.raw"
        assert output.headers == [("trace_id", output.key)]
    messages = [orjson.loads(o.value) for o in outputs]
    assert {number: messages[i]["event_id"] for number, i in [(1, 0), (2, 1)]} == {
        1: SPEC_IDS[1],
        2: SPEC_IDS[2],
    }
    file_event = next(m for m in messages if m["media_id"] == "98810452")
    assert file_event["ingested_at"] == SHARED_TIME
    assert file_event["raw_data"]["IngestionTime"] == SHARED_TIME  # 7 digits, not the client's 6
    assert file_event["raw_data"]["ingestion_time"] == SHARED_TIME
    assert "cursor_key" not in file_event["raw_data"]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 5, 6, 7])
def test_a_restart_after_any_page_neither_skips_nor_repeats(
    standin: KustoStandIn, tmp_path: Path, batch_size: int
):
    env = eventhouse_env(standin, batch_size)
    everything = expected_ids()
    pages = 0
    while True:
        pages += 1
        start_at = pages_from(tmp_path, **env)
        first = start_at(None)
        before, stored = run_pages(first, pages)
        first.close()
        restarted = start_at(stored)
        after, _ = run_pages(restarted, None)
        restarted.close()
        assert Counter(before + after) == everything, f"restart after page {pages}"
        if len(before) == sum(everything.values()):
            break


def test_an_empty_time_column_reads_the_table_ingestion_time(tmp_path: Path):
    rows = [fixture_row(1), fixture_row(4), fixture_row(16)]
    with KustoStandIn(rows, table="ClaimXEvents", key_column=None) as standin:
        env = {**eventhouse_env(standin, 2), "CLAIMX_EVENTHOUSE_TIME_COLUMN": ""}
        source = pages_from(tmp_path, **env)(None)
        published, _ = run_pages(source, None)
        source.close()

    assert "| extend ingestion_time = ingestion_time()\n" in standin.queries[0].csl
    assert published == [SPEC_IDS[1], SPEC_IDS[4], SPEC_IDS[4]]


def test_an_event_hub_row_without_its_own_time_takes_the_record_timestamp():
    row = {k: v for k, v in fixture_row(4).items() if k not in ("IngestionTime", "ingestion_time")}
    timestamped = orjson.loads(republished(dict(row), 1770114161509).value)
    own_time = orjson.loads(republished(dict(fixture_row(4)), 1).value)

    assert timestamped["ingested_at"] == "2026-02-03T10:22:41.5090000Z"
    assert timestamped["raw_data"] == row  # verbatim: the poller adds nothing to an Event Hub row
    assert own_time["event_id"] == SPEC_IDS[4]


def test_an_unreadable_row_is_still_published_for_consumers_to_dead_letter():
    output = raw_event({"eventType": ["not", "a", "string"], "ingestion_time": SHARED_TIME})

    message = orjson.loads(output.value)
    assert message["event_type"] is None and output.key == message["event_id"].encode()


def test_the_settings_describe_the_claimx_source():
    source = POLLER.source(load_settings(ClaimxSettings, {"CLAIMX_EVENT_SOURCE": "sample"}))

    assert source.event_source is not None and source.event_source.value == "sample"
    assert source.eventhouse.table.name == "ClaimXEvents"
    assert source.eventhouse.table.time_column == "IngestionTime"
    assert source.sample_file.name == "claimx_events.jsonl" and source.sample_file.exists()
    with pytest.raises(ConfigError, match="CLAIMX_EVENT_SOURCE: got 'kusto'"):
        load_settings(ClaimxSettings, {"CLAIMX_EVENT_SOURCE": "kusto"})


def test_missing_eventhouse_settings_are_named(tmp_path: Path):
    with pytest.raises(ConfigError) as raised:
        build(context(tmp_path, CLAIMX_EVENTHOUSE_TIME_COLUMN="Ingestion Time"))

    text = str(raised.value)
    assert "CLAIMX_EVENTHOUSE_CLUSTER_URL: required when the CLAIMX event source" in text
    assert "CLAIMX_EVENTHOUSE_DATABASE: required" in text
    assert "CLAIMX_EVENTHOUSE_TIME_COLUMN: got 'Ingestion Time'" in text
