"""`WorkerSpec`: what a domain distribution registers under the `vpipe.workers` entry-point group.

A spec is plain data and cheap to import; the handler code it names is imported only when the worker
starts (`handler` is a "module:callable" path), so `vpipe-worker --name X` loads only what X needs.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from vpipe_core.outcome import Outcome

if TYPE_CHECKING:
    from vpipe_core.record import Record


class Kind(enum.StrEnum):
    RECORD = "record"  # one record at a time (optionally `concurrency` at once)
    BATCH = "batch"  # batches of records (Delta writers, result processors)
    SOURCE = "source"  # no input topic: polls elsewhere (pollers), see vpipe_core.loop.source


class RetryMode(enum.StrEnum):
    TIERS = "tiers"  # Retry goes to <domain>.retry.<delay>s and the scheduler brings it back
    INPLACE = "inplace"  # Retry pauses the partition, backs off, and runs the record again


def _check_name(_: Any, attribute: attrs.Attribute, value: str) -> None:
    if not value or not all(part.isalnum() for part in value.split("-")) or value != value.lower():
        raise ValueError(f"{attribute.name} {value!r} must be lower-case words joined by '-'")


@attrs.frozen
class WorkerSpec:
    """A worker type: its topics, its handler, and how it is deployed."""

    name: str = attrs.field(validator=_check_name)
    domain: str = attrs.field(validator=_check_name)
    handler: (
        str  # "package.module:factory"; factory(ctx: WorkerContext) -> RecordHandler | BatchHandler
    )
    input_topics: tuple[str, ...] = attrs.field(converter=tuple, default=())
    output_topics: tuple[str, ...] = attrs.field(converter=tuple, default=())
    kind: Kind = Kind.RECORD
    retry_mode: RetryMode = RetryMode.TIERS
    consumes_retry_tiers: bool = False  # the domain's retry scheduler: inputs are the tier topics
    max_instances: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    # how many instances `manage-workers.sh start-all` starts (docs/DEPLOYMENT.md: sizing)
    recommended_instances: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    port_base: int = attrs.field(default=8300, validator=attrs.validators.in_(range(1024, 65536)))
    memory_max: str = "512M"
    cpu_quota: str = "100%"
    description: str = ""
    # "package.module:function"; function(env, under_systemd) -> the problems this worker would
    # refuse to start with, found without connecting anywhere (`vpipe_core.config.startup`).
    config_check: str | None = None
    # A partition-scoped key store (vpipe_core.state) over this many hours, 0 for none: its
    # changelog topic `<input>.<name>.changelog` is declared with the input's partition count.
    changelog_hours: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    # An environment setting that overrides `changelog_hours` (e.g. <DOMAIN>_DEDUP_WINDOW_HOURS).
    changelog_hours_setting: str | None = None

    @recommended_instances.validator
    def _at_most_max(self, _attribute: attrs.Attribute, value: int) -> None:
        if value > self.max_instances:
            raise ValueError(
                f"{self.name}: recommended_instances {value} > max_instances {self.max_instances}"
            )

    @property
    def multi_instance(self) -> bool:
        return self.max_instances > 1

    @property
    def port_range(self) -> range:
        return range(self.port_base, self.port_base + self.max_instances)

    def port_for(self, instance: int) -> int:
        return self.port_base + instance - 1


@runtime_checkable
class RecordHandler(Protocol):
    """Handles one record. Optional members, each a protocol below: `concurrency` (default 1),
    `on_assign`, `on_revoke`, `on_commit`, `close`."""

    def handle(self, record: Record) -> Outcome: ...


@runtime_checkable
class BatchHandler(Protocol):
    """Handles a batch; returns one outcome per record, in order. Optional members, each a
    protocol below: `batch_size`, `batch_max_wait_s`, `batch_min_interval_s`, `on_assign`,
    `on_revoke`, `on_commit`, `close`."""

    def handle_batch(self, records: Sequence[Record]) -> Sequence[Outcome]: ...


# Optional handler members. The loop checks each once, at start (vpipe_core.loop.members).


@runtime_checkable
class Concurrent(Protocol):
    concurrency: int  # records of a record handler handled at once, in threads (default 1)


@runtime_checkable
class BatchSize(Protocol):
    batch_size: int  # records per batch at most (default 500)


@runtime_checkable
class BatchWait(Protocol):
    batch_max_wait_s: float  # how long the first record of a batch may wait (default 1.0)


@runtime_checkable
class BatchMinInterval(Protocol):
    """Once a fetch comes back short (the consumer holds nothing more: it has caught up), the
    batch is handled if the previous one started at least this long ago, without waiting for
    `batch_size` or `batch_max_wait_s` (default None: only those two end a batch)."""

    batch_min_interval_s: float | None


@runtime_checkable
class AssignAware(Protocol):
    def on_assign(self, partitions: list[Any]) -> None: ...  # confluent_kafka TopicPartitions


@runtime_checkable
class RevokeAware(Protocol):
    def on_revoke(self, partitions: list[Any]) -> None: ...  # revoked or lost


@runtime_checkable
class CommitAware(Protocol):
    """Called after each commit with {(topic, partition): next offset}: everything before those
    positions is acknowledged and committed (make dedup marks or checkpoints durable now)."""

    def on_commit(self, positions: dict[tuple[str, int], int]) -> None: ...


@runtime_checkable
class Closeable(Protocol):
    def close(self) -> None: ...
