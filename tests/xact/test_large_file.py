"""A 200 MB attachment through the real `xact-download` process, with a stall longer than the
stall timeout and a dropped connection: it arrives whole (ranged download, resumed from the bytes
on disk), and the worker's memory stays bounded."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import orjson

from vpipe_testing.attachments import allow_attachments_from
from vpipe_testing.http_files import FileServer, Route
from vpipe_testing.kafka import produce, read_all

SIZE = 200 * 1024 * 1024


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return -1.0


def test_large_file_survives_a_stall_and_a_drop(xact_kafka, start_worker, tmp_path):
    body = os.urandom(SIZE)
    route = Route(
        body=body,
        content_type="video/mp4",
        stalls=[(2 * 1024 * 1024, 2.5)],  # longer than the 1 s stall timeout
        stall_times=1,
        drop_after=5 * 1024 * 1024,  # the resumed request is cut off after 5 MiB
        drop_times=2,
    )
    with FileServer() as server:
        server.add("/media/Walkthrough.mp4", route)
        worker = start_worker(
            "xact-download",
            xact_kafka,
            **allow_attachments_from(server.url("/")),
            DOWNLOAD_STALL_TIMEOUT_SECONDS="1",
            ONELAKE_BASE_PATH=f"file://{tmp_path / 'onelake'}",
        )
        task = {
            "trace_id": "t-large",
            "media_id": "m-large",
            "event_id": "e-large",
            "attachment_url": server.url("/media/Walkthrough.mp4"),
            "blob_path": "documentsReceived/A1/t-large/A1_Walkthrough.mp4",
            "status_subtype": "documentsReceived",
            "file_type": "MP4",
            "assignment_id": "A1",
            "original_timestamp": "2026-02-03T08:15:00.000000Z",
        }
        produce(xact_kafka, "xact.downloads.pending", [orjson.dumps(task)])
        cached = orjson.loads(read_all(xact_kafka, "xact.downloads.cached", expect=1)[0].value())
        peak = peak_rss_mb(worker.process.pid)
        requests = [r for r in server.requests if r.path.startswith("/media/")]
    stored = tmp_path / "onelake" / "xact" / cached["staged_path"]
    assert cached["staged_path"].startswith("documentsReceived/A1/t-large/.")
    assert cached["bytes_downloaded"] == SIZE
    assert cached["sha256"] == hashlib.sha256(body).hexdigest()
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == cached["sha256"]
    assert len(requests) >= 3, "the stall and the drops were resumed with ranges"
    assert any("range" in {k.lower() for k in r.headers} for r in requests[1:])
    print(
        f"\nlarge file: {SIZE >> 20} MiB, {len(requests)} requests, worker peak RSS {peak:.0f} MB"
    )
    assert 0 < peak < 150, f"peak RSS {peak:.0f} MB"
