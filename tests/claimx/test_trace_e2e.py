"""`vpipe trace` over the whole ClaimX pipeline with faults: the nine workers in their own
processes, the fixture file (dead-lettered rows among them) through the Kusto stand-in, the fake
ClaimX API failing a project export and a file download once (retry tiers). Every event, every
attachment and every retry or dead letter is found where it ended; then two workers are killed
with SIGKILL and not restarted, and the events polled after that are stuck at their stage."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from typing import Any

import pytest
from claimx_fixtures import fixture_rows

from vpipe_claimx.events import raw_message
from vpipe_core.registry import load_worker
from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault
from vpipe_testing.demo import table_rows
from vpipe_testing.kafka import ensure_topics
from vpipe_testing.lineage import landed, on_the_way, places, rows_of, trace, wait_processed

from .test_pipeline_e2e import (
    BLOB_PATHS,
    PROJECT,
    WORKERS,
    claimx_source,
    pipeline_env,
    settle,
    wait_for,
)

# The installed plugin's worker consumes what the enricher's plugin publishes for task events:
# without it, those events would rightly be stuck there.
PIPELINE = (*WORKERS, "itel-cabinet-tracking")
RETRIED_MEDIA = "98810473"
TIERS = ["claimx.retry.1s", "claimx.retry.2s"]
# The groups still running once the delta writer and the downloader are killed, upstream first.
LIVE = (
    ("claimx-ingester", "claimx.events.raw"),
    ("claimx-enricher", "claimx.enrichment.pending"),
    ("claimx-entity-writer", "claimx.entities.rows"),
)
# Events the delta writer refuses (no project id): their final place is the DLQ, not a row.
DEAD_ON_INGEST = 1


def late_rows() -> tuple[dict[str, Any], dict[str, Any]]:
    """A master file name event (delta writer only) and a file event (delta writer, downloader),
    polled after their workers were killed."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    base = {"projectId": PROJECT, "taskAssignmentId": None, "videoCollaborationId": None}
    named = {**base, "eventType": "PROJECT_MFN_ADDED", "mediaId": None, "masterFileName": "LATE"}
    filed = {**base, "eventType": "PROJECT_FILE_ADDED", "mediaId": "98810452"}
    return (
        {**named, "IngestionTime": now, "ingestion_time": now},
        {**filed, "masterFileName": None, "IngestionTime": now, "ingestion_time": now},
    )


@pytest.mark.slow
def test_trace_finds_every_event_attachment_retry_and_dead_letter_then_a_killed_stage(
    claimx_kafka, start_worker, tmp_path
):
    tables, store = tmp_path / "tables", tmp_path / "onelake"
    rows = fixture_rows()
    events = {raw_message(row)["event_id"] for row in rows}
    with (
        FakeClaimxApi() as api,
        claimx_source(rows) as kusto,
    ):
        api.inject(rf"/export/project/{PROJECT}$", Fault.http(503))
        api.inject(rf"^/s3/.*/{RETRIED_MEDIA}\.", Fault.http(503))
        env = pipeline_env(api, kusto, tables, store)
        ensure_topics(claimx_kafka, list(load_worker("itel-cabinet-tracking").output_topics))
        workers = {name: start_worker(name, claimx_kafka, **env) for name in PIPELINE}
        wait_for(
            lambda: len(table_rows(tables / "claimx_attachments", ["media_id"])) >= len(BLOB_PATHS),
            what="every attachment in the inventory",
        )
        settle(claimx_kafka)
        assert api.count(rf"^/s3/.*/{RETRIED_MEDIA}\.") >= 2, "the download was retried"

        # every event: the raw record, then its row or its dead letter
        found: dict[str, dict[str, Any]] = {}
        for event_id in sorted(events):
            story = found[event_id] = trace(tmp_path, claimx_kafka, env, "--event-id", event_id)
            assert story["exit"] == 0, (event_id, story["stuck"], story)
            assert "claimx.events.raw" in places(story), (event_id, story)
            assert places(story) & {"claimx_events", "claimx.dlq"}, (event_id, story)
        in_rows = [e for e, story in found.items() if "claimx_events" in places(story)]
        assert len(in_rows) == len(events) - DEAD_ON_INGEST

        # every retry tier record and dead letter is on the way of the event it belongs to
        stories = [*found.values()]
        assert on_the_way(tmp_path, claimx_kafka, env, stories, TIERS), "the faults were retried"
        assert on_the_way(tmp_path, claimx_kafka, env, stories, ["claimx.dlq"]), "dead rows"

        # every attachment: its download result, its inventory row and the OneLake file
        for media_id, blob_path in BLOB_PATHS.items():
            story = trace(tmp_path, claimx_kafka, env, "--media-id", media_id)
            assert story["exit"] == 0, (media_id, story)
            assert "claimx.downloads.results" in places(story), (media_id, story)
            inventory = rows_of(story, "claimx_attachments")
            assert blob_path in {row["blob_path"] for row in inventory}, story
            metadata = rows_of(story, "claimx_attachment_metadata")
            assert media_id in {row["media_id"] for row in metadata}, story
            file = landed(story)[blob_path]
            assert file["detail"]["exists"] is True, story
            assert file["where"] == f"file://{store}/claimx/{blob_path}"
            assert "claimx_events" in places(story)
            if media_id == RETRIED_MEDIA:
                assert any(".retry." in p for p in places(story)), story

        # the project: its entity rows in every entities table that has one
        story = trace(tmp_path, claimx_kafka, env, "--project-id", PROJECT)
        assert story["exit"] == 0, story
        assert {"claimx_projects", "claimx_contacts", "claimx_tasks"} <= places(story), story

        # killed and not restarted: the events polled afterwards stop at their stage
        for name in ("claimx-delta-writer", "claimx-downloader"):
            workers[name].signal(signal.SIGKILL)
            workers[name].wait(10)
        named, filed = late_rows()
        kusto.add_rows([named, filed])
        late = {raw_message(row)["event_id"]: row for row in (named, filed)}
        wait_processed(claimx_kafka, "claimx.events.raw", late, LIVE)
        stages = {}
        for event_id in late:
            story = trace(tmp_path, claimx_kafka, env, "--event-id", event_id)
            assert story["exit"] == 1, story
            stages[event_id] = story["last_stage"]
            assert f"last stage that saw it: {story['last_stage']}" in story["stderr"]
        assert [stages[e] for e in late] == ["claimx-delta-writer", "claimx-downloader"]
