"""The one path from an outcome to its effects: a `Done`'s outputs produced, a retry to its
tier or back in place (seek back and pause), a dead record to the DLQ, a deferred record seeked
back; each routed record's offset becomes committable after the next barrier."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException

from vpipe_core.context import WorkerContext
from vpipe_core.kafka.offsets import TopicPartitionKey
from vpipe_core.kafka.outbox import ANY_PARTITION, NOW, Outbox, produce_to
from vpipe_core.lineage.carry import carried, carried_all
from vpipe_core.lineage.traceparent import find
from vpipe_core.loop.commits import Commits
from vpipe_core.loop.consume import Consume, partition_key
from vpipe_core.loop.telemetry import Telemetry
from vpipe_core.ops import metrics
from vpipe_core.outcome import Category, Dead, Defer, Done, Outcome, Output, Retry
from vpipe_core.record import Record
from vpipe_core.retry.backoff import backoff_s
from vpipe_core.retry.router import OutcomeRouter
from vpipe_core.spec import RetryMode

log = logging.getLogger("vpipe.loop")

INPLACE_UNEXPECTED_LIMIT = 5  # unclassified errors in in-place workers: then dead (exhausted)
NEVER = float("inf")

# A record, the handler's outcome (whatever it returned), the record's (topic, partition).
Routed = tuple[Record, Any, TopicPartitionKey]


class Route:
    def __init__(
        self,
        ctx: WorkerContext,
        router: OutcomeRouter,
        outbox: Outbox,
        commits: Commits,
        consume: Consume,
        telemetry: Telemetry,
        in_order: bool,
        housekeeping: Callable[[], None],
    ) -> None:
        self._worker = ctx.spec.name
        self._inplace = ctx.spec.retry_mode is RetryMode.INPLACE
        self._router = router
        self._outbox = outbox
        self._commits = commits
        self._offsets = commits.offsets
        self._consume = consume
        self._telemetry = telemetry
        # Inline and batch handlers route each partition's records in consumption order, so the
        # committable position just follows them; concurrent handlers finish out of order.
        self._in_order = in_order
        self._housekeeping = housekeeping
        self.inplace_attempts: dict[TopicPartitionKey, int] = {}
        self._unexpected: dict[tuple[str, int, int], int] = {}

    def route_all(self, routed: Iterable[Routed], keep_house: bool = True) -> None:
        """Route each (record, outcome, key) before the next is taken: a lazy `routed` then
        skips the records of a partition this sends back. The outcome is whatever the handler
        returned; `key` is the record's (topic, partition), one object per run of a partition's
        records (the positions of a run are booked when the next run starts).

        Kept flat on purpose (per-record calls, dict updates and Record field reads are a
        measurable share of the loop's cost): a `Done`'s outputs (or a bare `Output`) are
        produced right here, anything else takes `_route_other`; committable positions are
        booked per run and counts of produced records per run of one output topic, all before
        anything can commit. With `keep_house`, slow handlers still commit and show progress."""
        send, monotonic, in_order = self._outbox.send, time.monotonic, self._in_order
        produce, unconfirmed = self._outbox.hot_path()
        routed_out_of_order = self._offsets.routed
        positions: dict[TopicPartitionKey, int] = {}
        done = 0
        run_key: TopicPartitionKey | None = None
        run_last: Record | None = None  # the last done record of the run, not booked yet
        produced_topic, produced = "", 0
        housekeeping_at = self._commits.due_at if keep_house else NEVER
        for record, outcome, key in routed:
            kind = type(outcome)
            if kind is Output or kind is Done:
                done += 1
                # parent_of(record), inlined: a call per record is a measurable share here
                message = record.message
                traced = message.headers() if message is not None else record.given_headers
                parent = find(traced) if traced else None
                if kind is Output:  # the lightest handlers' outcome: no tuple, no loop
                    if parent is not None:
                        outcome = carried(parent, outcome)
                    out_topic, headers = outcome.topic, outcome.headers
                    try:
                        if outcome.partition is not None:
                            produce_to(produce, outcome)
                        elif headers is None:
                            produce(out_topic, outcome.value, outcome.key)
                        else:  # positional: see ANY_PARTITION
                            produce(
                                out_topic,
                                outcome.value,
                                outcome.key,
                                ANY_PARTITION,
                                None,
                                None,
                                NOW,
                                headers,
                            )
                    except (BufferError, KafkaException):
                        send(record, (outcome,))  # the outbox's slow, careful path
                    else:
                        if out_topic is produced_topic:  # handlers pass one str per topic
                            produced += 1
                        else:
                            if produced:
                                unconfirmed[produced_topic] = (
                                    unconfirmed.get(produced_topic, 0) + produced
                                )
                            produced_topic, produced = out_topic, 1
                else:  # a Done: each output as a bare one above (a call per output costs more)
                    for output in outcome.outputs:
                        if parent is not None:
                            output = carried(parent, output)
                        out_topic, headers = output.topic, output.headers
                        try:
                            if output.partition is not None:
                                produce_to(produce, output)
                            elif headers is None:
                                produce(out_topic, output.value, output.key)
                            else:
                                produce(
                                    out_topic,
                                    output.value,
                                    output.key,
                                    ANY_PARTITION,
                                    None,
                                    None,
                                    NOW,
                                    headers,
                                )
                        except (BufferError, KafkaException):
                            send(record, (output,))
                            continue
                        if out_topic is produced_topic:
                            produced += 1
                        else:
                            if produced:
                                unconfirmed[produced_topic] = (
                                    unconfirmed.get(produced_topic, 0) + produced
                                )
                            produced_topic, produced = out_topic, 1
                if not in_order:
                    routed_out_of_order(key, record.offset)
                elif key is run_key:
                    run_last = record
                else:
                    if run_last is not None:
                        positions[run_last.topic, run_last.partition] = run_last.offset + 1
                    run_key, run_last = key, record
            else:  # book what is done first: routing this record moves its partition too
                if run_last is not None:
                    positions[run_last.topic, run_last.partition] = run_last.offset + 1
                    run_last = None
                self._routed_done(positions, done)
                positions, done = {}, 0
                self._route_other(record, outcome)
            if monotonic() >= housekeeping_at:
                if run_last is not None:
                    positions[run_last.topic, run_last.partition] = run_last.offset + 1
                    run_last = None
                if produced:
                    unconfirmed[produced_topic] = unconfirmed.get(produced_topic, 0) + produced
                    produced = 0
                self._routed_done(positions, done)
                positions, done = {}, 0
                self._housekeeping()
                housekeeping_at = self._commits.due_at
        if run_last is not None:
            positions[run_last.topic, run_last.partition] = run_last.offset + 1
        if produced:
            unconfirmed[produced_topic] = unconfirmed.get(produced_topic, 0) + produced
        self._routed_done(positions, done)

    def _routed_done(self, positions: dict[TopicPartitionKey, int], done: int) -> None:
        self._telemetry.done += done
        for key, position in positions.items():
            self._offsets.routed_in_order(key, position - 1)
            if self.inplace_attempts:
                self.inplace_attempts.pop(key, None)

    def _route_other(self, record: Record, outcome: Outcome) -> None:
        if isinstance(outcome, Done | Output):  # a subclass: routed as the outcome it extends
            outputs = tuple(outcome.outputs) if isinstance(outcome, Done) else (outcome,)
            self.route_all(((record, Done(outputs), partition_key(record)),), keep_house=False)
        elif isinstance(outcome, Retry):
            self._telemetry.tally["retried"] += 1
            self._route_retry(record, outcome)
        elif isinstance(outcome, Dead):
            self._telemetry.tally["dead"] += 1
            self._send(record, self._router.dead(record, outcome))
        elif isinstance(outcome, Defer):
            delay = (outcome.until - datetime.now(UTC)).total_seconds()
            self._rewind(record, max(0.0, delay))
        else:
            error = f"handler returned {type(outcome).__name__}, not an Outcome"
            self._route_retry(record, Retry(error, Category.TRANSIENT))

    def _route_retry(self, record: Record, outcome: Retry) -> None:
        if not self._inplace:
            self._send(record, self._router.retry(record, outcome))
            return
        if outcome.error.startswith("unexpected ") and self._count_unexpected(record):
            dead = Dead(outcome.error, outcome.category, "exhausted", outcome.if_exhausted)
            self._send(record, self._router.dead(record, dead))
            return
        key = partition_key(record)
        attempt = self.inplace_attempts.get(key, 0) + 1
        self.inplace_attempts[key] = attempt
        delay = backoff_s(attempt)
        metrics.message_outcomes.labels(self._worker, "retry", outcome.category.value).inc()
        log.warning(
            "retrying in place",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "attempt": attempt,
                "retry_in_s": round(delay, 2),
                "error": outcome.error,
            },
        )
        self._rewind(record, delay)

    def _count_unexpected(self, record: Record) -> bool:
        """True once the same record raised unexpectedly more than the in-place limit."""
        ident = (record.topic, record.partition, record.offset)
        self._unexpected[ident] = self._unexpected.get(ident, 0) + 1
        if self._unexpected[ident] > INPLACE_UNEXPECTED_LIMIT:
            del self._unexpected[ident]
            return True
        return False

    def _send(self, record: Record, outputs: Sequence[Output]) -> None:
        """Produce the outputs; the offset becomes committable after the next barrier."""
        self._outbox.send(record, carried_all(record, outputs))
        if self._in_order:
            self._offsets.routed_in_order(partition_key(record), record.offset)
        else:
            self._offsets.routed(partition_key(record), record.offset)

    def _rewind(self, record: Record, delay_s: float) -> None:
        """Leave `record` unconsumed (it and what follows will be fetched again)."""
        self._offsets.forget_from(partition_key(record), record.offset)
        self._consume.rewind(record, delay_s)

    def release(self, keys: set[TopicPartitionKey]) -> None:
        for key in keys:
            self.inplace_attempts.pop(key, None)
