"""A paged source (Eventhouse, sample, backfill) that publishes only while it holds its lease
(`lease.Lease`) and keeps its position in the cursor topic (`cursor.CursorStore`).

Standing by, its pages are empty and `/readyz` says "standby". On becoming active it loads the
cursor, builds the paged source at that position, and reads its output topics from the offsets
in the cursor to their end: the keys found there were published by the previous poller after
its last cursor write, and the rows with those keys are dropped once each instead of being
published twice. An instance that loses the lease stops before its next publish or cursor write
and exits (systemd starts it again, as a standby).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from confluent_kafka import Consumer, KafkaError, TopicPartition

from vpipe_core.eventsource.cursor import CursorStore, Published, StoredCursor
from vpipe_core.eventsource.lease import Lease
from vpipe_core.loop.source import NextOffsets, SourceStopped
from vpipe_core.ops import metrics
from vpipe_core.outcome import Output

if TYPE_CHECKING:
    from vpipe_core.context import WorkerContext

log = logging.getLogger("vpipe.eventsource")

STANDBY_POLL_S = 1.0
SCAN_TIMEOUT_S = 120.0


class PagedSource(Protocol):
    poll_interval_s: float
    max_backoff_s: float
    newest_ingested_s: float | None  # when the newest row returned so far entered the source

    def poll(self) -> tuple[Sequence[Output], bool]: ...

    def acknowledged(self) -> dict[str, Any] | None:
        """The last page is acknowledged: the position to store (None: it did not move)."""
        ...

    def close(self) -> None: ...


# The stored position (None: no cursor yet) -> the paged source starting there. KeyError,
# TypeError and ValueError mean the position is corrupt.
StartAt = Callable[[dict[str, Any] | None], PagedSource]


class LeaseLost(SourceStopped):
    """Another instance holds the lease now: this one exits (code 1) and comes back standing by."""


class LeasedSource:
    def __init__(
        self,
        ctx: WorkerContext,
        lease: Lease,
        store: CursorStore,
        start_at: StartAt,
        scan_config: Mapping[str, Any],
    ) -> None:
        self._ctx = ctx
        self._lease = lease
        self._store = store
        self._start_at = start_at
        self._scan_config = dict(scan_config)
        self._paged: PagedSource | None = None
        self._skip: Counter[bytes] = Counter()
        self._published: Published = {}
        self._said_standby = False

    @property
    def poll_interval_s(self) -> float:
        return STANDBY_POLL_S if self._paged is None else float(self._paged.poll_interval_s)

    @property
    def max_backoff_s(self) -> float:
        return STANDBY_POLL_S if self._paged is None else float(self._paged.max_backoff_s)

    @property
    def holds_lease(self) -> bool:
        return self._lease.held

    @property
    def finished(self) -> bool:
        return self._paged is not None and bool(getattr(self._paged, "finished", False))

    def poll(self) -> tuple[Sequence[Output], bool]:
        if self._paged is None:
            if not self._lease.held:
                self._stand_by()
                return (), False
            self._activate()
        assert self._paged is not None
        self._check_lease()
        outputs, more = self._paged.poll()
        self._check_lease()
        if outputs:
            self._report_rows(self._paged.newest_ingested_s)
        return self._not_yet_published(outputs), more

    def acknowledged(self, published: NextOffsets) -> None:
        if self._paged is None:
            return
        for (topic, partition), offset in published.items():
            self._published.setdefault(topic, {})[partition] = offset
        state = self._paged.acknowledged()
        if state is not None:
            self._check_lease()
            self._store.write(state, self._published)

    def _report_rows(self, newest_ingested_s: float | None) -> None:
        now = time.time()
        worker = self._ctx.spec.name
        metrics.poller_last_row.labels(worker).set(now)
        if newest_ingested_s is not None:
            metrics.poller_source_delay.labels(worker).set(max(0.0, now - newest_ingested_s))

    def close(self) -> None:
        if self._paged is not None:
            self._paged.close()
        self._store.close()
        self._lease.close()
        metrics.poller_active.labels(self._ctx.spec.name).set(0)

    def _stand_by(self) -> None:
        self._ctx.health.detail = "standby"
        if not self._said_standby:
            self._said_standby = True
            metrics.poller_active.labels(self._ctx.spec.name).set(0)
            log.info("standby: another instance holds the lease", extra={"key": self._store.key})

    def _check_lease(self) -> None:
        if self._lease.lost:
            raise LeaseLost(
                f"{self._ctx.spec.name} lost its lease on {self._store.key} to another instance; "
                "it stops publishing and exits to come back as a standby"
            )

    def _activate(self) -> None:
        stored = self._store.load()
        paged = self._start(stored)
        try:
            self._skip, self._published = self._scan(stored)
            if stored is not None and stored.from_file:
                self._store.write(stored.state, self._published)
                self._store.retire_old_file()
                log.info("cursor file imported", extra={"file": str(self._store.old_file)})
        except BaseException:
            paged.close()
            raise
        self._paged = paged
        self._ctx.health.detail = None
        metrics.poller_active.labels(self._ctx.spec.name).set(1)
        log.info(
            "became active",
            extra={
                "key": self._store.key,
                "position": None if stored is None else stored.state,
                "keys_skipped": self._skip.total(),
            },
        )

    def _start(self, stored: StoredCursor | None) -> PagedSource:
        if stored is None:
            return self._start_at(None)
        try:
            return self._start_at(stored.state)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._store.corrupt(stored.origin, f"{type(exc).__name__}: {exc}") from exc

    def _scan(self, stored: StoredCursor | None) -> tuple[Counter[bytes], Published]:
        """The keys published after the cursor (how often each), and every output partition's
        end offset."""
        group = f"{self._store.key}.takeover"  # never joined: the consumer only assigns
        config = {**self._scan_config, "group.id": group, "enable.auto.commit": False}
        consumer = Consumer({**config, "enable.partition.eof": True})
        try:
            firsts = _first_offsets(consumer, self._ctx.spec.output_topics)
            starts: Published = {}  # no cursor yet: nothing was published after it
            if stored is not None and stored.published is not None:
                starts = {topic: dict(parts) for topic, parts in firsts.items()}
                for topic, parts in stored.published.items():
                    for partition, offset in parts.items():
                        if partition in starts.get(topic, {}):
                            starts[topic][partition] = max(starts[topic][partition], offset)
            return _keys_to_end(consumer, firsts, starts)
        finally:
            consumer.close()

    def _not_yet_published(self, outputs: Sequence[Output]) -> Sequence[Output]:
        if self._skip.total() == 0:
            return outputs
        fresh = []
        for output in outputs:
            if output.key is not None and self._skip[output.key] > 0:
                self._skip[output.key] -= 1  # each one published before is dropped once
                continue
            fresh.append(output)
        return fresh


def _first_offsets(consumer: Consumer, topics: Sequence[str]) -> Published:
    """The first offset of every partition of `topics` (the end is found by reading: the high
    watermark the memory-only test broker reports is the last batch's first offset + 1)."""
    metadata = consumer.list_topics(timeout=SCAN_TIMEOUT_S)
    firsts: Published = {}
    for topic in topics:
        for partition in metadata.topics[topic].partitions:
            low, _high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=SCAN_TIMEOUT_S
            )
            firsts.setdefault(topic, {})[partition] = max(0, low)
    return firsts


