"""The partition-scoped key store (vpipe_core.state) on the test broker: marks produced to the
changelog partition of their input record, restored by the next owner of the partition with
nothing of the first instance but the topic; the window, the cap, the replay rule; and a
changelog with a partition count other than its input's refused at start."""

from __future__ import annotations

import logging
import subprocess
import time
import uuid

from confluent_kafka import Producer, TopicPartition

from vpipe_core.config.core import CoreSettings
from vpipe_core.context import WorkerContext
from vpipe_core.kafka.outbox import produce_to
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.outcome import Output
from vpipe_core.spec import WorkerSpec
from vpipe_core.state.changelog import changelog_topic
from vpipe_core.state.store import KeyStore, changelog_reader, worker_key_store
from vpipe_testing.kafka import ensure_topics, read_all
from vpipe_testing.workers import worker_command, worker_environment


def context(bootstrap: str, **spec_fields) -> WorkerContext:
    name = f"state-{uuid.uuid4().hex[:8]}"
    spec = WorkerSpec(
        name=name,
        domain="testdom",
        handler="x:y",
        input_topics=(f"testdom.{name}.in",),
        changelog_hours=1,
        **spec_fields,
    )
    settings = CoreSettings(kafka_bootstrap_servers=bootstrap, dedup_max_entries=1000)
    ctx = WorkerContext(spec, 1, spec.name, settings, {}, logging.getLogger("test"))
    ensure_topics(bootstrap, [spec.input_topics[0], changelog_topic(spec)], partitions=3)
    return ctx


def write(bootstrap: str, outputs: list[Output]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for output in outputs:
        produce_to(producer.produce, output)
    assert producer.flush(30) == 0


def assigned(store: KeyStore, *partitions: int) -> list[TopicPartition]:
    return [TopicPartition(store.source, p) for p in partitions]


def test_a_key_seen_on_a_partition_is_a_duplicate_for_its_next_owner(kafka_bootstrap):
    ctx = context(kafka_bootstrap)
    first = worker_key_store(ctx)
    first.on_assign(assigned(first, 0, 1, 2))
    marks = [first.mark("a", 2, 5), first.mark("b", 2, 6), first.mark("c", 0, 1)]
    write(kafka_bootstrap, marks)
    stored = read_all(kafka_bootstrap, first.changelog, expect=3)
    assert {(m.key(), m.partition()) for m in stored} == {(b"a", 2), (b"b", 2), (b"c", 0)}

    second = worker_key_store(ctx)  # another instance: nothing shared but the broker
    second.on_assign(assigned(second, 2))
    assert second.is_duplicate("a", 2, 9) and second.is_duplicate("b", 2, 9)
    assert not second.is_duplicate("c", 0, 9), "partition 0 is not assigned to it"
    second.on_revoke(assigned(second, 2))
    assert not second.is_duplicate("a", 2, 9), "a revoked partition's entries are dropped"


def test_a_replayed_record_is_not_its_own_duplicate(kafka_bootstrap):
    ctx = context(kafka_bootstrap)
    first = worker_key_store(ctx)
    write(kafka_bootstrap, [first.mark("a", 1, 7)])
    assert not first.is_duplicate("a", 1, 7), "retried in place"
    after_crash = worker_key_store(ctx)
    after_crash.on_assign(assigned(after_crash, 1))
    assert not after_crash.is_duplicate("a", 1, 7), "replayed after a crash, its mark written"
    assert after_crash.is_duplicate("a", 1, 8)


def test_entries_older_than_the_window_are_not_restored(kafka_bootstrap):
    ctx = context(kafka_bootstrap)
    then = time.time() - 2 * 3600  # the window is one hour
    old = KeyStore(
        ctx.spec.name,
        ctx.spec.input_topics[0],
        changelog_topic(ctx.spec),
        3600,
        10,
        changelog_reader(ctx),
        clock=lambda: then,
    )
    write(kafka_bootstrap, [old.mark("stale", 0, 1)])
    fresh = worker_key_store(ctx)
    write(kafka_bootstrap, [fresh.mark("recent", 0, 2)])
    restored_before = restored_entries(ctx.spec.name)
    again = worker_key_store(ctx)
    again.on_assign(assigned(again, 0))
    assert again.is_duplicate("recent", 0, 9) and not again.is_duplicate("stale", 0, 9)
    assert restored_entries(ctx.spec.name) - restored_before == 1


def test_the_cap_drops_the_oldest_entries(kafka_bootstrap):
    ctx = context(kafka_bootstrap)
    store = KeyStore(
        ctx.spec.name,
        ctx.spec.input_topics[0],
        changelog_topic(ctx.spec),
        3600,
        2,
        changelog_reader(ctx),
    )
    for offset, key in enumerate(["old", "b", "c"]):
        store.mark(key, 0, offset)
    assert [store.is_duplicate(key, 0, 99) for key in ["old", "b", "c"]] == [False, True, True]


def restored_entries(worker: str) -> float:
    value = REGISTRY.get_sample_value("vpipe_state_restored_entries_total", {"worker": worker})
    return value or 0.0


def test_a_changelog_with_another_partition_count_than_its_input_is_refused(tmp_path, fresh_kafka):
    changelog = "xact.events.raw.xact-event-ingester.changelog"
    ensure_topics(fresh_kafka, ["xact.events.raw", "xact.enrichment.pending", "xact.dlq"], 3)
    ensure_topics(fresh_kafka, [changelog], partitions=2)
    environment = worker_environment(fresh_kafka, tmp_path, STARTUP_MAX_RETRIES="0")
    result = subprocess.run(
        [*worker_command(), "--name", "xact-event-ingester"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert f"'{changelog}' has 2 partitions" in result.stderr
    assert "'xact.events.raw' has 3" in result.stderr and "vpipe topics create" in result.stderr
