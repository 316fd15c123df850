"""`xact-result-processor` (xact.md §12): results into `xact_attachments` and
`xact_attachments_failed`, exactly once per table across a lost Kafka commit."""

from __future__ import annotations

import signal
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from vpipe_core.delta.errors import permanent, transient
from vpipe_core.delta.multi_table import MultiTableWriter, Table, TableRow
from vpipe_core.outcome import Dead, Done, Retry
from vpipe_core.record import Record
from vpipe_testing.delta import (
    merged_source_rows,
    rewind_group,
    table_rows,
    wait_committed,
)
from vpipe_testing.kafka import produce, read_all
from vpipe_xact.messages import InvalidMessage
from vpipe_xact.result_processor import ResultRows
from vpipe_xact.results import coalesce, parse_result
from vpipe_xact.tables import XACT_ATTACHMENTS, XACT_ATTACHMENTS_FAILED

TOPIC = "xact.downloads.results"
WORKER = "xact-result-processor"


def result(media: str, trace: str, status: str = "completed", **fields: Any) -> dict[str, Any]:
    """A §5.4 message; `fields` override the defaults."""
    message: dict[str, Any] = {
        "trace_id": trace,
        "media_id": media,
        "attachment_url": f"https://claimxperience.com/{media}.jpg?X-Amz-Signature=abc",
        "blob_path": f"documentsReceived/T4W9R2K/{trace}/T4W9R2K_{media}.jpg",
        "status_subtype": "documentsReceived",
        "file_type": "JPG",
        "assignment_id": "T4W9R2K",
        "event_id": f"event-{trace}",
        "status": status,
        "http_status": 200 if status == "completed" else None,
        "bytes_downloaded": 1234 if status == "completed" else 0,
        "retry_count": 0,
        "error_category": None,
        "error_message": None,
        "original_timestamp": "2026-02-03T08:15:00.000000Z",
        "created_at": "2026-02-03T09:00:00.000000Z",
    }
    message.update(fields)
    return message


def send(bootstrap: str, *messages: dict[str, Any] | bytes) -> None:
    for message in messages:
        if isinstance(message, bytes):
            produce(bootstrap, TOPIC, [message])
        else:
            value = orjson.dumps(message)
            produce(bootstrap, TOPIC, [value], key=str(message.get("trace_id", "")).encode())


def rows_by_media(path: Path) -> dict[str, dict[str, Any]]:
    return {row["media_id"]: row for row in table_rows(path)}


