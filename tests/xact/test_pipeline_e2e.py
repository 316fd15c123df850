"""XACT end to end: every worker in its own process, fed the shared fixture file through the
Kusto stand-in; attachments re-hosted on moto S3 (fresh presigned links, same file names)."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from deltalake import DeltaTable
from xact_fixtures import fixture_rows

from vpipe_core.tables.declared import declared_tables
from vpipe_testing.attachments import allow_attachments_from
from vpipe_testing.delta import wait_committed
from vpipe_testing.kafka import read_all
from vpipe_testing.kusto import KustoStandIn
from vpipe_testing.s3 import LocalS3
from vpipe_testing.workers import run_vpipe
from vpipe_xact.events import InvalidEvent, parse_event
from vpipe_xact.paths import attachments_of
from vpipe_xact.settings import XactSettings

WORKERS = (
    "xact-poller",
    "xact-event-ingester",
    "xact-delta-writer",
    "xact-enricher",
    "xact-download",
    "xact-upload",
    "xact-result-processor",
    "xact-retry-scheduler",
)
# Each consumer group and its input, upstream first: once each in turn has committed its topic to
# the end, every record the pipeline received is in the tables.
GROUPS = (
    ("xact-event-ingester", "xact.events.raw"),
    ("xact-delta-writer", "xact.events.raw"),
    ("xact-enricher", "xact.enrichment.pending"),
    ("xact-download", "xact.downloads.pending"),
    ("xact-upload", "xact.downloads.cached"),
    ("xact-result-processor", "xact.downloads.results"),
)
CONTENT = {
    "JPG": "image/jpeg",
    "PNG": "image/png",
    "PDF": "application/pdf",
    "XML": "application/xml",
    "ESX": "binary/octet-stream",
    "MOV": "video/quicktime",
    "DOCX": "application/zip",
}


def rehost(rows: list[dict], s3: LocalS3) -> tuple[list[dict], dict[str, bytes]]:
    """Every allow-listed attachment becomes an object on moto, same file name; returns the rows
    and the bytes stored per new URL."""
    bodies: dict[str, bytes] = {}
    out = []
    for number, row in enumerate(rows, 1):
        data = row.get("data")
        if isinstance(data, str):
            data = orjson.loads(data)
        if not isinstance(data, dict) or not isinstance(data.get("attachments"), list):
            out.append(row)
            continue
        urls = []
        for index, url in enumerate(data["attachments"]):
            if (
                not isinstance(url, str)
                or urlsplit(url.strip()).hostname not in XactSettings.ATTACHMENT_HOSTS
            ):
                urls.append(url)
                continue
            path = urlsplit(url.strip()).path
            kind = path.rsplit(".", 1)[-1].upper() if "." in path.rsplit("/", 1)[-1] else ""
            body = f"row {number} file {index} {path}".encode() * 200
            new = s3.put(f"r{number}{path}", body, CONTENT.get(kind, "application/octet-stream"))
            bodies[new] = body
            urls.append(new)
        out.append({**row, "data": {**data, "attachments": urls}})
    return out, bodies


def pipeline_env(kusto: KustoStandIn, tables: Path, store: Path, hosts: Iterable[str]) -> dict:
    """Every XACT worker's settings: the source, the tables under `tables`, OneLake at `store`,
    attachments allowed from `hosts`."""
    return {
        "XACT_EVENTHOUSE_CLUSTER_URL": kusto.url,
        **kusto.env,
        "XACT_EVENTHOUSE_DATABASE": "xact",
        "XACT_EVENTHOUSE_POLL_INTERVAL_SECONDS": "1",
        "XACT_EVENTHOUSE_SETTLE_SECONDS": "0",
        "XACT_EVENTHOUSE_START_FROM": "2020-01-01T00:00:00Z",
        "XACT_DELTA_EVENTS_TABLE": str(tables / "xact_events"),
        "XACT_DELTA_INVENTORY_TABLE": str(tables / "xact_attachments"),
        "XACT_DELTA_FAILED_TABLE": str(tables / "xact_attachments_failed"),
        **allow_attachments_from(*hosts),
        "ONELAKE_BASE_PATH": f"file://{store}",
    }


def first_per_trace(events: list) -> list:
    """The ingester keeps the first event of a trace id (row 15 repeats row 1)."""
    first: dict[str, object] = {}
    for event in events:
        if event.assignment_id:
            first.setdefault(event.trace_id, event)
    return list(first.values())


def wait_rows(path, count: int, timeout_s: float = 120) -> list[dict]:
    """The table's rows once it holds `count` (or whatever it holds at the deadline)."""
    deadline = time.monotonic() + timeout_s
    rows = table(path)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(1)
        rows = table(path)
    return rows


