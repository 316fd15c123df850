"""Offsets are committed only past routed records whose outputs are all acknowledged.

The producer here is a protocol-level fake (it records produce/flush calls and reports delivery
failures through the same callback librdkafka would); the end-to-end proofs are in
test_loop_e2e.py against the real broker.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, Message, TopicPartition

from vpipe_core.config.core import CoreSettings
from vpipe_core.kafka.offsets import OffsetTracker
from vpipe_core.kafka.outbox import Outbox
from vpipe_core.loop import ProcessingLoop
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.outcome import Dead, Output, Retry
from vpipe_core.record import Record
from vpipe_core.retry.router import OutcomeRouter
from vpipe_core.runner import _context
from vpipe_core.spec import WorkerSpec

KEY = ("in", 0)


def test_out_of_order_completion_commits_only_the_contiguous_prefix():
    tracker = OffsetTracker()
    partition = tracker.for_partition(KEY)
    for offset in (10, 11, 12, 13):
        partition.track(offset)
    tracker.routed(KEY, 11)
    tracker.routed(KEY, 13)
    assert tracker.positions() == {}
    tracker.routed(KEY, 10)
    assert tracker.positions() == {KEY: 12}
    tracker.committed({KEY: 12})
    assert tracker.positions() == {}, "nothing new since the commit"
    tracker.routed(KEY, 12)
    assert tracker.positions() == {KEY: 14}


def test_uncommitted_positions_are_offered_again_after_a_failed_barrier():
    tracker = OffsetTracker()
    tracker.routed_in_order(KEY, 5)
    assert tracker.positions() == {KEY: 6}
    assert tracker.positions() == {KEY: 6}, "not committed yet: offered again"


def test_rewound_records_are_forgotten():
    tracker = OffsetTracker()
    partition = tracker.for_partition(KEY)
    for offset in (1, 2, 3):
        partition.track(offset)
    tracker.routed(KEY, 1)
    tracker.forget_from(KEY, 2)
    assert tracker.positions() == {KEY: 2}
    assert tracker.unrouted() == 0


class FakeProducer:
    """Speaks the confluent Producer protocol the outbox uses."""

    def __init__(self, on_delivery):
        self.sent: list[tuple] = []
        self.outstanding = 0
        self.fail_next_flush_with: KafkaError | None = None
        self._on_delivery = on_delivery

    def produce(self, topic, value, key, partition=-1, headers=None):
        self.sent.append((topic, value, key))
        self.outstanding += 1

    def poll(self, timeout=0):
        return 0

    def flush(self, timeout=0):
        if self.fail_next_flush_with is not None:
            error, self.fail_next_flush_with = self.fail_next_flush_with, None
            self._on_delivery(error, FakeMessage(*self.sent[-1]))
        self.outstanding = 0
        return 0


class FakeMessage:
    def __init__(self, topic, value, key):
        self._topic, self._value, self._key = topic, value, key

    def topic(self):
        return self._topic

    def value(self):
        return self._value

    def key(self):
        return self._key

    def partition(self):
        return 0

    def headers(self):
        return None


def make_outbox():
    holder = {}
    producer = FakeProducer(lambda err, msg: holder["outbox"].on_delivery_error(err, msg))
    outbox = Outbox(producer, "w", lambda record, topic: Output("d.dlq", record.value))
    holder["outbox"] = outbox
    return outbox, producer


def test_barrier_fails_while_a_failed_send_is_not_yet_acknowledged():
    outbox, producer = make_outbox()
    record = Record("in", 0, 1, b"k", b"v")
    outbox.send(record, [Output("out", b"v", b"k")])
    producer.fail_next_flush_with = KafkaError(KafkaError._MSG_TIMED_OUT)
    assert outbox.barrier(1.0) is False, "a failed delivery blocks the commit"
    assert outbox.failing_since is not None
    assert outbox.barrier(1.0) is False, "the resend is not sent yet (backoff)"
    outbox._resends = [(0.0, *item[1:]) for item in outbox._resends]  # make the resend due
    outbox.poll(0)
    assert producer.sent[-1] == ("out", b"v", b"k"), "the same bytes are sent again"
    assert outbox.barrier(1.0) is True
    assert outbox.failing_since is None


def test_unknown_topic_is_fatal():
    outbox, producer = make_outbox()
    outbox.send(Record("in", 0, 1, None, b"v"), [Output("missing", b"v")])
    producer.fail_next_flush_with = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
    assert outbox.barrier(1.0) is False
    assert outbox.fatal is not None and "missing" in str(outbox.fatal)


class OneFetchConsumer:
    """Speaks the confluent Consumer protocol the loop uses: assigns partition 0 of `in`, hands
    out one fetch of real `Message`s, then stops the loop and records what it commits."""

    def __init__(self, messages: list[Message]):
        self.messages = messages
        self.loop: ProcessingLoop | None = None
        self.commits: list[dict[tuple[str, int], int]] = []

    def subscribe(self, topics, on_assign, on_revoke, on_lost):
        on_assign(self, [TopicPartition("in", 0)])

    def consume(self, num_messages, timeout):
        fetch, self.messages = self.messages, []
        if not fetch and self.loop is not None:
            self.loop.request_stop()
        return fetch

    def commit(self, offsets, asynchronous):
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def pause(self, partitions):
        pass

    def resume(self, partitions):
        pass

    def seek(self, partition):
        pass

    def close(self):
        pass


class DoneUntilFlagged:
    """Produces each record, except one whose value is b"dead" or b"retry"."""

    def handle(self, record):
        if record.value == b"dead":
            return Dead("flagged dead")
        if record.value == b"retry":
            return Retry("flagged for a retry tier")
        return Output("out", record.value, record.key)


def run_one_fetch(
    values: list[bytes], partitions: list[int] | None = None
) -> dict[tuple[str, int], int]:
    """Runs a loop over one fetch of `values` (on partition 0, or on `partitions` in turn);
    returns its last commit."""
    spec = WorkerSpec(name="t-worker", domain="t", handler="unused:build", input_topics=("in",))
    ctx = _context(spec, 1, "t-worker", CoreSettings(), {})
    partitions = partitions or [0] * len(values)
    next_offsets = dict.fromkeys(partitions, 0)
    messages = []
    for partition, value in zip(partitions, values, strict=True):
        offset = next_offsets[partition]
        next_offsets[partition] += 1
        messages.append(Message(topic="in", partition=partition, offset=offset, value=value))
    consumer = OneFetchConsumer(messages)
    producer = FakeProducer(lambda err, msg: None)
    router = OutcomeRouter("t", spec.name, ctx.worker_id, (1, 2))
    consumer.loop = ProcessingLoop(ctx, DoneUntilFlagged(), consumer, producer, router, ["in"])
    consumer.loop.run()
    return consumer.commits[-1]


@pytest.mark.parametrize("last", [b"dead", b"retry"])
def test_records_done_before_a_failed_one_do_not_pull_the_commit_back(last):
    """Done records are booked per fetch; the failed record after them is routed at once. The
    commit must cover the failed record too (it went to the DLQ or a tier)."""
    assert run_one_fetch([b"1", b"2", b"3", last]) == {("in", 0): 4}
    assert run_one_fetch([b"1", last, b"3"]) == {("in", 0): 3}


def test_runs_of_interleaved_partitions_are_each_committed_and_counted():
    consumed = ("vpipe_messages_consumed_total", {"worker": "t-worker", "topic": "in"})
    before = REGISTRY.get_sample_value(*consumed) or 0
    values = [b"a", b"b", b"c", b"d", b"e", b"retry", b"g"]
    commit = run_one_fetch(values, partitions=[0, 0, 1, 1, 0, 2, 1])
    assert commit == {("in", 0): 3, ("in", 1): 3, ("in", 2): 1}
    assert (REGISTRY.get_sample_value(*consumed) or 0) - before == len(values)
