"""confluent-kafka client settings from `CoreSettings` (runtime.md §6)."""

from __future__ import annotations

from typing import Any

from vpipe_core.config.core import CoreSettings, GroupProtocol
from vpipe_core.kafka.oauth import default_scope, token_callback

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
# For the operator tools' clients: librdkafka logs nothing, failures surface as errors.
QUIET_LOGS = {"log_level": 0}


def common_config(settings: CoreSettings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "security.protocol": settings.kafka_security_protocol,
        "socket.timeout.ms": 30000,
    }
    if settings.kafka_security_protocol.startswith("SASL"):
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        if settings.kafka_sasl_username:
            config["sasl.username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password:
            config["sasl.password"] = settings.kafka_sasl_password
        if settings.kafka_sasl_mechanism == "OAUTHBEARER":
            scope = settings.kafka_oauth_scope or default_scope(settings.kafka_bootstrap_servers)
            config["oauth_cb"] = token_callback(scope)
    ca = settings.kafka_ssl_ca_location or settings.ca_bundle
    if ca and "SSL" in settings.kafka_security_protocol:
        config["ssl.ca.location"] = str(ca)
    return config


def producer_config(settings: CoreSettings, client_id: str) -> dict[str, Any]:
    return {
        **common_config(settings),
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 10,
        "message.max.bytes": MAX_MESSAGE_BYTES,
        "delivery.timeout.ms": 120000,
        "delivery.report.only.error": True,  # success is proven in bulk by Outbox.barrier()
    }


def consumer_config(settings: CoreSettings, group: str, client_id: str) -> dict[str, Any]:
    return {
        **common_config(settings),
        "client.id": client_id,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": settings.kafka_auto_offset_reset.value,
        "max.poll.interval.ms": settings.kafka_max_poll_interval_ms,
        **group_protocol_config(settings),
        # the id stays the same across restarts of one instance on one host
        **({"group.instance.id": client_id} if settings.kafka_static_membership else {}),
        "fetch.max.bytes": 4 * MAX_MESSAGE_BYTES,
        "max.partition.fetch.bytes": MAX_MESSAGE_BYTES + 1024,
        "statistics.interval.ms": 15000,
    }


def group_protocol_config(settings: CoreSettings) -> dict[str, Any]:
    """Classic groups: the client's session timeout and cooperative-sticky assignment. The
    KIP-848 `consumer` protocol: the broker owns both (group.consumer.session.timeout.ms and its
    assignors), and the client refuses the classic settings."""
    if settings.kafka_group_protocol is GroupProtocol.CONSUMER:
        return {"group.protocol": "consumer"}
    return {
        "session.timeout.ms": settings.kafka_session_timeout_ms,
        "heartbeat.interval.ms": max(100, min(3000, settings.kafka_session_timeout_ms // 3)),
        "partition.assignment.strategy": "cooperative-sticky",
    }
