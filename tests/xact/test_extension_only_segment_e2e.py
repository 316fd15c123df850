"""An attachment whose URL segment is only an extension (`.JPG`, `.pdf`): the enricher names
it `…_unknown.jpg` and the download and upload workers store it; nothing is failed."""

from __future__ import annotations

import orjson

from vpipe_core.values.timestamps import iso_utc_now
from vpipe_testing.attachments import allow_attachments_from
from vpipe_testing.http_files import FileServer, Route
from vpipe_testing.kafka import produce, read_all
from vpipe_xact.events import parse_event
from vpipe_xact.ingester import enrichment_task

JPG = b"\xff\xd8\xff\xe0" + b"roof" * 4096
PDF = b"%PDF-1.4\n" + b"scope" * 2048


def test_extension_only_segments_are_downloaded_and_stored(xact_kafka, start_worker, tmp_path):
    with FileServer() as files:
        files.add("/claims/7731/.JPG", Route(body=JPG, content_type="image/jpeg"))
        files.add("/claims/7731/.pdf", Route(body=PDF, content_type="application/pdf"))
        row = {
            "type": "verisk.claims.property.xn.documentsReceived",
            "utcDateTime": "2026-11-30T12:00:00Z",
            "traceId": "ext-only-1",
            "ingestion_time": "2026-11-30T12:00:01.0000000Z",
            "data": {
                "assignmentId": "EXT9",
                "attachments": [files.url("/claims/7731/.JPG"), files.url("/claims/7731/.pdf")],
            },
        }
        task = orjson.dumps(enrichment_task(parse_event(orjson.dumps(row)), iso_utc_now()))
        store = tmp_path / "onelake"
        env = {**allow_attachments_from(files.url("/")), "ONELAKE_BASE_PATH": f"file://{store}"}
        for worker in ("xact-enricher", "xact-download", "xact-upload"):
            start_worker(worker, xact_kafka, **env)
        produce(xact_kafka, "xact.enrichment.pending", [task])
        results = read_all(xact_kafka, "xact.downloads.results", expect=2, timeout_s=90)

    statuses = {
        orjson.loads(m.value())["blob_path"]: orjson.loads(m.value())["status"] for m in results
    }
    assert sorted(statuses.values()) == ["completed", "completed"], statuses
    names = sorted(path.rsplit("/", 1)[-1] for path in statuses)
    assert names == ["EXT9_unknown.jpg", "EXT9_unknown.pdf"]
    stored = sorted(p.name for p in store.rglob("*") if p.is_file())
    assert stored == names
    assert read_all(xact_kafka, "xact.dlq", idle_s=1) == []
