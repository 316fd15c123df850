"""`vpipe trace`: follow one event through topics, the DLQ, Delta tables and log files."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _window(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    number, unit = value[:-1], value[-1:]
    if unit not in WINDOW_UNITS or not number.isdigit():
        raise click.BadParameter(
            f"expected a number and one of s, m, h, d (e.g. 6h), got {value!r}"
        )
    return int(number) * WINDOW_UNITS[unit]


def _progress(text: str) -> None:
    click.echo(
        f"\r\033[K{text}" if sys.stderr.isatty() else text, nl=not sys.stderr.isatty(), err=True
    )


@click.command("trace")
@click.option("--trace-id", help="W3C trace id (32 hex digits, the traceparent's second field).")
@click.option(
    "--event-id", help="The domain's event id (the records' key, `event_id` or `trace_id`)."
)
@click.option("--media-id", help="An attachment's media_id.")
@click.option("--project-id", help="A project_id (in the records and rows that have one).")
@click.option(
    "--window",
    default="24h",
    show_default=True,
    callback=_window,
    help="How far back to read the topics (s, m, h, d).",
)
@click.option(
    "--log-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also read the JSON log files under this directory.",
)
@click.option("--bootstrap", help="Broker host:port (default KAFKA_BOOTSTRAP_SERVERS).")
@click.option("--json", "as_json", is_flag=True, help="The story as one JSON object.")
def trace(
    trace_id: str | None,
    event_id: str | None,
    media_id: str | None,
    project_id: str | None,
    window: int,
    log_dir: Path | None,
    bootstrap: str | None,
    as_json: bool,
) -> None:
    """Where is this event? The timeline of one event and its attachments, from what the
    pipeline stores. Exits 1 when it is stuck or not found, naming the last stage that saw it."""
    import orjson

    from vpipe_core.lineage.query import By, Query
    from vpipe_core.lineage.scan import (
        committed_offsets,
        matching_records,
        read_files,
        read_logs,
        read_rows,
        read_topics,
        topic_hop,
    )
    from vpipe_core.lineage.timeline import stage_of, story
    from vpipe_core.registry import load_all_workers

    given = {
        By.TRACE_ID: trace_id,
        By.EVENT_ID: event_id,
        By.MEDIA_ID: media_id,
        By.PROJECT_ID: project_id,
    }
    chosen = [(by, value) for by, value in given.items() if value]
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one of --trace-id, --event-id, --media-id, --project-id"
        )
    query = Query(*chosen[0])
    specs, _ = load_all_workers()
    client, env = _settings(bootstrap)
    since_ms = int((time.time() - window) * 1000)
    records = read_topics(client, _declared(specs), since_ms, _progress)
    hops = [topic_hop(record) for record in matching_records(records, query)]
    tables = _tables(env)
    hops += read_rows([(name, uri, options) for name, uri, options, _ in tables], query, _progress)
    domains = _domains(specs, tables)
    hops += read_files(hops, lambda hop: domains.get(_place(hop)), _landing(env), _progress)
    if log_dir is not None:
        hops += read_logs(log_dir, query, _progress)
    told = story(hops, specs, committed_offsets(client))
    if as_json:
        click.echo(orjson.dumps(told.as_json(), default=str).decode())
    else:
        for hop in told.hops:
            stage = (
                stage_of(hop.where.rpartition("[")[0], specs) if hop.kind == "topic" else hop.kind
            )
            click.echo(
                f"{_time(hop.time_ms)}  {stage:<28} {hop.where}  {hop.worker or ''}  "
                f"{_fields(hop.detail)}"
            )
    if not told.found:
        click.echo(
            f"nothing found for {query.by.value} {query.value} in the last {window} s", err=True
        )
        sys.exit(1)
    if told.stuck:
        for stage, where in told.stuck:
            click.echo(f"not handled: {stage} owes an effect for {where}", err=True)
        click.echo(f"stuck: last stage that saw it: {told.last_stage}", err=True)
        sys.exit(1)


def _declared(specs: Any) -> Callable[[str], bool]:
    """The workers' input and output topics, and their domains' DLQ and retry tier topics."""
    from vpipe_core.retry.topics import dlq_topic, tier_delay

    topics = {t for spec in specs for t in (*spec.input_topics, *spec.output_topics)}
    topics |= {dlq_topic(spec.domain) for spec in specs}
    domains = {spec.domain for spec in specs}

    def wanted(topic: str) -> bool:
        if topic in topics:
            return True
        return tier_delay(topic) is not None and topic.partition(".retry.")[0] in domains

    return wanted


def _tables(env: dict[str, str]) -> list[tuple[str, str, Any, str]]:
    """(name, uri, storage options, domain) of every declared table whose URI is set."""
    from vpipe_core.delta.storage import storage_options
    from vpipe_core.tables.declared import targets

    found: list[tuple[str, str, Any, str]] = []
    for target in targets(env):
        if target.uri is not None:
            options = storage_options(target.uri, env, 30.0)
            resolved = options() if callable(options) else options
            found.append(
                (
                    target.table.name,
                    target.uri,
                    dict(resolved) if resolved else None,
                    target.domain,
                )
            )
    return found


def _domains(specs: Any, tables: list[tuple[str, str, Any, str]]) -> dict[str, str]:
    """The domain of each topic the workers declare and of each table."""
    domains = {t: s.domain for s in specs for t in (*s.input_topics, *s.output_topics)}
    domains.update((name, domain) for name, _, _, domain in tables)
    return domains


def _place(hop: Any) -> str:
    """A hop's topic (without its position) or table."""
    return str(hop.where.rpartition("[")[0] or hop.where)


def _landing(env: dict[str, str]) -> Callable[[str], tuple[str, Any] | None]:
    """Each domain's file destination (as the upload workers find it) and a store on it, made
    once; None when neither ONELAKE_<DOMAIN>_PATH nor ONELAKE_BASE_PATH is set. A bad setting
    raises: `read_files` shows it on the file's hop."""
    from vpipe_core.config.loader import ConfigError, load_settings
    from vpipe_core.storage import make_store
    from vpipe_core.transfer.destination import upload_destination
    from vpipe_core.transfer.settings import TransferSettings

    made: dict[str, tuple[str, Any] | None] = {}

    def landing(domain: str) -> tuple[str, Any] | None:
        if domain not in made:
            transfer = load_settings(TransferSettings, env)
            own = env.get(f"ONELAKE_{domain.upper()}_PATH")
            try:
                destination = upload_destination(domain, own, transfer, "vpipe trace")
            except ConfigError:
                made[domain] = None
                return None
            credential = None
            if not destination.startswith("file://"):
                from vpipe_core.azure_auth import shared_credential

                credential = shared_credential(env)
            store = make_store(
                destination,
                credential,
                transfer.onelake_timeout_s,
                1,
                path_style_hosts=frozenset(transfer.onelake_path_style_hosts),
            )
            made[domain] = (destination, store)
        return made[domain]

    return landing


def _settings(bootstrap: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    from vpipe_core.cli.broker_probe import reachable_client_config
    from vpipe_core.cli.settings_env import core_settings_and_env
    from vpipe_core.kafka.clientconf import common_config

    settings, env = core_settings_and_env(bootstrap)
    return reachable_client_config(common_config(settings)), env


def _time(ms: int | None) -> str:
    if ms is None:
        return "-" * 24
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _fields(detail: Any) -> str:
    return " ".join(f"{key}={value}" for key, value in detail.items())
