"""Rows that carry their id in `trace_id` with `traceId` null (a fixed-column Eventhouse table),
through the real ingester and Delta writer: written, enriched, nothing dead-lettered."""

from __future__ import annotations

import orjson

from vpipe_testing.delta import table_rows, wait_committed
from vpipe_testing.kafka import produce, read_all

ROWS = [
    {
        "type": "verisk.claims.property.xn.documentsReceived",
        "version": 2,
        "utcDateTime": "2026-11-29T16:04:11.5Z",
        "traceId": primary,
        "trace_id": f"alias-case-{n}",
        "ingestion_time": "2026-11-29T16:04:13.0000000Z",
        "data": {
            "assignmentId": f"ALIAS{n}",
            "attachments": [f"https://files.example/alias/{n}/photo{n}.jpg"],
        },
    }
    for n, primary in enumerate([None, "", "   "])
]


def test_rows_with_a_null_or_empty_trace_id_use_the_alias(xact_kafka, start_worker, tmp_path):
    table = tmp_path / "tables" / "xact_events"
    produce(xact_kafka, "xact.events.raw", [orjson.dumps(row) for row in ROWS])
    start_worker("xact-event-ingester", xact_kafka)
    start_worker("xact-delta-writer", xact_kafka, XACT_DELTA_EVENTS_TABLE=str(table))

    tasks = read_all(xact_kafka, "xact.enrichment.pending", expect=len(ROWS), timeout_s=60)
    assert wait_committed(xact_kafka, "xact-event-ingester", "xact.events.raw")
    assert wait_committed(xact_kafka, "xact-delta-writer", "xact.events.raw")
    expected = {f"alias-case-{n}" for n in range(len(ROWS))}
    assert {orjson.loads(m.value())["trace_id"] for m in tasks} == expected
    assert {row["trace_id"] for row in table_rows(table)} == expected
    assert read_all(xact_kafka, "xact.dlq", idle_s=1) == []
