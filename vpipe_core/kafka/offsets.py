"""Which offsets may be committed: the contiguous prefix of completed records per partition."""

from __future__ import annotations

from collections import deque

TopicPartitionKey = tuple[str, int]


class PartitionOffsets:
    """Offsets of one partition in consumption order, each open until marked complete."""

    __slots__ = ("_completed", "_open", "committed")

    def __init__(self) -> None:
        self._open: deque[int] = deque()
        self._completed: set[int] = set()
        self.committed: int | None = None  # next offset to read, as last committed

    def track(self, offset: int) -> None:
        self._open.append(offset)

    def complete(self, offset: int) -> None:
        self._completed.add(offset)

    def forget_from(self, offset: int) -> None:
        """Drop `offset` and everything after it (they will be fetched again)."""
        while self._open and self._open[-1] >= offset:
            self._completed.discard(self._open.pop())

    def commit_position(self) -> int | None:
        """Next offset to commit (last completed prefix offset + 1), or None when nothing is new."""
        position = None
        while self._open and self._open[0] in self._completed:
            done = self._open.popleft()
            self._completed.discard(done)
            position = done + 1
        return position

    @property
    def pending(self) -> int:
        return len(self._open)


class OffsetTracker:
    """Per-partition `PartitionOffsets` for every partition the consumer owns."""

    def __init__(self) -> None:
        self.partitions: dict[TopicPartitionKey, PartitionOffsets] = {}
        self._ready: dict[TopicPartitionKey, int] = {}

    def track(self, topic: str, partition: int, offset: int) -> None:
        key = (topic, partition)
        offsets = self.partitions.get(key)
        if offsets is None:
            offsets = self.partitions[key] = PartitionOffsets()
        offsets.track(offset)

    def complete(self, topic: str, partition: int, offset: int) -> None:
        offsets = self.partitions.get((topic, partition))
        if offsets is None:
            return  # partition revoked meanwhile; its record will be redelivered
        offsets.complete(offset)
        position = offsets.commit_position()
        if position is not None:
            self._ready[(topic, partition)] = position

    def forget_from(self, topic: str, partition: int, offset: int) -> None:
        offsets = self.partitions.get((topic, partition))
        if offsets is not None:
            offsets.forget_from(offset)

    def drop(self, keys: list[TopicPartitionKey]) -> None:
        for key in keys:
            self.partitions.pop(key, None)
            self._ready.pop(key, None)

    def take_ready(
        self, keys: set[TopicPartitionKey] | None = None
    ) -> dict[TopicPartitionKey, int]:
        """Commit positions that moved since the last call (all, or only `keys`)."""
        if keys is None:
            ready, self._ready = self._ready, {}
            return ready
        taken = {key: pos for key, pos in self._ready.items() if key in keys}
        for key in taken:
            del self._ready[key]
        return taken

    def pending(self, keys: set[TopicPartitionKey] | None = None) -> int:
        return sum(
            offsets.pending
            for key, offsets in self.partitions.items()
            if keys is None or key in keys
        )
