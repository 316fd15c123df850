"""Both ingesters' throughput against the core pass-through, same runtime, same run.

Each contestant reads the same number of valid raw events with unique dedup keys from fresh
topics on one broker: the pass-through worker writes one output per input; `xact-event-ingester`
and `claimx-ingester` add validation, the derivations, the dedup window (a key store whose entries
are changelog records produced with each task) and the enrichment task. Prints msg/s of each,
the ratios, and the handler's cost per event by part, measured in the same process.

    python -m benchmarks.bench_ingester [--messages 50000] [--repeat 3] [--floor]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import orjson

from benchmarks.bench_passthrough import (
    PARTITIONS,
    BenchSetup,
    Topics,
    broker_bootstrap,
    fresh_topics,
    machine_description,
    measure,
    preload,
    prepare,
    run_worker_until_delivered,
    setup_vpipe_logging,
)
from vpipe_claimx import events as claimx_events
from vpipe_claimx import ingester as claimx_ingester
from vpipe_core.ingest.ingester import DedupIngester
from vpipe_core.outcome import Done, Outcome, Output
from vpipe_core.record import Record
from vpipe_core.state.store import KeyStore, changelog_reader
from vpipe_core.values.timestamps import iso_utc_now
from vpipe_testing.kafka import ensure_topics
from vpipe_xact import events as xact_events
from vpipe_xact import ingester as xact_ingester

XACT_TEMPLATE = {
    "type": "verisk.claims.property.xn.documentsReceived",
    "version": 1,
    "utcDateTime": "2026-02-03T08:15:00.218000+00:00",
    "ingestion_time": "2026-02-03T08:15:02.4817365Z",
    "data": {
        "assignmentId": "T4W9R2K",
        "description": "Documents Received",
        "adm": {"coverageLoss": {"claimNumber": "0912204468"}},
        "attachments": [
            "https://usw2-prod-xn-exportreceiver-publish.s3.us-west-2.amazonaws.com/exports/"
            "T4W9R2K/photo.jpg?X-Amz-Date=20260203T081500Z&X-Amz-Expires=604800"
        ],
    },
}
CLAIMX_ROW = {  # a source row as Eventhouse returns it; the poller's message wraps it
    "eventType": "PROJECT_FILE_ADDED",
    "projectId": "5517342",
    "mediaId": "88231",
    "taskAssignmentId": None,
    "videoCollaborationId": None,
    "masterFileName": None,
    "IngestionTime": "2026-02-03T10:04:15.2875531Z",
}
WINDOW_S = 24 * 3600
MAX_ENTRIES = 1_000_000


def xact_record(number: int) -> tuple[bytes, bytes]:
    trace = f"bench-trace-{number:09d}"
    return orjson.dumps({**XACT_TEMPLATE, "traceId": trace}), trace.encode()


def claimx_record(number: int) -> tuple[bytes, bytes]:
    """The poller's message for a row with a unique media id (so a unique event id)."""
    message = claimx_events.raw_message({**CLAIMX_ROW, "mediaId": str(100_000 + number)})
    return orjson.dumps(message), message["event_id"].encode()


@attrs.frozen
class Domain:
    worker: str
    record: Callable[[int], tuple[bytes, bytes]]
    ingester: Callable[..., DedupIngester | TwoOutputs]  # (store, worker, tasks=topic)
    parts: Callable[[list[Record], KeyStore], dict[str, float]]


def per_event_us(work: Callable[[Any], object], items: list[Any]) -> float:
    started = time.perf_counter()
    for item in items:
        work(item)
    return (time.perf_counter() - started) / len(items) * 1e6


def dedup_us(records: list[Record], keys: list[str], store: KeyStore) -> float:
    """The window's lookup and mark (entry, changelog record) per event."""

    def lookup_and_mark(index: int) -> None:
        record = records[index]
        store.is_duplicate(keys[index], record.partition, record.offset)
        store.mark(keys[index], record.partition, record.offset)

    return per_event_us(lookup_and_mark, list(range(len(records))))


