"""Settings shared by every domain's table writers (runtime.md §7, §11)."""

from __future__ import annotations

import attrs

from vpipe_core.config.fields import setting


@attrs.frozen
class DeltaSettings:
    enable_writes: bool = setting(
        "ENABLE_DELTA_WRITES",
        True,
        help="master switch for table writers (false: consume and commit without writing)",
    )
    write_timeout_s: int = setting(
        "DELTA_WRITE_TIMEOUT_SECONDS",
        300,
        min=1,
        max=3600,
        help="one Delta operation; on timeout the writer process is killed, the batch retried",
    )
    batch_min_interval_s: float = setting(
        "DELTA_BATCH_MIN_INTERVAL_SECONDS",
        1.0,
        min=0,
        max=3600,
        help="a table writer that has caught up with its input writes what it holds once its "
        "previous write started this long ago, without waiting for the batch size or timer "
        "(0: at once; more: fewer, larger commits when events trickle in)",
    )
    process_idle_s: int = setting(
        "DELTA_PROCESS_IDLE_SECONDS",
        60,
        min=1,
        max=86400,
        help="the Delta worker process (deltalake, pyarrow) is stopped after this long without "
        "Delta work and started again by the next write",
    )
