"""The summary's `vpipe trace` commands: one event that was retried and one that went to a DLQ."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from confluent_kafka.admin import AdminClient

from vpipe_core.lineage.carry import parent_of
from vpipe_core.lineage.traceparent import trace_id_of
from vpipe_core.record import Record
from vpipe_core.retry.topics import dlq_topic, tier_delay
from vpipe_testing.kafka import read_all


def trace_examples(bootstrap: str, domains: Iterable[str], logs: Path) -> list[tuple[str, str]]:
    """(label, command) for the first traced record of a retry tier and of a DLQ, if any."""
    listed = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    domains = set(domains)
    tiers = sorted(t for t in listed if tier_delay(t) and t.partition(".retry.")[0] in domains)
    dlqs = sorted(t for t in listed if t in {dlq_topic(domain) for domain in domains})
    found = []
    for label, topics in (("retried", tiers), ("dead-lettered", dlqs)):
        example = _first_traced(bootstrap, topics)
        if example is not None:
            trace_id, event = example
            command = f"vpipe trace --trace-id {trace_id} --bootstrap {bootstrap} --log-dir {logs}"
            found.append((f"{label} ({event})", command))
    return found


def _first_traced(bootstrap: str, topics: list[str]) -> tuple[str, str] | None:
    for topic in topics:
        for message in read_all(bootstrap, topic, idle_s=3.0, timeout_s=20):
            record = Record.from_message(message)
            trace_id = trace_id_of(parent_of(record))
            if trace_id is not None:
                key = record.key.decode("utf-8", "replace") if record.key else "no key"
                return trace_id, f"{record.topic}, event {key}"
    return None
