"""Which of a poller's instances publishes: the member of the consumer group `<group><suffix>.lease`
on the one-partition cursor topic that is assigned that partition.

The others stand by in the group. When the active instance dies its partition moves to a standby
once the broker misses its heartbeats for KAFKA_SESSION_TIMEOUT_MS; an instance that is stopped
leaves the group at once. A thread keeps the lease consumer polled (an Eventhouse query may take
longer than max.poll.interval.ms); an instance that loses the partition learns it in that thread
and the source stops publishing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from vpipe_core.kafka.topics import POLLER_CURSORS

log = logging.getLogger("vpipe.eventsource.lease")

LEASE_PARTITION = 0
POLL_S = 0.5


class Lease:
    def __init__(self, consumer_config: Mapping[str, Any]) -> None:
        self._consumer = Consumer(
            {**consumer_config, "enable.auto.commit": False, "auto.offset.reset": "latest"}
        )
        self._held = threading.Event()
        self._lost = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._keep_polled, name="poller-lease", daemon=True)

    @property
    def held(self) -> bool:
        """True from the assignment of the lease partition until it is revoked or lost."""
        return self._held.is_set() and not self._lost.is_set()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def start(self) -> None:
        revoked = self._revoked
        self._consumer.subscribe(
            [POLLER_CURSORS], on_assign=self._assigned, on_revoke=revoked, on_lost=revoked
        )
        self._thread.start()

    def close(self) -> None:
        """Leave the group, so a standby takes over at once."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(10.0)
        self._consumer.close()

    def _keep_polled(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._consumer.poll(POLL_S)
            except Exception as exc:  # a broken poll must not end the thread that keeps the lease
                log.warning("lease poll failed", extra={"error": str(exc)})
                continue
            error = None if message is None else message.error()
            if error is not None:
                log.warning("lease consumer error", extra={"error": error.str()})

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if any(partition.partition == LEASE_PARTITION for partition in partitions):
            self._held.set()

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._held.is_set() and any(p.partition == LEASE_PARTITION for p in partitions):
            self._lost.set()
