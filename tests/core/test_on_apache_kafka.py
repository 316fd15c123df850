"""What Apache Kafka enforces and a compatible broker may not: checked with Kafka's own tools.

These tests start a Kafka node of their own (`apache_kafka` fixture); on the memory-only broker
they are skipped with that reason.
"""

from __future__ import annotations

import os
import re

import orjson
import pytest

from vpipe_testing.kafka import commit_offsets, ensure_topics, produce, read_all
from vpipe_testing.workers import run_vpipe as vpipe

TESTDOM_TOPICS = [
    "testdom.in",
    "testdom.out",
    "testdom.retry.1s",
    "testdom.retry.2s",
    "testdom.dlq",
]


def described(kafka, topic: str) -> tuple[int, dict[str, str]]:
    """(partitions, topic-level configs) as `kafka-topics --describe` prints them."""
    result = kafka.tool("kafka-topics", "--describe", "--topic", topic)
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    partitions = int(re.search(r"PartitionCount: (\d+)", header).group(1))
    configs_text = re.search(r"Configs: (\S*)", header).group(1)
    items = re.split(r",(?=[a-z.]+=)", configs_text)  # a value may hold commas: compact,delete
    configs = dict(item.split("=", 1) for item in items if item)
    return partitions, configs


def test_topics_create_sets_what_kafka_describes(apache_kafka, tmp_path):
    created = vpipe(
        tmp_path,
        apache_kafka.bootstrap,
        "topics",
        "create",
        TOPIC_PARTITIONS="6",
        TOPIC_RETENTION_HOURS="48",
        TOPIC_MIN_INSYNC_REPLICAS="1",
        DLQ_RETENTION_DAYS="10",
    )
    assert created.returncode == 0, created.stderr
    expected = {
        "xact.events.raw": (6, 48 * 3600 * 1000),
        "claimx.downloads.pending": (6, 48 * 3600 * 1000),
        "xact.dlq": (3, 10 * 24 * 3600 * 1000),
    }
    for topic, (partitions, retention_ms) in expected.items():
        assert described(apache_kafka, topic) == (
            partitions,
            {
                "cleanup.policy": "delete",
                "retention.ms": str(retention_ms),
                "max.message.bytes": str(10 * 1024 * 1024),
                "min.insync.replicas": "1",
            },
        ), topic
    changelog = "xact.events.raw.xact-event-ingester.changelog"  # the window (24 h) + 24 h
    assert described(apache_kafka, changelog) == (
        6,
        {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(48 * 3600 * 1000),
            "max.message.bytes": str(10 * 1024 * 1024),
            "min.insync.replicas": "1",
        },
    )
    again = vpipe(tmp_path, apache_kafka.bootstrap, "topics", "create")
    assert again.returncode == 0, again.stderr


def test_a_5_mb_poison_value_reaches_the_dlq_whole_and_replay_restores_it(
    apache_kafka, start_worker, tmp_path
):
    bootstrap = apache_kafka.bootstrap
    ensure_topics(bootstrap, TESTDOM_TOPICS)
    poison = b'{"id": "' + b"x" * (5 * 1024 * 1024) + b'"'
    start_worker("testdom-echo", bootstrap)
    produce(bootstrap, "testdom.in", [poison, orjson.dumps({"id": "after"})], key=b"big")

    dead = read_all(bootstrap, "testdom.dlq", expect=1, timeout_s=60)
    assert dead[0].value() == poison and dead[0].key() == b"big"
    assert orjson.loads(read_all(bootstrap, "testdom.out", expect=1)[0].value()) == {"id": "after"}

    replayed = vpipe(tmp_path, bootstrap, "dlq", "replay", "-d", "testdom", "--idle-seconds", "2")
    assert replayed.returncode == 0, replayed.stderr
    inputs = read_all(bootstrap, "testdom.in", expect=3, timeout_s=60)
    assert [m.value() for m in inputs].count(poison) == 2, "the replay restored the whole value"


@pytest.mark.parametrize("session_timeout_ms", ["6000", "1800000"])
def test_session_timeouts_within_kafkas_bounds_are_accepted(
    apache_kafka, start_worker, session_timeout_ms
):
    ensure_topics(apache_kafka.bootstrap, TESTDOM_TOPICS)
    worker = start_worker(
        "testdom-echo",
        apache_kafka.bootstrap,
        KAFKA_SESSION_TIMEOUT_MS=session_timeout_ms,
        KAFKA_MAX_POLL_INTERVAL_MS=str(max(300000, int(session_timeout_ms))),
    )
    produce(apache_kafka.bootstrap, "testdom.in", [orjson.dumps({"id": "one"})])
    assert read_all(apache_kafka.bootstrap, "testdom.out", expect=1)
    assert worker.process.poll() is None


def test_a_session_timeout_longer_than_the_poll_interval_is_refused_naming_both():
    from vpipe_core.config.core import CoreSettings
    from vpipe_core.config.loader import ConfigError, load_settings

    with pytest.raises(ConfigError) as refused:
        load_settings(CoreSettings, {"KAFKA_SESSION_TIMEOUT_MS": "1800000"})
    assert "KAFKA_MAX_POLL_INTERVAL_MS (300000) is shorter than KAFKA_SESSION_TIMEOUT_MS" in str(
        refused.value
    )


