"""The loop of source workers (pollers): no input topic; the handler fetches from elsewhere.

Contract: `poll()` returns the outputs of one page (empty when there is nothing new); after they
are all acknowledged by the broker the loop calls `acknowledged(published)`, and only then may the
source move its durable cursor; `published` holds, per output partition, the offset after every
record acknowledged so far (from the producer's delivery reports). `poll()` may raise: the loop
backs off (interval * 2^n, at most `max_backoff_s`) instead of spinning. A full page is followed
at once by the next one. A bounded source (a backfill) sets `finished` once its last page is
acknowledged; the loop then ends. A source that must not go on (it lost its lease, its cursor is
corrupt) raises `SourceStopped`: the worker exits with its code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from vpipe_core.context import WorkerContext
from vpipe_core.kafka.outbox import Outbox
from vpipe_core.lineage.carry import started
from vpipe_core.lineage.spans import Tracing
from vpipe_core.ops import metrics
from vpipe_core.outcome import Output
from vpipe_core.record import Record

log = logging.getLogger("vpipe.source")
ACK_TIMEOUT_S = 30.0

# (topic, partition) -> the offset after the last acknowledged record
NextOffsets = Mapping[tuple[str, int], int]


class SourceStopped(Exception):
    """The source cannot go on; the worker exits with `exit_code` (1: systemd restarts it)."""

    exit_code = 1


@runtime_checkable
class Source(Protocol):
    @property
    def poll_interval_s(self) -> float: ...

    @property
    def max_backoff_s(self) -> float: ...

    def poll(self) -> tuple[Sequence[Output], bool]:
        """The outputs of one page, and whether more is waiting (a full page)."""
        ...

    def acknowledged(self, published: NextOffsets) -> None:
        """Every output of the last page is acknowledged: move the durable cursor."""
        ...


class SourceLoop:
    def __init__(
        self, ctx: WorkerContext, source: Any, producer: Any, tracing: Tracing | None = None
    ) -> None:
        """`tracing`: spans on (lineage.spans), else None: each event's trace starts here."""
        self._ctx = ctx
        self._started = started if tracing is None else tracing.started
        self._source = source
        self._outbox = Outbox(producer, ctx.spec.name, _never_too_large)
        self._stop_requested = False
        self._failures = 0
        self._published: dict[tuple[str, int], int] = {}

    def request_stop(self) -> None:
        self._stop_requested = True

    def on_delivery(self, error: Any, message: Any) -> None:
        """The producer reports every delivery (a poller publishes little): a success moves
        `published`, a failure goes to the outbox."""
        if error is None:
            where = (message.topic(), message.partition())
            self._published[where] = max(self._published.get(where, 0), message.offset() + 1)
        else:
            self._outbox.on_delivery_error(error, message)

    def run(self) -> None:
        health = self._ctx.health
        health.needs_partitions = False
        broker_check_s = health.broker_check_seconds
        try:
            while not self._stop_requested:
                # Ready while the last source query succeeded within 3 poll intervals (runtime.md
                # §10); a poller's interval changes when it stops standing by.
                interval_s = float(self._source.poll_interval_s)
                health.broker_check_seconds = max(broker_check_s, 3 * interval_s)
                more = self._cycle()
                if self._outbox.fatal:
                    raise self._outbox.fatal
                if getattr(self._source, "finished", False):
                    log.info("source finished: every page is published and acknowledged")
                    break
                if not more:
                    self._sleep(self._delay())
        finally:
            self._close()

    def _cycle(self) -> bool:
        self._ctx.health.progressed()
        try:
            outputs, more = self._source.poll()
            self._publish(outputs)
        except SourceStopped:
            raise
        except Exception as exc:
            self._failures += 1
            log.warning(
                "source cycle failed", extra={"error": str(exc), "failures": self._failures}
            )
            self._ctx.health.set_reason("startup_retry", False)
            return False
        self._failures = 0
        self._ctx.health.broker_answered()
        return bool(more)

    def _publish(self, outputs: Sequence[Output]) -> None:
        if outputs:
            self._outbox.send(_SOURCE_RECORD, [self._started(output) for output in outputs])
            if not self._outbox.barrier(ACK_TIMEOUT_S):
                raise RuntimeError("page not acknowledged by the broker; the cursor stays")
        self._source.acknowledged(self._published)
        metrics.loop_last_progress.labels(self._ctx.spec.name).set(time.time())

    def _delay(self) -> float:
        interval = float(self._source.poll_interval_s)
        if not self._failures:
            return interval
        return min(float(self._source.max_backoff_s), interval * 2**self._failures)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop_requested and time.monotonic() < deadline:
            self._ctx.health.progressed()
            self._outbox.poll(min(0.5, max(0.0, deadline - time.monotonic())))

    def _close(self) -> None:
        if not self._outbox.barrier(10.0):
            log.error("stopping with unacknowledged outputs; the cursor did not move past them")
        close = getattr(self._source, "close", None)
        if callable(close):
            close()


_SOURCE_RECORD = Record("(source)", -1, -1, None, None)


def _never_too_large(record: Record, topic: str) -> Output:
    raise RuntimeError(f"an output to {topic} exceeds the broker's maximum message size")
