"""What the loop tells the outside: counts flushed to Prometheus in bulk, a periodic summary
line, health, and the Kafka clients' statistics and error callbacks."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from confluent_kafka import KafkaError

from vpipe_core.context import WorkerContext
from vpipe_core.kafka.offsets import TopicPartitionKey
from vpipe_core.loop.lag import LagClock
from vpipe_core.ops import metrics

log = logging.getLogger("vpipe.loop")

SUMMARY_INTERVAL_S = 30.0


class Telemetry:
    def __init__(
        self,
        ctx: WorkerContext,
        consumed: dict[str, int],
        assigned: set[TopicPartitionKey],
        lag: LagClock,
    ) -> None:
        self._ctx = ctx
        self._worker = ctx.spec.name
        self._consumed = consumed  # per topic, counted by the consume step
        self._assigned = assigned
        self._lag = lag
        self._ended = 0  # records retried or dead-lettered, as of the last flush
        self.done = 0  # records routed as done since the last flush
        self.tally = {"done": 0, "retried": 0, "dead": 0}
        self._last_summary = time.monotonic()
        self._progress = metrics.loop_last_progress.labels(self._worker)
        self._retry_seconds = metrics.inplace_retry_seconds.labels(self._worker)
        self._last_handled = metrics.last_handled.labels(self._worker)

    def flush(self, in_flight: int) -> None:
        """Per-record counts go to Prometheus in bulk (a labelled inc costs more than a record)."""
        now = time.time()
        self._progress.set(now)
        ended = self.tally["retried"] + self.tally["dead"]
        if self.done or ended != self._ended:
            self._last_handled.set(now)
        self.flush_counts()
        self._ended = self.tally["retried"] + self.tally["dead"]
        self._lag.prune()
        if time.monotonic() - self._last_summary >= SUMMARY_INTERVAL_S:
            self._log_summary(in_flight)

    def flush_counts(self) -> None:
        for topic, count in self._consumed.items():
            metrics.messages_consumed.labels(self._worker, topic).inc(count)
        self._consumed.clear()
        if self.done:
            metrics.message_outcomes.labels(self._worker, "done", "").inc(self.done)
            self.tally["done"] += self.done
            self.done = 0

    def _log_summary(self, in_flight: int) -> None:
        """One INFO line per interval: what happened since the last one."""
        self._last_summary = time.monotonic()
        extra = {**self.tally, "in_flight": in_flight, "partitions": len(self._assigned)}
        log.info("progress", extra=extra)
        self.tally = dict.fromkeys(self.tally, 0)
        self._ended = 0

    def report_retrying(self, retrying: bool) -> None:
        """How long records have been retried in place (here or in the handlers' threads)."""
        health = self._ctx.health
        if retrying and health.inplace_retry_since is None:
            health.inplace_retry_since = time.monotonic()
        elif not retrying:
            health.inplace_retry_since = None
        since = health.inplace_since()  # concurrent handlers retry in their threads
        self._retry_seconds.set(time.monotonic() - since if since else 0.0)

    def report_assigned(self, added: set[TopicPartitionKey]) -> None:
        """Partitions just assigned count as committed now: no-progress is judged from here."""
        self._ctx.health.assigned = len(self._assigned)
        metrics.assigned_partitions.labels(self._worker).set(len(self._assigned))
        now = time.time()
        for topic, partition in added:
            metrics.partition_commit.labels(self._worker, topic, str(partition)).set(now)

    def on_stats(self, stats_json: str) -> None:
        """librdkafka statistics: consumer-side lag, broker state, and for the lag clock the
        offset handed out next and the high watermark."""
        stats = orjson.loads(stats_json)
        if any(broker.get("state") == "UP" for broker in stats.get("brokers", {}).values()):
            self._ctx.health.broker_answered()
            metrics.broker_up.labels(self._worker).set(1)
        for topic, topic_stats in stats.get("topics", {}).items():
            for part, part_stats in topic_stats.get("partitions", {}).items():
                lag = part_stats.get("consumer_lag", -1)
                # Statistics keep listing revoked partitions; their lag is another instance's.
                key = (topic, int(part))
                if part == "-1" or key not in self._assigned:
                    continue
                if lag >= 0:
                    metrics.consumer_lag.labels(self._worker, topic, part).set(lag)
                handed_out = part_stats.get("app_offset", -1001)
                self._lag.statistics(key, handed_out, part_stats.get("hi_offset", -1001))

    def on_error(self, error: KafkaError) -> None:
        if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            metrics.broker_up.labels(self._worker).set(0)
        log.warning("kafka client error", extra={"error": error.str()})


def describe_partitions(keys: Any) -> list[str]:
    return sorted(f"{topic}[{partition}]" for topic, partition in keys)
