"""A table's health as the Delta process reads it (`delta.maintenance.health`), and what is due."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from vpipe_core.tables.settings import TableSettings

Partition = dict[str, str]


@attrs.frozen
class TableHealth:
    version: int
    files: int
    bytes: int
    small_files: int
    small_file_partitions: tuple[tuple[Partition, int], ...]  # worst first
    checkpoint_version: int | None
    commits_since_checkpoint: int
    log_files: int
    vacuum_pending: int  # removed files older than the vacuum retention, still stored
    properties: Mapping[str, str]
    last_optimize_ms: int | None  # within the history read; None: not seen there
    last_vacuum_ms: int | None

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> TableHealth:
        partitions = tuple(
            (dict(item["partition"]), int(item["small_files"]))
            for item in reply["small_file_partitions"]
        )
        return cls(**{**reply, "small_file_partitions": partitions})

    @property
    def mean_file_bytes(self) -> int:
        return self.bytes // self.files if self.files else 0


@attrs.frozen
class Due:
    """The maintenance a table needs now."""

    compact: tuple[Partition, ...] = ()
    checkpoint: bool = False
    vacuum: bool = False

    @property
    def anything(self) -> bool:
        return bool(self.compact) or self.checkpoint or self.vacuum


def compaction_candidates(health: TableHealth, settings: TableSettings) -> list[Partition]:
    """Partitions holding at least `compact_min_small_files` small files, worst first."""
    return [
        partition
        for partition, small in health.small_file_partitions
        if small >= settings.compact_min_small_files
    ]


def due(
    health: TableHealth, settings: TableSettings, last_vacuum_ms: int | None, now_ms: int
) -> Due:
    """`last_vacuum_ms`: the latest vacuum known (the table's history or this process's own)."""
    properties_differ = any(
        health.properties.get(key) != value for key, value in settings.table_properties.items()
    )
    vacuum_interval_ms = settings.vacuum_interval_hours * 3_600_000
    return Due(
        compact=tuple(compaction_candidates(health, settings)[: settings.compact_max_partitions]),
        checkpoint=properties_differ
        or health.commits_since_checkpoint >= settings.checkpoint_interval,
        vacuum=last_vacuum_ms is None or now_ms - last_vacuum_ms >= vacuum_interval_ms,
    )