def xact_parts(records: list[Record], store: KeyStore) -> dict[str, float]:
    values = [record.value for record in records]
    parsed = [xact_events.parse_event(value) for value in values]
    now = iso_utc_now()
    return {
        "decode (orjson)": per_event_us(orjson.loads, values),
        "decode + validate": per_event_us(xact_events.parse_event, values),
        "task (derive + encode)": per_event_us(
            lambda event: orjson.dumps(xact_ingester.enrichment_task(event, now)), parsed
        ),
        "dedup (lookup + mark)": dedup_us(records, [e.trace_id for e in parsed], store),
    }


def claimx_parts(records: list[Record], store: KeyStore) -> dict[str, float]:
    values = [record.value for record in records]
    parsed = [claimx_events.parse_raw(value) for value in values]
    now = iso_utc_now()

    def validated(value: bytes) -> None:
        claimx_events.check_enrichable(claimx_events.parse_raw(value))

    return {
        "decode (orjson)": per_event_us(orjson.loads, values),
        "decode + validate": per_event_us(validated, values),
        "task (derive + encode)": per_event_us(
            lambda event: orjson.dumps(claimx_events.enrichment_task(event, now)), parsed
        ),
        "dedup (lookup + mark)": dedup_us(records, [e.event_id for e in parsed], store),
    }


DOMAINS = {
    "xact": Domain("xact-event-ingester", xact_record, xact_ingester.ingester, xact_parts),
    "claimx": Domain("claimx-ingester", claimx_record, claimx_ingester.ingester, claimx_parts),
}


class TwoOutputs:
    """The floor of any ingester (`--floor`): the loop producing an XACT-sized task with its
    header and a changelog entry to the record's partition per record, from a handler that does
    nothing else. What an ingester costs above it is its handler."""

    def __init__(self, seen: KeyStore, worker: str, tasks: str) -> None:
        event = xact_events.parse_event(xact_record(0)[0])
        self._task = orjson.dumps(xact_ingester.enrichment_task(event, iso_utc_now()))
        self._tasks, self._changelog = tasks, seen.changelog

    def handle(self, record: Record) -> Outcome:
        key, partition = record.key, record.partition
        entry = b'{"seen_at":1796416035.251234,"partition":%d,"offset":%d}' % (
            partition,
            record.offset,
        )
        return Done(
            (
                Output(self._tasks, self._task, key, [("trace_id", key or b"")]),
                Output(self._changelog, entry, key, partition=partition),
            )
        )

    def on_assign(self, partitions: list[Any]) -> None:
        pass

    def on_revoke(self, partitions: list[Any]) -> None:
        pass


FLOOR = Domain("two-outputs", xact_record, TwoOutputs, lambda records, store: {})


class TimedIngester:
    """The real ingester, writing its tasks to the run's own output topic, with the benchmark's
    clock."""

    def __init__(self, ingester: DedupIngester | TwoOutputs) -> None:
        self._ingester = ingester
        self.first_at: float | None = None
        self.handle = self._handle_first

    def _handle_first(self, record: Record) -> Outcome:
        self.first_at = time.time()
        self.handle = self._ingester.handle  # the loop looks `handle` up once per fetch
        return self._ingester.handle(record)

    def on_assign(self, partitions: list[Any]) -> None:
        self._ingester.on_assign(partitions)

    def on_revoke(self, partitions: list[Any]) -> None:
        self._ingester.on_revoke(partitions)


def parts(domain: Domain, messages: int) -> dict[str, float]:
    """The handler's cost per event (µs), whole and by part, without a broker."""
    count = min(messages, 20_000)
    records = []
    for number in range(count):
        value, key = domain.record(number)
        records.append(Record("bench.in", number % PARTITIONS, number, key, value))
    store = KeyStore(domain.worker, "bench.in", "bench.in.changelog", WINDOW_S, MAX_ENTRIES, None)
    handler = domain.ingester(store, domain.worker, tasks="bench.out").handle
    fresh = KeyStore(domain.worker, "bench.in", "bench.in.changelog", WINDOW_S, MAX_ENTRIES, None)
    return {
        **domain.parts(records, fresh),
        "handler, whole": per_event_us(handler, records),
    }


