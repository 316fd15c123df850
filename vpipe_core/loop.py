"""The processing loop: consume, hand records to the handler, route outcomes, commit the
acknowledged prefix (runtime.md §4). One loop per worker process, driven from one thread."""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from vpipe_core import metrics
from vpipe_core.context import WorkerContext
from vpipe_core.kafka import retention
from vpipe_core.kafka.offsets import OffsetTracker, TopicPartitionKey
from vpipe_core.kafka.outbox import FATAL_TOPIC_ERRORS, FatalConfigError, Outbox
from vpipe_core.logs.trace import current_record_key, inline_record_key
from vpipe_core.outcome import Category, Dead, Defer, Done, Outcome, Output, Retry
from vpipe_core.record import Record
from vpipe_core.retry.backoff import backoff_s
from vpipe_core.retry.router import OutcomeRouter
from vpipe_core.retry.topics import tier_delay
from vpipe_core.spec import BatchHandler, RetryMode

log = logging.getLogger("vpipe.loop")

FETCH_MAX = 500
POLL_TIMEOUT_S = 0.2
COMMIT_INTERVAL_S = 0.5
INPLACE_UNEXPECTED_LIMIT = 5  # unclassified errors in in-place workers: then dead (exhausted)
SUMMARY_INTERVAL_S = 30.0
BARRIER_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 10.0


def _key(record: Record) -> TopicPartitionKey:
    return (record.topic, record.partition)


