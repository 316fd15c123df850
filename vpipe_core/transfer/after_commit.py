"""Work that may happen only once a record's outputs are acknowledged and its offset committed
(record a dedup mark). Handler threads `add`; the loop's
`on_commit(positions)` runs what its commit covers. On revoke the pending work of those
partitions is dropped (their next owner handles the records again), and `owns` tells
in-place retries of their records to give up."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

TopicPartitionKey = tuple[str, int]
Action = Callable[[], None]

log = logging.getLogger("vpipe.transfer")


class AfterCommit:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[TopicPartitionKey, dict[int, list[Action]]] = {}
        self._revoked: set[TopicPartitionKey] = set()

    def add(self, key: TopicPartitionKey, offset: int, action: Action) -> None:
        with self._lock:
            self._pending.setdefault(key, {}).setdefault(offset, []).append(action)

    def run(self, positions: dict[TopicPartitionKey, int]) -> None:
        """Run the actions of every offset below its partition's committed position."""
        due: list[Action] = []
        with self._lock:
            for key, position in positions.items():
                pending = self._pending.get(key, {})
                for offset in [o for o in pending if o < position]:
                    due.extend(pending.pop(offset))
        for action in due:
            try:
                action()
            except Exception:  # a cleanup problem must never stop the loop
                log.exception("after-commit action failed")

    def assign(self, keys: Iterable[TopicPartitionKey]) -> None:
        with self._lock:
            self._revoked.difference_update(keys)

    def revoke(self, keys: Iterable[TopicPartitionKey]) -> None:
        with self._lock:
            for key in keys:
                self._pending.pop(key, None)
                self._revoked.add(key)

    def owns(self, key: TopicPartitionKey) -> bool:
        with self._lock:
            return key not in self._revoked

    def pending(self) -> int:
        with self._lock:
            return sum(len(actions) for by in self._pending.values() for actions in by.values())
