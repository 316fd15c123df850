"""`vpipe status`: one table of worker instances, one of consumer lag per group and partition."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs
import click

if TYPE_CHECKING:
    from vpipe_core.deploy.status import StatusReport

INSTANCE_COLUMNS = ("worker", "instance", "state", "pid", "port", "health", "ready")
LAG_COLUMNS = (
    "group",
    "topic",
    "partition",
    "committed",
    "lag",
    "lag_seconds",
    "stalled",
    "instance",
)


@click.command("status")
@click.argument("workers", nargs=-1)
@click.option("--domain", "domains", multiple=True, help="Only this domain (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Host of the metrics ports.")
@click.option(
    "--timeout", default=1.0, show_default=True, type=click.FloatRange(0.1, 30), help="Seconds."
)
@click.option("--bootstrap", help="Broker host:port (default KAFKA_BOOTSTRAP_SERVERS).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(
    workers: tuple[str, ...],
    domains: tuple[str, ...],
    host: str,
    timeout: float,
    bootstrap: str | None,
    as_json: bool,
) -> None:
    """Every instance of the installed workers (or of WORKERS): systemd state and main PID,
    /healthz and /readyz from its metrics port, then each consumer group's lag per partition
    as the broker keeps it (committed offset and log end, as kafka-consumer-groups shows) with
    the instance that holds the partition, the age of its oldest unprocessed record as that
    instance reports it, and STALLED when records wait and no commit moved for 5 minutes.

    Exit 1 when an instance that is running is not healthy, a partition is stalled, or the
    broker does not answer."""
    from vpipe_core.deploy.catalogue import CatalogueError, installed_specs
    from vpipe_core.deploy.lag import with_timing
    from vpipe_core.deploy.status import collect_status

    try:
        specs = installed_specs(domains)
    except CatalogueError as exc:
        raise click.ClickException(str(exc)) from exc
    unknown = sorted(set(workers) - {spec.name for spec in specs})
    if unknown:
        raise click.UsageError(f"unknown worker(s): {', '.join(unknown)} (see vpipe workers list)")
    selected = [spec for spec in specs if not workers or spec.name in workers]
    report = collect_status(selected, host, timeout)
    lag = with_timing(_broker_lag(selected, bootstrap, timeout), report.lag)
    report = attrs.evolve(report, lag=lag)
    click.echo(_as_json(report) if as_json else _as_tables(report))
    if report.unhealthy or any(row.stalled for row in report.lag):
        raise click.exceptions.Exit(1)


def _broker_lag(specs: list[Any], bootstrap: str | None, timeout_s: float) -> list[Any]:
    from vpipe_core.cli.broker_probe import unreachable_message
    from vpipe_core.cli.settings_env import core_settings_and_env
    from vpipe_core.deploy.broker_lag import BrokerUnreachable, broker_lags
    from vpipe_core.kafka.clientconf import common_config

    settings, _env = core_settings_and_env(bootstrap)
    groups = sorted({spec.name for spec in specs if spec.input_topics})
    try:
        return broker_lags(common_config(settings), groups, max(timeout_s, 5.0))
    except BrokerUnreachable as exc:
        raise click.ClickException(
            unreachable_message(settings.kafka_bootstrap_servers, exc)
        ) from None


def _as_tables(report: StatusReport) -> str:
    from vpipe_core.cli.workers_cmd import render_table
    from vpipe_core.deploy.lag import total_by_group

    instances = render_table(
        INSTANCE_COLUMNS, [_cells(attrs.asdict(row), INSTANCE_COLUMNS) for row in report.instances]
    )
    if not report.lag:
        return instances + "\n\nconsumer lag: no running consumer reported any"
    lag = render_table(LAG_COLUMNS, [_cells(attrs.asdict(row), LAG_COLUMNS) for row in report.lag])
    totals = ", ".join(f"{group} {total}" for group, total in total_by_group(report.lag).items())
    return f"{instances}\n\n{lag}\n\ntotal lag per group: {totals}"


def _cells(row: dict[str, Any], columns: tuple[str, ...]) -> list[str]:
    return [_cell(column, row[column]) for column in columns]


def _cell(column: str, value: Any) -> str:
    if column == "stalled":
        return "STALLED" if value else ""
    if value is None:
        return "-"
    return f"{value:.0f}" if column == "lag_seconds" else str(value)


def _as_json(report: StatusReport) -> str:
    return json.dumps(
        {
            "instances": [attrs.asdict(row) for row in report.instances],
            "lag": [attrs.asdict(row) for row in report.lag],
        },
        indent=2,
    )