def table(path) -> list[dict]:
    try:
        return DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    except Exception:
        return []


@pytest.mark.slow
def test_fixture_file_end_to_end(xact_kafka, start_worker, tmp_path):
    with LocalS3() as s3:
        rows, bodies = rehost(fixture_rows(), s3)
        valid = []
        for row in rows:
            with contextlib.suppress(InvalidEvent):
                valid.append(parse_event(orjson.dumps(row)))
        traces = {event.trace_id for event in valid}
        expected_files = {
            a.blob_path: bodies[a.url]
            for event in first_per_trace(valid)
            for a in attachments_of(event)
            if a.url in bodies and a.file_type != "UNKNOWN"
        }
        with KustoStandIn(rows, table="Events", database="xact") as kusto:
            tables = tmp_path / "tables"
            store = tmp_path / "onelake"
            env = pipeline_env(kusto, tables, store, bodies)
            for worker in WORKERS:
                start_worker(worker, xact_kafka, **env)

            wait_rows(tables / "xact_events", len(traces))
            wait_rows(tables / "xact_attachments", len(expected_files))
            # A row count says nothing about the batches still to come, and the failed table can
            # be written in a later batch than the last inventory row: let every group commit its
            # input to the end, upstream first, then read.
            for group, topic in GROUPS:
                assert wait_committed(xact_kafka, group, topic, timeout_s=120), group
            events = table(tables / "xact_events")
            inventory = table(tables / "xact_attachments")
            # vpipe trace finds each event's final places (the rows: where the installed
            # distribution declares its tables, the `vpipe.tables` entry points)
            rows_declared = bool(declared_tables("xact"))
            for trace in sorted(traces):
                found = run_vpipe(
                    tmp_path, xact_kafka, "trace", "--event-id", trace, "--json", **env
                )
                assert found.returncode == 0, found.stderr
                places = {
                    hop["where"].rpartition("[")[0] or hop["where"]
                    for hop in orjson.loads(found.stdout)["hops"]
                }
                assert "xact.events.raw" in places, (trace, found.stdout)
                owed_files = any(
                    a.blob_path in expected_files
                    for e in valid
                    if e.trace_id == trace
                    for a in attachments_of(e)
                )
                if owed_files:
                    assert "xact.downloads.results" in places, (trace, found.stdout)
                if rows_declared:
                    assert "xact_events" in places, (trace, found.stdout)
                    assert not owed_files or "xact_attachments" in places, (trace, found.stdout)
    assert sorted(r["trace_id"] for r in events) == sorted(traces), "one row per valid event"
    stored = {r["blob_path"] for r in inventory}
    assert stored == set(expected_files)
    for blob_path, body in expected_files.items():
        data = (store / "xact" / blob_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == hashlib.sha256(body).hexdigest()
    dead = read_all(xact_kafka, "xact.dlq", idle_s=2)
    reasons = [dict(m.headers())["vpipe_error"].decode() for m in dead]
    assert any("traceId" in reason for reason in reasons), reasons
    failed = table(tables / "xact_attachments_failed")
    assert any("not allowed" in (r.get("error_message") or "") for r in failed)
