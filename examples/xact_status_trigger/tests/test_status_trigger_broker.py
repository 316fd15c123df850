"""The published notification survives a real broker: key, headers and value as the enricher
would produce them (`kafka_bootstrap` is vpipe-core's pytest fixture)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import orjson
from confluent_kafka import Producer
from status_trigger_support import EVENT_ID, xact_context

from vpipe_core.outcome import Output
from vpipe_core.plugins.plugin_set import PluginSet
from vpipe_testing.kafka import ensure_topics, read_all

Loader = Callable[..., PluginSet]


def produce_outputs(bootstrap: str, outputs: list[Output]) -> None:
    """What the enricher does with a plugin's outputs: produce them, wait for the acks."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for output in outputs:
        producer.produce(output.topic, output.value, output.key, headers=output.headers)
    assert producer.flush(30) == 0


def test_notification_round_trips_through_the_broker(
    kafka_bootstrap: str, load_with_config: Loader
) -> None:
    topic = f"xact.notifications.test-{uuid.uuid4().hex[:8]}"
    plugin_set = load_with_config(
        f'[[config.triggers]]\nstatus = "estimateCreated"\npublish_to_topic = "{topic}"\n'
    )
    ensure_topics(kafka_bootstrap, plugin_set.topics())
    result = plugin_set.run(xact_context("estimateCreated"))

    produce_outputs(kafka_bootstrap, result.outputs)

    [message] = read_all(kafka_bootstrap, topic, expect=1)
    assert message.key() == EVENT_ID.encode()
    assert dict(message.headers())["x-status"] == b"estimateCreated"
    assert orjson.loads(message.value())["status_subtype"] == "estimateCreated"
