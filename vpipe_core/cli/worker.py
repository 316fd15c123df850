"""`vpipe-worker --name <worker> [--instance N]`: run exactly one worker instance."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--name", "-n", required=True, help="Worker to run, e.g. xact-download.")
@click.option(
    "--instance",
    "-i",
    type=click.IntRange(min=1),
    default=None,
    help="Instance number (1..max); default WORKER_INSTANCE or 1. Sets the metrics port.",
)
@click.option("--group", default=None, help="Consumer group (default: the worker name).")
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Environment file (default VPIPE_ENV_FILE or /opt/kafka-pipeline/config/.env).",
)
def main(name: str, instance: int | None, group: str | None, env_file: Path | None) -> None:
    """Start one vpipe worker in this process.

    The worker is looked up among the installed `vpipe.workers` entry points (`vpipe workers
    list`); only its own modules are imported. Exit code 2 means a configuration error that a
    restart will not fix.
    """
    from vpipe_core.runner import run_worker

    sys.exit(run_worker(name, instance, group, env_file))


if __name__ == "__main__":
    main()
