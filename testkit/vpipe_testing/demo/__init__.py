"""Demo scenarios: what a domain contributes to `vpipe demo` (entry-point group `vpipe.demos`).

A `DemoScenario` names the workers to run and a `prepare` function. `vpipe demo` starts the local
broker and a `DemoServices` (stand-ins started on first use: moto S3, a file server with fault
routes), calls `prepare`, which feeds the events and returns a `DemoRun`: the environment its
workers need, live progress from their metrics, and the final accounting of every event.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

if TYPE_CHECKING:
    from vpipe_testing.http_files import FileServer
    from vpipe_testing.s3 import LocalS3

DEMOS_GROUP = "vpipe.demos"
KIT_PACKAGE = __name__.partition(".")[0]
T = TypeVar("T")


@attrs.frozen
class DemoOptions:
    events: int
    fault_rate: float  # share of events that meet a fault (poison, failing link, ...)
    seed: int
    rate: float = 1000.0  # events per second a source that spreads its events offers (ClaimX)


class MetricsSnapshot:
    """Samples scraped from every worker's /metrics, summed over instances."""

    def __init__(self, samples: Iterable[tuple[str, Mapping[str, str], float]]) -> None:
        self._samples = list(samples)

    def total(self, name: str, **labels: str) -> int:
        return int(
            sum(
                value
                for sample, found, value in self._samples
                if sample == name and all(found.get(k) == v for k, v in labels.items())
            )
        )

    def produced(self, topic: str) -> int:
        return self.total("vpipe_messages_produced_total", topic=topic, result="ok")


@attrs.frozen
class Accounting:
    """Where every fed event ended. `missing` and `duplicated` name events by id."""

    events: int
    written: int  # with their row in the domain's events table
    dead: int  # in the DLQ or a failed table, with a reason
    missing: tuple[str, ...] = ()
    duplicated: tuple[str, ...] = ()
    details: tuple[tuple[str, object], ...] = ()  # more lines for the summary

    @property
    def complete(self) -> bool:
        return not self.missing and not self.duplicated


class DemoRun(Protocol):
    """One domain's part of a running demo."""

    env: Mapping[str, str]

    def feed(self) -> None:
        """Publish the events (called once every worker is ready)."""
        ...

    def progress(self, metrics: MetricsSnapshot) -> list[tuple[str, int]]:
        """(stage, count) pairs for the live progress line."""
        ...

    def account(self, final: bool) -> Accounting:
        """Where the events are now; `final` may read slower sources (the DLQ topic)."""
        ...

    def outputs(self) -> list[tuple[str, str]]:
        """(what, where) for the summary: tables, files, how to query them."""
        ...


@attrs.frozen
class DemoScenario:
    """`prepare(services, options)` starts what the domain needs, feeds the events, returns
    its `DemoRun`. `default` scenarios run when `vpipe demo` is given no `--scenario`."""

    name: str
    description: str
    workers: tuple[tuple[str, int], ...]  # (worker name, instances)
    prepare: Callable[[DemoServices, DemoOptions], DemoRun]
    env: Mapping[str, str] = attrs.field(factory=dict)
    default: bool = True


class DemoServices:
    """The shared pieces of one demo run; stand-ins start on first use and stop at the end."""

    def __init__(self, bootstrap: str, root: Path, stack: contextlib.ExitStack) -> None:
        self.bootstrap = bootstrap
        self.root = root
        self.tables = root / "tables"
        self.onelake = root / "onelake"
        self._stack = stack
        self._s3: LocalS3 | None = None
        self._files: FileServer | None = None

    def start(self, context: contextlib.AbstractContextManager[T]) -> T:
        """Enter `context` until the demo ends."""
        return self._stack.enter_context(context)

    def s3(self) -> LocalS3:
        if self._s3 is None:
            from vpipe_testing.s3 import LocalS3

            self._s3 = self.start(LocalS3())
        return self._s3

    def tail(self, topic: str) -> TopicTail:
        """A reader of `topic` from its beginning, closed when the demo ends."""
        tail = TopicTail(self.bootstrap, topic)
        self._stack.callback(tail.close)
        return tail

    def files(self) -> FileServer:
        if self._files is None:
            from vpipe_testing.http_files import FileServer

            self._files = self.start(FileServer())
        return self._files