def wait_for(path: Path, check, timeout_s: float = 60) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    rows = rows_by_media(path)
    while not check(rows) and time.monotonic() < deadline:
        time.sleep(0.5)
        rows = rows_by_media(path)
    assert check(rows), f"{path.name}: {sorted(rows)}"
    return rows


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_results_land_in_both_tables_once_even_after_a_lost_kafka_commit(
    xact_kafka, start_worker, tmp_path
):
    attachments = tmp_path / "tables" / "xact_attachments"
    failed = tmp_path / "tables" / "xact_attachments_failed"
    env = {"XACT_DELTA_INVENTORY_TABLE": str(attachments), "XACT_DELTA_FAILED_TABLE": str(failed)}
    send(
        xact_kafka,
        result("m1", "trace-a", bytes_downloaded=100),
        result("m2", "trace-b"),
        result("m3", "trace-c", assignment_id=4471982, original_timestamp="2026-02-04T23:30:00"),
        result(
            "m4",
            "trace-a",
            "failed_permanent",
            http_status=404,
            error_category="permanent",
            error_message="HTTP 404 for https://x.example/a.jpg?X-Amz-Signature=secret",
        ),
        result(
            "m5",
            "trace-b",
            "failed_exhausted",
            http_status=503,
            retry_count=3,
            error_category="transient",
            error_message="stalled",
        ),
        # the same media failing again in the same batch: later non-null values win
        result(
            "m5",
            "trace-b",
            "failed_exhausted",
            retry_count=4,
            error_category="transient",
            created_at="2026-02-03T09:30:00Z",
        ),
        b"{",
        result("m9", "trace-d", status="half_done"),
        {k: v for k, v in result("m8", "trace-d").items() if k != "media_id"},
    )
    worker = start_worker(WORKER, xact_kafka, **env)

    wait_for(attachments, lambda rows: len(rows) >= 3)
    wait_for(failed, lambda rows: len(rows) >= 2)
    # m5's second failure can come in a later batch than its first: read once every record's
    # batch is committed, not as soon as each table has its row count
    assert wait_committed(xact_kafka, WORKER, TOPIC)
    done, fails = rows_by_media(attachments), rows_by_media(failed)
    assert set(done) == {"m1", "m2", "m3"} and set(fails) == {"m4", "m5"}
    m1 = done["m1"]
    assert m1["trace_id"] == "trace-a" and m1["event_id"] == "event-trace-a"
    assert m1["attachment_url"].endswith("X-Amz-Signature=[REDACTED]"), "no usable signature"
    assert m1["blob_path"] == "documentsReceived/T4W9R2K/trace-a/T4W9R2K_m1.jpg"
    assert (m1["file_type"], m1["status_subtype"], m1["assignment_id"]) == (
        "JPG",
        "documentsReceived",
        "T4W9R2K",
    )
    assert m1["bytes_downloaded"] == 100
    assert m1["downloaded_at"] == at("2026-02-03T09:00:00Z")
    assert m1["event_date"] == date(2026, 2, 3)
    assert done["m3"]["assignment_id"] == "4471982"
    assert done["m3"]["event_date"] == date(2026, 2, 4), "date of original_timestamp (UTC)"
    first_created = m1["created_at"]

    m4 = fails["m4"]
    assert (m4["status"], m4["error_category"], m4["http_status"]) == (
        "failed_permanent",
        "permanent",
        404,
    )
    assert m4["error_message"].startswith("HTTP 404") and "secret" not in m4["error_message"]
    assert m4["failed_at"] == at("2026-02-03T09:00:00Z") and m4["retry_count"] == 0
    m5 = fails["m5"]
    assert (m5["status"], m5["error_category"], m5["error_message"]) == (
        "failed_exhausted",
        "transient",
        "stalled",
    )
    assert (m5["http_status"], m5["retry_count"]) == (503, 4)
    assert m5["failed_at"] == at("2026-02-03T09:30:00Z")

    dead = read_all(xact_kafka, "xact.dlq", expect=3)
    reasons = sorted(dict(m.headers())["vpipe_error"].decode() for m in dead)
    assert any("not JSON" in r for r in reasons)
    assert any("status" in r and "half_done" in r for r in reasons)
    assert any("media_id" in r for r in reasons)
    assert {dict(m.headers())["vpipe_dead_reason"] for m in dead} == {b"permanent"}

    # a later `completed` for the same media id updates its row and keeps `created_at`
    send(
        xact_kafka,
        result("m1", "trace-a", bytes_downloaded=200, created_at="2026-02-03T10:00:00Z"),
    )
    done = wait_for(attachments, lambda rows: rows["m1"]["bytes_downloaded"] == 200)
    assert len(done) == 3
    assert done["m1"]["downloaded_at"] == at("2026-02-03T10:00:00Z")
    assert done["m1"]["created_at"] == first_created

    # crash after the Delta commits, before the Kafka commit: everything is redelivered
    worker.signal(signal.SIGKILL)
    worker.wait(10)
    rewind_group(xact_kafka, WORKER, TOPIC)
    again = start_worker(WORKER, xact_kafka, **env)
    # in the partition of m1 and m4, so the redelivered batch extends past the recorded version
    send(
        xact_kafka,
        result("m6", "trace-a"),
        result("m7", "trace-a", "failed_permanent", error_category="permanent"),
    )
    wait_for(attachments, lambda rows: "m6" in rows)
    fails = wait_for(failed, lambda rows: "m7" in rows)
    # every redelivered record handled (and committed), not just two seconds' grace
    assert wait_committed(xact_kafka, WORKER, TOPIC)
    assert len(table_rows(attachments)) == 4 and len(table_rows(failed)) == 3
    assert merged_source_rows(attachments) == 5, "replayed results were merged again"
    assert merged_source_rows(failed) == 3, "replayed failures were merged again"
    assert rows_by_media(attachments)["m1"]["bytes_downloaded"] == 200
    assert fails["m7"]["error_message"] == "Unknown error"
    assert again.process.poll() is None


def test_failures_without_a_failed_table_are_logged_and_counted(xact_kafka, start_worker, tmp_path):
    attachments = tmp_path / "tables" / "xact_attachments"
    worker = start_worker(WORKER, xact_kafka, XACT_DELTA_INVENTORY_TABLE=str(attachments))
    send(
        xact_kafka,
        result("m1", "trace-a", "failed_exhausted", error_category="transient"),
        result("m2", "trace-a"),
    )
    wait_for(attachments, lambda rows: "m2" in rows)
    output = worker.output()
    assert "failure result not recorded" in output and "m1" in output
    metrics = worker.metrics_text()
    assert 'vpipe_xact_failures_unrecorded_total{status="failed_exhausted"} 1.0' in metrics
    assert not (tmp_path / "tables" / "xact_attachments_failed").exists()


def test_missing_inventory_table_setting_is_a_config_error(xact_kafka, start_worker):
    worker = start_worker(WORKER, xact_kafka, ready=False)
    assert worker.wait(30) == 2
    assert "XACT_DELTA_INVENTORY_TABLE" in worker.output()


# -- without Kafka: the handler's ordering and exactly-once rules ------------------------------


class FakeSink:
    """Records merges; `fail` holds errors raised by the next merges, in order."""

    def __init__(self, spec, committed: int | None = None) -> None:
        self.spec = spec
        self.committed = committed
        self.merges: list[tuple[list[str], int]] = []
        self.fail: list[Exception] = []

    def ensure_table(self) -> None:
        pass

    def committed_version(self, app_id: str) -> int | None:
        return self.committed

    def merge(self, rows, app_id: str, version: int) -> str:
        if self.fail:
            raise self.fail.pop(0)
        self.merges.append(([row["media_id"] for row in rows], version))
        return "written"

    def write(self, operation: str, rows, transactions: dict[str, int]) -> str:
        [(app_id, version)] = transactions.items()
        return self.merge(rows, app_id, version)

    def close(self) -> None:
        pass


