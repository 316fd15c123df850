"""`vpipe trace` over the whole XACT pipeline with faults: every worker in its own process, the
fixture file (poison and refused rows among them) through the Kusto stand-in, attachments on moto
S3 and one on a file server that fails its first request (a retry tier). Every event, every
attachment and every retry or dead letter is found where it ended; then two workers are killed
with SIGKILL and not restarted, and the events polled after that are stuck at their stage."""

from __future__ import annotations

import contextlib
import signal
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from test_pipeline_e2e import GROUPS, WORKERS, first_per_trace, pipeline_env, rehost, wait_rows
from xact_fixtures import fixture_rows

from vpipe_testing.delta import table_rows, wait_committed
from vpipe_testing.http_files import FileServer, Route
from vpipe_testing.kusto import KustoStandIn
from vpipe_testing.lineage import landed, on_the_way, places, rows_of, trace, wait_processed
from vpipe_testing.s3 import LocalS3
from vpipe_xact.events import InvalidEvent, parse_event
from vpipe_xact.paths import attachments_of

TIERS = ["xact.retry.1s", "xact.retry.2s"]
FAILED = "xact_attachments_failed"


def flaky(rows: list[dict], bodies: dict[str, bytes], files: FileServer) -> str:
    """The first stored attachment moves to `files`, same path and bytes, failing its first
    request with a 500 (retried through a tier); returns its new URL."""
    for row in rows:
        urls = row["data"].get("attachments") if isinstance(row.get("data"), dict) else None
        for index, url in enumerate(urls or []):
            if url in bodies:
                path = urlsplit(url).path
                files.add(path, Route(body=bodies[url], content_type="image/jpeg", fail_first=1))
                moved = files.url(path)
                bodies[moved] = bodies.pop(url)
                urls[index] = moved
                return moved
    raise AssertionError("no stored attachment to make flaky")


def late_rows(template: dict[str, Any], url: str) -> list[dict[str, Any]]:
    """An event without attachments (delta writer only) and one with an attachment (delta
    writer, download), polled now, after their workers were killed."""
    now = datetime.now(UTC).isoformat()
    common = {k: v for k, v in template.items() if k != "ingestion_time"}
    return [
        {
            **common,
            "traceId": str(uuid.uuid4()),
            "utcDateTime": now,
            "data": {**data, "attachments": urls},
        }
        for data, urls in ((template["data"], []), (template["data"], [url]))
    ]


@pytest.mark.slow
def test_trace_finds_every_event_attachment_retry_and_dead_letter_then_a_killed_stage(
    xact_kafka, start_worker, tmp_path
):
    with LocalS3() as s3, FileServer() as files:
        rows, bodies = rehost(fixture_rows(), s3)
        retried = flaky(rows, bodies, files)
        valid = []
        for row in rows:
            with contextlib.suppress(InvalidEvent):
                valid.append(parse_event(orjson.dumps(row)))
        traces = {event.trace_id for event in valid}
        retried_media = next(
            a.media_id for e in valid for a in attachments_of(e) if a.url == retried
        )
        stored = {
            a.media_id: a.blob_path
            for event in first_per_trace(valid)
            for a in attachments_of(event)
            if a.url in bodies and a.file_type != "UNKNOWN"
        }
        with KustoStandIn(rows, table="Events", database="xact") as kusto:
            tables, store = tmp_path / "tables", tmp_path / "onelake"
            env = pipeline_env(kusto, tables, store, bodies)
            workers = {name: start_worker(name, xact_kafka, **env) for name in WORKERS}
            wait_rows(tables / "xact_attachments", len(stored))
            for group, topic in GROUPS:
                assert wait_committed(xact_kafka, group, topic, timeout_s=120), group
            assert files.paths().count(urlsplit(retried).path) >= 2, "the download was retried"

            # every event: the raw record, then its row or its dead letter
            found: dict[str, dict[str, Any]] = {}
            for trace_id in sorted(traces):
                story = found[trace_id] = trace(tmp_path, xact_kafka, env, "--event-id", trace_id)
                assert story["exit"] == 0, (trace_id, story["stuck"], story)
                assert "xact.events.raw" in places(story), (trace_id, story)
                assert places(story) & {"xact_events", "xact.dlq"}, (trace_id, story)

            # every retry tier record and dead letter is on the way of the event it belongs to
            tiers = on_the_way(tmp_path, xact_kafka, env, [*found.values()], TIERS)
            assert tiers, "the flaky file was retried"
            assert on_the_way(tmp_path, xact_kafka, env, [*found.values()], ["xact.dlq"])

            # every stored attachment: its result, its inventory row and the OneLake file
            for media_id, blob_path in stored.items():
                story = trace(tmp_path, xact_kafka, env, "--media-id", media_id)
                assert story["exit"] == 0, (media_id, story["stuck"], story)
                assert "xact.downloads.results" in places(story), (media_id, story)
                inventory = rows_of(story, "xact_attachments")
                assert blob_path in {row["blob_path"] for row in inventory}, story
                file = landed(story)[blob_path]
                assert file["detail"]["exists"] is True, story
                assert file["where"] == f"file://{store}/xact/{blob_path}"
                if media_id == retried_media:
                    assert any(".retry." in p for p in places(story)), story

            # every refused attachment: its row in the failed table
            for media_id in {row["media_id"] for row in table_rows(tables / FAILED)}:
                story = trace(tmp_path, xact_kafka, env, "--media-id", media_id)
                assert story["exit"] == 0, (media_id, story["stuck"], story)
                assert media_id in {row["media_id"] for row in rows_of(story, FAILED)}, story

            # killed and not restarted: the events polled afterwards stop at their stage
            for name in ("xact-delta-writer", "xact-download"):
                workers[name].signal(signal.SIGKILL)
                workers[name].wait(10)
            template = next(row for row in rows if row.get("traceId") in traces)
            late = late_rows(template, s3.put("late/Late_Photo.JPG", b"late" * 100, "image/jpeg"))
            kusto.add_rows(late)
            live = (GROUPS[0], GROUPS[2])  # the ingester, the enricher
            wait_processed(xact_kafka, "xact.events.raw", [row["traceId"] for row in late], live)
            stages = []
            for row in late:
                story = trace(tmp_path, xact_kafka, env, "--event-id", row["traceId"])
                assert story["exit"] == 1, story
                stages.append(story["last_stage"])
                assert f"last stage that saw it: {story['last_stage']}" in story["stderr"]
            assert stages == ["xact-delta-writer", "xact-download"]
