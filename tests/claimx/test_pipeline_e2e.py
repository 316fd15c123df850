"""ClaimX end to end: the nine workers in their own processes, fed the fixture file through the
Kusto stand-in, enriched against the fake ClaimX API; then the whole source replayed."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from claimx_fixtures import fixture_rows
from prometheus_client.parser import text_string_to_metric_families

from vpipe_testing.attachments import allow_attachments_from
from vpipe_testing.claimx.demo import SOURCE_COLUMNS, table_env
from vpipe_testing.claimx.fake_api import FakeClaimxApi
from vpipe_testing.delta import wait_committed
from vpipe_testing.demo import table_rows
from vpipe_testing.kafka import produce, read_all
from vpipe_testing.kusto import KustoStandIn

WORKERS = (
    "claimx-poller",
    "claimx-ingester",
    "claimx-delta-writer",
    "claimx-enricher",
    "claimx-entity-writer",
    "claimx-downloader",
    "claimx-uploader",
    "claimx-result-processor",
    "claimx-retry-scheduler",
)
PROJECT = "5517342"
EXPECTED_KEYS = {
    "claimx_projects": {(PROJECT,)},
    "claimx_contacts": {
        (PROJECT, "POLICYHOLDER", "elena.okafor@mail.example"),
        (PROJECT, "POLICYHOLDER", "e.okafor.alt@mail.example"),
        (PROJECT, "CLAIM_REP", "r.haddad@carrier.example"),
        (PROJECT, "CLAIM_REP", "j.moreau@carrier.example"),
    },
    "claimx_attachment_metadata": {("98810452",), ("98810467",), ("98810473",), ("98810481",)},
    "claimx_tasks": {("6021187",)},
    "claimx_task_templates": {("27019",)},
    "claimx_external_links": {("412907",)},
    "claimx_video_collab": {("91377",)},
}
KEY_COLUMNS = {
    "claimx_projects": ("project_id",),
    "claimx_contacts": ("project_id", "contact_type", "contact_email"),
    "claimx_attachment_metadata": ("media_id",),
    "claimx_tasks": ("assignment_id",),
    "claimx_task_templates": ("task_id",),
    "claimx_external_links": ("link_id",),
    "claimx_video_collab": ("video_collaboration_id",),
}
BLOB_PATHS = {
    "98810452": f"{PROJECT}/media/98810452_IMG_0001.jpg",
    "98810467": f"{PROJECT}/media/98810467_IMG_0001.jpg",
    "98810473": f"{PROJECT}/media/98810473_walkthrough_kitchen.mp4",
    "98810481": f"{PROJECT}/media/98810481_Dishwasher_Invoice.pdf",
}
# Each consumer group and its input, upstream first: once each in turn has committed its topic to
# the end, every record the pipeline received is in the tables.
GROUPS = (
    ("claimx-ingester", "claimx.events.raw"),
    ("claimx-delta-writer", "claimx.events.raw"),
    ("claimx-enricher", "claimx.enrichment.pending"),
    ("claimx-entity-writer", "claimx.entities.rows"),
    ("claimx-downloader", "claimx.downloads.pending"),
    ("claimx-uploader", "claimx.downloads.cached"),
    ("claimx-result-processor", "claimx.downloads.results"),
)
EVENT_ROWS = 19  # 21 rows: row 16 repeats row 4's event id, row 19 has no project (dead)
DEAD_REASONS = ("task_assignment_id", "project_id", "404", "98899999")


def keys(rows: list[dict], columns: tuple[str, ...]) -> set[tuple[str, ...]]:
    return {tuple(str(row[c]) for c in columns) for row in rows}


def wait_for(condition, timeout_s: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


def settle(bootstrap: str) -> None:
    """Every group has committed its input to the end, upstream first (the writers commit only
    after their Delta commit), instead of a guess at the writers' batch wait."""
    for group, topic in GROUPS:
        assert wait_committed(bootstrap, group, topic, timeout_s=120), f"{group} on {topic}"


def snapshot(tables: Path) -> dict[str, list[dict]]:
    """Every table's rows in key order, all columns."""
    names = ["claimx_events", "claimx_attachments", *KEY_COLUMNS]
    result = {}
    for name in names:
        rows = table_rows(tables / name)
        result[name] = sorted(rows, key=lambda r: sorted((k, str(v)) for k, v in r.items()))
    return result


