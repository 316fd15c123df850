"""What `vpipe demo` does to itself on a schedule: SIGKILL worker instances, SIGKILL the broker,
and move partitions by adding and removing instances.

- every `kill_interval_s`: a random worker instance is SIGKILLed and started again;
- `broker_kills` times, `broker_gap_s` apart: the broker is SIGKILLed and started again on the
  same log directory (Apache Kafka only: the memory-only broker would lose every topic);
- with `scale`: each multi-instance worker goes from its demo count to three instances, then
  down to one, then back (SIGTERM, as systemd stops a unit), so its partitions move twice.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from typing import Any, Protocol

import click

Spawn = Callable[[str, int], Any]  # (worker name, instance) -> a started WorkerProcess


class RestartableBroker(Protocol):
    def kill(self) -> None: ...

    def start(self) -> Any: ...


class Chaos:
    def __init__(
        self,
        seed: int,
        kill_interval_s: float = 0.0,
        broker: RestartableBroker | None = None,
        broker_kills: int = 0,
        broker_gap_s: float = 12.0,
        scale: bool = False,
        scale_gap_s: float = 8.0,
    ) -> None:
        self.kills = 0
        self.broker_kills = 0
        self._rng = random.Random(seed)
        self._kill_interval_s = kill_interval_s
        self._broker = broker
        self._broker_plan = [broker_gap_s * (n + 1) for n in range(broker_kills if broker else 0)]
        self._scale_plan = [scale_gap_s, 2 * scale_gap_s, 3 * scale_gap_s] if scale else []
        self._scalable: set[str] | None = None
        self._started: float | None = None
        self._next_kill = 0.0

    @property
    def pending(self) -> bool:
        """Broker kills or scaling steps still to come (the demo runs until they are done)."""
        return bool(self._broker_plan or self._scale_plan)

    def tick(self, workers: list[Any], spawn: Spawn) -> None:
        """Do whatever is due; `workers` is the demo's live list (scaling edits it)."""
        now = time.monotonic()
        if self._started is None:
            self._started = now
            self._next_kill = now + self._kill_interval_s
        elapsed = now - self._started
        if self._kill_interval_s and now >= self._next_kill and workers:
            self._next_kill = now + self._kill_interval_s
            self._kill_one(workers)
        if self._broker_plan and elapsed >= self._broker_plan[0]:
            self._broker_plan.pop(0)
            self._kill_broker()
        if self._scale_plan and elapsed >= self._scale_plan[0]:
            step = 3 - len(self._scale_plan)
            self._scale_plan.pop(0)
            if self._scalable is None:
                self._scalable = {w.name for w in workers if w.instance > 1}
            _scale(workers, spawn, self._scalable, target=(3, 1, 2)[step])

    def _kill_one(self, workers: list[Any]) -> None:
        victim = self._rng.choice(workers)
        victim.signal(signal.SIGKILL)
        victim.wait(10)
        victim.start()
        self.kills += 1
        click.echo(f"chaos        killed {victim.name}-{victim.instance} with SIGKILL; restarted")

    def _kill_broker(self) -> None:
        assert self._broker is not None
        self._broker.kill()
        self.broker_kills += 1
        click.echo("chaos        killed the broker with SIGKILL")
        time.sleep(2.0)
        started = time.monotonic()
        self._broker.start()
        click.echo(
            f"chaos        broker restarted on its log dir in {time.monotonic() - started:.1f} s"
        )


def _scale(workers: list[Any], spawn: Spawn, names: set[str], target: int) -> None:
    """Bring every worker of `names` to `target` instances."""
    for name in sorted(names):
        running = sorted((w for w in workers if w.name == name), key=lambda w: w.instance)
        while len(running) > target:
            leaving = running.pop()
            leaving.stop()
            workers.remove(leaving)
        while len(running) < target:
            joining = spawn(name, len(running) + 1)
            running.append(joining)
            workers.append(joining)
    click.echo(f"chaos        scaled every multi-instance worker to {target} instance(s)")
