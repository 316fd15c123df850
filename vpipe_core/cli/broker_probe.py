"""The operator commands' first step: is the broker there? One line and exit 1 when it is not.

Without this, librdkafka logs every failed connection attempt (a few hundred lines in ten
seconds) and the command ends in a timeout or a traceback. The tools' clients run with
librdkafka's log off: their failures reach the operator as errors, in one line.
"""

from __future__ import annotations

from typing import Any

import click

PROBE_TIMEOUT_S = 8.0


def unreachable_message(servers: str, detail: object) -> str:
    return (
        f"the broker at {servers} did not answer ({detail}): check KAFKA_BOOTSTRAP_SERVERS "
        "(or --bootstrap), that Kafka runs, and the network"
    )


def reachable_client_config(client_config: dict[str, Any]) -> dict[str, Any]:
    """`client_config` with librdkafka's log off, once the broker answered a metadata request;
    otherwise a one-line ClickException (exit 1)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from vpipe_core.kafka.clientconf import QUIET_LOGS

    quiet = {**client_config, **QUIET_LOGS}
    try:
        AdminClient(quiet).list_topics(timeout=PROBE_TIMEOUT_S)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else exc
        detail = error.str() if hasattr(error, "str") else str(error)
        raise click.ClickException(
            unreachable_message(str(client_config.get("bootstrap.servers")), detail)
        ) from None
    return quiet
