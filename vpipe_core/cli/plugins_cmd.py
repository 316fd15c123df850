"""``vpipe plugins list|doctor``: what is installed, and what is broken."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from vpipe_core.plugins.doctor import doctor
from vpipe_core.plugins.manager import load_plugins
from vpipe_core.plugins.plugin_set import LoadedPlugin

DEFAULT_CONFIG_DIR = Path("/opt/kafka-pipeline/config/plugins")


def plugin_config_dir() -> Path:
    """``VPIPE_PLUGIN_CONFIG_DIR``, default ``/opt/kafka-pipeline/config/plugins``."""
    return Path(os.environ.get("VPIPE_PLUGIN_CONFIG_DIR") or DEFAULT_CONFIG_DIR)


def selected_plugins() -> tuple[str, ...] | None:
    """``VPIPE_PLUGINS`` as names (comma-separated); unset or empty means every plugin."""
    names = tuple(
        name.strip() for name in os.environ.get("VPIPE_PLUGINS", "").split(",") if name.strip()
    )
    return names or None


@click.group("plugins")
def plugins_group() -> None:
    """Installed enrichment plugins (entry-point group vpipe.plugins)."""


@plugins_group.command("list")
def list_command() -> None:
    """Show the loaded plugins in run order (broken ones: see `vpipe plugins doctor`)."""
    with load_plugins(
        selected=selected_plugins(), strict=False, config_dir=plugin_config_dir()
    ) as plugin_set:
        plugins = [*plugin_set.plugins, *plugin_set.disabled]
        problems = plugin_set.problems
    header = ("NAME", "VERSION", "DOMAINS", "STAGES", "EVENT TYPES", "PRIORITY", "ENABLED")
    _echo_table(header, [_list_row(plugin) for plugin in plugins])
    if problems:
        click.echo(
            f"{len(problems)} plugin(s) could not be loaded; run `vpipe plugins doctor`", err=True
        )


@plugins_group.command("doctor")
def doctor_command() -> None:
    """Check every installed plugin and config file; exit 1 when any is broken."""
    rows = doctor(config_dir=plugin_config_dir(), selected=selected_plugins())
    header = ("NAME", "VERSION", "STATUS", "DETAIL")
    _echo_table(header, [(row.name, row.version, row.status, row.detail) for row in rows])
    broken = [row.name for row in rows if row.status != "ok"]
    if broken:
        click.echo(f"{len(broken)} broken: {', '.join(broken)}", err=True)
        raise SystemExit(1)
    click.echo(f"{len(rows)} plugin(s) ok")


def _list_row(plugin: LoadedPlugin) -> tuple[str, ...]:
    info = plugin.info
    return (
        plugin.name,
        info.version,
        _names(info.domains),
        _names(info.stages),
        _names(info.event_types),
        str(plugin.priority),
        "yes" if plugin.enabled else "no",
    )


def _names(names: Sequence[str]) -> str:
    return ",".join(names) or "*"


def _echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
