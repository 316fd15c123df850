"""Metrics/health ports: instance N of a worker listens on `port_base + N - 1` (runtime.md §10).

A worker refuses to start on an instance outside 1..max_instances, on a port range that overlaps
another installed worker's range, or on a port above 65535; it never falls back to another port.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from vpipe_core.spec import WorkerSpec

HIGHEST_PORT = 65535


class PortConflict(Exception):
    """A worker instance cannot get its own, predictable port."""


def format_span(ports: range) -> str:
    """`8000-8009`, always with both ends (used in error messages)."""
    return f"{ports.start}-{ports.stop - 1}"


def format_ports(ports: range) -> str:
    """`8000-8009` for a range, `8100` for a single port (used in tables)."""
    return str(ports.start) if len(ports) == 1 else format_span(ports)


def ranges_overlap(first: range, second: range) -> bool:
    return first.start < second.stop and second.start < first.stop


def find_overlaps(specs: Iterable[WorkerSpec]) -> list[tuple[WorkerSpec, WorkerSpec]]:
    """Every pair of workers whose port ranges share a port, each pair ordered by name."""
    ordered = sorted(specs, key=lambda spec: spec.name)
    return [
        (first, second)
        for first, second in itertools.combinations(ordered, 2)
        if ranges_overlap(first.port_range, second.port_range)
    ]


def check_ports(spec: WorkerSpec, instance: int, all_specs: Iterable[WorkerSpec]) -> int:
    """Return the port of `instance` of `spec`, or raise `PortConflict` explaining why not."""
    _check_instance(spec, instance)
    _check_no_overlap(spec, all_specs)
    port = spec.port_for(instance)
    if port > HIGHEST_PORT:
        raise PortConflict(
            f"worker {spec.name!r} instance {instance} would use port {port}, "
            f"above {HIGHEST_PORT}; lower its port_base ({spec.port_base})"
        )
    return port


def port_table(specs: Iterable[WorkerSpec]) -> list[dict[str, Any]]:
    """One row per worker, ordered by port: worker, domain, instances, ports, overlaps (names)."""
    spec_list = list(specs)
    overlapping: dict[str, list[str]] = {spec.name: [] for spec in spec_list}
    for first, second in find_overlaps(spec_list):
        overlapping[first.name].append(second.name)
        overlapping[second.name].append(first.name)
    return [
        {
            "worker": spec.name,
            "domain": spec.domain,
            "instances": spec.max_instances,
            "ports": format_ports(spec.port_range),
            "overlaps": sorted(overlapping[spec.name]),
        }
        for spec in sorted(spec_list, key=lambda spec: (spec.port_base, spec.name))
    ]


def _check_instance(spec: WorkerSpec, instance: int) -> None:
    if not 1 <= instance <= spec.max_instances:
        raise PortConflict(
            f"worker {spec.name!r} has no instance {instance}: instances are "
            f"1..{spec.max_instances} (max_instances={spec.max_instances})"
        )


def _check_no_overlap(spec: WorkerSpec, all_specs: Iterable[WorkerSpec]) -> None:
    for other in sorted(all_specs, key=lambda other: other.name):
        if other.name != spec.name and ranges_overlap(spec.port_range, other.port_range):
            raise PortConflict(
                f"port range of {spec.name!r} ({format_span(spec.port_range)}) overlaps "
                f"{other.name!r} ({format_span(other.port_range)}); "
                f"give one a different port_base"
            )
