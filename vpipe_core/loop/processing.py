"""The processing loop: consume, hand records to the handler, route outcomes, commit the
acknowledged prefix (runtime.md §4). One loop per worker process, driven from one thread.

The steps, composed here at start: `consume` fetches, an `execute` strategy calls the handler,
`route` is the one path from an outcome to its effects, `commits` commits what is routed and
acknowledged, `rebalance` handles assignment changes, `shutdown` stops in order."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError

from vpipe_core.context import WorkerContext
from vpipe_core.kafka.offsets import TopicPartitionKey
from vpipe_core.kafka.outbox import Outbox
from vpipe_core.lineage.spans import Tracing
from vpipe_core.logs.trace import inline_record
from vpipe_core.loop import execute
from vpipe_core.loop.commits import Commits
from vpipe_core.loop.consume import Consume
from vpipe_core.loop.lag import LagClock
from vpipe_core.loop.members import members
from vpipe_core.loop.rebalance import Rebalance
from vpipe_core.loop.route import Route
from vpipe_core.loop.shutdown import shut_down
from vpipe_core.loop.telemetry import Telemetry
from vpipe_core.loop.traced import TracedRoute
from vpipe_core.retry.router import OutcomeRouter
from vpipe_core.spec import RetryMode


class ProcessingLoop:
    def __init__(
        self,
        ctx: WorkerContext,
        handler: Any,
        consumer: Any,
        producer: Any,
        router: OutcomeRouter,
        topics: Sequence[str],
        tracing: Tracing | None = None,
    ) -> None:
        """`tracing`: spans on (lineage.spans), else None."""
        self._ctx = ctx
        worker = ctx.spec.name
        inplace = ctx.spec.retry_mode is RetryMode.INPLACE
        self._outbox = Outbox(producer, worker, router.too_large)
        hooks = members(handler)  # the handler's optional members, read once
        self._hooks = hooks
        self._commits = Commits(worker, consumer, self._outbox, hooks.on_commit)
        assigned: set[TopicPartitionKey] = set()
        lag = LagClock(worker, consumer, self._commits.offsets, assigned)
        self._consume = Consume(ctx, consumer, list(topics), lag, assigned)
        self._telemetry = Telemetry(ctx, self._consume.consumed, self._consume.assigned, lag)
        in_order = hooks.concurrency == 1
        if tracing is not None:
            router = tracing.routing(router)
        self._route = (Route if tracing is None else partial(TracedRoute, tracing))(
            ctx,
            router,
            self._outbox,
            self._commits,
            self._consume,
            self._telemetry,
            in_order,
            self._housekeeping,
        )
        self._execute = execute.choose(
            handler, hooks, worker, self._consume, self._commits, self._route, inplace
        )
        self._rebalance = Rebalance(
            ctx,
            hooks,
            self._consume,
            self._execute,
            self._route,
            self._commits,
            self._outbox,
            self._telemetry,
        )
        self._stop_requested = False

    def request_stop(self) -> None:
        self._stop_requested = True

    def run(self) -> None:
        """Run until `request_stop()`; raises FatalConfigError on misconfiguration."""
        _tune_gc()
        inline_record.own()
        self._consume.consumer.subscribe(
            self._consume.topics,
            on_assign=self._rebalance.on_assign,
            on_revoke=self._rebalance.on_revoke,
            on_lost=self._rebalance.on_lost,
        )
        try:
            while not self._stop_requested:
                self._iterate()
                if self._outbox.fatal:
                    raise self._outbox.fatal
        finally:
            shut_down(
                self._ctx.settings.shutdown_drain_seconds,
                self._hooks.close,
                self._consume,
                self._execute,
                self._commits,
                self._outbox,
                self._telemetry,
            )

    def _iterate(self) -> None:
        messages = self._consume.fetch(self._execute.poll_timeout())
        self._housekeeping()
        if messages:
            self._execute.accept(messages)
        self._execute.step()
        retrying = bool(self._route.inplace_attempts) or self._outbox.failing_since is not None
        self._telemetry.report_retrying(retrying)
        self._housekeeping()

    def _housekeeping(self) -> None:
        self._ctx.health.progressed()
        self._outbox.poll(0)
        if time.monotonic() >= self._commits.due_at:
            self._telemetry.flush(self._execute.in_flight)
            self._commits.commit()

    # -- the Kafka clients' callbacks -------------------------------------------------------

    def on_stats(self, stats_json: str) -> None:
        self._telemetry.on_stats(stats_json)

    def on_delivery_error(self, error: KafkaError | None, message: Any) -> None:
        self._outbox.on_delivery_error(error, message)

    def on_error(self, error: KafkaError) -> None:
        self._telemetry.on_error(error)


def _tune_gc() -> None:
    """Each fetch keeps about FETCH_MAX records alive, so the default young-generation threshold
    (700) collects on every batch. Freeze the start-up heap and collect the young generation
    less often; the objects of the hot path are freed by reference counting anyway."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, 20_000), middle, old)
