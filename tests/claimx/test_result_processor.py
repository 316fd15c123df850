"""`claimx-result-processor` (claimx.md §9.2): results into `claimx_attachments` and
`claimx_attachments_failed`, exactly once per table; invalid results dead with the field named."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from deltalake import DeltaTable

from vpipe_claimx.result_processor import InvalidResult, build, parse_result
from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import load_settings
from vpipe_core.context import WorkerContext
from vpipe_core.delta.multi_table import MultiTableWriter
from vpipe_core.outcome import Dead, Done
from vpipe_core.record import Record
from vpipe_core.registry import load_worker
from vpipe_testing.delta import rewind_group, table_rows, wait_committed, wait_until
from vpipe_testing.kafka import produce, read_all

WORKER = "claimx-result-processor"
TOPIC = "claimx.downloads.results"


def result(media: str, status: str = "completed", **fields: Any) -> dict[str, Any]:
    """A §6 result message; `fields` override the defaults."""
    failed = status != "completed"
    message: dict[str, Any] = {
        "media_id": media,
        "project_id": "5517342",
        "download_url": f"https://www.claimxperience.com/cxfileservice/get/{media}?sign=abc",
        "blob_path": f"5517342/media/{media}_IMG_0001.jpg",
        "file_type": "jpg",
        "file_name": "IMG_0001.jpg",
        "source_event_id": f"event-{media}",
        "status": status,
        "bytes_uploaded": 0 if failed else 2048,
        "http_status": 404 if failed else 200,
        "error_category": "permanent" if failed else None,
        "error_message": "HTTP 404 for https://x.example/a.jpg?sign=secret" if failed else None,
        "retry_count": 0,
        "url_refresh_attempted": failed,
        "created_at": "2026-02-03T10:31:07.000000Z",
    }
    return message | fields


def context(env: dict[str, str]) -> WorkerContext:
    spec = load_worker(WORKER)
    settings = load_settings(CoreSettings, env)
    return WorkerContext(spec, 1, spec.name, settings, env, logging.getLogger("test"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    return tmp_path / "tables"


def env_for(tables: Path, failed: bool = True) -> dict[str, str]:
    env = {"CLAIMX_DELTA_INVENTORY_TABLE": str(tables / "claimx_attachments")}
    if failed:
        env["CLAIMX_DELTA_FAILED_TABLE"] = str(tables / "claimx_attachments_failed")
    return env


@pytest.fixture
def writer(tables: Path) -> Iterator[MultiTableWriter]:
    handler = build(context(env_for(tables)))
    assert isinstance(handler, MultiTableWriter)
    yield handler
    handler.close()


def records(*messages: dict[str, Any] | bytes, start: int = 0) -> list[Record]:
    return [
        Record(TOPIC, 0, start + i, None, m if isinstance(m, bytes) else orjson.dumps(m))
        for i, m in enumerate(messages)
    ]


def by_media(path: Path) -> dict[str, dict[str, Any]]:
    return {row["media_id"]: row for row in table_rows(path)}


def test_completed_and_failed_results_land_in_their_tables(writer, tables):
    outcomes = writer.handle_batch(
        records(
            result("98810452", bytes_uploaded=5120),
            result("98810467", "failed_permanent"),
            result("98810473", "failed_exhausted", http_status=503, retry_count=3),
            # the same media failing again in the batch: later non-null values win
            result("98810473", "failed_exhausted", http_status=None, retry_count=4),
        )
    )
    assert outcomes == [Done(())] * 4
    [done] = table_rows(tables / "claimx_attachments")
    assert (done["media_id"], done["bytes"], done["blob_path"]) == (
        "98810452",
        5120,
        "5517342/media/98810452_IMG_0001.jpg",
    )
    assert done["source_event_id"] == "event-98810452" and done["file_type"] == "jpg"
    assert done["created_at"] == done["updated_at"] == at("2026-02-03T10:31:07+00:00")
    failed = by_media(tables / "claimx_attachments_failed")
    first = failed["98810467"]
    assert (first["status"], first["http_status"], first["url_refresh_attempted"]) == (
        "failed_permanent",
        404,
        True,
    )
    assert "secret" not in first["error_message"], "redacted"
    assert (failed["98810473"]["http_status"], failed["98810473"]["retry_count"]) == (503, 4)


def test_a_later_completed_result_updates_and_keeps_created_at(writer, tables):
    writer.handle_batch(records(result("m1", bytes_uploaded=1)))
    later = result("m1", bytes_uploaded=2, created_at="2026-02-03T11:00:00Z")
    writer.handle_batch(records(later, start=1))
    [row] = table_rows(tables / "claimx_attachments")
    assert row["bytes"] == 2 and row["updated_at"] == at("2026-02-03T11:00:00+00:00")
    assert row["created_at"] == at("2026-02-03T10:31:07+00:00")


def test_a_replayed_result_changes_nothing(writer, tables):
    batch = records(result("m1"), result("m2", "failed_permanent"))
    writer.handle_batch(batch)
    versions = [DeltaTable(str(p)).version() for p in sorted(tables.iterdir())]
    writer.handle_batch(records(result("m1"), result("m2", "failed_permanent"), start=2))
    assert [DeltaTable(str(p)).version() for p in sorted(tables.iterdir())] == versions


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"media_id": " "}, "media_id"),
        ({"source_event_id": None}, "source_event_id"),
        ({"status": "done"}, "status"),
        ({"bytes_uploaded": -1}, "bytes_uploaded"),
        ({"http_status": "404"}, "http_status"),
        ({"url_refresh_attempted": "yes"}, "url_refresh_attempted"),
        ({"created_at": "yesterday"}, "created_at"),
    ],
)
def test_invalid_results_name_the_field(change, field):
    with pytest.raises(InvalidResult, match=field):
        parse_result(orjson.dumps(result("m1") | change))


def test_invalid_results_are_dead_and_numeric_ids_are_read(writer, tables):
    outcomes = writer.handle_batch(
        records(b"{", result("m1", status="half"), result(98810481, project_id=5517342))
    )
    assert [type(o) for o in outcomes] == [Dead, Dead, Done]
    assert "98810481" in by_media(tables / "claimx_attachments")


def test_without_a_failed_table_failures_are_logged_and_counted(tables, caplog):
    handler = build(context(env_for(tables, failed=False)))
    assert isinstance(handler, MultiTableWriter)
    with caplog.at_level(logging.WARNING, logger="vpipe.claimx.result_processor"):
        outcomes = handler.handle_batch(records(result("m1", "failed_exhausted"), result("m2")))
    handler.close()
    assert outcomes == [Done(())] * 2
    assert "failure result not recorded" in caplog.text
    assert not (tables / "claimx_attachments_failed").exists()


# -- the worker process ---------------------------------------------------------------------


def test_worker_writes_each_result_once_across_a_lost_kafka_commit(
    claimx_kafka, start_worker, tables
):
    env = env_for(tables)
    messages = [
        orjson.dumps(result("m1")),
        orjson.dumps(result("m2", "failed_permanent")),
        b"[]",
    ]
    produce(claimx_kafka, TOPIC, messages)
    worker = start_worker(WORKER, claimx_kafka, **env)
    wait_until(tables / "claimx_attachments_failed", lambda rows: len(rows) == 1)
    assert wait_committed(claimx_kafka, WORKER, TOPIC)
    [dead] = read_all(claimx_kafka, "claimx.dlq", expect=1)
    assert b"JSON object" in dict(dead.headers())["vpipe_error"]
    versions = [DeltaTable(str(p)).version() for p in sorted(tables.iterdir())]

    worker.signal(signal.SIGKILL)
    worker.wait(10)
    rewind_group(claimx_kafka, WORKER, TOPIC)
    again = start_worker(WORKER, claimx_kafka, **env)
    assert wait_committed(claimx_kafka, WORKER, TOPIC)
    assert [DeltaTable(str(p)).version() for p in sorted(tables.iterdir())] == versions
    assert len(table_rows(tables / "claimx_attachments")) == 1
    assert len(read_all(claimx_kafka, "claimx.dlq", expect=2)) == 2, "dead again, not skipped"
    assert again.process.poll() is None


def test_missing_inventory_table_setting_is_a_config_error(claimx_kafka, start_worker):
    worker = start_worker(WORKER, claimx_kafka, ready=False)
    assert worker.wait(30) == 2
    assert "CLAIMX_DELTA_INVENTORY_TABLE" in worker.output()
