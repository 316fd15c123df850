"""`xact-event-ingester` against a real broker, fed the shared fixture rows."""

from __future__ import annotations

import orjson
from xact_fixtures import fixture_rows

from vpipe_testing.delta import wait_committed
from vpipe_testing.kafka import produce_keyed, read_all
from vpipe_xact.events import InvalidEvent, parse_event


def expected_tasks() -> set[str]:
    traces = set()
    for row in fixture_rows():
        try:
            event = parse_event(orjson.dumps(row))
        except InvalidEvent:
            continue
        if event.assignment_id:
            traces.add(event.trace_id)
    return traces


def keyed(row: dict) -> tuple[bytes | None, bytes]:
    """As the poller publishes it: keyed by trace id, the dedup key (copies share a partition)."""
    trace = row.get("traceId")
    return (trace.encode() if isinstance(trace, str) else None), orjson.dumps(row)


def test_ingests_fixtures_dedups_and_dead_letters_invalid(xact_kafka, start_worker, tmp_path):
    rows = [keyed(row) for row in fixture_rows()]
    produce_keyed(xact_kafka, "xact.events.raw", rows)
    worker = start_worker("xact-event-ingester", xact_kafka)
    wanted = expected_tasks()
    read_all(xact_kafka, "xact.enrichment.pending", expect=len(wanted), timeout_s=60)
    # every raw record handled before counting: a second task for row 15 could still be coming
    assert wait_committed(xact_kafka, "xact-event-ingester", "xact.events.raw")
    tasks = read_all(xact_kafka, "xact.enrichment.pending", idle_s=1)
    payloads = [orjson.loads(m.value()) for m in tasks]
    assert {p["trace_id"] for p in payloads} == wanted
    assert len(payloads) == len(wanted), "the duplicate row (15) produced no second task"
    first = next(p for p in payloads if p["trace_id"] == "7d2f4a90-1c3e-4b8a-9f61-2e5d8c0b7a13")
    assert first["event_id"] == "6f7ee10a-02f9-5ad0-80c4-1ab86c9cc8d5"
    assert first["event_type"] == "xact" and first["status_subtype"] == "documentsReceived"
    assert len(first["attachments"]) == 2
    numeric = next(p for p in payloads if p["assignment_id"] == "4471982")
    assert numeric["data"]["assignmentId"] == 4471982, "raw data is kept as received"
    dead = read_all(xact_kafka, "xact.dlq", expect=1)
    assert orjson.loads(dead[0].value()).get("traceId") is None
    assert "traceId" in dict(dead[0].headers())["vpipe_error"].decode()

    changelog = read_all(xact_kafka, "xact.events.raw.xact-event-ingester.changelog", idle_s=1)
    raw_partition = {m.key(): m.partition() for m in read_all(xact_kafka, "xact.events.raw")}
    assert {m.key().decode() for m in changelog} == wanted
    for entry in changelog:  # in the partition of its input record, whatever its key's hash
        assert entry.partition() == raw_partition[entry.key()]
        assert orjson.loads(entry.value())["partition"] == entry.partition()

    worker.stop()  # the next instance shares nothing with it but the broker (another host)
    start_worker("xact-event-ingester", xact_kafka, STATE_DIR=str(tmp_path / "another-host"))
    produce_keyed(xact_kafka, "xact.events.raw", [rows[0]])  # row 1 again, after a restart
    produce_keyed(xact_kafka, "xact.events.raw", [keyed({**fixture_rows()[0], "traceId": "new-1"})])

    def has_new(got):
        return any(orjson.loads(m.value())["trace_id"] == "new-1" for m in got)

    read_all(xact_kafka, "xact.enrichment.pending", until=has_new, timeout_s=60)
    # row 1 and new-1 may sit in different partitions: new-1's task says nothing about whether
    # row 1 was handled yet; the committed offsets do
    assert wait_committed(xact_kafka, "xact-event-ingester", "xact.events.raw")
    final = read_all(xact_kafka, "xact.enrichment.pending", idle_s=2)
    assert len(final) == len(wanted) + 1, "dedup must survive the move (row 1 not re-emitted)"
