"""The `eventhub` source: consume the domain's Event Hub over its Kafka endpoint (runtime.md §6).

Each JSON-object value is handed to the domain with its record timestamp (values that are not
JSON objects go out unchanged: validation happens downstream). Event Hub offsets are committed
only in `acknowledged()`; a page that was never acknowledged is read again (the consumer seeks
back to its first offsets before the next page).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import orjson
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from vpipe_core.config.loader import ConfigError
from vpipe_core.eventsource.domain import DomainSource
from vpipe_core.eventsource.settings import EventHubAuth, EventSourceSettings
from vpipe_core.kafka.oauth import default_scope, token_callback
from vpipe_core.loop.source import NextOffsets
from vpipe_core.outcome import Output
from vpipe_core.runner import StartupError

if TYPE_CHECKING:
    from vpipe_core.context import WorkerContext

log = logging.getLogger("vpipe.eventsource.eventhub")

PAGE_SIZE = 500
WAIT_S = 1.0  # a page waits at most this long for records; the loop does not sleep in between
MAX_BACKOFF_S = 300.0
PROBE_TIMEOUT_S = 15.0

Partition = tuple[str, int]


@attrs.define
class ConsumedPage:
    first: dict[Partition, int] = attrs.Factory(dict)  # first offset read, per partition
    next: dict[Partition, int] = attrs.Factory(dict)  # offset to commit, per partition


class EventHubSource:
    poll_interval_s = WAIT_S
    max_backoff_s = MAX_BACKOFF_S

    def __init__(
        self,
        consumer: Any,
        domain: DomainSource,
        page_size: int = PAGE_SIZE,
        wait_s: float = WAIT_S,
    ) -> None:
        self._consumer = consumer
        self._domain = domain
        self._page_size = page_size
        self._wait_s = wait_s
        self._pending: ConsumedPage | None = None
        self.newest_ingested_s: float | None = None  # the newest enqueued time seen

    def poll(self) -> tuple[Sequence[Output], bool]:
        self._rewind_unacknowledged()
        page, outputs = ConsumedPage(), []
        for message in self._consumer.consume(self._page_size, self._wait_s):
            error = message.error()
            if error is not None:
                if error.fatal() or not error.retriable():
                    raise KafkaException(error)
                log.warning("event hub consumer error", extra={"error": str(error)})
                continue
            where = (message.topic(), message.partition())
            page.first.setdefault(where, message.offset())
            page.next[where] = message.offset() + 1
            outputs.append(republished(message, self._domain))
            enqueued_s = message.timestamp()[1] / 1000.0
            self.newest_ingested_s = max(self.newest_ingested_s or 0.0, enqueued_s)
        self._pending = page if page.next else None
        return outputs, True  # consume() itself waits for new records

    def _rewind_unacknowledged(self) -> None:
        page, self._pending = self._pending, None
        if page is None:
            return
        for (topic, partition), offset in page.first.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # no longer assigned: its new owner starts there
                log.info("not rewinding a revoked partition", extra={"error": str(exc)})

    def acknowledged(self, _published: NextOffsets) -> None:
        """Commits the page in the Event Hub consumer group (that state lives off-host)."""
        if self._pending is None:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.next.items()]
        self._consumer.commit(offsets=offsets, asynchronous=False)
        self._pending = None

    def close(self) -> None:
        self._consumer.close()


def republished(message: Message, domain: DomainSource) -> Output:
    """The domain's message for the record; a value that is not a JSON object, unchanged."""
    raw = message.value()
    try:
        value = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        return Output(domain.topic, raw)
    _, timestamp = message.timestamp()
    return domain.publish_record(value, timestamp if timestamp and timestamp > 0 else None)


