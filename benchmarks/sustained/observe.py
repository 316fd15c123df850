"""What the benchmark reads while the pipelines run.

`StageTail`: every record of each stage's output topic, from the first offset: its latency is
its timestamp (the producer's create time) minus the time the bench offered its event. A raw
record names its event by key; every record derived from it carries the event's `traceparent`,
whose trace id leads back to that raw record. `Windows` keeps the latencies per stage and time
window. `rss_mb` reads a worker's resident memory (its process and children) from /proc.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from vpipe_core.lineage.traceparent import find, trace_id_of

UNMATCHED_AFTER_S = 60.0  # a derived record whose raw record was not read by then


@attrs.frozen
class Stage:
    domain: str
    name: str  # a topic, or a table for the rows written
    raw: bool = False  # the poller's topic: records keyed by the offered event


class Windows:
    """Latencies (seconds) per (domain, stage) and window of `window_s` since `started`."""

    def __init__(self, started: float, window_s: float) -> None:
        self.started, self.window_s = started, window_s
        self.samples: dict[tuple[str, str], dict[int, array[float]]] = {}

    def add(self, stage: Stage, at: float, latency_s: float) -> None:
        windows = self.samples.setdefault((stage.domain, stage.name), {})
        index = int((at - self.started) // self.window_s)
        windows.setdefault(index, array("f")).append(latency_s)

    def between(self, domain: str, stage: str, start_s: float, end_s: float) -> list[float]:
        """The latencies of records stamped in the windows nearest [start_s, end_s)."""
        windows = self.samples.get((domain, stage), {})
        found: list[float] = []
        for index in self._indices(start_s, end_s):
            found.extend(windows.get(index, ()))
        return found

    def _indices(self, start_s: float, end_s: float) -> range:
        first = round(start_s / self.window_s)
        return range(first, max(first + 1, round(end_s / self.window_s)))

    def count(self, domain: str, stage: str) -> int:
        return sum(len(w) for w in self.samples.get((domain, stage), {}).values())


class Origins:
    """When each event was offered (by raw key), and by trace id once its raw record is read."""

    def __init__(self) -> None:
        self.by_key: dict[str, float] = {}
        self.by_trace: dict[str, float] = {}

    def offered(self, keys: Iterable[str], when: float) -> None:
        self.by_key.update(dict.fromkeys(keys, when))


class StageTail(threading.Thread):
    def __init__(
        self, bootstrap: str, stages: Sequence[Stage], origins: Origins, windows: Windows
    ) -> None:
        super().__init__(name="stage-tail", daemon=True)
        from confluent_kafka import Consumer

        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "vpipe-bench-sustained",
                "enable.auto.commit": False,
            }
        )
        self._stages = {stage.name: stage for stage in stages}
        self._origins, self._windows = origins, windows
        self._waiting: deque[tuple[Stage, float, str, str, float]] = deque()
        self.unmatched: dict[str, int] = {}  # stage -> records whose event was never matched
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            self._assign()
            while not self._halt.is_set():
                for message in self._consumer.consume(2000, 0.5):
                    if message.error() is None:
                        self._read(message)
                self._retry_waiting()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            self._consumer.close()

    def _assign(self) -> None:
        from confluent_kafka import TopicPartition

        partitions = []
        for topic in self._stages:
            found = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
            partitions += [TopicPartition(topic, p, 0) for p in found]
        self._consumer.assign(partitions)

    def _read(self, message: Any) -> None:
        stage = self._stages[message.topic()]
        at = message.timestamp()[1] / 1000.0
        trace = trace_id_of(find(message.headers() or [])) or ""
        key = (message.key() or b"").decode() if stage.raw else ""
        if not self._match(stage, at, trace, key):
            self._waiting.append((stage, at, trace, key, time.time()))

    def _match(self, stage: Stage, at: float, trace: str, key: str) -> bool:
        if stage.raw:
            origin = self._origins.by_key.pop(key, None)
            if origin is not None:
                self._origins.by_trace[trace] = origin
        else:
            origin = self._origins.by_trace.get(trace)
        if origin is None:
            return False
        self._windows.add(stage, at, at - origin)
        return True

    def _retry_waiting(self) -> None:
        for _ in range(len(self._waiting)):
            stage, at, trace, key, seen = self._waiting.popleft()
            if self._match(stage, at, trace, key):
                continue
            if time.time() - seen > UNMATCHED_AFTER_S:
                self.unmatched[stage.name] = self.unmatched.get(stage.name, 0) + 1
                continue
            self._waiting.append((stage, at, trace, key, seen))

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def stop(self) -> None:
        self._halt.set()


def rss_mb(pid: int) -> float:
    """VmRSS of `pid` and its descendants in MB (0 once it is gone)."""
    total_kb, pending = 0, [pid]
    while pending:
        current = pending.pop()
        total_kb += _vm_rss_kb(current)
        pending += _children(current)
    return total_kb / 1024


def _vm_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found