def _keys_to_end(
    consumer: Consumer, firsts: Published, starts: Published
) -> tuple[Counter[bytes], Published]:
    """The keys of the records from `starts` to the end of their partitions, and every output
    partition's end offset, read from `firsts` where `starts` has no offset (read to the end
    even when nothing is to be skipped)."""
    everything = {topic: {**parts, **starts.get(topic, {})} for topic, parts in firsts.items()}
    pending = {(topic, p) for topic, parts in everything.items() for p in parts}
    consumer.assign([TopicPartition(t, p, everything[t][p]) for t, p in sorted(pending)])
    keys: Counter[bytes] = Counter()
    ends: Published = {topic: dict(parts) for topic, parts in everything.items()}
    deadline = time.monotonic() + SCAN_TIMEOUT_S
    while pending and time.monotonic() < deadline:
        for message in consumer.consume(500, 0.5):
            where, partition, offset = message.topic(), message.partition(), message.offset()
            if where is None or partition is None or offset is None:
                continue
            error, key = message.error(), message.key()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard((where, partition))
                    ends[where][partition] = offset
                continue
            ends[where][partition] = offset + 1
            if key is not None and partition in starts.get(where, {}):
                keys[key] += 1
    if pending:
        raise RuntimeError(f"cannot read the outputs published after the cursor: {pending}")
    return keys, ends


def leased_source(
    ctx: WorkerContext, suffix: str, fresh_start: str, start_at: StartAt
) -> LeasedSource:
    """The poller `<worker><suffix>`'s lease (group `<consumer group><suffix>.lease`) and cursor
    (key `<worker><suffix>`), and the paged source `start_at` builds once it is active."""
    from vpipe_core.kafka.clientconf import common_config, consumer_config

    settings = ctx.settings
    lease_config = consumer_config(settings, f"{ctx.group}{suffix}.lease", ctx.worker_id)
    lease_config.pop("statistics.interval.ms", None)
    key = f"{ctx.spec.name}{suffix}"
    old_file = settings.state_dir / f"{key}.cursor.json"
    store = CursorStore(common_config(settings), key, fresh_start, old_file)
    lease = Lease(lease_config)
    lease.start()
    return LeasedSource(ctx, lease, store, start_at, common_config(settings))
