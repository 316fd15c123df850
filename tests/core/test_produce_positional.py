"""The hot path's positional produce() (`outbox.ANY_PARTITION`, `NOW`) lands records exactly as
the keyword form does, on the real broker: same partition for the key, same headers, a creation
time of now, and the producer's own delivery callback."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import TIMESTAMP_CREATE_TIME, Producer

from vpipe_core.kafka.outbox import ANY_PARTITION, NOW, produce_to
from vpipe_core.outcome import Output
from vpipe_testing.kafka import ensure_topics, read_all


def test_positional_and_keyword_produce_land_the_same(kafka_bootstrap: str) -> None:
    topic = f"positional.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topic], 3)
    failures: list[object] = []
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "on_delivery": lambda err, _m: failures.append(err)}
    )
    headers = [("trace_id", b"t-1")]
    before_ms = int(time.time() * 1000)
    producer.produce(topic, b"keyword", b"k", headers=headers)
    producer.produce(topic, b"positional", b"k", ANY_PARTITION, None, None, NOW, headers)
    produce_to(producer.produce, Output(topic, b"to-partition", b"k", headers, partition=2))
    assert producer.flush(30) == 0

    landed = {m.value(): m for m in read_all(kafka_bootstrap, topic, expect=3)}
    keyword, positional = landed[b"keyword"], landed[b"positional"]
    assert positional.partition() == keyword.partition()
    assert landed[b"to-partition"].partition() == 2
    for message in landed.values():
        assert message.headers() == headers
        kind, stamp = message.timestamp()
        assert kind == TIMESTAMP_CREATE_TIME and stamp >= before_ms - 1000
    assert failures == [None, None, None], "every delivery reached the producer's own callback"
