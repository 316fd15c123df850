"""Partitions assigned, revoked (finish and commit their records first) or lost (forget them)."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import TopicPartition

from vpipe_core.context import WorkerContext
from vpipe_core.kafka import retention
from vpipe_core.kafka.offsets import TopicPartitionKey
from vpipe_core.kafka.outbox import Outbox
from vpipe_core.loop.commits import Commits
from vpipe_core.loop.consume import Consume
from vpipe_core.loop.execute import Execute, drain
from vpipe_core.loop.members import Members
from vpipe_core.loop.route import Route
from vpipe_core.loop.telemetry import Telemetry, describe_partitions
from vpipe_core.ops import metrics

log = logging.getLogger("vpipe.loop")


def _keys(partitions: list[TopicPartition]) -> set[TopicPartitionKey]:
    return {(tp.topic, tp.partition) for tp in partitions}


class Rebalance:
    def __init__(
        self,
        ctx: WorkerContext,
        hooks: Members,
        consume: Consume,
        execute: Execute,
        route: Route,
        commits: Commits,
        outbox: Outbox,
        telemetry: Telemetry,
    ) -> None:
        self._ctx = ctx
        self._worker = ctx.spec.name
        self._hooks = hooks
        self._consume = consume
        self._execute = execute
        self._route = route
        self._commits = commits
        self._outbox = outbox
        self._telemetry = telemetry

    def on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = _keys(partitions)
        self._consume.assign(keys)
        self._telemetry.report_assigned(keys)
        self._ctx.health.broker_answered()
        log.info("partitions assigned", extra={"partitions": describe_partitions(keys)})
        consumer = self._consume.consumer
        retention.report(self._worker, retention.expired_unread(consumer, partitions))
        self._hooks.on_assign(partitions)

    def on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = _keys(partitions)
        deadline = time.monotonic() + self._ctx.settings.shutdown_drain_seconds
        self._execute.drop(keys)
        drain(self._execute, self._commits, self._outbox, keys, deadline)
        barrier_timeout_s = max(1.0, deadline - time.monotonic())
        self._commits.commit(keys, sync=True, barrier_timeout_s=barrier_timeout_s)
        self._release(keys, "revoked")

    def on_lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = _keys(partitions)
        self._execute.drop(keys)
        self._release(keys, "lost")

    def _release(self, keys: set[TopicPartitionKey], how: str) -> None:
        self._commits.offsets.drop(keys)
        self._consume.release(keys)
        self._route.release(keys)
        for key in keys:
            metrics.forget_partition(self._worker, *key)
        self._telemetry.report_assigned(set())
        log.info(f"partitions {how}", extra={"partitions": describe_partitions(keys)})
        self._hooks.on_revoke([TopicPartition(*key) for key in keys])
