"""What `/healthz` and `/readyz` report: updated by the processing loop, read by the HTTP server."""

from __future__ import annotations

import threading
import time

import attrs


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
    extra_reasons: set[str] = attrs.field(factory=set)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

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

    def stalled_for(self, now: float | None = None) -> float:
        return max(0.0, (now or time.monotonic()) - self.last_progress)

    def healthy(self) -> bool:
        return self.stalled_for() <= self.stall_seconds

    def not_ready_reasons(self) -> list[str]:
        now = time.monotonic()
        reasons: list[str] = []
        if self.starting:
            reasons.append("startup_retry")
        if self.needs_partitions and self.assigned == 0:
            reasons.append("no_partitions")
        if now - self.broker_ok_at > self.broker_check_seconds:
            reasons.append("broker_unreachable")
        since = self.inplace_retry_since
        if since is not None and now - since > self.inplace_alert_seconds:
            reasons.append("inplace_retry")
        with self._lock:
            reasons.extend(sorted(self.extra_reasons))
        return reasons
