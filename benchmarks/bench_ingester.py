"""`xact-event-ingester` throughput against the core pass-through, same runtime, same run.

Both read the same kind of input (valid XACT raw events with unique trace ids) from fresh topics
on one broker and write one output per input; the ingester adds validation, the §4 derivations,
the dedup window (a key store whose entries are changelog records produced with each task) and
the enrichment task. Prints msg/s of each and the ratio.

    python -m benchmarks.bench_ingester [--messages 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
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
from vpipe_core.outcome import Done, Outcome, Output
from vpipe_core.record import Record
from vpipe_core.state.store import KeyStore, changelog_reader
from vpipe_testing.kafka import ensure_topics
from vpipe_xact.ingester import ingester

TEMPLATE = {
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


def xact_record(number: int) -> tuple[bytes, bytes]:
    trace = f"bench-trace-{number:09d}"
    return orjson.dumps({**TEMPLATE, "traceId": trace}), trace.encode()


class TimedIngester:
    """The real ingester, writing to the run's own output topic, with the benchmark's clock."""

    def __init__(self, output: str, store: KeyStore, worker: str) -> None:
        self._ingester = ingester(store, worker)
        self._output = output
        self._changelog = store.changelog
        self.first_at: float | None = None

    def handle(self, record: Record) -> Outcome:
        if self.first_at is None:
            self.first_at = time.time()
        outcome = self._ingester.handle(record)
        if isinstance(outcome, Done):
            return Done(tuple(self._to_output(o) for o in outcome.outputs))
        return outcome

    def _to_output(self, output: Output) -> Output:
        return (
            output if output.topic is self._changelog else attrs.evolve(output, topic=self._output)
        )

    def on_assign(self, partitions: list[Any]) -> None:
        self._ingester.on_assign(partitions)

    def on_revoke(self, partitions: list[Any]) -> None:
        self._ingester.on_revoke(partitions)


def run(setup: BenchSetup, contestant: str, repeat: int) -> float:
    topics: Topics = fresh_topics(setup.bootstrap, setup.run_id, contestant, repeat)
    preload(setup.bootstrap, topics.input, setup.messages, xact_record)

    changelog = f"{topics.input}.changelog"
    ensure_topics(setup.bootstrap, [changelog], PARTITIONS)

    def timed_ingester(ctx: Any, run_topics: Topics) -> TimedIngester:
        reader = changelog_reader(ctx)
        store = KeyStore(ctx.spec.name, run_topics.input, changelog, 24 * 3600, 1_000_000, reader)
        return TimedIngester(run_topics.output, store, ctx.spec.name)

    make = timed_ingester if contestant == "ingester" else None
    clock = run_worker_until_delivered(
        setup.settings, setup.env, topics, setup.messages, None, make_handler=make
    )
    result = measure(contestant, setup.bootstrap, topics, setup.messages, clock)
    print(f"  run {repeat}: {contestant:<12} {result.rate:>9,.0f} msg/s", file=sys.stderr)
    return result.rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_ingester")
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rates: dict[str, list[float]] = {"pass-through": [], "ingester": []}
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
    print(f"machine:  {machine_description()}\nbroker:   {broker}")
    print(f"workload: {args.messages} XACT raw events, {args.repeat} runs each, alternating\n")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, median in medians.items():
        runs = ", ".join(f"{value:,.0f}" for value in rates[name])
        print(f"  {name:<14} {median:>10,.0f} msg/s (runs: {runs})")
    print(f"\nratio ingester / pass-through = {medians['ingester'] / medians['pass-through']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
