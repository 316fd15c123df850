"""`vpipe trace` follows one event by its W3C trace id or its ids, and names where it stopped."""

from __future__ import annotations

import orjson

from vpipe_core.lineage.carry import started
from vpipe_core.lineage.traceparent import TRACEPARENT, find, trace_id_of
from vpipe_core.outcome import Output
from vpipe_testing.kafka import ensure_topics
from vpipe_testing.workers import run_vpipe

RAW, TASKS, DLQ = "xact.events.raw", "xact.enrichment.pending", "xact.dlq"


def produce(bootstrap: str, outputs: list[Output]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    for output in outputs:
        producer.produce(output.topic, output.value, output.key, headers=output.headers)
    assert producer.flush(30) == 0


def test_trace_names_the_stage_that_has_not_handled_the_newest_record(
    tmp_path, fresh_kafka
) -> None:
    ensure_topics(fresh_kafka, [RAW, TASKS, DLQ])
    raw = started(Output(RAW, orjson.dumps({"trace_id": "claim-1"}), b"claim-1"))
    assert raw.headers is not None
    parent = find(raw.headers)
    assert parent is not None
    trace_id = trace_id_of(parent)
    assert trace_id is not None
    task = Output(TASKS, orjson.dumps({"trace_id": "claim-1"}), b"claim-1", [(TRACEPARENT, parent)])
    other = started(Output(RAW, orjson.dumps({"trace_id": "claim-2"}), b"claim-2"))
    produce(fresh_kafka, [raw, task, other])

    by_event = run_vpipe(tmp_path, fresh_kafka, "trace", "--event-id", "claim-1", "--json")
    assert by_event.returncode == 1, by_event.stderr
    story = orjson.loads(by_event.stdout)
    assert [hop["where"].rpartition("[")[0] for hop in story["hops"]] == [RAW, TASKS]
    assert {hop["trace_id"] for hop in story["hops"]} == {trace_id}
    assert story["last_stage"] == "xact-enricher"
    assert "last stage that saw it: xact-enricher" in by_event.stderr

    by_trace = run_vpipe(tmp_path, fresh_kafka, "trace", "--trace-id", trace_id)
    assert by_trace.returncode == 1
    assert "xact-event-ingester" in by_trace.stdout and "claim-2" not in by_trace.stdout


def test_trace_of_an_unknown_event_exits_1_saying_nothing_was_found(tmp_path, fresh_kafka):
    ensure_topics(fresh_kafka, [RAW])
    result = run_vpipe(tmp_path, fresh_kafka, "trace", "--event-id", "nope", "--window", "1h")
    assert result.returncode == 1
    assert "nothing found for event_id nope" in result.stderr


def test_trace_needs_exactly_one_id(tmp_path, fresh_kafka):
    result = run_vpipe(tmp_path, fresh_kafka, "trace", "--event-id", "a", "--media-id", "b")
    assert result.returncode == 2
    assert "exactly one of" in result.stderr