def consumed(worker, topic: str) -> int:
    text = worker.metrics_text()
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "vpipe_messages_consumed_total"
            and sample.labels.get("topic") == topic
        )
    )


def claimx_source(rows: list[dict]) -> KustoStandIn:
    """The Eventhouse stand-in serving `rows` as the ClaimX source table."""
    return KustoStandIn(
        rows,
        table="ClaimXEvents",
        database="claimx",
        key_column=None,
        time_column="IngestionTime",
        columns=SOURCE_COLUMNS,
    )


def pipeline_env(api: FakeClaimxApi, kusto: KustoStandIn, tables: Path, store: Path) -> dict:
    """Every ClaimX worker's settings: the source, the API, the tables under `tables`, OneLake at
    `store`."""
    return {
        "CLAIMX_EVENTHOUSE_CLUSTER_URL": kusto.url,
        **kusto.env,
        "CLAIMX_EVENTHOUSE_DATABASE": "claimx",
        "CLAIMX_EVENTHOUSE_POLL_INTERVAL_SECONDS": "1",
        "CLAIMX_EVENTHOUSE_SETTLE_SECONDS": "0",
        "CLAIMX_EVENTHOUSE_START_FROM": "2020-01-01T00:00:00Z",
        "CLAIMX_API_URL": api.url,
        "CLAIMX_API_TOKEN": api.token,
        **allow_attachments_from(api.url),
        "ONELAKE_BASE_PATH": f"file://{store}",
        **table_env(tables),
    }


@pytest.mark.slow
def test_fixture_file_end_to_end_then_replayed(claimx_kafka, start_worker, tmp_path):
    tables, store = tmp_path / "tables", tmp_path / "onelake"
    rows = fixture_rows()
    with (
        FakeClaimxApi() as api,
        claimx_source(rows) as kusto,
    ):
        env = pipeline_env(api, kusto, tables, store)
        workers = {name: start_worker(name, claimx_kafka, **env) for name in WORKERS}

        def settled() -> bool:
            events = table_rows(tables / "claimx_events", ["event_id"])
            inventory = table_rows(tables / "claimx_attachments", ["media_id"])
            video = table_rows(tables / "claimx_video_collab", ["video_collaboration_id"])
            return len(events) >= EVENT_ROWS and len(inventory) >= 4 and len(video) >= 1

        wait_for(settled, what="events, inventory and entity rows")
        settle(claimx_kafka)  # the last entity batches (video may land before contacts)
        first = snapshot(tables)

        for table, expected in EXPECTED_KEYS.items():
            assert keys(first[table], KEY_COLUMNS[table]) == expected, table
            assert len(first[table]) == len(expected), f"{table}: one row per key"
        assert len({r["event_id"] for r in first["claimx_events"]}) == EVENT_ROWS
        assert len(first["claimx_events"]) == EVENT_ROWS
        project = first["claimx_projects"][0]
        assert project["xa_autolink_fail"] is True
        assert project["policyholder_invited_at"] is not None
        assert project["policyholder_joined_at"] is not None
        inventory = {r["media_id"]: r for r in first["claimx_attachments"]}
        assert {m: r["blob_path"] for m, r in inventory.items()} == BLOB_PATHS
        for media_id, blob_path in BLOB_PATHS.items():
            data = (store / "claimx" / blob_path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == api.file_sha256(media_id)
            assert inventory[media_id]["bytes"] == len(data)
        dead = read_all(claimx_kafka, "claimx.dlq", idle_s=2)
        reasons = " | ".join(dict(m.headers())["vpipe_error"].decode() for m in dead)
        for reason in DEAD_REASONS:
            assert reason in reasons, reasons

        # A replayed source: the poller starts over from an empty cursor and emits every row
        # again; nothing in any table may change.
        workers["claimx-poller"].stop()
        produce(claimx_kafka, "vpipe.poller.cursors", [None], key=b"claimx-poller")  # tombstone
        start_worker("claimx-poller", claimx_kafka, **env)
        twice = 2 * len(rows)
        for name in ("claimx-ingester", "claimx-delta-writer"):
            wait_for(
                lambda n=name: consumed(workers[n], "claimx.events.raw") >= twice,
                what=f"{name} consuming the replay",
            )
        settle(claimx_kafka)  # the replay's last batches, however long the writers take
        assert snapshot(tables) == first
