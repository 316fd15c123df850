"""The topics the installed workers declare, and creating them (runtime.md §3)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from vpipe_core.config.core import CoreSettings
from vpipe_core.kafka.clientconf import MAX_MESSAGE_BYTES
from vpipe_core.retry.topics import dlq_topic, domain_delays, tier_topic
from vpipe_core.spec import Kind, WorkerSpec
from vpipe_core.state.changelog import changelog_topic
from vpipe_core.state.changelog import retention_hours as changelog_retention_hours

DLQ_PARTITIONS = 3
# The pollers' cursors, one record per poller key; its one partition is also their lease.
POLLER_CURSORS = "vpipe.poller.cursors"
TIER_RETENTION_HOURS = 72
HOUR_MS = 3600 * 1000


@attrs.frozen(order=True)
class TopicDecl:
    name: str
    partitions: int
    retention_hours: int
    replication_factor: int = -1  # the broker's default.replication.factor
    min_insync_replicas: int = 0  # 0: the broker's min.insync.replicas
    cleanup_policy: str = "delete"

    def configs(self) -> dict[str, str]:
        """The topic configs `vpipe topics create` sets (and Kafka's describe shows)."""
        configs = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_hours * HOUR_MS),
            "max.message.bytes": str(MAX_MESSAGE_BYTES),
        }
        if self.min_insync_replicas:
            configs["min.insync.replicas"] = str(self.min_insync_replicas)
        return configs


def declared_topics(
    specs: Iterable[WorkerSpec],
    settings: CoreSettings,
    env: Mapping[str, str],
    extra: Iterable[str] = (),
) -> list[TopicDecl]:
    """Every topic the workers read or write, their changelogs, plus each domain's tiers (and
    drain tiers) and DLQ."""
    parts, hours = settings.topic_partitions, settings.topic_retention_hours

    def decl(name: str, partitions: int, retention_hours: int) -> TopicDecl:
        return TopicDecl(
            name,
            partitions,
            retention_hours,
            settings.topic_replication_factor,
            settings.topic_min_insync_replicas,
        )

    found: dict[str, TopicDecl] = {}
    domains: set[str] = set()
    for spec in specs:
        domains.add(spec.domain)
        for name in (*spec.input_topics, *spec.output_topics):
            found[name] = decl(name, parts, hours)
        if spec.changelog_hours:  # as many partitions as its input topic, which it follows
            changelog = changelog_topic(spec)
            entries = decl(changelog, parts, changelog_retention_hours(spec, env))
            found[changelog] = attrs.evolve(entries, cleanup_policy="compact,delete")
        for name in state_topics(spec):
            found[name] = attrs.evolve(decl(name, 1, hours), cleanup_policy="compact")
    for name in extra:
        found[name] = decl(name, parts, hours)
    for domain in domains:
        for topic in retry_topics(domain, settings, env):
            found[topic] = decl(topic, parts, TIER_RETENTION_HOURS)
        dlq = dlq_topic(domain)
        found[dlq] = decl(dlq, DLQ_PARTITIONS, settings.dlq_retention_days * 24)
    return sorted(found.values())


def state_topics(spec: WorkerSpec) -> tuple[str, ...]:
    """The compacted topics a worker keeps its own state in (a poller: its cursor)."""
    return (POLLER_CURSORS,) if spec.kind is Kind.SOURCE else ()


def retry_topics(domain: str, settings: CoreSettings, env: Mapping[str, str]) -> list[str]:
    delays = domain_delays(domain, env, settings.retry_delays)
    names = [tier_topic(domain, delay) for delay in delays]
    names += [tier_topic(domain, d) for d in settings.retry_drain_tiers if d not in delays]
    return names


def create_topics(
    admin: object, topics: list[TopicDecl], timeout_s: float = 30.0
) -> dict[str, str]:
    """Create missing topics; returns topic → "created" | "exists" | error text. Idempotent."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import NewTopic

    new = [
        NewTopic(
            topic.name,
            num_partitions=topic.partitions,
            replication_factor=topic.replication_factor,
            config=topic.configs(),
        )
        for topic in topics
    ]
    results: dict[str, str] = {}
    for name, future in admin.create_topics(new, request_timeout=timeout_s).items():  # type: ignore[attr-defined]
        try:
            future.result(timeout_s)
            results[name] = "created"
        except Exception as exc:
            error = exc.args[0] if exc.args else None
            exists = getattr(error, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS
            results[name] = "exists" if exists else str(exc)
    return results


def create_worker_topics(
    bootstrap: str,
    specs: Iterable[WorkerSpec],
    env: Mapping[str, str],
    max_partitions: int = 4,
    extra: Iterable[str] = (),
) -> list[TopicDecl]:
    """Create every topic `specs` declare (and `extra`, e.g. the plugins' topics) on a local
    broker (demo, benchmarks), with at most `max_partitions` partitions; RuntimeError naming the
    topics that could not be created."""
    from confluent_kafka.admin import AdminClient

    from vpipe_core.config.loader import load_settings

    env = {**env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    topics = [
        attrs.evolve(topic, partitions=min(topic.partitions, max_partitions))
        for topic in declared_topics(specs, load_settings(CoreSettings, env), env, extra)
    ]
    results = create_topics(AdminClient({"bootstrap.servers": bootstrap}), topics)
    failed = {
        name: result for name, result in results.items() if result not in ("created", "exists")
    }
    if failed:
        raise RuntimeError(f"cannot create topics: {failed}")
    return topics