def records(*messages: dict[str, Any] | bytes, partition: int = 0) -> list[Record]:
    return [
        Record(TOPIC, partition, offset, None, m if isinstance(m, bytes) else orjson.dumps(m))
        for offset, m in enumerate(messages)
    ]


def writer(done_sink: FakeSink, failed_sink: FakeSink, rows_for=None) -> MultiTableWriter:
    tables = [Table("xact_attachments", done_sink), Table("xact_attachments_failed", failed_sink)]
    rows_for = rows_for or ResultRows(record_failures=True)
    return MultiTableWriter(tables, WORKER, rows_for, 500, 5.0)


def test_a_failed_second_commit_retries_without_rewriting_the_first_table():
    done_sink, failed_sink = FakeSink(XACT_ATTACHMENTS), FakeSink(XACT_ATTACHMENTS_FAILED)
    handler = writer(done_sink, failed_sink)
    batch = records(result("m1", "t"), result("m2", "t", "failed_permanent"), b"[]")
    failed_sink.fail.append(transient("storage unavailable"))

    first = handler.handle_batch(batch)
    assert [type(o) for o in first] == [Retry, Retry, Dead]
    assert done_sink.merges == [(["m1"], 2)] and failed_sink.merges == []

    second = handler.handle_batch(batch)  # the in-place redelivery
    assert [type(o) for o in second] == [Done, Done, Dead]
    assert done_sink.merges == [(["m1"], 2)], "attachments were written twice"
    assert failed_sink.merges == [(["m2"], 2)]


def test_records_at_or_below_a_tables_recorded_version_are_skipped_for_that_table():
    done_sink = FakeSink(XACT_ATTACHMENTS, committed=1)
    failed_sink = FakeSink(XACT_ATTACHMENTS_FAILED, committed=None)
    handler = writer(done_sink, failed_sink)
    batch = records(
        result("m1", "t"), result("m2", "t", "failed_permanent"), result("m3", "t"), b"{"
    )
    outcomes = handler.handle_batch(batch)
    assert [type(o) for o in outcomes] == [Done, Done, Done, Dead], "dead again, not skipped"
    assert done_sink.merges == [(["m3"], 3)]
    assert failed_sink.merges == [(["m2"], 3)]


def test_a_row_the_table_rejects_is_dead_alone():
    done_sink, failed_sink = FakeSink(XACT_ATTACHMENTS), FakeSink(XACT_ATTACHMENTS_FAILED)
    handler = writer(done_sink, failed_sink)
    done_sink.fail.append(permanent("row 1: does not convert", rows=(1,)))
    outcomes = handler.handle_batch(records(result("m1", "t"), result("m2", "t")))
    assert isinstance(outcomes[0], Done) and isinstance(outcomes[1], Dead)
    assert "does not convert" in outcomes[1].error
    assert done_sink.merges == [(["m1"], 1)]


def test_an_unconvertible_row_is_dead_before_any_write():
    done_sink = FakeSink(XACT_ATTACHMENTS)
    rows = ResultRows(record_failures=True)

    def with_text_count(batch: list[Record]) -> list[TableRow | Dead | None]:
        items = rows(batch)
        first = items[0]
        assert isinstance(first, TableRow)
        return [TableRow(first.table, {**first.row, "bytes_downloaded": "many"}), *items[1:]]

    handler = writer(done_sink, FakeSink(XACT_ATTACHMENTS_FAILED), with_text_count)
    outcomes = handler.handle_batch(records(result("m1", "t"), result("m2", "t")))
    assert isinstance(outcomes[0], Dead) and "bytes_downloaded" in outcomes[0].error
    assert isinstance(outcomes[1], Done) and done_sink.merges == [(["m2"], 1)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"media_id": "  "}, "media_id"),
        ({"status": "done"}, "status"),
        ({"retry_count": None}, "retry_count"),
        ({"bytes_downloaded": -1}, "bytes_downloaded"),
        ({"http_status": "404"}, "http_status"),
        ({"created_at": "yesterday"}, "created_at"),
    ],
)
def test_invalid_results_name_the_field(change, field):
    with pytest.raises(InvalidMessage, match=field):
        parse_result(orjson.dumps(result("m1", "t") | change))


def test_results_are_read_leniently_where_the_spec_allows():
    message = result("m1", 4471982, "failed_exhausted", extra_field=1, error_message="x" * 900)
    del message["bytes_downloaded"]
    parsed = parse_result(orjson.dumps(message))
    assert parsed.trace_id == "4471982" and parsed.bytes_downloaded == 0
    assert parsed.error_message is not None and len(parsed.error_message) == 500
    assert parsed.created_at.tzinfo is UTC


def test_coalesce_keeps_earlier_values_the_later_row_lacks():
    merged = coalesce({"a": 1, "b": 2, "c": None}, {"a": None, "b": 3, "c": None})
    assert merged == {"a": 1, "b": 3, "c": None}
