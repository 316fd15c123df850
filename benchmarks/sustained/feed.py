"""The input schedule (a base rate, then steps up) and one feeder thread per domain that offers
exactly the scheduled number of events, counted per phase."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import attrs

TICK_S = 0.1


@attrs.frozen
class Phase:
    name: str
    rate: float  # events/s per domain
    start_s: float
    end_s: float

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


def schedule(rate: float, duration_s: float, steps: Sequence[float], step_s: float) -> list[Phase]:
    """The base rate for `duration_s`, then `rate * step` for `step_s` each."""
    phases = [Phase("base", rate, 0.0, duration_s)]
    for step in steps:
        start = phases[-1].end_s
        phases.append(Phase(f"x{step:g}", rate * step, start, start + step_s))
    return phases


def due(phases: Sequence[Phase], elapsed_s: float) -> int:
    """Events the schedule has offered by `elapsed_s`."""
    total = 0.0
    for phase in phases:
        total += phase.rate * max(0.0, min(elapsed_s, phase.end_s) - phase.start_s)
    return int(total)


def phase_at(phases: Sequence[Phase], elapsed_s: float) -> Phase:
    for phase in phases:
        if elapsed_s < phase.end_s:
            return phase
    return phases[-1]


class Offering(Protocol):
    """A demo run that can publish new events now (`XactDemoRun`, `ClaimxDemoRun`)."""

    def offer(self, count: int) -> list[str]: ...


class Feeder(threading.Thread):
    """Offers `due(phases, elapsed)` events in all, every tick; `on_offered(keys, when)` is
    called with the raw keys of each batch. `behind_s` is the largest shortfall seen (the feeder
    itself could not keep the schedule)."""

    def __init__(
        self,
        domain: str,
        run: Offering,
        phases: Sequence[Phase],
        started: float,
        on_offered: Callable[[list[str], float], None],
    ) -> None:
        super().__init__(name=f"feed-{domain}", daemon=True)
        self.domain, self._run, self._phases = domain, run, phases
        self._t0, self._on_offered = started, on_offered
        self.offered = 0
        self.by_phase: dict[str, int] = {phase.name: 0 for phase in phases}
        self.behind_s = 0.0
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        end = self._phases[-1].end_s
        try:
            while not self._halt.is_set():
                elapsed = time.time() - self._t0
                self._offer(min(elapsed, end))
                if elapsed >= end:
                    return
                self._halt.wait(TICK_S)
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _offer(self, elapsed: float) -> None:
        count = due(self._phases, elapsed) - self.offered
        if count <= 0:
            return
        when = time.time()
        self._on_offered(self._run.offer(count), when)
        self.offered += count
        self.by_phase[phase_at(self._phases, elapsed).name] += count
        late = time.time() - self._t0 - elapsed
        self.behind_s = max(self.behind_s, late)

    def stop(self) -> None:
        self._halt.set()
