"""`vpipe topics create|list`: the topics the installed workers declare."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from vpipe_core.cli.settings_env import core_settings_and_env

if TYPE_CHECKING:
    from vpipe_core.config.core import CoreSettings
    from vpipe_core.kafka.topics import TopicDecl


def _declared(settings: CoreSettings, env: dict[str, str]) -> list[TopicDecl]:
    from vpipe_core.kafka.topics import declared_topics
    from vpipe_core.plugins.manager import declared_plugin_topics
    from vpipe_core.registry import load_all_workers

    specs, failures = load_all_workers()
    for failure in failures:
        click.echo(f"warning: worker {failure.name} not loaded: {failure.error}", err=True)
    plugin_topics = declared_plugin_topics(
        selected=settings.plugins,
        config_dir=settings.plugin_config_dir,
        environ=env,
    )
    return declared_topics(specs, settings, env, plugin_topics)


@click.group("topics")
def topics() -> None:
    """Create or list the topics of every installed worker, tier and DLQ."""


@topics.command("create")
@click.option("--bootstrap", help="Broker host:port (default KAFKA_BOOTSTRAP_SERVERS).")
@click.option("--partitions", type=click.IntRange(1, 1000), help="Override TOPIC_PARTITIONS.")
@click.option("--dry-run", is_flag=True, help="Print the topics without creating them.")
def create(bootstrap: str | None, partitions: int | None, dry_run: bool) -> None:
    """Create every declared topic that does not exist yet (idempotent)."""
    import attrs

    from vpipe_core.cli.broker_probe import reachable_client_config
    from vpipe_core.kafka.clientconf import common_config

    settings, env = core_settings_and_env(bootstrap)
    client = None if dry_run else reachable_client_config(common_config(settings))
    declared = _declared(settings, env)
    if partitions:
        declared = [
            attrs.evolve(t, partitions=partitions) if not t.name.endswith(".dlq") else t
            for t in declared
        ]
    for topic in declared:
        click.echo(
            f"{topic.name:45} partitions={topic.partitions:<4} retention={topic.retention_hours}h"
        )
    if client is None:
        click.echo(f"dry run: {len(declared)} topics would be created")
        return
    from confluent_kafka.admin import AdminClient

    from vpipe_core.kafka.topics import create_topics

    results = create_topics(AdminClient(client), declared)
    failed = {
        name: result for name, result in results.items() if result not in ("created", "exists")
    }
    created = sum(1 for result in results.values() if result == "created")
    click.echo(f"{created} created, {len(results) - created - len(failed)} already existed")
    for name, error in sorted(failed.items()):
        click.echo(f"failed: {name}: {error}", err=True)
    sys.exit(1 if failed else 0)


@topics.command("list")
@click.option("--bootstrap", help="Broker host:port (default KAFKA_BOOTSTRAP_SERVERS).")
def list_topics(bootstrap: str | None) -> None:
    """Show declared topics and whether each exists on the broker."""
    from confluent_kafka.admin import AdminClient

    from vpipe_core.cli.broker_probe import PROBE_TIMEOUT_S, reachable_client_config
    from vpipe_core.kafka.clientconf import common_config

    settings, env = core_settings_and_env(bootstrap)
    client = reachable_client_config(common_config(settings))
    declared = _declared(settings, env)
    existing = AdminClient(client).list_topics(timeout=PROBE_TIMEOUT_S).topics
    for topic in declared:
        state = (
            f"{len(existing[topic.name].partitions)} partitions"
            if topic.name in existing
            else "MISSING"
        )
        click.echo(f"{topic.name:45} {state}")
