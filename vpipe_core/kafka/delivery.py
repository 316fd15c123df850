"""Producing a record's outputs and knowing when all of them are acknowledged."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from vpipe_core import metrics
from vpipe_core.outcome import Output
from vpipe_core.record import Record

log = logging.getLogger("vpipe.delivery")

FATAL_TOPIC_ERRORS = frozenset(
    {
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
    }
)


class FatalConfigError(Exception):
    """A misconfiguration no retry can fix (unknown topic, not authorised): exit code 2."""


class PendingRecord:
    """A routed record waiting for the acknowledgement of each of its outputs."""

    __slots__ = ("outstanding", "record")

    def __init__(self, record: Record, outstanding: int) -> None:
        self.record = record
        self.outstanding = outstanding


class DeliveryTracker:
    """Sends outputs with the one process-wide producer; calls `on_complete(record)` once every
    output of the record is acknowledged. Failed sends are re-sent with backoff (in place)."""

    def __init__(
        self,
        producer: Any,
        worker: str,
        on_complete: Callable[[Record], None],
        on_too_large: Callable[[Record, str], Output],
    ) -> None:
        self._producer = producer
        self._worker = worker
        self._on_complete = on_complete
        self._on_too_large = on_too_large
        self._resend: list[tuple[float, PendingRecord, Output, int]] = []
        self._produced_ok: dict[str, Any] = {}
        self.fatal: FatalConfigError | None = None
        self.failing_since: float | None = None

    def send(self, record: Record, outputs: Sequence[Output]) -> None:
        if not outputs:
            self._on_complete(record)
            return
        pending = PendingRecord(record, len(outputs))
        for output in outputs:
            self._produce(pending, output, attempt=0)

    def _produce(self, pending: PendingRecord, output: Output, attempt: int) -> None:
        callback = partial(self._delivered, pending, output, attempt)
        while True:
            try:
                self._producer.produce(
                    output.topic,
                    output.value,
                    output.key,
                    headers=output.headers,
                    on_delivery=callback,
                )
                return
            except BufferError:
                self._producer.poll(0.05)  # local queue full: serve delivery reports, then retry
            except KafkaException as exc:
                self._delivered(pending, output, attempt, exc.args[0], None)
                return

    def _delivered(
        self, pending: PendingRecord, output: Output, attempt: int, err: Any, _msg: Any
    ) -> None:
        if err is None:
            self._count_ok(output.topic)
            self.failing_since = None
            pending.outstanding -= 1
            if pending.outstanding == 0:
                self._on_complete(pending.record)
            return
        metrics.messages_produced.labels(self._worker, output.topic, "error").inc()
        self._on_failed(pending, output, attempt, err)

    def _on_failed(self, pending: PendingRecord, output: Output, attempt: int, err: Any) -> None:
        code = err.code()
        record = pending.record
        if code in FATAL_TOPIC_ERRORS:
            self.fatal = FatalConfigError(
                f"cannot produce to topic '{output.topic}': {err.str()}; "
                "create the topics with `vpipe topics create` and check the ACLs"
            )
            return
        if code == KafkaError.MSG_SIZE_TOO_LARGE and not output.topic.endswith(".dlq"):
            log.error("output too large, record goes to the DLQ", extra={"topic": output.topic})
            self._produce(pending, self._on_too_large(record, output.topic), attempt=0)
            return
        delay = min(60.0, 2.0**attempt) * random.uniform(0.8, 1.2)
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        log.warning(
            "produce failed, sending again in place",
            extra={
                "topic": output.topic,
                "error": err.str(),
                "retry_in_s": round(delay, 2),
                "origin": record.position,
            },
        )
        self._resend.append((time.monotonic() + delay, pending, output, attempt + 1))

    def _count_ok(self, topic: str) -> None:
        child = self._produced_ok.get(topic)
        if child is None:
            child = self._produced_ok[topic] = metrics.messages_produced.labels(
                self._worker, topic, "ok"
            )
        child.inc()

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery reports and re-send what is due."""
        self._producer.poll(timeout)
        if self._resend:
            now = time.monotonic()
            due = [item for item in self._resend if item[0] <= now]
            if due:
                self._resend = [item for item in self._resend if item[0] > now]
                for _, pending, output, attempt in due:
                    self._produce(pending, output, attempt)

    def flush(self, timeout: float) -> int:
        return int(self._producer.flush(timeout))
