"""`vpipe`: operations commands. Subcommands import their modules lazily to keep `--help` fast."""

from __future__ import annotations

import importlib
from typing import Any

import click

# command name -> ("module:attribute" of a click command or group, one-line summary for --help)
SUBCOMMANDS = {
    "config": ("vpipe_core.cli.config_cmd:config", "Check or show the effective configuration."),
    "demo": (  # from the test kit, vpipe-testing
        "vpipe_testing.demo.command:demo",
        "Run the pipeline on a local broker and stand-ins.",
    ),
    "deploy": (
        "vpipe_core.cli.deploy_cmd:deploy_group",
        "Render systemd units, env template, port table, constraints.",
    ),
    "dlq": ("vpipe_core.cli.dlq_cmd:dlq", "List, show, replay or purge dead-lettered records."),
    "plugins": (
        "vpipe_core.cli.plugins_cmd:plugins_group",
        "List installed enrichment plugins, or diagnose broken ones.",
    ),
    "ports": (
        "vpipe_core.cli.workers_cmd:ports_cmd",
        "Show each worker's metrics port range and any overlap.",
    ),
    "status": (
        "vpipe_core.cli.status_cmd:status",
        "Worker instances (state, health) and consumer lag per partition.",
    ),
    "tables": (
        "vpipe_core.cli.tables_cmd:tables",
        "Delta table health; compact, checkpoint or vacuum them.",
    ),
    "trace": (
        "vpipe_core.cli.trace_cmd:trace",
        "Follow one event through topics, DLQ, tables and logs.",
    ),
    "topics": (
        "vpipe_core.cli.topics_cmd:topics",
        "Create or list the topics the installed workers declare.",
    ),
    "workers": ("vpipe_core.cli.workers_cmd:workers_group", "List the installed workers."),
}

# top-level package of a command's module -> the distribution to install when it is missing
PROVIDED_BY = {"vpipe_testing": "vpipe-testing"}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Any:
        if cmd_name not in SUBCOMMANDS:
            return None
        module_name, _, attr = SUBCOMMANDS[cmd_name][0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            package = module_name.partition(".")[0]
            if exc.name != package or package not in PROVIDED_BY:
                raise
            return _not_installed(cmd_name, PROVIDED_BY[package])
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, SUBCOMMANDS[name][1]) for name in sorted(SUBCOMMANDS)])


def _not_installed(cmd_name: str, distribution: str) -> click.Command:
    """A placeholder that says which distribution provides `cmd_name`, whatever its arguments."""

    def explain() -> None:
        raise click.ClickException(
            f"`vpipe {cmd_name}` is part of {distribution}, which is not installed: "
            f"pip install {distribution} (in a checkout: python3 run.py {cmd_name})"
        )

    return click.Command(
        cmd_name,
        callback=explain,
        help=SUBCOMMANDS[cmd_name][1],
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def print_versions(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from vpipe_core.deploy.versions import installed_versions

    for name, version in installed_versions().items():
        click.echo(f"{name} {version}")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=print_versions,
    help="Print the version of vpipe-core and of every installed vpipe package, and exit.",
)
def main() -> None:
    """vpipe: Kafka worker pipelines for claims data.

    Start a worker with `vpipe-worker --name <worker>`; these commands operate the pipeline.
    """


if __name__ == "__main__":
    main()
