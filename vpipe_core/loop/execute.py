"""Calling the handler: one strategy per handler kind, each handing (record, outcome) pairs to
the routing step. Inline record handlers run on the loop thread as records arrive, batch
handlers on buffered records, concurrent handlers in a thread pool."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from vpipe_core.kafka.offsets import TopicPartitionKey
from vpipe_core.kafka.outbox import Outbox
from vpipe_core.logs.trace import current_record, inline_record
from vpipe_core.loop.commits import Commits
from vpipe_core.loop.consume import POLL_TIMEOUT_S, Consume, partition_key
from vpipe_core.loop.members import Members
from vpipe_core.loop.route import Route, Routed
from vpipe_core.ops import metrics
from vpipe_core.outcome import Category, Outcome, Retry
from vpipe_core.record import Record
from vpipe_core.spec import BatchHandler

log = logging.getLogger("vpipe.loop")


class Execute(Protocol):
    in_flight: int

    def accept(self, messages: list[Any]) -> None: ...

    def poll_timeout(self) -> float: ...

    def step(self) -> None:
        """Once per loop iteration, after `accept`."""

    def settle(self) -> None:
        """Route what finished, without housekeeping (while draining)."""

    def drop(self, keys: set[TopicPartitionKey]) -> None:
        """Forget records of revoked or lost partitions not handled yet."""

    def finish(self) -> None:
        """At shutdown: handle what is waiting."""

    def close(self) -> None: ...


def choose(
    handler: Any,
    hooks: Members,
    worker: str,
    consume: Consume,
    commits: Commits,
    route: Route,
    inplace: bool,
) -> Execute:
    threads = hooks.concurrency
    if inplace and threads > 1:
        # Seeking back would redeliver records of the partition that other threads have
        # already handled. Concurrent handlers retry infrastructure failures in their own
        # thread instead (vpipe_core.retry.inplace.InplaceRetry).
        raise ValueError("in-place retry needs an inline handler (concurrency 1)")
    if isinstance(handler, BatchHandler):
        return Batched(handler, hooks, worker, consume, commits, route)
    if threads > 1:
        return Concurrent(handler, worker, consume, commits, route, threads)
    return Inline(handler, worker, consume, route)


def unexpected_error(record: Record, exc: BaseException) -> Outcome:
    log.exception(
        "handler raised; retrying as transient",
        extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
    )
    return Retry(f"unexpected {type(exc).__name__}: {exc}", Category.TRANSIENT)


class _Strategy:
    """What the strategies share: nothing in flight, nothing buffered, nothing to close."""

    in_flight = 0

    def __init__(self, handler: Any, worker: str, consume: Consume, route: Route) -> None:
        self._handler = handler
        self._consume = consume
        self._route = route
        self._seconds = metrics.processing_seconds.labels(worker)

    def poll_timeout(self) -> float:
        return POLL_TIMEOUT_S

    def step(self) -> None:
        return None

    def settle(self) -> None:
        return None

    def drop(self, keys: set[TopicPartitionKey]) -> None:
        return None

    def finish(self) -> None:
        return None

    def close(self) -> None:
        return None


class Inline(_Strategy):
    """Record handlers on the loop thread: each record is routed before the next is handled."""

    def accept(self, messages: list[Any]) -> None:
        started = time.perf_counter()
        self._route.route_all(self._outcomes(messages))
        self._seconds.observe(time.perf_counter() - started)

    def _outcomes(self, messages: list[Any]) -> Iterator[Routed]:
        """The hot path, kept flat on purpose: each record built in place and handled with its
        key as log context; records of a partition seeked back meanwhile are skipped. A fetch
        holds runs of one partition's records: consumed records are counted per run, and the
        run's (topic, partition) is one object."""
        handle, rewound, logged = self._handler.handle, self._consume.rewound, inline_record
        new_record, consumed, saw = tuple.__new__, self._consume.consumed, self._consume.lag.saw
        run_topic, run_partition, run_count = "", -1, 0
        run_key = (run_topic, run_partition)
        try:
            for message in messages:
                if message.error() is not None:
                    self._consume.on_error(message.error())
                    continue
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                if (
                    rewound
                    and (topic, partition) in rewound
                    and offset >= rewound[topic, partition]
                ):
                    continue
                if partition != run_partition or topic != run_topic:
                    if run_count:
                        consumed[run_topic] = consumed.get(run_topic, 0) + run_count
                    run_topic, run_partition, run_count = topic, partition, 0
                    run_key = (topic, partition)
                    saw(run_key, offset, message.timestamp()[1])
                run_count += 1
                key, value = message.key(), message.value()
                record = new_record(Record, (topic, partition, offset, key, value, None, message))
                logged.record = record
                try:
                    outcome = handle(record)
                except Exception as exc:  # the contract: unclassified errors are transient retries
                    outcome = unexpected_error(record, exc)
                yield record, outcome, run_key
        finally:
            logged.record = None
            if run_count:
                consumed[run_topic] = consumed.get(run_topic, 0) + run_count


