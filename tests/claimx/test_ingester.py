"""`claimx-ingester` against a real broker, fed the fixture rows as the poller publishes them."""

from __future__ import annotations

import orjson
from claimx_fixtures import fixture_rows

from vpipe_claimx.events import InvalidEvent, check_enrichable, parse_raw, raw_message
from vpipe_testing.delta import wait_committed
from vpipe_testing.kafka import produce_keyed, read_all


def expected_ids() -> set[str]:
    ids = set()
    for row in fixture_rows():
        event = parse_raw(raw_message(row))
        try:
            check_enrichable(event)
        except InvalidEvent:
            continue
        ids.add(event.event_id)
    return ids


def keyed(message: dict) -> tuple[bytes, bytes]:
    """As the poller publishes it: keyed by event id, the dedup key (copies share a partition)."""
    return str(message["event_id"]).encode(), orjson.dumps(message)


def test_ingests_fixtures_dedups_and_dead_letters_invalid(claimx_kafka, start_worker):
    messages = [keyed(raw_message(row)) for row in fixture_rows()]
    broken = [(None, b"{broken"), (None, b"[]")]
    produce_keyed(claimx_kafka, "claimx.events.raw", [*messages, *broken])
    worker = start_worker("claimx-ingester", claimx_kafka)
    wanted = expected_ids()
    assert len(wanted) == 18, "21 rows: one duplicate (16), two invalid (18, 19)"
    read_all(claimx_kafka, "claimx.enrichment.pending", expect=len(wanted), timeout_s=60)
    # every raw record handled before counting: a task for row 16 could still be coming
    assert wait_committed(claimx_kafka, "claimx-ingester", "claimx.events.raw")
    tasks = read_all(claimx_kafka, "claimx.enrichment.pending", idle_s=1)
    payloads = [orjson.loads(m.value()) for m in tasks]
    assert sorted(p["event_id"] for p in payloads) == sorted(wanted), "row 16 dropped as a repeat"
    assert all(m.key().decode() == orjson.loads(m.value())["event_id"] for m in tasks)
    numeric = next(p for p in payloads if p["media_id"] == "98810481")
    assert numeric["project_id"] == "5517342" and "raw_data" not in numeric
    dead = read_all(claimx_kafka, "claimx.dlq", expect=4)
    reasons = sorted(dict(m.headers())["vpipe_error"].decode() for m in dead)
    assert any("task_assignment_id: expected digits only" in r for r in reasons)
    assert any("project_id: required" in r for r in reasons)
    assert sum("JSON" in r for r in reasons) == 2, reasons

    worker.stop()
    start_worker("claimx-ingester", claimx_kafka)
    fresh = {**fixture_rows()[0], "eventId": "cx-new-1"}
    produce_keyed(claimx_kafka, "claimx.events.raw", [messages[0], keyed(raw_message(fresh))])

    def has_new(got):
        return any(orjson.loads(m.value())["event_id"] == "cx-new-1" for m in got)

    read_all(claimx_kafka, "claimx.enrichment.pending", until=has_new, timeout_s=60)
    # row 1 and cx-new-1 may sit in different partitions: cx-new-1's task says nothing about
    # whether row 1 was handled yet; the committed offsets do
    assert wait_committed(claimx_kafka, "claimx-ingester", "claimx.events.raw")
    final = read_all(claimx_kafka, "claimx.enrichment.pending", idle_s=2)
    assert len(final) == len(wanted) + 1, "dedup survives the restart (row 1 not re-emitted)"