class TopicTail:
    """Every record of a topic from the beginning, read a little at a time (no group join)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "vpipe-demo", "enable.auto.commit": False}
        )
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        self.records: list[Any] = []

    def read_new(self, wait_s: float = 0.2) -> list[Any]:
        """Records that arrived since the last call."""
        new: list[Any] = []
        while True:
            batch = self._consumer.consume(1000, wait_s)
            new.extend(m for m in batch if m.error() is None)
            if not batch:
                break
        self.records.extend(new)
        return new

    def close(self) -> None:
        self._consumer.close()


def table_rows(path: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows of a local Delta table, [] while it does not exist yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(str(path)).to_pyarrow_table(columns=columns).to_pylist()
    except TableNotFoundError:
        return []


def latency_details(path: Path) -> tuple[tuple[str, object], ...]:
    """Event → row latency (`created_at` - `ingested_at`) p50/p99 and rows/s of an events table."""
    rows = table_rows(path, ["ingested_at", "created_at"])
    pairs = [
        (r["ingested_at"], r["created_at"]) for r in rows if r["ingested_at"] and r["created_at"]
    ]
    if not pairs:
        return ()
    latencies = sorted((written - ingested).total_seconds() for ingested, written in pairs)
    span = (max(w for _, w in pairs) - min(i for i, _ in pairs)).total_seconds()
    p50, p99 = (
        latencies[len(latencies) // 2],
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    )
    return (
        ("event → row latency p50 / p99", f"{p50:.1f} s / {p99:.1f} s"),
        (
            "events table rows per second (first ingestion to last write)",
            f"{len(pairs) / max(span, 1e-3):.0f}",
        ),
    )


def repeated(values: Iterable[str], twice: Iterable[str] = ()) -> tuple[str, ...]:
    """The values that occur more than once (more than twice for those in `twice`: events fed
    again on purpose), sorted: duplicate rows of an events table."""
    allowed = set(twice)
    counts = Counter(values)
    return tuple(sorted(v for v, n in counts.items() if n > (2 if v in allowed else 1)))


class InputDuplicates:
    """Events fed a second time on purpose: the ingester must drop each, so a task on `topic`
    keyed by one of them beyond those it had when they were fed is a duplicate that passed."""

    def __init__(self, services: DemoServices, topic: str, ids: Iterable[str]) -> None:
        self.ids = frozenset(ids)
        self._tail = services.tail(topic)
        self._before = self._counts(self._tail.read_new(wait_s=2.0))  # before the rows are fed

    def passed(self) -> tuple[str, ...]:
        self._tail.read_new()
        now = self._counts(self._tail.records)
        passed = sorted(key for key, count in now.items() if count > self._before.get(key, 0))
        return tuple(f"input duplicate {key} passed the ingester" for key in passed)

    def _counts(self, records: Iterable[Any]) -> Counter[str]:
        keys = (record.key().decode() for record in records if record.key())
        return Counter(key for key in keys if key in self.ids)


def checksum_problems(files: Iterable[tuple[str, Path, str | None]]) -> list[str]:
    """For each (label, stored file, expected sha256): a problem when the file is absent or its
    bytes differ from what was served."""
    problems = []
    for label, path, expected in files:
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            problems.append(f"{label} (file {path} missing or checksum differs)")
    return problems


def table_count(path: Path) -> int:
    """Rows in a local Delta table, 0 while it does not exist yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return int(DeltaTable(str(path)).to_pyarrow_dataset().count_rows())
    except TableNotFoundError:
        return 0


def query_hint(table: Path) -> str:
    """A command that prints a local Delta table."""
    code = f"from deltalake import DeltaTable; print(DeltaTable('{table}').to_pyarrow_table())"
    return f'python -c "{code}"'


def installed_scenarios() -> dict[str, DemoScenario]:
    """Every scenario of the group; the test kit's own (`vpipe_testing.<domain>.demo`) only where
    their domain package is installed."""
    from importlib.metadata import entry_points

    scenarios: dict[str, DemoScenario] = {}
    for entry_point in entry_points(group=DEMOS_GROUP):
        try:
            scenario = entry_point.load()
        except ModuleNotFoundError as exc:
            if _domain_missing(entry_point.module, exc):
                continue
            raise
        if isinstance(scenario, DemoScenario):
            scenarios[entry_point.name] = scenario
    return scenarios


def _domain_missing(module: str, exc: ModuleNotFoundError) -> bool:
    """A test kit scenario whose domain package (not the kit itself) cannot be imported."""
    missing = (exc.name or "").partition(".")[0]
    return module.startswith(f"{KIT_PACKAGE}.") and missing not in ("", KIT_PACKAGE)