def test_a_session_timeout_below_kafkas_minimum_stops_the_worker_naming_the_setting(
    apache_kafka, start_worker
):
    ensure_topics(apache_kafka.bootstrap, TESTDOM_TOPICS)
    worker = start_worker(
        "testdom-echo", apache_kafka.bootstrap, ready=False, KAFKA_SESSION_TIMEOUT_MS="5000"
    )
    assert worker.wait(60) == 2
    assert "KAFKA_SESSION_TIMEOUT_MS" in worker.output()
    assert "Traceback" not in worker.output()


def test_records_deleted_unread_by_retention_are_logged_and_counted(apache_kafka, start_worker):
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    bootstrap = apache_kafka.bootstrap
    ensure_topics(bootstrap, TESTDOM_TOPICS, partitions=1)
    produce(bootstrap, "testdom.in", [orjson.dumps({"id": i}) for i in range(100)])
    commit_offsets(bootstrap, "testdom-echo", [TopicPartition("testdom.in", 0, 10)])
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: its futures need it alive
    deleted = admin.delete_records([TopicPartition("testdom.in", 0, 50)])
    assert [f.result(30).low_watermark for f in deleted.values()] == [50]

    worker = start_worker("testdom-echo", bootstrap)
    outputs = read_all(bootstrap, "testdom.out", expect=50)
    assert sorted(orjson.loads(m.value())["id"] for m in outputs) == list(range(50, 100))
    assert "40 record(s) of testdom.in[0] were deleted by retention" in worker.output()
    assert (
        'vpipe_records_expired_unread_total{partition="0",topic="testdom.in",worker="testdom-echo"}'
        " 40.0" in worker.metrics_text()
    )


def test_status_lag_equals_kafka_consumer_groups_describe(apache_kafka, start_worker, tmp_path):
    from vpipe_testing.delta import wait_committed

    bootstrap = apache_kafka.bootstrap
    # One partition: a partition the group never committed has no lag in either tool, so
    # records the producer happened to put there would go uncounted.
    ensure_topics(bootstrap, TESTDOM_TOPICS, partitions=1)
    worker = start_worker("testdom-echo", bootstrap)
    produce(bootstrap, "testdom.in", [orjson.dumps({"id": i}) for i in range(30)])
    assert wait_committed(bootstrap, "testdom-echo", "testdom.in")
    worker.stop()
    produce(bootstrap, "testdom.in", [orjson.dumps({"id": i}) for i in range(30, 55)])

    status = vpipe(
        tmp_path, bootstrap, "status", "testdom-echo", "--json", "--bootstrap", bootstrap
    )
    ours = {(r["topic"], r["partition"]): r["lag"] for r in orjson.loads(status.stdout)["lag"]}
    described = apache_kafka.tool("kafka-consumer-groups", "--describe", "--group", "testdom-echo")
    theirs = {
        (fields[1], int(fields[2])): int(fields[5])
        for line in described.stdout.splitlines()
        if (fields := line.split()) and fields[0] == "testdom-echo"
    }
    assert ours == theirs and sum(ours.values()) == 25, (status.stdout, described.stdout)


def test_a_dead_letter_over_the_dlq_limit_stops_the_worker_uncommitted_and_loses_nothing(
    apache_kafka, start_worker
):
    from vpipe_testing.delta import wait_committed

    bootstrap = apache_kafka.bootstrap
    ensure_topics(bootstrap, TESTDOM_TOPICS, partitions=1)
    limit = ["--entity-type", "topics", "--entity-name", "testdom.dlq", "--alter"]
    lowered = apache_kafka.tool(
        "kafka-configs", *limit, "--add-config", "max.message.bytes=1048576"
    )
    assert lowered.returncode == 0, lowered.stderr
    # not JSON, so a dead letter; random, so 2 MiB even after the producer's lz4 compression
    poison = b'{"id": ' + os.urandom(2 * 1024 * 1024)
    inputs = [orjson.dumps({"id": "before"}), poison, orjson.dumps({"id": "after"})]
    produce(bootstrap, "testdom.in", inputs)

    worker = start_worker("testdom-echo", bootstrap)
    assert worker.wait(60) == 2, "a lost output stops the worker (configuration error)"
    assert "cannot produce to topic 'testdom.dlq'" in worker.output()
    assert not wait_committed(bootstrap, "testdom-echo", "testdom.in", timeout_s=2)

    raised = apache_kafka.tool(
        "kafka-configs", *limit, "--add-config", "max.message.bytes=10485760"
    )
    assert raised.returncode == 0, raised.stderr
    start_worker("testdom-echo", bootstrap)
    assert wait_committed(bootstrap, "testdom-echo", "testdom.in")
    assert [m.value() for m in read_all(bootstrap, "testdom.dlq", idle_s=2)] == [poison]
    echoed = {orjson.loads(m.value())["id"] for m in read_all(bootstrap, "testdom.out", idle_s=2)}
    assert echoed == {"before", "after"}