class ProcessingLoop:
    def __init__(
        self,
        ctx: WorkerContext,
        handler: Any,
        consumer: Any,
        producer: Any,
        router: OutcomeRouter,
        topics: Sequence[str],
    ) -> None:
        self._ctx = ctx
        self._handler = handler
        self._consumer = consumer
        self._topics = list(topics)
        self._router = router
        self._worker = ctx.spec.name
        self._inplace = ctx.spec.retry_mode is RetryMode.INPLACE
        self._is_batch = isinstance(handler, BatchHandler)
        self._batch_size = int(getattr(handler, "batch_size", 500))
        self._batch_wait_s = float(getattr(handler, "batch_max_wait_s", 1.0))
        self._concurrency = 1 if self._is_batch else int(getattr(handler, "concurrency", 1))
        if self._inplace and self._concurrency > 1:
            # Seeking back would redeliver records of the partition that other threads have
            # already handled. Concurrent handlers retry infrastructure failures in their own
            # thread instead (vpipe_core.retry.inplace.InplaceRetry).
            raise ValueError("in-place retry needs an inline handler (concurrency 1)")
        self._offsets = OffsetTracker()
        self._outbox = Outbox(producer, self._worker, router.too_large)
        self._assigned: set[TopicPartitionKey] = set()
        self._rewound: dict[TopicPartitionKey, int] = {}
        self._paused_until: dict[TopicPartitionKey, float] = {}
        self._inplace_attempts: dict[TopicPartitionKey, int] = {}
        self._unexpected: dict[tuple[str, int, int], int] = {}
        self._buffer: list[Record] = []
        self._buffer_since = 0.0
        self._executor = (
            ThreadPoolExecutor(self._concurrency, thread_name_prefix="handler")
            if self._concurrency > 1
            else None
        )
        # Inline and batch handlers route each partition's records in consumption order, so the
        # committable position just follows them; concurrent handlers finish out of order.
        self._in_order = self._executor is None
        # Optional handler hook: everything before these positions is acknowledged and committed
        # (e.g. make dedup marks or checkpoints durable only now).
        self._on_commit: Callable[[dict[TopicPartitionKey, int]], None] | None = getattr(
            handler, "on_commit", None
        )
        self._finished: queue.SimpleQueue[tuple[Record, Future[Outcome]]] = queue.SimpleQueue()
        self._in_flight = 0
        self._flow_paused = False
        self._last_commit = 0.0
        self._stop_requested = False
        self._consumed: dict[str, int] = {}  # per topic, since the last metrics flush
        self._done_count = 0  # since the last metrics flush
        self._tally = {"done": 0, "retried": 0, "dead": 0}
        self._last_summary = time.monotonic()
        self._metric_in_flight = metrics.in_flight.labels(self._worker)
        self._metric_progress = metrics.loop_last_progress.labels(self._worker)
        self._metric_seconds = metrics.processing_seconds.labels(self._worker)

    # -- public -----------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop_requested = True

    def run(self) -> None:
        """Run until `request_stop()`; raises FatalConfigError on misconfiguration."""
        _tune_gc()
        inline_record_key.own()
        self._consumer.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not self._stop_requested:
                self._iterate()
                if self._outbox.fatal:
                    raise self._outbox.fatal
        finally:
            self._shutdown()

    # -- one iteration ----------------------------------------------------------------------

    def _iterate(self) -> None:
        self._resume_due()
        messages = self._consumer.consume(FETCH_MAX, self._poll_timeout())
        self._housekeeping()
        if messages:
            self._accept_all(messages)
        if self._is_batch and self._batch_due():
            self._run_batch()
        self._collect_finished()
        self._update_flow()
        self._update_health()
        self._housekeeping()

    def _housekeeping(self) -> None:
        self._ctx.health.progressed()
        self._outbox.poll(0)
        if time.monotonic() - self._last_commit >= COMMIT_INTERVAL_S:
            self._metric_progress.set(time.time())
            self._flush_counts()
            self._commit()
            if time.monotonic() - self._last_summary >= SUMMARY_INTERVAL_S:
                self._log_summary()

    def _flush_counts(self) -> None:
        """Per-record counts go to Prometheus in bulk (a labelled inc costs more than a record)."""
        for topic, count in self._consumed.items():
            metrics.messages_consumed.labels(self._worker, topic).inc(count)
        self._consumed.clear()
        if self._done_count:
            metrics.message_outcomes.labels(self._worker, "done", "").inc(self._done_count)
            self._tally["done"] += self._done_count
            self._done_count = 0

    def _log_summary(self) -> None:
        """One INFO line per interval: what happened since the last one."""
        self._last_summary = time.monotonic()
        log.info(
            "progress",
            extra={**self._tally, "in_flight": self._in_flight, "partitions": len(self._assigned)},
        )
        self._tally = dict.fromkeys(self._tally, 0)

    def _poll_timeout(self) -> float:
        if self._buffer:
            return max(
                0.0, min(POLL_TIMEOUT_S, self._buffer_since + self._batch_wait_s - time.monotonic())
            )
        return 0.0 if self._in_flight and self._executor is None else POLL_TIMEOUT_S

    def _accept_all(self, messages: list[Any]) -> None:
        if self._is_batch or self._executor is not None:
            self._accept_for_later(messages)
        else:
            self._handle_inline(messages)

    def _records(self, messages: list[Any]) -> Iterator[Record]:
        """Fetched messages as records, skipping errors and records of rewound partitions."""
        consumed = self._consumed
        for message in messages:
            if message.error() is not None:
                self._on_consume_error(message.error())
                continue
            record = Record.from_message(message)
            if self._rewound and self._is_rewound(record):
                continue
            consumed[record.topic] = consumed.get(record.topic, 0) + 1
            yield record

    def _accept_for_later(self, messages: list[Any]) -> None:
        """Batch handlers buffer records; concurrent handlers get them in the thread pool."""
        for record in self._records(messages):
            if self._is_batch:
                self._buffer_record(record)
            else:
                self._offsets.for_partition((record.topic, record.partition)).track(record.offset)
                self._submit(record)

    def _handle_inline(self, messages: list[Any]) -> None:
        """The hot path of inline record handlers, kept flat on purpose (per-record attribute
        lookups, calls and dict updates are a measurable share of the loop's cost): build each
        record in place, call the handler with the record's key as log context and produce a
        `Done`'s outputs (or a bare `Output`) right here; anything else takes the general
        `_route`. A fetch holds runs of one partition's records, so consumed counts and
        committable positions are kept per run and counts of produced records per run of one
        output topic; all are handed over before anything can commit."""
        started = time.perf_counter()
        send, monotonic, new_record = self._outbox.send, time.monotonic, tuple.__new__
        handle, rewound, log_key = self._handler.handle, self._rewound, inline_record_key
        produce, unconfirmed = self._outbox.hot_path()
        positions: dict[TopicPartitionKey, int] = {}
        done = 0
        housekeeping_at = self._last_commit + COMMIT_INTERVAL_S
        run_topic, run_partition, run_count, run_position = "", -1, 0, 0
        produced_topic, produced = "", 0
        for message in messages:
            if message.error() is not None:
                self._on_consume_error(message.error())
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            if rewound and (topic, partition) in rewound and offset >= rewound[topic, partition]:
                continue
            if partition != run_partition or topic != run_topic:
                self._end_run(positions, run_topic, run_partition, run_count, run_position)
                run_topic, run_partition, run_count, run_position = topic, partition, 0, 0
            run_count += 1
            key = message.key()
            record = new_record(
                Record, (topic, partition, offset, key, message.value(), None, message)
            )
            log_key.key = key
            try:
                outcome = handle(record)
            except Exception as exc:  # the contract: unclassified errors are transient retries
                outcome = self._unexpected_error(record, exc)
            kind = type(outcome)
            if kind is Output or kind is Done:
                done += 1
                # A bare Output skips the tuple and the loop (the lightest handlers' outcome).
                for output in outcome.outputs if kind is Done else (outcome,):
                    out_topic, headers = output.topic, output.headers
                    try:
                        if headers is None:  # a keyword costs confluent-kafka 0.4 µs to parse
                            produce(out_topic, output.value, output.key)
                        else:
                            produce(out_topic, output.value, output.key, headers=headers)
                    except (BufferError, KafkaException):
                        send(record, (output,))  # the outbox's slow, careful path
                        continue
                    if out_topic is produced_topic:  # handlers pass one str object per topic
                        produced += 1
                    else:
                        if produced:
                            unconfirmed[produced_topic] = (
                                unconfirmed.get(produced_topic, 0) + produced
                            )
                        produced_topic, produced = out_topic, 1
                run_position = offset + 1
            else:  # book what is done first: routing this record moves its partition too
                self._end_run(positions, run_topic, run_partition, run_count, run_position)
                run_count = run_position = 0
                self._routed_done(positions, done)
                positions, done = {}, 0
                self._route(record, outcome)
            if monotonic() >= housekeeping_at:  # slow handlers still commit and show progress
                self._end_run(positions, run_topic, run_partition, run_count, run_position)
                if produced:
                    unconfirmed[produced_topic] = unconfirmed.get(produced_topic, 0) + produced
                run_count = run_position = produced = 0
                self._routed_done(positions, done)
                positions, done = {}, 0
                self._housekeeping()
                housekeeping_at = self._last_commit + COMMIT_INTERVAL_S
        log_key.key = None
        self._end_run(positions, run_topic, run_partition, run_count, run_position)
        if produced:
            unconfirmed[produced_topic] = unconfirmed.get(produced_topic, 0) + produced
        self._routed_done(positions, done)
        self._metric_seconds.observe(time.perf_counter() - started)

    def _end_run(
        self,
        positions: dict[TopicPartitionKey, int],
        topic: str,
        partition: int,
        count: int,
        position: int,
    ) -> None:
        """Books a run of one partition's records: `count` consumed, committable up to
        `position` (0: no record of the run was done)."""
        if count:
            self._consumed[topic] = self._consumed.get(topic, 0) + count
        if position:
            positions[topic, partition] = position

    def _routed_done(self, positions: dict[TopicPartitionKey, int], done: int) -> None:
        self._done_count += done
        for key, position in positions.items():
            self._offsets.routed_in_order(key, position - 1)
            if self._inplace_attempts:
                self._inplace_attempts.pop(key, None)

    def _buffer_record(self, record: Record) -> None:
        if not self._buffer:
            self._buffer_since = time.monotonic()
        self._buffer.append(record)

    # -- calling the handler ----------------------------------------------------------------

    def _call(self, record: Record) -> Outcome:
        token = current_record_key.set(record.key)
        try:
            return self._handler.handle(record)
        except Exception as exc:  # the contract: unclassified errors are transient retries
            return self._unexpected_error(record, exc)
        finally:
            current_record_key.reset(token)

    def _call_timed(self, record: Record) -> Outcome:
        started = time.perf_counter()
        outcome = self._call(record)
        self._metric_seconds.observe(time.perf_counter() - started)
        return outcome

    def _unexpected_error(self, record: Record, exc: BaseException) -> Outcome:
        log.exception(
            "handler raised; retrying as transient",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
        )
        return Retry(f"unexpected {type(exc).__name__}: {exc}", Category.TRANSIENT)

    def _submit(self, record: Record) -> None:
        assert self._executor is not None
        self._in_flight += 1
        future = self._executor.submit(self._call_timed, record)
        future.add_done_callback(lambda done: self._finished.put((record, done)))

    def _collect_finished(self) -> None:
        while True:
            try:
                record, future = self._finished.get_nowait()
            except queue.Empty:
                return
            self._in_flight -= 1
            if _key(record) in self._assigned:
                self._route(record, future.result())

    def _batch_due(self) -> bool:
        if not self._buffer:
            return False
        waited = time.monotonic() - self._buffer_since
        return len(self._buffer) >= self._batch_size or waited >= self._batch_wait_s

    def _run_batch(self) -> None:
        records, self._buffer = self._buffer, []
        started = time.perf_counter()
        try:
            outcomes = list(self._handler.handle_batch(records))
            if len(outcomes) != len(records):
                raise RuntimeError(
                    f"handle_batch returned {len(outcomes)} outcomes for {len(records)} records"
                )
        except Exception as exc:
            outcomes = [self._unexpected_error(record, exc) for record in records]
        self._metric_seconds.observe(time.perf_counter() - started)
        for record, outcome in zip(records, outcomes, strict=True):
            if not self._is_rewound(record):
                self._route(record, outcome)

    # -- routing outcomes -------------------------------------------------------------------

    def _route(self, record: Record, outcome: Outcome) -> None:
        if isinstance(outcome, Done | Output):
            self._done_count += 1
            if self._inplace_attempts:
                self._inplace_attempts.pop(_key(record), None)
            self._send(record, outcome.outputs if isinstance(outcome, Done) else (outcome,))
        elif isinstance(outcome, Retry):
            self._tally["retried"] += 1
            self._route_retry(record, outcome)
        elif isinstance(outcome, Dead):
            self._tally["dead"] += 1
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
        key = _key(record)
        attempt = self._inplace_attempts.get(key, 0) + 1
        self._inplace_attempts[key] = attempt
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
        self._outbox.send(record, outputs)
        if self._in_order:
            self._offsets.routed_in_order((record.topic, record.partition), record.offset)
        else:
            self._offsets.routed((record.topic, record.partition), record.offset)

    # -- pausing, seeking back, resuming ----------------------------------------------------

    def _rewind(self, record: Record, delay_s: float) -> None:
        """Leave `record` unconsumed: seek its partition back to it and pause until due."""
        key = _key(record)
        self._offsets.forget_from(key, record.offset)
        self._rewound[key] = min(record.offset, self._rewound.get(key, record.offset))
        self._paused_until[key] = time.monotonic() + delay_s
        partition = TopicPartition(record.topic, record.partition, record.offset)
        self._consumer.pause([partition])
        self._consumer.seek(partition)
        self._report_paused()

    def _is_rewound(self, record: Record) -> bool:
        offset = self._rewound.get(_key(record))
        return offset is not None and record.offset >= offset

    def _resume_due(self) -> None:
        if not self._paused_until:
            return
        now = time.monotonic()
        due = [key for key, until in self._paused_until.items() if until <= now]
        for key in due:
            del self._paused_until[key]
            self._rewound.pop(key, None)
            if not self._flow_paused:
                self._consumer.resume([TopicPartition(*key)])
        if due:
            self._report_paused()

    def _report_paused(self) -> None:
        """The retry scheduler's partitions waiting for their head record, per tier."""
        if not self._ctx.spec.consumes_retry_tiers:
            return
        waiting = dict.fromkeys(self._topics, 0)
        for topic, _ in self._paused_until:
            waiting[topic] = waiting.get(topic, 0) + 1
        for topic, count in waiting.items():
            tier = f"{tier_delay(topic) or '?'}s"
            metrics.retry_paused_partitions.labels(self._ctx.domain, tier).set(count)

    def _update_flow(self) -> None:
        """Pause fetching while the handler pool is saturated (concurrent handlers only)."""
        if self._executor is None:
            return
        self._metric_in_flight.set(self._in_flight)
        if not self._flow_paused and self._in_flight >= 2 * self._concurrency:
            self._flow_paused = True
            self._consumer.pause([TopicPartition(*key) for key in self._assigned])
        elif self._flow_paused and self._in_flight <= self._concurrency:
            self._flow_paused = False
            active = [key for key in self._assigned if key not in self._paused_until]
            self._consumer.resume([TopicPartition(*key) for key in active])

    def _update_health(self) -> None:
        health = self._ctx.health
        retrying = bool(self._inplace_attempts) or self._outbox.failing_since is not None
        if retrying and health.inplace_retry_since is None:
            health.inplace_retry_since = time.monotonic()
        elif not retrying:
            health.inplace_retry_since = None
        since = health.inplace_since()  # concurrent handlers retry in their threads
        metrics.inplace_retry_seconds.labels(self._worker).set(
            time.monotonic() - since if since else 0.0
        )

    # -- commits ----------------------------------------------------------------------------

    def _commit(
        self,
        keys: set[TopicPartitionKey] | None = None,
        sync: bool = False,
        barrier_timeout_s: float = BARRIER_TIMEOUT_S,
    ) -> None:
        """Commit the routed prefix, after proving that its outputs are all acknowledged."""
        self._last_commit = time.monotonic()
        positions = self._offsets.positions(keys)
        if not positions or not self._outbox.barrier(barrier_timeout_s):
            return  # positions stay pending; the next commit tries again
        offsets = [TopicPartition(topic, part, pos) for (topic, part), pos in positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=not sync)
        except KafkaException as exc:
            log.warning("commit failed; records will be redelivered", extra={"error": str(exc)})
            return
        self._offsets.committed(positions)
        for (topic, part), position in positions.items():
            metrics.committed_offset.labels(self._worker, topic, str(part)).set(position)
        if self._on_commit is not None:
            self._on_commit(positions)

    # -- errors and statistics --------------------------------------------------------------

    def _on_consume_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.code() in FATAL_TOPIC_ERRORS:
            raise FatalConfigError(f"cannot consume: {error.str()}; run `vpipe topics create`")
        if error.code() == KafkaError.INVALID_SESSION_TIMEOUT:
            raise FatalConfigError(
                f"KAFKA_SESSION_TIMEOUT_MS={self._ctx.settings.kafka_session_timeout_ms} is "
                f"refused by the broker ({error.str()}): Kafka accepts its "
                "group.min.session.timeout.ms to group.max.session.timeout.ms (6000 to 1800000 "
                "by default)"
            )
        log.warning("consumer error", extra={"error": error.str()})

    def on_stats(self, stats_json: str) -> None:
        """librdkafka statistics: consumer-side lag and broker state (watermarks are not used)."""
        stats = orjson.loads(stats_json)
        if any(broker.get("state") == "UP" for broker in stats.get("brokers", {}).values()):
            self._ctx.health.broker_answered()
            metrics.broker_up.labels(self._worker).set(1)
        for topic, topic_stats in stats.get("topics", {}).items():
            for part, part_stats in topic_stats.get("partitions", {}).items():
                lag = part_stats.get("consumer_lag", -1)
                # Statistics keep listing revoked partitions; their lag is another instance's.
                if part != "-1" and lag >= 0 and (topic, int(part)) in self._assigned:
                    metrics.consumer_lag.labels(self._worker, topic, part).set(lag)

    def on_delivery_error(self, error: KafkaError | None, message: Any) -> None:
        self._outbox.on_delivery_error(error, message)

    def on_error(self, error: KafkaError) -> None:
        if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            metrics.broker_up.labels(self._worker).set(0)
        log.warning("kafka client error", extra={"error": error.str()})

    # -- rebalance --------------------------------------------------------------------------

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned |= keys
        for key in keys:
            self._rewound.pop(key, None)
            self._paused_until.pop(key, None)
        self._ctx.health.assigned = len(self._assigned)
        self._ctx.health.broker_answered()
        metrics.assigned_partitions.labels(self._worker).set(len(self._assigned))
        log.info("partitions assigned", extra={"partitions": sorted(f"{t}[{p}]" for t, p in keys)})
        retention.report(self._worker, retention.expired_unread(self._consumer, partitions))
        if hasattr(self._handler, "on_assign"):
            self._handler.on_assign(partitions)

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        deadline = time.monotonic() + self._ctx.settings.shutdown_drain_seconds
        self._drop_buffered(keys)
        self._drain(keys, deadline)
        self._commit(keys, sync=True, barrier_timeout_s=max(1.0, deadline - time.monotonic()))
        self._release(keys, "revoked")

    def _on_lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._drop_buffered(keys)
        self._release(keys, "lost")

    def _release(self, keys: set[TopicPartitionKey], how: str) -> None:
        self._offsets.drop(keys)
        self._assigned -= keys
        for key in keys:
            self._rewound.pop(key, None)
            self._paused_until.pop(key, None)
            self._inplace_attempts.pop(key, None)
            metrics.forget_partition(self._worker, *key)
        self._ctx.health.assigned = len(self._assigned)
        metrics.assigned_partitions.labels(self._worker).set(len(self._assigned))
        log.info(f"partitions {how}", extra={"partitions": sorted(f"{t}[{p}]" for t, p in keys)})
        if hasattr(self._handler, "on_revoke"):
            self._handler.on_revoke([TopicPartition(*key) for key in keys])

    def _drop_buffered(self, keys: set[TopicPartitionKey]) -> None:
        kept = [record for record in self._buffer if _key(record) not in keys]
        for record in self._buffer:
            if _key(record) in keys:
                self._offsets.forget_from(_key(record), record.offset)
        self._buffer = kept

    def _drain(self, keys: set[TopicPartitionKey] | None, deadline: float) -> None:
        """Wait for in-flight records (of `keys`, or all) to be routed."""
        while time.monotonic() < deadline:
            self._collect_finished()
            self._outbox.poll(0.01)
            busy = self._in_flight if keys is None else 0
            if self._offsets.unrouted(keys) == 0 and busy == 0:
                return
            if self._outbox.fatal:
                return

    # -- shutdown ---------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Stop fetching, finish in-flight work, commit, flush, close: each step bounded and run
        even when the one before failed."""
        deadline = time.monotonic() + self._ctx.settings.shutdown_drain_seconds
        steps: list[tuple[str, Callable[[], None]]] = [
            (
                "pause",
                lambda: self._consumer.pause([TopicPartition(*key) for key in self._assigned]),
            ),
            ("finish batch", self._finish_batch),
            ("drain", lambda: self._drain(None, deadline)),
            ("commit", lambda: self._commit(sync=True, barrier_timeout_s=10.0)),
            ("count", self._flush_counts),
            ("flush producer", lambda: self._producer_flush(10.0)),
            ("close handler", self._close_handler),
            ("close consumer", lambda: _bounded(self._consumer.close, CLOSE_TIMEOUT_S)),
        ]
        for name, step in steps:
            try:
                step()
            except Exception:
                log.exception("shutdown step failed", extra={"step": name})
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _finish_batch(self) -> None:
        if self._buffer and not self._outbox.fatal:
            self._run_batch()

    def _producer_flush(self, timeout: float) -> None:
        if not self._outbox.barrier(timeout):
            log.error("producer flush left records unacknowledged; they will be redelivered")

    def _close_handler(self) -> None:
        close = getattr(self._handler, "close", None)
        if callable(close):
            close()


def _tune_gc() -> None:
    """Each fetch keeps about FETCH_MAX records alive, so the default young-generation threshold
    (700) collects on every batch. Freeze the start-up heap and collect the young generation
    less often; the objects of the hot path are freed by reference counting anyway."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, 20_000), middle, old)


def _bounded(step: Callable[[], None], timeout_s: float) -> None:
    """Run a blocking client call with a deadline (librdkafka's close has none of its own)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            step()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="bounded-step", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"step did not finish within {timeout_s}s")
    if errors:
        raise errors[0]
