"""`vpipe workers list` and `vpipe ports`: what is installed and which ports it will use."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from vpipe_core.ops.ports import format_ports, port_table
from vpipe_core.registry import LoadFailure, load_all_workers
from vpipe_core.spec import WorkerSpec

WORKER_COLUMNS = (
    "name",
    "domain",
    "instances",
    "recommended",
    "ports",
    "kind",
    "retry_mode",
    "input_topics",
)
PORT_COLUMNS = ("worker", "domain", "instances", "ports", "overlaps")


@click.group("workers")
def workers_group() -> None:
    """Installed workers (entry-point group `vpipe.workers`)."""


@workers_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_workers(as_json: bool) -> None:
    """List installed workers; exit 1 if any entry point failed to load."""
    specs, failures = load_all_workers()
    rows = [worker_row(spec) for spec in specs]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(render_table(WORKER_COLUMNS, [_worker_cells(row) for row in rows]))
    _report_failures(failures)
    if failures:
        raise click.exceptions.Exit(1)


@click.command("ports")
def ports_cmd() -> None:
    """Show each worker's port range; exit 1 on an overlap or a worker that failed to load."""
    specs, failures = load_all_workers()
    rows = port_table(specs)
    click.echo(render_table(PORT_COLUMNS, [_port_cells(row) for row in rows]))
    overlapping = [row["worker"] for row in rows if row["overlaps"]]
    if overlapping:
        click.echo(f"port ranges overlap for: {', '.join(overlapping)}", err=True)
    _report_failures(failures)
    if overlapping or failures:
        raise click.exceptions.Exit(1)


def worker_row(spec: WorkerSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "domain": spec.domain,
        "instances": spec.max_instances,
        "recommended": spec.recommended_instances,
        "ports": format_ports(spec.port_range),
        "kind": spec.kind.value,
        "retry_mode": spec.retry_mode.value,
        "input_topics": [f"{spec.domain}.retry.*"]
        if spec.consumes_retry_tiers
        else list(spec.input_topics),
    }


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [
        max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
        ).rstrip()

    return "\n".join([line([header.upper() for header in headers]), *(line(row) for row in rows)])


def _worker_cells(row: dict[str, Any]) -> list[str]:
    return [_cell(row[column]) for column in WORKER_COLUMNS]


def _port_cells(row: dict[str, Any]) -> list[str]:
    cells = [_cell(row[column]) for column in PORT_COLUMNS]
    if row["overlaps"]:
        cells[-1] = "OVERLAP: " + cells[-1]
    return cells


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value) or "-"
    return str(value)


def _report_failures(failures: Sequence[LoadFailure]) -> None:
    for failure in failures:
        click.echo(
            f"worker {failure.name!r} ({failure.target}) failed to load: {failure.error}", err=True
        )
