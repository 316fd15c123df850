"""Enricher → download → upload → results, each worker in its own process, files from S3 (moto,
real presigned URLs) into a `file://` store."""

from __future__ import annotations

import hashlib
import time

import orjson
import pytest
from xact_fixtures import fixture_rows

from vpipe_core.values.timestamps import iso_utc_now
from vpipe_testing.attachments import allow_attachments_from
from vpipe_testing.http_files import FileServer, Route
from vpipe_testing.kafka import produce, read_all
from vpipe_testing.s3 import LocalS3
from vpipe_xact.events import parse_event
from vpipe_xact.ingester import enrichment_task

JPG = b"\xff\xd8\xff\xe0" + b"photo" * 20000
PDF = b"%PDF-1.7\n" + b"page" * 5000


@pytest.fixture
def s3():
    with LocalS3() as local:
        yield local


def test_attachments_reach_the_store_and_results(xact_kafka, start_worker, tmp_path, s3):
    good = [
        s3.put("exports/T1/Front.JPG", JPG, "image/jpeg"),
        s3.put("exports/T1/Summary.pdf", PDF, "application/pdf"),
    ]
    missing = s3.presign("exports/T1/Gone.pdf")  # 404: permanent
    expired = s3.put("exports/T1/Old.pdf", PDF, "application/pdf", expires_s=1)
    outside = "https://evil.example.com/x.pdf"  # not allow-listed: rejected at enrichment
    flaky_server = FileServer().start()
    flaky = flaky_server.add(
        "/files/Flaky.pdf", Route(body=PDF, content_type="application/pdf", fail_first=1)
    )
    row = {**fixture_rows()[0]}
    attachments = [*good, missing, expired, outside, flaky_server.url("/files/Flaky.pdf")]
    row["data"] = {**row["data"], "attachments": attachments}
    time.sleep(2)  # the short-lived link has expired
    task = orjson.dumps(enrichment_task(parse_event(orjson.dumps(row)), iso_utc_now()))

    store = tmp_path / "onelake"
    allowed = allow_attachments_from(*good, flaky_server.url("/"))
    env = {**allowed, "ONELAKE_BASE_PATH": f"file://{store}"}
    for worker in ("xact-enricher", "xact-download", "xact-upload", "xact-retry-scheduler"):
        start_worker(worker, xact_kafka, **env)
    produce(xact_kafka, "xact.enrichment.pending", [task])

    results = read_all(xact_kafka, "xact.downloads.results", expect=6, timeout_s=90)
    flaky_server.stop()
    by_status: dict[str, list[dict]] = {}
    for message in results:
        result = orjson.loads(message.value())
        by_status.setdefault(result["status"], []).append(result)
    assert len(by_status["completed"]) == 3
    assert len(by_status["failed_permanent"]) == 3
    reasons = " ".join(r["error_message"] for r in by_status["failed_permanent"])
    assert "url not allowed: evil.example.com" in reasons and "404" in reasons
    assert "expired" in reasons
    assert flaky.failed == 1 and flaky.body_responses == 1, "500 once, then 200"
    recovered = next(r for r in by_status["completed"] if r["blob_path"].endswith("Flaky.pdf"))
    assert recovered["retry_count"] == 1, "it came back through the first retry tier"
    tier = read_all(xact_kafka, "xact.retry.1s", expect=1)
    assert dict(tier[0].headers())["vpipe_target_topic"] == b"xact.downloads.pending"
    assert "X-Amz-Signature" not in reasons or "[REDACTED]" in reasons
    for completed in by_status["completed"]:
        stored = store / "xact" / completed["blob_path"]
        body = JPG if completed["file_type"] == "JPG" else PDF
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == hashlib.sha256(body).hexdigest()
        assert completed["blob_path"].startswith("documentsReceived/T4W9R2K/")
    dead = read_all(xact_kafka, "xact.dlq", expect=2)
    assert {dict(m.headers())["vpipe_error_category"] for m in dead} == {b"permanent"}
    # removed once the uploader's commit is through, a moment after its results are readable
    cache = tmp_path / "cache" / "xact"
    deadline = time.monotonic() + 30
    while list(cache.rglob("*.*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(cache.rglob("*.*")), "cache files removed after commit"
