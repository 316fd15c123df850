"""`vpipe dlq list|show|replay|purge`: operate on a domain's dead-letter topic."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from vpipe_core.retry.dlq.reader import DlqEntry, DlqFilter


def _iso(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    from vpipe_core.values.timestamps import parse_iso_utc

    try:
        return parse_iso_utc(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"expected ISO-8601 like 2026-01-20T14:30:00Z, got {value!r}"
        ) from exc


def _installed_domain(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """Checked before connecting: a typo must not wait for the broker."""
    from vpipe_core.registry import load_all_workers

    domains = sorted({spec.domain for spec in load_all_workers()[0]})
    if value not in domains:
        raise click.BadParameter(f"{value!r} is not an installed domain; one of {domains}")
    return value


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--domain",
            "-d",
            required=True,
            callback=_installed_domain,
            help="Domain whose DLQ to read (an installed domain).",
        ),
        click.option("--bootstrap", help="Broker host:port (default KAFKA_BOOTSTRAP_SERVERS)."),
        click.option(
            "--idle-seconds",
            default=3.0,
            show_default=True,
            help="Stop reading after this long without a new record.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filters(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--category", help="vpipe_error_category: transient, auth, permanent."),
        click.option(
            "--reason",
            help="vpipe_dead_reason: permanent, exhausted, invalid_envelope, unknown_target.",
        ),
        click.option("--origin-topic", help="Only records that failed on this topic."),
        click.option("--since", callback=_iso, help="First failure at or after (ISO-8601)."),
        click.option("--until", callback=_iso, help="First failure at or before (ISO-8601)."),
        click.option("--ref", "refs", multiple=True, help="Only PARTITION:OFFSET (repeatable)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(bootstrap: str | None) -> tuple[dict[str, Any], int]:
    from vpipe_core.cli.broker_probe import reachable_client_config
    from vpipe_core.cli.settings_env import core_settings_and_env
    from vpipe_core.kafka.clientconf import common_config

    settings, _ = core_settings_and_env(bootstrap)
    return reachable_client_config(common_config(settings)), settings.dlq_max_replays


def _read(client: dict[str, Any], domain: str, idle_s: float) -> list[DlqEntry]:
    from vpipe_core.retry.dlq.reader import read_dlq

    def counter(count: int) -> None:
        if sys.stderr.isatty():
            click.echo(f"\rreading {domain}.dlq: {count} records", nl=False, err=True)

    try:
        entries = read_dlq(client, domain, idle_s=idle_s, on_record=counter)
    except LookupError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if sys.stderr.isatty():
        click.echo("", err=True)
    return entries


def _select(entries: list[DlqEntry], refs: tuple[str, ...], **filters: Any) -> list[DlqEntry]:
    wanted = DlqFilter(**filters)
    return [e for e in entries if wanted.matches(e) and (not refs or e.ref in refs)]


@click.group("dlq")
def dlq() -> None:
    """Inspect and handle dead-lettered records (`<domain>.dlq`).

    Records stay in the DLQ until purged; `purge` commits the tool's group past them.
    """


@dlq.command("list")
@_common
@_filters
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record.")
def list_cmd(
    domain: str,
    bootstrap: str | None,
    idle_seconds: float,
    refs: tuple[str, ...],
    as_json: bool,
    **filters: Any,
) -> None:
    """List DLQ records with their reason and error."""
    from vpipe_core.retry import envelope as env

    client, _ = _settings(bootstrap)
    selected = _select(_read(client, domain, idle_seconds), refs, **filters)
    if as_json:
        import orjson

        for e in selected:
            row = {
                "ref": e.ref,
                "key": (e.key or b"").decode("utf-8", "replace"),
                "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in e.headers},
            }
            click.echo(orjson.dumps(row).decode())
        return
    click.echo(
        f"{'REF':10} {'FAILED_AT':27} {'CATEGORY':10} {'REASON':16} {'REPLAYS':7} "
        f"{'ORIGIN':28} ERROR"
    )
    for e in selected:
        click.echo(
            f"{e.ref:10} {e.header(env.FIRST_FAILED_AT) or '-':27} "
            f"{e.header(env.CATEGORY) or '-':10} {e.header(env.DEAD_REASON) or '-':16} "
            f"{e.replay_count:<7} {e.header(env.ORIGIN_TOPIC) or '-':28} "
            f"{(e.header(env.ERROR) or '')[:80]}"
        )
    click.echo(f"{len(selected)} record(s)", err=True)


@dlq.command("show")
@_common
@click.argument("ref")
@click.option("--raw", is_flag=True, help="Write the original value bytes to stdout.")
def show_cmd(domain: str, bootstrap: str | None, idle_seconds: float, ref: str, raw: bool) -> None:
    """Show one record (REF = PARTITION:OFFSET) with all its headers."""
    client, _ = _settings(bootstrap)
    found = [e for e in _read(client, domain, idle_seconds) if e.ref == ref]
    if not found:
        click.echo(f"no record {ref} in {domain}.dlq (purged, or wrong reference?)", err=True)
        sys.exit(1)
    entry = found[0]
    if raw:
        sys.stdout.buffer.write(entry.value or b"")
        return
    click.echo(f"ref: {entry.ref}\nkey: {entry.key!r}\nheaders:")
    for key, value in entry.headers:
        click.echo(f"  {key}: {(value or b'').decode('utf-8', 'replace')}")
    value = entry.value or b""
    preview = value[:2000].decode("utf-8", "replace")
    click.echo(f"value ({len(value)} bytes):\n{preview}{' ...' if len(value) > 2000 else ''}")


@dlq.command("replay")
@_common
@_filters
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; send nothing.")
@click.option("--force", is_flag=True, help="Replay even past DLQ_MAX_REPLAYS.")
def replay_cmd(
    domain: str,
    bootstrap: str | None,
    idle_seconds: float,
    refs: tuple[str, ...],
    dry_run: bool,
    force: bool,
    **filters: Any,
) -> None:
    """Send selected records back to the topic they failed on, with a replay counter."""
    from confluent_kafka import Producer

    from vpipe_core.kafka.clientconf import MAX_MESSAGE_BYTES
    from vpipe_core.retry.dlq.actions import plan_replay, replay

    client, max_replays = _settings(bootstrap)
    plan = plan_replay(
        _select(_read(client, domain, idle_seconds), refs, **filters), max_replays, force
    )
    for entry, why in plan.refused:
        click.echo(f"refused {entry.ref}: {why}", err=True)
    if dry_run:
        for entry in plan.to_replay:
            click.echo(f"would replay {entry.ref} -> {entry.header('vpipe_origin_topic')}")
        click.echo(f"dry run: {len(plan.to_replay)} to replay, {len(plan.refused)} refused")
        return
    # A dead letter keeps its original bytes, up to the broker's limit: replay sends them whole.
    limits = {"message.max.bytes": MAX_MESSAGE_BYTES}
    producer = Producer({**client, "enable.idempotence": True, "acks": "all", **limits})
    with click.progressbar(length=len(plan.to_replay), label="replaying", file=sys.stderr) as bar:
        count = replay(producer, plan.to_replay, domain, on_done=lambda: bar.update(1))
    click.echo(f"replayed {count}, refused {len(plan.refused)}")
    sys.exit(1 if plan.refused and not plan.to_replay else 0)


@dlq.command("purge")
@_common
@_filters
@click.option("--dry-run", is_flag=True, help="Show what would be purged; commit nothing.")
def purge_cmd(
    domain: str,
    bootstrap: str | None,
    idle_seconds: float,
    refs: tuple[str, ...],
    dry_run: bool,
    **filters: Any,
) -> None:
    """Mark selected records handled (the tool's group commits past them)."""
    from vpipe_core.retry.dlq.actions import commit_purge, purge_positions

    client, _ = _settings(bootstrap)
    entries = _read(client, domain, idle_seconds)
    selected = _select(entries, refs, **filters)
    positions = purge_positions(entries, selected)
    purged = sum(1 for e in entries if e.offset < positions.get(e.partition, -1))
    kept = len(selected) - purged
    verb = "would purge" if dry_run else "purged"
    if not dry_run:
        with click.progressbar(length=len(positions), label="committing", file=sys.stderr) as bar:
            commit_purge(client, domain, positions)
            bar.update(len(positions))
    click.echo(f"{verb} {purged} record(s)")
    if kept:
        click.echo(
            f"{kept} selected record(s) sit behind unselected ones and stay; purge those "
            "first or widen the filter",
            err=True,
        )
