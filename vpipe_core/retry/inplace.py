"""In-place retry of infrastructure failures inside a concurrent handler's own thread.

runtime.md §4 wants local-disk and storage-configuration failures retried in place (with the
shared `backoff`: 1 s → 60 s, doubling, jitter), without consuming the record's retry tiers, and
`/readyz` 503 once it lasts longer than `INPLACE_RETRY_ALERT_SECONDS`.

Why here and not in the processing loop: the loop retries in place by pausing the partition
and seeking back to the failing record. With a thread pool, later records of the same
partition are often already handled and their outputs produced by then; seeking back would
hand them to the handler again and produce their outputs twice. Holding the failing record in
its handler thread instead keeps everything the loop promises: the committed offset cannot pass
the record (it is not routed), nothing is redelivered, other records keep flowing while the
problem is local to one file, and once every thread waits (disk full, store misconfigured) the
loop's flow control stops fetching on its own while it keeps polling (group membership,
`/healthz`). A stop or a revoked partition ends the wait; the record is then left uncommitted
and handled again after the restart or by the partition's new owner. The cost: the loop learns
of a revoke only after waiting up to `SHUTDOWN_DRAIN_SECONDS` for in-flight records, so a
rebalance during such an outage takes that long; and each waiting record holds a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from vpipe_core.logs.redact import redact
from vpipe_core.ops.health_state import HealthState
from vpipe_core.retry.backoff import backoff_s, random_jitter

log = logging.getLogger("vpipe.retry.inplace")

T = TypeVar("T")
# exception -> a short name of the infrastructure problem, or None for any other failure.
Classifier = Callable[[BaseException], str | None]


class InplaceRetry:
    """`run(call, classify, wanted)` repeats `call` while it fails with an infrastructure
    problem. `wait(seconds)` returns True when it was interrupted by `stop()` (tests pass one
    that does not sleep)."""

    def __init__(
        self,
        health: HealthState,
        *,
        wait: Callable[[float], bool] | None = None,
        jitter: Callable[[], float] = random_jitter,
    ) -> None:
        self._health = health
        self._stopping = threading.Event()
        self._wait = wait or self._stopping.wait
        self._jitter = jitter

    def stop(self) -> None:
        """End every wait (worker shutdown); running calls finish, failures are raised."""
        self._stopping.set()

    def run(
        self,
        call: Callable[[], T],
        classify: Classifier,
        wanted: Callable[[], bool] = lambda: True,
    ) -> T:
        token: int | None = None
        failures = 0
        try:
            while True:
                try:
                    return call()
                except Exception as exc:
                    problem = classify(exc)
                    if problem is None or self._stopping.is_set() or not wanted():
                        raise
                    failures += 1
                    if token is None:
                        token = self._health.handler_retry_started()
                    delay = backoff_s(failures, self._jitter)
                    _log_retry(problem, exc, failures, delay)
                    if self._wait(delay) or self._stopping.is_set():
                        raise
        finally:
            if token is not None:
                self._health.handler_retry_ended(token)


def _log_retry(problem: str, exc: BaseException, failures: int, delay: float) -> None:
    log.warning(
        "retrying in place",
        extra={
            "problem": problem,
            "attempt": failures,
            "retry_in_s": round(delay, 2),
            "error": redact(str(exc)),
        },
    )