def eventhub_problems(domain: DomainSource, shared: EventSourceSettings) -> list[str]:
    """What `consumer_config` would refuse, without connecting."""
    label = domain.domain.upper()
    problems = []
    if not (shared.eventhub_bootstrap_servers or "").strip():
        problems.append(
            f"EVENTHUB_BOOTSTRAP_SERVERS: required when the {label} event source is eventhub"
        )
    if not domain.eventhub.name:
        problems.append(
            f"{domain.variable('EVENTHUB_NAME')}: required when the {label} event source is "
            "eventhub"
        )
    uses_sasl = shared.eventhub_security_protocol.upper().startswith("SASL")
    with_connection_string = shared.eventhub_auth is EventHubAuth.CONNECTION_STRING
    if uses_sasl and with_connection_string and not shared.eventhub_connection_string:
        problems.append("EVENTHUB_CONNECTION_STRING: required when EVENTHUB_AUTH=connection-string")
    return problems


def consumer_config(
    ctx: WorkerContext, domain: DomainSource, shared: EventSourceSettings
) -> dict[str, Any]:
    """runtime.md §6 consumer settings against the Event Hub endpoint; ConfigError if incomplete."""
    problems = eventhub_problems(domain, shared)
    if problems:
        raise ConfigError(problems)
    servers = (shared.eventhub_bootstrap_servers or "").strip()
    protocol = shared.eventhub_security_protocol
    uses_sasl = protocol.upper().startswith("SASL")
    connection_string = shared.eventhub_connection_string
    with_connection_string = shared.eventhub_auth is EventHubAuth.CONNECTION_STRING
    core = ctx.settings
    config: dict[str, Any] = {
        "bootstrap.servers": servers,
        "security.protocol": protocol,
        "client.id": ctx.worker_id,
        "group.id": domain.eventhub.consumer_group or ctx.spec.name,
        "enable.auto.commit": False,
        "auto.offset.reset": shared.eventhub_auto_offset_reset.value,
        "session.timeout.ms": core.kafka_session_timeout_ms,
        "max.poll.interval.ms": core.kafka_max_poll_interval_ms,
        "partition.assignment.strategy": "cooperative-sticky",
    }
    if "SSL" in protocol.upper() and core.ca_bundle is not None:
        config["ssl.ca.location"] = str(core.ca_bundle)
    if uses_sasl and with_connection_string:
        config.update(
            {
                "sasl.mechanism": "PLAIN",
                "sasl.username": "$ConnectionString",
                "sasl.password": connection_string,
            }
        )
    elif uses_sasl:
        token = token_callback(default_scope(servers), ctx.env)
        config.update({"sasl.mechanism": "OAUTHBEARER", "oauth_cb": token})
    return config


def probe(consumer: Any, servers: str, topic: str, variable: str) -> None:
    """Fail clearly at start when the endpoint does not answer or the Event Hub is unknown."""
    started = time.monotonic()
    try:
        metadata = consumer.list_topics(timeout=PROBE_TIMEOUT_S)
    except KafkaException as exc:
        raise StartupError(
            f"Event Hub Kafka endpoint {servers} did not answer within {PROBE_TIMEOUT_S:g}s "
            f"({exc}); check EVENTHUB_BOOTSTRAP_SERVERS and that port 9093 is reachable "
            "(a Private Link exposing only AMQP does not serve the Kafka protocol)",
            code=1,
        ) from exc
    if topic not in metadata.topics:
        raise StartupError(f"{variable}: Event Hub '{topic}' not found on {servers}")
    log.info("event hub endpoint answered", extra={"seconds": round(time.monotonic() - started, 3)})


def build_eventhub_source(
    ctx: WorkerContext, domain: DomainSource, shared: EventSourceSettings
) -> EventHubSource:
    config = consumer_config(ctx, domain, shared)
    topic = domain.eventhub.name or ""
    consumer = Consumer(config)
    try:
        probe(consumer, config["bootstrap.servers"], topic, domain.variable("EVENTHUB_NAME"))
        consumer.subscribe([topic])
    except BaseException:
        consumer.close()
        raise
    log.info(
        "event hub source",
        extra={
            "bootstrap_servers": config["bootstrap.servers"],
            "event_hub": topic,
            "group": config["group.id"],
            "auth": shared.eventhub_auth.value,
            "auto_offset_reset": config["auto.offset.reset"],
        },
    )
    return EventHubSource(consumer, domain)
