"""The poller's durable cursor: the last record under its key in the compacted topic
`vpipe.poller.cursors` (one partition), so any host can resume where the last poller stopped.

The record is the source's position (a JSON object) plus `published`: per output partition, the
offset after every record acknowledged when it was written (`leased.LeasedSource` reads the raw
topic from there on a takeover). Only the active poller writes it, after a page is acknowledged;
it is produced with `acks=all` and flushed before the poller goes on. A record that cannot be
read is an error for a human to look at: it is never replaced by a default start position.

A host upgraded from the file cursor imports `{STATE_DIR}/<worker><suffix>.cursor.json` once,
when the topic has no record for its key yet.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from vpipe_core.kafka.topics import POLLER_CURSORS
from vpipe_core.loop.source import SourceStopped
from vpipe_core.values.timestamps import iso_utc

log = logging.getLogger("vpipe.eventsource.cursor")

CURSOR_TOPIC = POLLER_CURSORS
CURSOR_PARTITION = 0
READ_TIMEOUT_S = 30.0

# topic -> partition -> the offset after the last acknowledged record
Published = dict[str, dict[int, int]]


class CursorError(SourceStopped):
    """The cursor cannot be used (corrupt, unreadable, not writable): exit code 2."""

    exit_code = 2


@attrs.frozen
class StoredCursor:
    state: dict[str, Any]  # the source's position, as it wrote it
    published: Published | None  # None: written without offsets (an imported file)
    origin: str  # where it was read, for messages
    from_file: bool = False


class CursorStore:
    """The records under `key` in `CURSOR_TOPIC`; `client_config` is the Kafka connection."""

    def __init__(
        self, client_config: Mapping[str, Any], key: str, fresh_start: str, old_file: Path
    ) -> None:
        self._config = dict(client_config)
        self.key = key
        self.fresh_start = fresh_start  # where a poller without a cursor starts, for messages
        self.old_file = old_file
        self._producer: Producer | None = None

    @property
    def origin(self) -> str:
        return f"the record under key '{self.key}' in topic {CURSOR_TOPIC}"

    def load(self) -> StoredCursor | None:
        """The last record for the key; else the old cursor file; None when neither exists."""
        value = self._last_value()
        if value is None:
            return self._old_file_cursor()
        state = _json_object(value, lambda reason: self.corrupt(self.origin, reason))
        published = state.pop("published", None)
        state.pop("updated_at", None)
        try:
            offsets = None if published is None else _parse_published(published)
        except (AttributeError, TypeError, ValueError) as exc:
            raise self.corrupt(self.origin, f"published: {exc}") from exc
        return StoredCursor(state, offsets, self.origin)

    def write(self, state: Mapping[str, Any], published: Published) -> None:
        """Produce the cursor record and wait until the broker acknowledged it."""
        record = {
            **state,
            "published": {
                topic: {str(partition): offset for partition, offset in parts.items()}
                for topic, parts in published.items()
            },
            "updated_at": iso_utc(datetime.now(UTC)),
        }
        failures: list[KafkaError] = []
        producer = self._writer()
        producer.produce(
            CURSOR_TOPIC,
            json.dumps(record, ensure_ascii=False).encode(),
            self.key.encode(),
            partition=CURSOR_PARTITION,
            on_delivery=lambda error, _msg: failures.append(error) if error else None,
        )
        if producer.flush(READ_TIMEOUT_S) or failures:
            reason = failures[0].str() if failures else "not acknowledged in time"
            raise RuntimeError(f"cannot write the cursor to {CURSOR_TOPIC}: {reason}")

    def retire_old_file(self) -> None:
        """The imported file is renamed, so nobody mistakes it for the cursor any more."""
        self.old_file.rename(self.old_file.with_name(self.old_file.name + ".imported"))

    def corrupt(self, origin: str, reason: str) -> CursorError:
        if origin == self.origin:
            fix = (
                f"produce a repaired JSON record under that key, or a tombstone (null value) to "
                f"start from {self.fresh_start} deliberately"
            )
        else:
            fix = f"repair the file, or move it away deliberately to start from {self.fresh_start}"
        return CursorError(
            f"{origin} is corrupt ({reason}); the poller will not guess a start position: {fix}"
        )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5.0)

    def _writer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({**self._config, "acks": "all", "linger.ms": 0})
        return self._producer

    def _last_value(self) -> bytes | None:
        """The value of the newest record for the key (None: no record, or a tombstone)."""
        consumer = Consumer(
            {**self._config, "group.id": f"{self.key}.cursor-reader", "enable.auto.commit": False}
        )
        try:
            partition = TopicPartition(CURSOR_TOPIC, CURSOR_PARTITION)
            low, high = consumer.get_watermark_offsets(partition, timeout=READ_TIMEOUT_S)
            if high <= low:
                return None
            consumer.assign([TopicPartition(CURSOR_TOPIC, CURSOR_PARTITION, OFFSET_BEGINNING)])
            return _last_for_key(consumer, self.key.encode(), high, self.origin)
        finally:
            consumer.close()

    def _old_file_cursor(self) -> StoredCursor | None:
        origin = f"the cursor file {self.old_file}"
        try:
            text = self.old_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CursorError(f"cannot read {origin}: {exc}") from exc
        state = _json_object(text, lambda reason: self.corrupt(origin, reason))
        state.pop("updated_at", None)
        return StoredCursor(state, None, origin, from_file=True)


def _last_for_key(consumer: Consumer, key: bytes, high: int, origin: str) -> bytes | None:
    """Compaction may have removed the last offsets: the end is the position, not a record."""
    value, deadline = None, time.monotonic() + READ_TIMEOUT_S
    partition = TopicPartition(CURSOR_TOPIC, CURSOR_PARTITION)
    while time.monotonic() < deadline:
        for message in consumer.consume(500, 0.5):
            if not message.error() and message.key() == key:
                value = message.value()
        if consumer.position([partition])[0].offset >= high:
            return value
    raise RuntimeError(f"cannot read {origin} to its end within {READ_TIMEOUT_S:.0f} s")


def _json_object(text: str | bytes, corrupt: Any) -> dict[str, Any]:
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise corrupt(f"not JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise corrupt(f"expected a JSON object, got {type(state).__name__}")
    return state


def _parse_published(published: Any) -> Published:
    return {
        str(topic): {int(p): int(offset) for p, offset in parts.items()}
        for topic, parts in published.items()
    }
