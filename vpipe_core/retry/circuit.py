"""A thread-safe circuit breaker for calls to one remote service (gauge `vpipe_circuit_state`).

    breaker = CircuitBreaker("acme_api")
    permit = breaker.acquire()          # raises CircuitOpen while the circuit is open
    try:
        answer = call()
    except TransientError:
        breaker.record(permit, ok=False)
        raise
    breaker.record(permit, ok=True)

Closed: `failure_threshold` consecutive failures open it. Open: every call is refused for
`open_s`, then the circuit is half-open. Half-open: at most `half_open_probes` calls go through;
`close_after` successes close it, one failure opens it again. Only failures that say the service
is unwell should be recorded as failures (timeouts, 5xx); an answer such as 404 is a success.

A call's result counts only in the state it started in (each state change starts a new
generation), so a slow call started before the circuit opened cannot close or re-open it.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

import attrs

from vpipe_core.ops import metrics

log = logging.getLogger("vpipe.circuit")


class CircuitState(enum.IntEnum):
    """Values are those of the `vpipe_circuit_state` gauge."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitOpen(Exception):
    """The circuit refused the call; `retry_in_s` is the time left until probes are allowed."""

    def __init__(self, name: str, retry_in_s: float) -> None:
        super().__init__(f"circuit {name} is open")
        self.name = name
        self.retry_in_s = retry_in_s


@attrs.frozen
class Permit:
    """One admitted call; hand it back to `record` or `release`."""

    generation: int
    probe: bool


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        open_s: float = 60.0,
        half_open_probes: int = 3,
        close_after: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min(failure_threshold, half_open_probes, close_after) < 1:
            raise ValueError("circuit thresholds must be at least 1")
        if close_after > half_open_probes:
            raise ValueError("close_after cannot exceed half_open_probes")
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self.half_open_probes = half_open_probes
        self.close_after = close_after
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._failures = 0  # consecutive, while closed
        self._opened_at = 0.0
        self._probes_started = 0
        self._probe_successes = 0
        self._publish()

    @property
    def state(self) -> CircuitState:
        with self._lock:
            self._advance()
            return self._state

    def acquire(self) -> Permit:
        """Admit one call or raise `CircuitOpen`."""
        with self._lock:
            self._advance()
            if self._state is CircuitState.OPEN:
                raise CircuitOpen(self.name, self._open_remaining())
            if self._state is CircuitState.HALF_OPEN:
                if self._probes_started >= self.half_open_probes:
                    raise CircuitOpen(self.name, 0.0)
                self._probes_started += 1
                return Permit(self._generation, probe=True)
            return Permit(self._generation, probe=False)

    def record(self, permit: Permit, *, ok: bool) -> None:
        """The admitted call answered (`ok`) or failed in a way that counts against the service."""
        with self._lock:
            if permit.generation != self._generation:
                return
            if self._state is CircuitState.CLOSED:
                self._failures = 0 if ok else self._failures + 1
                if self._failures >= self.failure_threshold:
                    self._open()
            elif self._state is CircuitState.HALF_OPEN:
                if not ok:
                    self._open()
                    return
                self._probe_successes += 1
                if self._probe_successes >= self.close_after:
                    self._change(CircuitState.CLOSED)

    def release(self, permit: Permit) -> None:
        """The admitted call ended without telling anything about the service (e.g. a bug)."""
        with self._lock:
            if permit.probe and permit.generation == self._generation:
                self._probes_started -= 1

    # -- transitions, under the lock -------------------------------------------------------

    def _advance(self) -> None:
        if self._state is CircuitState.OPEN and self._open_remaining() <= 0:
            self._change(CircuitState.HALF_OPEN)

    def _open_remaining(self) -> float:
        return self._opened_at + self.open_s - self._clock()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._change(CircuitState.OPEN)

    def _change(self, state: CircuitState) -> None:
        if state is CircuitState.OPEN:
            log.warning("circuit %s open: calls refused for %g s", self.name, self.open_s)
        else:
            log.info("circuit %s %s", self.name, state.name.lower().replace("_", "-"))
        self._state = state
        self._generation += 1
        self._failures = 0
        self._probes_started = 0
        self._probe_successes = 0
        self._publish()

    def _publish(self) -> None:
        metrics.circuit_state.labels(self.name).set(int(self._state))
