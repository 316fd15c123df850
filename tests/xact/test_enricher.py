"""`xact-enricher`: tasks from the ingester become download tasks and rejection results."""

from __future__ import annotations

import orjson
from xact_fixtures import fixture_bytes

from vpipe_core.values.timestamps import iso_utc_now
from vpipe_testing.delta import wait_committed
from vpipe_testing.kafka import produce, read_all
from vpipe_xact.events import parse_event
from vpipe_xact.ingester import enrichment_task


def task_of(row: int) -> bytes:
    return orjson.dumps(enrichment_task(parse_event(fixture_bytes(row)), iso_utc_now()))


def test_download_tasks_and_rejections(xact_kafka, start_worker):
    start_worker("xact-enricher", xact_kafka)
    produce(xact_kafka, "xact.enrichment.pending", [task_of(1), task_of(8), task_of(14), b"{"])
    downloads = read_all(xact_kafka, "xact.downloads.pending", expect=3, timeout_s=60)
    tasks = [orjson.loads(m.value()) for m in downloads]
    by_media = {t["media_id"]: t for t in tasks}
    assert [m.key().decode() for m in downloads] == [t["media_id"] for t in tasks], "dedup key"
    first = by_media["ad038bf7-c33d-55be-8f68-c30f77f28963"]
    assert first["blob_path"] == (
        "documentsReceived/T4W9R2K/7d2f4a90-1c3e-4b8a-9f61-2e5d8c0b7a13/"
        "T4W9R2K_Front_Elevation_03.jpg"
    )
    assert first["file_type"] == "JPG" and first["event_type"] == "xact"
    headers = dict(downloads[0].headers())
    assert headers["trace_id"] and headers["media_id"]
    results = read_all(xact_kafka, "xact.downloads.results", expect=1)
    rejected = orjson.loads(results[0].value())
    assert rejected["status"] == "failed_permanent"
    assert rejected["error_message"].startswith("url not allowed:")
    assert "Signature" not in rejected["error_message"]
    dead = read_all(xact_kafka, "xact.dlq", expect=1)
    assert dead[0].value() == b"{"
    # every task handled (unkeyed, row 8 may be read after the others) before counting
    assert wait_committed(xact_kafka, "xact-enricher", "xact.enrichment.pending")
    assert len(read_all(xact_kafka, "xact.downloads.pending", idle_s=1)) == 3, "row 8: none"
