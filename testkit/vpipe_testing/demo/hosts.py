"""Simulated hosts for `vpipe demo --hosts N`: several machines on one.

A host is a set of worker processes with its own `STATE_DIR`, `CACHE_DIR`, `LOG_DIR`, host name
(`HOST_NAME`) and loopback address (`127.0.0.<n>`, where its health and metrics ports listen, so
every host uses the same ports as a real one would). Hosts share only what real hosts share: the
broker, the object store stand-ins and the Delta tables. Every worker type runs one instance on
every host.

`lose_host` does what a dead machine does: every process of the host is SIGKILLed and its
directories are deleted, as a dead disk; nothing of it is started again.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs
import click

POLLER_ACTIVE = "vpipe_poller_active"
Scrape = Callable[[Any], list]  # a worker process -> its (metric, labels, value) samples


@attrs.frozen
class SimulatedHost:
    name: str
    address: str
    root: Path

    def env(self) -> dict[str, str]:
        return {
            "HOST_NAME": self.name,
            "METRICS_BIND_ADDRESS": self.address,
            "STATE_DIR": str(self.root / "state"),
            "CACHE_DIR": str(self.root / "cache"),
            "LOG_DIR": str(self.root / "logs"),
        }


def simulated_hosts(root: Path, count: int) -> list[SimulatedHost]:
    """`count` hosts under `root/hosts/`; one host is the demo's own directory, as before."""
    if count == 1:
        return [SimulatedHost("", "127.0.0.1", root)]
    return [
        SimulatedHost(f"host{n}", f"127.0.0.{n}", root / "hosts" / f"host{n}")
        for n in range(1, count + 1)
    ]


def placement(
    workers: Iterable[tuple[str, int]], hosts: Sequence[SimulatedHost]
) -> list[tuple[SimulatedHost, str, int]]:
    """(host, worker, instance) to start: on one host each worker's demo count; on several, one
    instance of every worker on every host (instance 1: each host has its own ports)."""
    if len(hosts) == 1:
        return [(hosts[0], name, n) for name, count in workers for n in range(1, count + 1)]
    return [(host, name, 1) for name, _ in workers for host in hosts]


def host_of_active_poller(
    hosts: Sequence[SimulatedHost], workers: Sequence[Any], scrape: Callable[[Any], list]
) -> tuple[SimulatedHost, int]:
    """The host with the most active pollers, and how many it has (the first host, 0, when no
    poller says it is active)."""
    active: dict[str, int] = {}
    for worker in workers:
        for name, _labels, value in scrape(worker):
            if name == POLLER_ACTIVE and value >= 1:
                active[worker.host] = active.get(worker.host, 0) + 1
    if not active:
        return hosts[0], 0
    chosen = max(active, key=lambda host: active[host])
    return next(host for host in hosts if host.name == chosen), active[chosen]


def lose_host(host: SimulatedHost, workers: list[Any], pollers: int) -> int:
    """SIGKILL every process of `host` (where `pollers` pollers are active), forget them,
    delete its directories; the count killed."""
    victims = [w for w in workers if w.host == host.name]
    for worker in victims:
        worker.signal(signal.SIGKILL)
    for worker in victims:
        worker.wait(10)
        worker.close_output()
        workers.remove(worker)
    shutil.rmtree(host.root, ignore_errors=True)
    click.echo(
        f"host lost    {host.name} ({pollers} active poller(s)): {len(victims)} processes "
        f"SIGKILLed, {host.root} deleted (a dead disk); nothing of it restarts"
    )
    return len(victims)


ASSIGNED = "vpipe_assigned_partitions"


def assigned(workers: Sequence[Any], scrape: Scrape) -> dict[str, int]:
    """Partitions assigned, per worker type, summed over its live instances."""
    totals: dict[str, int] = {}
    for worker in workers:
        for name, labels, value in scrape(worker):
            if name == ASSIGNED:
                totals[labels["worker"]] = totals.get(labels["worker"], 0) + int(value)
    return totals


def wait_until(done: Callable[[], bool], what: str, timeout_s: float = 120.0) -> float:
    """Seconds until `done()`; TimeoutError naming `what` after `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if done():
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"{what} not within {timeout_s:.0f} s")


class HostSpawn(Protocol):
    """Starts an instance of a worker on a host (the first host when None)."""

    def __call__(self, name: str, instance: int, host: SimulatedHost | None = None) -> Any: ...


class HostLoss:
    """Loses the host of the active poller once every scenario has its first rows written (the
    rest is in flight), reports how long the takeover took, then feeds duplicates of events
    already handled."""

    def __init__(
        self,
        hosts: Sequence[SimulatedHost],
        pollers: int,
        runs: Sequence[tuple[str, Any]],
        scrape: Scrape,
        duplicates: int = 40,
    ) -> None:
        self.pending = True
        self.failure: str | None = None  # a takeover that did not happen in time
        self._hosts, self._pollers, self._runs, self._scrape = hosts, pollers, runs, scrape
        self._duplicates = duplicates

    def tick(self, accountings: Sequence[Any], workers: list[Any]) -> None:
        if not self.pending or not all(a.written for a in accountings):
            return
        self.pending = False
        victim, pollers = host_of_active_poller(self._hosts, workers, self._scrape)
        before = assigned(workers, self._scrape)
        lose_host(victim, workers, pollers)
        try:
            seconds = wait_until(
                lambda: assigned(workers, self._scrape) == before,
                f"every partition {victim.name} held assigned on the surviving hosts",
            )
            click.echo(f"took over    every partition {victim.name} held, after {seconds:.1f} s")
            seconds = wait_until(
                lambda: self._active_pollers(workers) >= self._pollers,
                f"{self._pollers} active poller(s) on the surviving hosts",
            )
        except TimeoutError as exc:
            self.failure = str(exc)
            click.echo(f"NOT TAKEN OVER {exc}", err=True)
            return
        click.echo(f"took over    {self._pollers} poller(s) active again after {seconds:.1f} s")
        for name, run in self._runs:
            feed = getattr(run, "feed_duplicates", None)
            if feed is not None:
                fed = feed(self._duplicates)
                click.echo(f"fed          {name}: {fed} duplicates of events already handled")

    def _active_pollers(self, workers: list[Any]) -> float:
        samples = (sample for worker in workers for sample in self._scrape(worker))
        return sum(value for name, _labels, value in samples if name == POLLER_ACTIVE)
