"""`vpipe status`: every worker instance (systemd state, health from its port) and consumer lag.

Instances shown: every single-instance worker, and each template instance that systemd has
loaded or whose port answers; a template worker with neither gets one "not running" row.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import attrs

from vpipe_core.deploy.lag import PartitionLag, partition_lags
from vpipe_core.deploy.probe import Probe, probe
from vpipe_core.deploy.systemd import UnitState, loaded_units, unit_states
from vpipe_core.deploy.units import UNIT_PREFIX, unit_name
from vpipe_core.spec import WorkerSpec

PROBE_THREADS = 32
UNKNOWN = "-"


@attrs.frozen
class InstanceStatus:
    worker: str
    instance: int | None  # None: a template worker with no instance loaded or answering
    unit: str
    state: str  # "active/running", "failed/failed", ...; "-" when systemd does not know it
    pid: int | None
    port: int | None
    health: str  # ok, stalled, no answer, "-" (not running)
    ready: str  # ready, the not-ready reasons, no answer, "-"

    @property
    def running(self) -> bool:
        return self.state.startswith(("active/", "activating/", "reloading/")) or self.health in (
            "ok",
            "stalled",
        )


@attrs.frozen
class StatusReport:
    instances: list[InstanceStatus]
    lag: list[PartitionLag]

    @property
    def unhealthy(self) -> list[InstanceStatus]:
        return [row for row in self.instances if row.running and row.health != "ok"]


def collect_status(specs: Sequence[WorkerSpec], host: str, timeout_s: float) -> StatusReport:
    candidates = [(spec, number) for spec in specs for number in range(1, spec.max_instances + 1)]
    probes = _probe_all(candidates, host, timeout_s)
    loaded = set(loaded_units([_instances_pattern(spec) for spec in specs if spec.multi_instance]))
    shown = [
        (spec, number)
        for spec, number in candidates
        if not spec.multi_instance
        or probes[(spec.name, number)].answered
        or _instance_unit(spec, number) in loaded
    ]
    states = unit_states([_instance_unit(spec, number) for spec, number in shown])
    rows = [_row(spec, number, states, probes[(spec.name, number)]) for spec, number in shown]
    rows += [_not_running(spec) for spec in specs if not any(s is spec for s, _ in shown)]
    rows.sort(key=lambda row: (row.worker, row.instance or 0))
    lag = [
        lag_row
        for spec, number in shown
        if (text := probes[(spec.name, number)].metrics) is not None
        for lag_row in partition_lags(text, f"{spec.name}-{number}")
    ]
    return StatusReport(rows, sorted(lag, key=lambda r: (r.group, r.topic, r.partition)))


def _probe_all(
    candidates: Sequence[tuple[WorkerSpec, int]], host: str, timeout_s: float
) -> dict[tuple[str, int], Probe]:
    with ThreadPoolExecutor(max_workers=PROBE_THREADS) as pool:
        futures = {
            (spec.name, number): pool.submit(probe, host, spec.port_for(number), timeout_s)
            for spec, number in candidates
        }
    return {key: future.result() for key, future in futures.items()}


def _row(
    spec: WorkerSpec, number: int, states: dict[str, UnitState], answer: Probe
) -> InstanceStatus:
    unit = _instance_unit(spec, number)
    state = states.get(unit)
    return InstanceStatus(
        worker=spec.name,
        instance=number,
        unit=unit,
        state=state.text if state else UNKNOWN,
        pid=state.pid if state and state.pid else None,
        port=spec.port_for(number),
        health=answer.health if answer.answered or _active(state) else UNKNOWN,
        ready=answer.ready if answer.answered or _active(state) else UNKNOWN,
    )


def _not_running(spec: WorkerSpec) -> InstanceStatus:
    return InstanceStatus(spec.name, None, unit_name(spec), "not running", None, None, "-", "-")


def _active(state: UnitState | None) -> bool:
    return state is not None and state.active == "active"


def _instance_unit(spec: WorkerSpec, number: int) -> str:
    if spec.multi_instance:
        return f"{UNIT_PREFIX}{spec.name}@{number}.service"
    return unit_name(spec)


def _instances_pattern(spec: WorkerSpec) -> str:
    return f"{UNIT_PREFIX}{spec.name}@*.service"
