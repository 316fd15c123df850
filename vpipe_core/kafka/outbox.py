"""Producing outputs, and knowing when everything produced so far is acknowledged.

The producer reports only failed deliveries (`delivery.report.only.error`), so a success costs no
Python call. Acknowledgement is proven in bulk by `barrier()`: a flush that returns with nothing
outstanding and no failure reported since means every record produced before it is acknowledged.
The loop commits offsets only after a successful barrier.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from vpipe_core.ops import metrics
from vpipe_core.outcome import Headers, Output
from vpipe_core.record import Record
from vpipe_core.retry.backoff import backoff_s

log = logging.getLogger("vpipe.outbox")

FATAL_TOPIC_ERRORS = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
    }
)


class FatalConfigError(Exception):
    """A misconfiguration no retry can fix (unknown topic, not authorised): exit code 2."""


Resend = tuple[float, str, bytes | None, bytes | None, Headers | None, int, int | None]

# The hot path passes headers positionally: confluent-kafka's produce() takes (topic, value,
# key, partition, callback, on_delivery, timestamp, headers) in that order (its C argument list
# since headers came in 0.11.4), and parsing a keyword costs it 0.3 µs a call. The arguments in
# between get the values their omission means: librdkafka's "any partition" (the partitioner
# picks by key), None for both callbacks (the producer's own delivery callback) and 0 ("now").
ANY_PARTITION = -1
NOW = 0


def produce_to(produce: Callable[..., None], output: Output) -> None:
    """Produce an output that names its partition; `headers` only when there are some (passing
    None still costs a little)."""
    if output.headers is None:  # a changelog entry, one per ingested event
        produce(output.topic, output.value, output.key, output.partition)
    else:
        produce(
            output.topic,
            output.value,
            output.key,
            output.partition,
            None,
            None,
            NOW,
            output.headers,
        )


class Outbox:
    def __init__(
        self, producer: Any, worker: str, on_too_large: Callable[[Record, str], Output]
    ) -> None:
        self._producer = producer
        self._worker = worker
        self._on_too_large = on_too_large
        self._unconfirmed: dict[str, int] = {}  # topic -> records produced since the last barrier
        self._resends: list[Resend] = []
        self._failed_since_barrier = False
        self.fatal: FatalConfigError | None = None
        self.failing_since: float | None = None

    def send(self, record: Record, outputs: Sequence[Output]) -> None:
        produce, unconfirmed = self._producer.produce, self._unconfirmed
        for output in outputs:
            topic, headers, partition = output.topic, output.headers, output.partition
            try:
                if partition is not None:
                    produce_to(produce, output)
                elif headers is None:  # a keyword costs confluent-kafka 0.4 µs to parse
                    produce(topic, output.value, output.key)
                else:
                    produce(topic, output.value, output.key, headers=headers)
            except (BufferError, KafkaException):  # the slow, careful path
                self._produce(record, topic, output.value, output.key, headers, 0, partition)
                continue
            unconfirmed[topic] = unconfirmed.get(topic, 0) + 1

    def hot_path(self) -> tuple[Callable[..., None], dict[str, int]]:
        """The producer's `produce` and the per-topic count of unconfirmed records, for the
        loop's inline path: it produces a `Done`'s outputs itself (a method call per record is
        a measurable share of its cost), counts each accepted one, and hands a refused one to
        `send`."""
        return self._producer.produce, self._unconfirmed

    def _produce(
        self,
        record: Record | None,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        attempt: int,
        partition: int | None = None,
    ) -> None:
        while True:
            try:
                if partition is None:
                    self._producer.produce(topic, value, key, headers=headers)
                else:
                    self._producer.produce(topic, value, key, partition, headers=headers)
                self._unconfirmed[topic] = self._unconfirmed.get(topic, 0) + 1
                return
            except BufferError:
                self._producer.poll(0.05)  # local queue full: let librdkafka drain, then retry
            except KafkaException as exc:
                self._rejected(record, exc.args[0], topic, value, key, headers, attempt, partition)
                return

    def _rejected(
        self,
        record: Record | None,
        err: KafkaError,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        attempt: int,
        partition: int | None,
    ) -> None:
        """A produce the client refused at once (it never reached the broker)."""
        too_large = err.code() == KafkaError.MSG_SIZE_TOO_LARGE
        if too_large and record is not None and not topic.endswith(".dlq"):
            log.error("output too large; the record goes to the DLQ", extra={"topic": topic})
            dead = self._on_too_large(record, topic)
            self._produce(None, dead.topic, dead.value, dead.key, dead.headers, 0)
        else:
            self._failed(err, topic, value, key, headers, attempt, partition)

    def on_delivery_error(self, err: KafkaError | None, msg: Any) -> None:
        """The producer's delivery callback; with only-error reports it sees failures only."""
        if err is None:
            return
        partition = msg.partition()  # the one it was produced to, chosen or explicit
        where = partition if partition is not None and partition >= 0 else None
        self._failed(err, msg.topic(), msg.value(), msg.key(), msg.headers(), 0, where)

    def _failed(
        self,
        err: KafkaError,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Headers | None,
        attempt: int,
        partition: int | None,
    ) -> None:
        self._failed_since_barrier = True
        metrics.messages_produced.labels(self._worker, topic, "error").inc()
        code = err.code()
        if code in FATAL_TOPIC_ERRORS or code == KafkaError.MSG_SIZE_TOO_LARGE:
            metrics.fatal_delivery_errors.labels(self._worker, topic).inc()
            if self.fatal is None:  # the first one names the cause; nothing commits from now on
                self.fatal = FatalConfigError(
                    f"cannot produce to topic '{topic}': {err.str()}; nothing is committed past "
                    "it. Create the topics with `vpipe topics create`, check the ACLs and the "
                    "broker's and the topic's message size limits (message.max.bytes, "
                    "max.message.bytes), then restart"
                )
            return
        delay = backoff_s(attempt + 1)
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        log.warning(
            "produce failed, sending again in place",
            extra={"topic": topic, "error": err.str(), "retry_in_s": round(delay, 2)},
        )
        resend = (time.monotonic() + delay, topic, value, key, headers, attempt + 1, partition)
        self._resends.append(resend)

    def poll(self, timeout: float = 0.0) -> None:
        """Serve failure reports and send again what is due."""
        self._producer.poll(timeout)
        if not self._resends:
            return
        now = time.monotonic()
        due = [item for item in self._resends if item[0] <= now]
        if due:
            self._resends = [item for item in self._resends if item[0] > now]
            for _, topic, value, key, headers, attempt, partition in due:
                self._produce(None, topic, value, key, headers, attempt, partition)

    def barrier(self, timeout_s: float) -> bool:
        """True when everything produced so far is acknowledged by the broker. Never again after
        a fatal delivery failure: a record whose output was lost must stay uncommitted."""
        if self.fatal is not None:
            return False
        if self._resends:
            self.poll(0)
            return False
        self._failed_since_barrier = False
        remaining = self._producer.flush(timeout_s)
        if remaining or self._failed_since_barrier or self._resends or self.fatal is not None:
            return False
        for topic, count in self._unconfirmed.items():
            metrics.messages_produced.labels(self._worker, topic, "ok").inc(count)
        self._unconfirmed.clear()
        self.failing_since = None
        return True