def run(setup: BenchSetup, contestant: str, repeat: int) -> float:
    """`contestant`: "pass-through" or a domain's name (its ingester)."""
    topics: Topics = fresh_topics(setup.bootstrap, setup.run_id, contestant, repeat)
    domain = FLOOR if contestant == FLOOR.worker else DOMAINS.get(contestant)
    preload(setup.bootstrap, topics.input, setup.messages, (domain or DOMAINS["xact"]).record)

    changelog = f"{topics.input}.changelog"
    ensure_topics(setup.bootstrap, [changelog], PARTITIONS)

    def timed_ingester(ctx: Any, run_topics: Topics) -> TimedIngester:
        assert domain is not None
        reader = changelog_reader(ctx)
        store = KeyStore(ctx.spec.name, run_topics.input, changelog, WINDOW_S, MAX_ENTRIES, reader)
        return TimedIngester(domain.ingester(store, ctx.spec.name, tasks=run_topics.output))

    make = timed_ingester if domain is not None else None
    clock = run_worker_until_delivered(
        setup.settings, setup.env, topics, setup.messages, None, make_handler=make
    )
    result = measure(contestant, setup.bootstrap, topics, setup.messages, clock)
    print(f"  run {repeat}: {contestant:<12} {result.rate:>9,.0f} msg/s", file=sys.stderr)
    return result.rate


def run_ratios(rates: dict[str, list[float]], name: str) -> str:
    """Each run's ratio to the pass-through run just before it: the machine's speed drifts
    between runs on a shared VM, less within one round of contestants."""
    ratios = [mine / base for mine, base in zip(rates[name], rates["pass-through"], strict=True)]
    shown = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    return f"per run {shown}, median {statistics.median(ratios):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_ingester")
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--domain", choices=[*DOMAINS, "both"], default="both")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run a handler that only returns an ingester's two outputs (its floor)",
    )
    args = parser.parse_args(argv)
    chosen = list(DOMAINS) if args.domain == "both" else [args.domain]
    floor = [FLOOR.worker] if args.floor else []
    rates: dict[str, list[float]] = {name: [] for name in ["pass-through", *floor, *chosen]}
    with (
        tempfile.TemporaryDirectory(prefix="vpipe-bench-") as tmp,
        broker_bootstrap() as (bootstrap, broker),
        open(Path(tmp) / "console.jsonl", "w") as console,
    ):
        setup = prepare(bootstrap, Path(tmp), args.messages)
        setup_vpipe_logging(setup.settings, console)
        for repeat in range(1, args.repeat + 1):
            for contestant in rates:
                rates[contestant].append(run(setup, contestant, repeat))
    costs = {name: parts(DOMAINS[name], args.messages) for name in chosen}
    print(f"machine:  {machine_description()}\nbroker:   {broker}")
    print(f"workload: {args.messages} raw events per run, {args.repeat} runs each, alternating\n")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, median in medians.items():
        runs = ", ".join(f"{value:,.0f}" for value in rates[name])
        print(f"  {name:<14} {median:>10,.0f} msg/s (runs: {runs})")
    print()
    for name in [*floor, *chosen]:
        ratio = medians[name] / medians["pass-through"]
        label = f"{name} (the floor)" if name in floor else DOMAINS[name].worker
        target = "" if name in floor else " (target >= 0.3)"
        print(f"ratio {label} / pass-through = {ratio:.2f}{target}; {run_ratios(rates, name)}")
    for name in chosen:
        print(f"\n{DOMAINS[name].worker}: µs per event (in process, no broker)")
        for part, micros in costs[name].items():
            print(f"  {part:<24} {micros:6.2f}")
        print(f"  {'the worker, whole':<24} {1e6 / medians[name]:6.2f} (1 / its rate above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
