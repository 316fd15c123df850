"""Which offsets may be committed: per partition, the contiguous prefix of routed records."""

from __future__ import annotations

from collections import deque

TopicPartitionKey = tuple[str, int]


class PartitionOffsets:
    """Offsets of one partition in consumption order, each open until marked routed."""

    __slots__ = ("_open", "_routed", "committed", "position")

    def __init__(self) -> None:
        self._open: deque[int] = deque()
        self._routed: set[int] = set()
        self.position: int | None = None  # next offset after the routed prefix
        self.committed: int | None = None

    def track(self, offset: int) -> None:
        self._open.append(offset)

    def routed_in_order(self, offset: int) -> None:
        """For records routed in consumption order (inline and batch handlers): nothing is open
        before them, so the committable position simply moves past the record."""
        self.position = offset + 1

    def routed(self, offset: int) -> None:
        self._routed.add(offset)

    def forget_from(self, offset: int) -> None:
        """Drop `offset` and everything after it (they will be fetched again)."""
        while self._open and self._open[-1] >= offset:
            self._routed.discard(self._open.pop())

    def advance(self) -> int | None:
        """Move past the routed prefix; the position to commit if it changed since the last
        commit, else None."""
        while self._open and self._open[0] in self._routed:
            done = self._open.popleft()
            self._routed.discard(done)
            self.position = done + 1
        return self.position if self.position != self.committed else None

    @property
    def unrouted(self) -> int:
        return len(self._open) - len(self._routed)


class OffsetTracker:
    """`PartitionOffsets` for every partition the consumer owns."""

    def __init__(self) -> None:
        self.partitions: dict[TopicPartitionKey, PartitionOffsets] = {}

    def for_partition(self, key: TopicPartitionKey) -> PartitionOffsets:
        offsets = self.partitions.get(key)
        if offsets is None:
            offsets = self.partitions[key] = PartitionOffsets()
        return offsets

    def routed_in_order(self, key: TopicPartitionKey, offset: int) -> None:
        """In-order routing happens on the loop thread between polls, so the partition is
        still assigned (revocations run inside `consume`)."""
        self.for_partition(key).routed_in_order(offset)

    def routed(self, key: TopicPartitionKey, offset: int) -> None:
        offsets = self.partitions.get(key)
        if offsets is not None:  # else revoked meanwhile: the record will be redelivered
            offsets.routed(offset)

    def forget_from(self, key: TopicPartitionKey, offset: int) -> None:
        offsets = self.partitions.get(key)
        if offsets is not None:
            offsets.forget_from(offset)

    def drop(self, keys: set[TopicPartitionKey]) -> None:
        for key in keys:
            self.partitions.pop(key, None)

    def positions(self, keys: set[TopicPartitionKey] | None = None) -> dict[TopicPartitionKey, int]:
        """Commit positions that moved since the last `committed()` (all, or only `keys`)."""
        moved: dict[TopicPartitionKey, int] = {}
        for key, offsets in self.partitions.items():
            if keys is None or key in keys:
                position = offsets.advance()
                if position is not None:
                    moved[key] = position
        return moved

    def committed(self, positions: dict[TopicPartitionKey, int]) -> None:
        for key, position in positions.items():
            offsets = self.partitions.get(key)
            if offsets is not None:
                offsets.committed = position

    def unrouted(self, keys: set[TopicPartitionKey] | None = None) -> int:
        """Records consumed whose outcome is not routed yet."""
        return sum(o.unrouted for k, o in self.partitions.items() if keys is None or k in keys)
