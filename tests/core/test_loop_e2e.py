"""The processing loop against a real broker, through real `vpipe-worker` processes."""

from __future__ import annotations

import os
import signal
import time

import orjson
from confluent_kafka import Consumer, TopicPartition

from vpipe_testing.delta import wait_committed
from vpipe_testing.kafka import produce, read_all


def ids_of(messages) -> set[str]:
    return {str(orjson.loads(m.value())["id"]) for m in messages}


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int = 3) -> dict:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def test_sigkill_mid_batch_loses_nothing(testdom, start_worker, group_protocol):
    total = 1500
    produce(testdom, "testdom.in", (orjson.dumps({"id": i}) for i in range(total)))
    protocol = {"KAFKA_GROUP_PROTOCOL": group_protocol}
    worker = start_worker("testdom-echo", testdom, TESTDOM_SLEEP_MS="2", **protocol)
    read_all(testdom, "testdom.out", expect=600, timeout_s=60)
    worker.signal(signal.SIGKILL)
    worker.wait(10)

    outputs = read_all(testdom, "testdom.out", idle_s=3)
    assert len(ids_of(outputs)) < total, "the kill came too late to be mid-stream"
    inputs = read_all(testdom, "testdom.in", expect=total)
    committed = committed_offsets(testdom, "testdom-echo", "testdom.in")
    covered = {
        str(orjson.loads(m.value())["id"])
        for m in inputs
        if m.offset() < committed.get(m.partition(), -1)
    }
    assert covered, "nothing was committed before the kill"
    assert covered <= ids_of(outputs), "an offset was committed past an unacknowledged output"

    start_worker("testdom-echo", testdom, **protocol)
    everything = {str(i) for i in range(total)}
    outputs = read_all(testdom, "testdom.out", until=lambda got: ids_of(got) >= everything)
    assert ids_of(outputs) == everything


def test_poison_goes_to_dlq_with_original_bytes_and_neighbours_pass(testdom, start_worker):
    poison = [
        b'{"id": 1, "broken": ',
        orjson.dumps({"id": [1, 2]}),
        b'{"id": "' + b"x" * (5 * 1024 * 1024) + b'"',
        os.urandom(512) + b"\xff\xfe",
        orjson.dumps([1, 2, 3]),
    ]
    good = [orjson.dumps({"id": f"good-{i}"}) for i in range(20)]
    mixed = [v for pair in zip(good[:5], poison, strict=True) for v in pair] + good[5:]
    worker = start_worker("testdom-echo", testdom)
    produce(testdom, "testdom.in", mixed)

    dlq = read_all(testdom, "testdom.dlq", expect=len(poison), timeout_s=60)
    assert sorted(m.value() for m in dlq) == sorted(poison)
    for message in dlq:
        headers = dict(message.headers())
        assert headers["vpipe_dead_reason"] == b"permanent"
        assert headers["vpipe_error_category"] == b"permanent"
        assert headers["vpipe_error"]
    assert ids_of(read_all(testdom, "testdom.out", expect=len(good))) == {
        f"good-{i}" for i in range(20)
    }
    assert worker.process.poll() is None
    assert worker.probe("/healthz")[0] == 200


def test_batch_handler_retries_storage_failures_in_place(testdom, start_worker):
    produce(testdom, "testdom.batch.in", (orjson.dumps({"id": i}) for i in range(50)))
    worker = start_worker("testdom-batch", testdom, TESTDOM_BATCH_FAIL_TIMES="2")
    out = read_all(testdom, "testdom.batch.out", expect=50, timeout_s=60)
    assert ids_of(out) == {str(i) for i in range(50)}
    # every record routed first; a 2 s read cap could return [] before the reader fetched at all
    assert wait_committed(testdom, "testdom-batch", "testdom.batch.in")
    assert read_all(testdom, "testdom.retry.1s", idle_s=1) == []
    assert read_all(testdom, "testdom.dlq", idle_s=1) == []
    assert "retrying in place" in worker.output()


def test_sigterm_drains_and_exits_within_the_drain_time(testdom, start_worker):
    produce(testdom, "testdom.in", (orjson.dumps({"id": i}) for i in range(300)))
    worker = start_worker("testdom-echo", testdom, TESTDOM_SLEEP_MS="20", TESTDOM_CONCURRENCY="4")
    read_all(testdom, "testdom.out", expect=20, timeout_s=30)
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert time.monotonic() - started < 5 + 10 + 3  # drain + producer flush + slack
    outputs = read_all(testdom, "testdom.out", idle_s=2)
    committed = committed_offsets(testdom, "testdom-echo", "testdom.in")
    inputs = read_all(testdom, "testdom.in", expect=300)
    covered = {
        str(orjson.loads(m.value())["id"])
        for m in inputs
        if m.offset() < committed.get(m.partition(), -1)
    }
    assert covered and covered <= ids_of(outputs)


def test_live_worker_serves_metrics_health_and_readiness(testdom, start_worker):
    worker = start_worker("testdom-echo", testdom)
    produce(testdom, "testdom.in", [orjson.dumps({"id": "m"})])
    read_all(testdom, "testdom.out", expect=1)
    status, body = worker.probe("/readyz")
    assert status == 200, body
    assert worker.probe("/healthz")[0] == 200
    text = worker.metrics_text()
    for name in (
        "vpipe_messages_consumed_total",
        "vpipe_messages_produced_total",
        "vpipe_message_outcomes_total",
        "vpipe_assigned_partitions",
        "vpipe_loop_last_progress_timestamp_seconds",
        "vpipe_build_info",
    ):
        assert name in text


def test_rebalance_as_instances_join_and_leave_loses_nothing(testdom, start_worker, group_protocol):
    total = 2000
    produce(testdom, "testdom.in", (orjson.dumps({"id": i}) for i in range(total)))
    protocol = {"KAFKA_GROUP_PROTOCOL": group_protocol}
    first = start_worker("testdom-echo", testdom, TESTDOM_SLEEP_MS="2", **protocol)
    read_all(testdom, "testdom.out", expect=300, timeout_s=60)
    start_worker("testdom-echo", testdom, instance=2, TESTDOM_SLEEP_MS="2", **protocol)
    read_all(testdom, "testdom.out", expect=900, timeout_s=60)
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0

    everything = {str(i) for i in range(total)}
    outputs = read_all(testdom, "testdom.out", until=lambda got: ids_of(got) >= everything)
    assert ids_of(outputs) == everything
    assert "partitions revoked" in first.output()
