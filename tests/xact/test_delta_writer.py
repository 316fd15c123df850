"""`xact-delta-writer`: fixture rows into `xact_events`, exactly once across crashes."""

from __future__ import annotations

import signal

import orjson
from xact_fixtures import fixture_rows

from vpipe_testing.delta import rewind_group, table_rows, wait_committed, wait_until
from vpipe_testing.kafka import produce, read_all


def test_writes_each_valid_event_once_even_after_a_lost_kafka_commit(
    xact_kafka, start_worker, tmp_path
):
    table = tmp_path / "tables" / "xact_events"
    rows_in = [orjson.dumps(row) for row in fixture_rows()]
    # One key, so one partition: row 15 must be read after row 1 for "row 1 wins" to hold.
    produce(xact_kafka, "xact.events.raw", rows_in, key=b"fixture")
    env = {"XACT_DELTA_EVENTS_TABLE": str(table)}
    worker = start_worker("xact-delta-writer", xact_kafka, **env)
    # 17 rows: row 12 is invalid (DLQ); row 15 repeats row 1's traceId and may land as a row of
    # its own only when it falls in another batch (cross-batch duplicates are allowed, §8). So
    # "15 rows" can be reached before the last row is written: wait for every trace id, then for
    # the group's commit (every record's batch is in the table).
    traces = {row["traceId"] for row in fixture_rows() if "traceId" in row}
    wait_until(table, lambda got: {row["trace_id"] for row in got} >= traces)
    assert wait_committed(xact_kafka, "xact-delta-writer", "xact.events.raw")
    rows = table_rows(table)
    dead = read_all(xact_kafka, "xact.dlq", expect=1)
    assert b"traceId" in dict(dead[0].headers())["vpipe_error"]
    by_trace = {row["trace_id"]: row for row in rows}
    assert len(by_trace) == 15
    # Row 1, not its repeat (row 15), which is a row of its own when it lands in another batch.
    first = min(
        (row for row in rows if row["trace_id"] == "7d2f4a90-1c3e-4b8a-9f61-2e5d8c0b7a13"),
        key=lambda row: row["ingestion_time"],
    )
    assert first["event_id"] == "6f7ee10a-02f9-5ad0-80c4-1ab86c9cc8d5"
    assert first["status_subtype"] == "documentsReceived"
    assert first["claim_number"] == "0912204468"
    assert first["attachments"].count("https://") == 2
    assert first["ingestion_time"] == "2026-02-03T08:15:02.4817365Z"
    assert orjson.loads(first["raw_json"])["traceId"] == first["trace_id"]
    numeric = next(row for row in rows if row["assignment_id"] == "4471982")
    assert numeric["carrier_id"] == "7731"
    delivered = by_trace["e6a0b3f9-8d21-4c7e-9b54-0c2f7d1e8a36"]
    assert delivered["contact_phone_extension"] == "31"
    count = len(rows)

    worker.signal(signal.SIGKILL)
    worker.wait(10)
    rewind_group(xact_kafka, "xact-delta-writer", "xact.events.raw")
    again = start_worker("xact-delta-writer", xact_kafka, **env)
    produce(
        xact_kafka, "xact.events.raw", [orjson.dumps({**fixture_rows()[0], "traceId": "t-new"})]
    )
    wait_until(table, lambda got: "t-new" in {row["trace_id"] for row in got})
    # every replayed record handled (and committed), not just a second's grace
    assert wait_committed(xact_kafka, "xact-delta-writer", "xact.events.raw")
    rows = table_rows(table)
    assert len(rows) == count + 1, "records replayed after the lost commit were written again"
    assert "t-new" in {row["trace_id"] for row in rows}
    assert again.process.poll() is None


def test_missing_table_setting_is_a_config_error(xact_kafka, start_worker):
    worker = start_worker("xact-delta-writer", xact_kafka, ready=False)
    assert worker.wait(30) == 2
    assert "XACT_DELTA_EVENTS_TABLE" in worker.output()