class Batched(_Strategy):
    """Batch handlers: records wait in a buffer until the batch is full, until its first record
    has waited `batch_max_wait_s`, or, with `batch_min_interval_s`, until a fetch comes back
    short (the consumer has caught up: waiting longer would only delay the batch's tail) and
    the previous batch started at least that long ago. Under load a batch is then whatever
    arrived while the previous one was handled; a trickle is handled at most once per interval."""

    def __init__(
        self,
        handler: Any,
        hooks: Members,
        worker: str,
        consume: Consume,
        commits: Commits,
        route: Route,
    ) -> None:
        super().__init__(handler, worker, consume, route)
        self._offsets = commits.offsets
        self._size, self._wait_s = hooks.batch_size, hooks.batch_max_wait_s
        self._interval_s = hooks.batch_min_interval_s
        self._buffer: list[Record] = []
        self._since = 0.0
        self._last_run = time.monotonic()

    def accept(self, messages: list[Any]) -> None:
        for record in self._consume.records(messages):
            if not self._buffer:
                self._since = time.monotonic()
            self._buffer.append(record)

    def poll_timeout(self) -> float:
        if not self._buffer:
            return POLL_TIMEOUT_S
        due = self._since + self._wait_s
        if self._interval_s is not None:
            due = min(due, max(self._since, self._last_run + self._interval_s))
        return max(0.0, min(POLL_TIMEOUT_S, due - time.monotonic()))

    def step(self) -> None:
        if not self._buffer:
            return
        now = time.monotonic()
        full = len(self._buffer) >= self._size
        if full or now - self._since >= self._wait_s or self._caught_up(now):
            self._run()

    def _caught_up(self, now: float) -> bool:
        interval = self._interval_s
        return interval is not None and self._consume.drained and now - self._last_run >= interval

    def finish(self) -> None:
        if self._buffer:
            self._run(keep_house=False)

    def drop(self, keys: set[TopicPartitionKey]) -> None:
        for record in self._buffer:
            if partition_key(record) in keys:
                self._offsets.forget_from(partition_key(record), record.offset)
        self._buffer = [record for record in self._buffer if partition_key(record) not in keys]

    def _run(self, keep_house: bool = True) -> None:
        records, self._buffer = self._buffer, []
        self._last_run = time.monotonic()
        started = time.perf_counter()
        try:
            outcomes = list(self._handler.handle_batch(records))
            if len(outcomes) != len(records):
                raise RuntimeError(
                    f"handle_batch returned {len(outcomes)} outcomes for {len(records)} records"
                )
        except Exception as exc:
            outcomes = [unexpected_error(record, exc) for record in records]
        self._seconds.observe(time.perf_counter() - started)
        is_rewound = self._consume.is_rewound
        pairs = zip(records, outcomes, strict=True)
        routed = (
            (record, outcome, partition_key(record))
            for record, outcome in pairs
            if not is_rewound(record)
        )
        self._route.route_all(routed, keep_house)


class Concurrent(_Strategy):
    """Record handlers in a thread pool; fetching pauses while the pool is saturated."""

    def __init__(
        self,
        handler: Any,
        worker: str,
        consume: Consume,
        commits: Commits,
        route: Route,
        concurrency: int,
    ) -> None:
        super().__init__(handler, worker, consume, route)
        self._offsets = commits.offsets
        self._concurrency = concurrency
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="handler")
        self._finished: queue.SimpleQueue[tuple[Record, Future[Outcome]]] = queue.SimpleQueue()
        self._in_flight_metric = metrics.in_flight.labels(worker)
        self.in_flight = 0

    def accept(self, messages: list[Any]) -> None:
        for record in self._consume.records(messages):
            self._offsets.for_partition(partition_key(record)).track(record.offset)
            self._submit(record)

    def _submit(self, record: Record) -> None:
        self.in_flight += 1
        future = self._executor.submit(self._call, record)
        future.add_done_callback(lambda done: self._finished.put((record, done)))

    def step(self) -> None:
        self._route.route_all(self._collect())
        self._in_flight_metric.set(self.in_flight)
        self._consume.throttle(self.in_flight, self._concurrency)

    def settle(self) -> None:
        self._route.route_all(self._collect(), keep_house=False)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _collect(self) -> Iterator[Routed]:
        assigned = self._consume.assigned
        while True:
            try:
                record, future = self._finished.get_nowait()
            except queue.Empty:
                return
            self.in_flight -= 1
            key = partition_key(record)
            if key in assigned:
                yield record, future.result(), key

    def _call(self, record: Record) -> Outcome:
        started = time.perf_counter()
        token = current_record.set(record)
        try:
            return self._handler.handle(record)
        except Exception as exc:  # the contract: unclassified errors are transient retries
            return unexpected_error(record, exc)
        finally:
            current_record.reset(token)
            self._seconds.observe(time.perf_counter() - started)


def drain(
    execute: Execute,
    commits: Commits,
    outbox: Outbox,
    keys: set[TopicPartitionKey] | None,
    deadline: float,
) -> None:
    """Wait for in-flight records (of `keys`, or all) to be routed."""
    while time.monotonic() < deadline:
        execute.settle()
        outbox.poll(0.01)
        busy = execute.in_flight if keys is None else 0
        if commits.offsets.unrouted(keys) == 0 and busy == 0:
            return
        if outbox.fatal:
            return
