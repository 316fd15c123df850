"""`vpipe tables status|optimize|checkpoint|vacuum|maintain`: the declared Delta tables' health and
maintenance by hand (the `<domain>-table-maintenance` workers run the same on a schedule)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vpipe_core.tables.declared import Target
    from vpipe_core.tables.health import TableHealth
    from vpipe_core.tables.maintainer import Maintainer

_table_option = click.option(
    "--table",
    "names",
    multiple=True,
    metavar="NAME",
    help="Only this table (repeatable); default every declared table whose URI is set.",
)
_domain_option = click.option("--domain", help="Only this domain's tables.")
_dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Say what would be done; change nothing."
)


@click.group("tables")
def tables() -> None:
    """Health and maintenance of the Delta tables every installed domain declares.

    Tables are found through the URI settings their domains name (`vpipe tables status` lists
    them, set or not) in the same environment the workers read; the TABLES_* settings give the
    thresholds (docs/DEPLOYMENT.md, "Table maintenance"). Everything here is safe while the
    writers write.
    """


@tables.command("status")
@_domain_option
@_table_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per table.")
def status(domain: str | None, names: tuple[str, ...], as_json: bool) -> None:
    """Files, small files, mean file size, commits since the last checkpoint, pending vacuum,
    last optimize/vacuum, table version, and what maintenance is due."""
    with _maintainer() as maintainer:
        for target in _targets(domain, names, configured_only=False):
            if target.uri is None:
                _say(as_json, target, {"configured": False, "setting": target.table.uri_setting})
                continue
            health = _progress(target, "reading", maintainer.health, target)
            if health is None:
                _say(as_json, target, {"exists": False})
                continue
            due = maintainer.due(target, health)
            _say(as_json, target, _status_fields(health, due))


@tables.command("optimize")
@_domain_option
@_table_option
@_dry_run_option
@click.option(
    "--max-partitions",
    type=click.IntRange(1),
    help="Partitions per table, worst first (default TABLES_COMPACT_MAX_PARTITIONS).",
)
def optimize(
    domain: str | None, names: tuple[str, ...], dry_run: bool, max_partitions: int | None
) -> None:
    """Compact the partitions holding TABLES_COMPACT_MIN_SMALL_FILES small files or more,
    z-ordered where the table declares it."""
    from vpipe_core.tables.health import compaction_candidates

    with _maintainer() as maintainer:
        limit = max_partitions or maintainer.settings.compact_max_partitions
        for target in _targets(domain, names):
            health = _progress(target, "reading", maintainer.health, target)
            if health is None:
                click.echo(f"{target.table.name}: not created yet")
                continue
            partitions = compaction_candidates(health, maintainer.settings)[:limit]
            if dry_run or not partitions:
                verb = "would compact" if partitions else "nothing to compact in"
                click.echo(f"{target.table.name}: {verb} {_partitions_text(partitions)}")
                continue
            result = _progress(target, "compacting", maintainer.compact, target, partitions)
            click.echo(
                f"{target.table.name}: {result['partitions']} partition(s), "
                f"{result['files_removed']} files rewritten into {result['files_added']}"
            )


@tables.command("checkpoint")
@_domain_option
@_table_option
@_dry_run_option
def checkpoint(domain: str | None, names: tuple[str, ...], dry_run: bool) -> None:
    """Set the declared log properties, write a checkpoint, remove expired log entries, and
    verify the checkpoint is the one the log names."""
    with _maintainer() as maintainer:
        for target in _targets(domain, names):
            if dry_run:
                health = _progress(target, "reading", maintainer.health, target)
                if health is None:
                    click.echo(f"{target.table.name}: not created yet")
                    continue
                click.echo(
                    f"{target.table.name}: would checkpoint version {health.version} "
                    f"({health.commits_since_checkpoint} commits since the last)"
                )
                continue
            result = _progress(target, "checkpointing", maintainer.checkpoint, target)
            click.echo(
                f"{target.table.name}: checkpoint at version {result['version']}, log files "
                f"{result['log_files_before']} -> {result['log_files_after']}"
                + (
                    f", set {', '.join(result['properties_set'])}"
                    if result["properties_set"]
                    else ""
                )
            )


@tables.command("vacuum")
@_domain_option
@_table_option
@_dry_run_option
@click.option(
    "--retention-hours",
    type=click.IntRange(0),
    help="Keep files removed less than this long ago (default TABLES_VACUUM_RETENTION_HOURS).",
)
@click.option(
    "--force", is_flag=True, help="Allow a retention under 168 h (nothing may read or write)."
)
@click.option("--lite", is_flag=True, help="Only removed files, not never-committed ones.")
def vacuum(
    domain: str | None,
    names: tuple[str, ...],
    dry_run: bool,
    retention_hours: int | None,
    force: bool,
    lite: bool,
) -> None:
    """Delete the files removed from the table longer ago than the retention and, unless
    --lite, files no commit references (a writer killed mid-write) older than it."""
    from vpipe_core.tables.maintainer import RetentionTooShort

    with _maintainer() as maintainer:
        for target in _targets(domain, names):
            try:
                files = _progress(
                    target,
                    "vacuuming",
                    lambda t=target: maintainer.vacuum(
                        t, dry_run, retention_hours, force, not lite
                    ),
                )
            except RetentionTooShort as exc:
                raise click.UsageError(str(exc)) from None
            verb = "would delete" if dry_run else "deleted"
            click.echo(f"{target.table.name}: {verb} {len(files)} file(s)")
            for path in files if dry_run else ():
                click.echo(f"  {path}")


@tables.command("maintain")
@_domain_option
@_table_option
def maintain(domain: str | None, names: tuple[str, ...]) -> None:
    """One pass of what the maintenance worker does: run whatever is due on each table."""
    with _maintainer() as maintainer:
        for target in _targets(domain, names):
            ran = _progress(target, "maintaining", maintainer.run_due, target)
            click.echo(f"{target.table.name}: {json.dumps(ran) if ran else 'nothing due'}")


@contextmanager
def _maintainer() -> Iterator[Maintainer]:
    from vpipe_core.config.environment import effective_environment
    from vpipe_core.config.loader import ConfigError, load_settings
    from vpipe_core.delta.errors import DeltaWriteError
    from vpipe_core.tables.maintainer import Maintainer, NotConfigured
    from vpipe_core.tables.settings import TableSettings

    try:
        env = dict(effective_environment())
        maintainer = Maintainer(load_settings(TableSettings, env), env)
    except ConfigError as exc:
        click.echo(f"configuration error:\n{exc}", err=True)
        sys.exit(2)
    try:
        yield maintainer
    except (DeltaWriteError, NotConfigured) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        maintainer.close()


def _targets(
    domain: str | None, names: tuple[str, ...], configured_only: bool = True
) -> list[Target]:
    from vpipe_core.config.environment import effective_environment
    from vpipe_core.tables.declared import UnknownTable, targets

    try:
        found = targets(effective_environment(), domain, names)
    except UnknownTable as exc:
        raise click.UsageError(str(exc)) from None
    unset = [t for t in found if t.uri is None]
    if configured_only:
        for target in unset:
            if names:
                raise click.UsageError(
                    f"{target.table.name}: {target.table.uri_setting} is not set"
                )
        found = [t for t in found if t.uri is not None]
    if not found:
        settings = (
            ", ".join(sorted(t.table.uri_setting for t in unset)) or "(no domain declares any)"
        )
        raise click.UsageError(f"no table to work on: none of these settings is set: {settings}")
    return found


def _progress(target: Target, doing: str, call: Callable[..., Any], *args: Any) -> Any:
    click.echo(f"{doing} {target.table.name} …", err=True)
    started = time.monotonic()
    result = call(*args)
    click.echo(f"  {time.monotonic() - started:.1f} s", err=True)
    return result


def _status_fields(health: TableHealth, due: Any) -> dict[str, Any]:
    return {
        "version": health.version,
        "files": health.files,
        "small_files": health.small_files,
        "mean_file_bytes": health.mean_file_bytes,
        "bytes": health.bytes,
        "commits_since_checkpoint": health.commits_since_checkpoint,
        "log_files": health.log_files,
        "vacuum_pending_files": health.vacuum_pending,
        "last_optimize": _time(health.last_optimize_ms),
        "last_vacuum": _time(health.last_vacuum_ms),
        "due": [
            *([f"optimize {len(due.compact)} partition(s)"] if due.compact else []),
            *(["checkpoint"] if due.checkpoint else []),
            *(["vacuum"] if due.vacuum else []),
        ],
    }


def _say(as_json: bool, target: Target, fields: dict[str, Any]) -> None:
    if as_json:
        click.echo(json.dumps({"table": target.table.name, "domain": target.domain, **fields}))
        return
    if fields.get("configured") is False:
        click.echo(f"{target.table.name}: not configured ({fields['setting']} is unset)")
        return
    if fields.get("exists") is False:
        click.echo(f"{target.table.name}: not created yet ({target.uri})")
        return
    due = ", ".join(fields["due"]) or "nothing"
    click.echo(
        f"{target.table.name}: version {fields['version']}, {fields['files']} files "
        f"({fields['small_files']} small, mean {fields['mean_file_bytes'] / 2**20:.1f} MiB), "
        f"{fields['commits_since_checkpoint']} commits since checkpoint, "
        f"{fields['vacuum_pending_files']} files to vacuum, last optimize "
        f"{fields['last_optimize'] or 'unknown'}, last vacuum {fields['last_vacuum'] or 'unknown'}"
        f"; due: {due}"
    )


def _partitions_text(partitions: list[dict[str, str]]) -> str:
    if not partitions:
        return "any partition"
    return ", ".join(
        "/".join(f"{k}={v}" for k, v in p.items()) or "(unpartitioned)" for p in partitions
    )


def _time(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds") if ms else None
