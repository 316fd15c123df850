"""`vpipe-worker --name <worker> [--instance N]`: run exactly one worker instance."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--name", "-n", required=True, help="Worker to run, e.g. acme-download.")
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
@click.option(
    "--backfill-from",
    metavar="ISO",
    default=None,
    help="Pollers: re-read the Eventhouse from this ingestion time (with --backfill-to).",
)
@click.option(
    "--backfill-to",
    metavar="ISO",
    default=None,
    help="Pollers: ... up to this ingestion time, included; then exit 0. Own cursor file.",
)
def main(
    name: str,
    instance: int | None,
    group: str | None,
    env_file: Path | None,
    backfill_from: str | None,
    backfill_to: str | None,
) -> None:
    """Start one vpipe worker in this process.

    The worker is looked up among the installed `vpipe.workers` entry points (`vpipe workers
    list`); only its own modules are imported. Exit code 2 means a configuration error that a
    restart will not fix.

    With --backfill-from/--backfill-to a poller pages its Eventhouse table over that closed
    window once, next to the running service (own cursor file, no metrics port), and exits 0.
    """
    from vpipe_core.runner import run_worker

    backfill = None
    if backfill_from is not None or backfill_to is not None:
        from vpipe_core.eventsource.backfill import BackfillWindow

        if backfill_from is None or backfill_to is None:
            raise click.UsageError("--backfill-from and --backfill-to go together")
        try:
            backfill = BackfillWindow.parse(backfill_from, backfill_to)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    sys.exit(run_worker(name, instance, group, env_file, backfill))


if __name__ == "__main__":
    main()
