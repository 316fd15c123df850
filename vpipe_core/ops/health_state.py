"""What `/healthz` and `/readyz` report: updated by the processing loop, read by the HTTP server."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

import attrs

log = logging.getLogger("vpipe.health")


@attrs.define
class HealthState:
    """Thread-safe enough: single writer (the loop), plain float/int/bool reads by the server."""

    stall_seconds: float = 60.0
    broker_check_seconds: float = 30.0
    inplace_alert_seconds: float = 300.0
    needs_partitions: bool = True
    last_progress: float = attrs.field(factory=time.monotonic)
    broker_ok_at: float = 0.0
    assigned: int = 0
    inplace_retry_since: float | None = None
    starting: bool = True
    detail: str | None = None  # said by a ready /readyz, e.g. "standby" for a waiting poller
    extra_reasons: set[str] = attrs.field(factory=set)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)
    # In-place retries that concurrent handlers run in their own threads: token -> since.
    _handler_retries: dict[int, float] = attrs.field(factory=dict, repr=False)
    _tokens: itertools.count[int] = attrs.field(factory=itertools.count, repr=False)
    _probes: list[Callable[[], object]] = attrs.field(factory=list, repr=False)

    def progressed(self) -> None:
        self.last_progress = time.monotonic()

    def broker_answered(self) -> None:
        self.broker_ok_at = time.monotonic()

    def set_reason(self, reason: str, active: bool) -> None:
        with self._lock:
            if active:
                self.extra_reasons.add(reason)
            else:
                self.extra_reasons.discard(reason)

    def add_probe(self, probe: Callable[[], object]) -> None:
        """Run `probe` before each readiness answer, so a reason it sets (e.g. `disk_full`) is
        current also while no work runs that would check it. Probes must be cheap."""
        self._probes.append(probe)

    def handler_retry_started(self) -> int:
        """A handler thread starts retrying a record in place; pass the token to `..._ended`."""
        with self._lock:
            token = next(self._tokens)
            self._handler_retries[token] = time.monotonic()
        return token

    def handler_retry_ended(self, token: int) -> None:
        with self._lock:
            self._handler_retries.pop(token, None)

    def inplace_since(self) -> float | None:
        """Since when something retries in place: the loop, or a handler thread."""
        with self._lock:
            started = [*self._handler_retries.values()]
        if self.inplace_retry_since is not None:
            started.append(self.inplace_retry_since)
        return min(started, default=None)

    def stalled_for(self, now: float | None = None) -> float:
        return max(0.0, (now or time.monotonic()) - self.last_progress)

    def healthy(self) -> bool:
        return self.stalled_for() <= self.stall_seconds

    def not_ready_reasons(self) -> list[str]:
        self._run_probes()
        now = time.monotonic()
        reasons: list[str] = []
        if self.starting:
            reasons.append("startup_retry")
        if self.needs_partitions and self.assigned == 0:
            reasons.append("no_partitions")
        if now - self.broker_ok_at > self.broker_check_seconds:
            reasons.append("broker_unreachable")
        since = self.inplace_since()
        if since is not None and now - since > self.inplace_alert_seconds:
            reasons.append("inplace_retry")
        with self._lock:
            reasons.extend(sorted(self.extra_reasons))
        return reasons

    def _run_probes(self) -> None:
        for probe in self._probes:
            try:
                probe()
            except Exception:  # a broken probe must not break the health endpoint
                log.warning("readiness probe failed", exc_info=True)
