"""The port table of docs/DEPLOYMENT.md: one row per worker, in `vpipe ports` order."""

from __future__ import annotations

from collections.abc import Iterable

from vpipe_core.deploy.units import unit_name
from vpipe_core.ops.ports import format_ports
from vpipe_core.spec import WorkerSpec

BEGIN = "<!-- port table: rendered by `vpipe deploy port-table`, do not edit -->"
END = "<!-- end of port table -->"
HEADERS = ("worker", "domain", "max instances", "metrics ports", "unit", "MemoryMax", "CPUQuota")


def render_port_table(specs: Iterable[WorkerSpec]) -> str:
    """A Markdown table between the BEGIN and END markers."""
    ordered = sorted(specs, key=lambda spec: (spec.port_base, spec.name))
    rows = [_row(spec) for spec in ordered]
    lines = [_line(HEADERS), _line(["---"] * len(HEADERS)), *(_line(row) for row in rows)]
    return "\n".join([BEGIN, *lines, END])


def embedded_port_table(document: str) -> str | None:
    """The table block (markers included) found in `document`, or None."""
    start = document.find(BEGIN)
    end = document.find(END, start)
    if start < 0 or end < 0:
        return None
    return document[start : end + len(END)]


def _row(spec: WorkerSpec) -> list[str]:
    return [
        f"`{spec.name}`",
        spec.domain,
        str(spec.max_instances),
        format_ports(spec.port_range),
        f"`{unit_name(spec)}`",
        spec.memory_max,
        spec.cpu_quota,
    ]


def _line(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"
