"""The free-space guard of the cache filesystem (runtime.md §11).

Below `min_free_ratio` (5 %) free, `require()` raises `DiskFull` (an infrastructure failure, so
the download waits in place instead of filling the disk) and `/readyz` reports `disk_full`
until a later check finds space again. `/readyz` itself checks too, so the reason comes and goes
with the disk also while no download runs. Every check sets `vpipe_cache_free_bytes`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import attrs

from vpipe_core.ops.health_state import HealthState
from vpipe_core.transfer import metrics

DISK_FULL = "disk_full"
MIN_FREE_RATIO = 0.05


class DiskFull(OSError):
    """Too little free space on the cache filesystem to start another download."""


@attrs.frozen
class FreeSpace:
    free_bytes: int
    total_bytes: int

    @property
    def ratio(self) -> float:
        return self.free_bytes / self.total_bytes if self.total_bytes else 1.0


class SpaceGuard:
    def __init__(
        self,
        path: Path,
        health: HealthState,
        min_free_ratio: float = MIN_FREE_RATIO,
        statvfs: Callable[[Path], os.statvfs_result] = os.statvfs,
    ) -> None:
        self.path = path
        self.min_free_ratio = min_free_ratio
        self._health = health
        self._statvfs = statvfs
        self._gauge = metrics.cache_free_bytes.labels(str(path))
        health.add_probe(self.measure)

    def measure(self) -> FreeSpace:
        """Free space for unprivileged writers; updates the gauge and the `disk_full` reason."""
        stats = self._statvfs(self._existing(self.path))
        space = FreeSpace(stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize)
        self._gauge.set(space.free_bytes)
        self._health.set_reason(DISK_FULL, space.ratio < self.min_free_ratio)
        return space

    def require(self) -> None:
        space = self.measure()
        if space.ratio < self.min_free_ratio:
            raise DiskFull(
                f"cache filesystem of {self.path} has {space.free_bytes} bytes free "
                f"({space.ratio:.1%} < {self.min_free_ratio:.0%}): downloads wait"
            )

    @staticmethod
    def _existing(path: Path) -> Path:
        """The cache dir may not exist yet; its nearest existing parent is on the same disk
        (or is where the directory will be created)."""
        while not path.exists() and path.parent != path:
            path = path.parent
        return path
