"""Pass-through throughput: a worker on the vpipe runtime against a bare confluent-kafka loop.

Both contestants consume JSON records, parse each one with orjson, produce the original bytes
to an output topic and write one log line per batch. They run alternately (baseline, vpipe,
baseline, vpipe, ...) in this process against the same broker, each on topics of its own.
What the figures mean: benchmarks/README.md.

    python -m benchmarks.bench_passthrough [--messages N] [--repeat R] [--profile] [--spans]

With `--spans` a third contestant runs the vpipe worker with OpenTelemetry spans on (the `otel`
extra), exported by the SDK over OTLP/HTTP to a collector stand-in on loopback; the report adds
the ratio spans on / spans off.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib.metadata
import io
import logging
import os
import platform
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import confluent_kafka
import orjson
from confluent_kafka import Consumer, Producer

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import load_settings
from vpipe_core.kafka.clientconf import consumer_config, producer_config
from vpipe_core.lineage.spans import tracing_for
from vpipe_core.loop import FETCH_MAX, POLL_TIMEOUT_S, ProcessingLoop
from vpipe_core.ops.health import HealthServer
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.outcome import Output
from vpipe_core.record import Record
from vpipe_core.retry.topics import dlq_topic
from vpipe_core.runner import _connect, _context, configure_logging
from vpipe_core.spec import WorkerSpec
from vpipe_testing.broker import free_port
from vpipe_testing.brokers import broker_kind, describe, running_broker
from vpipe_testing.kafka import ensure_topics, read_all

DEFAULT_MESSAGES = 200_000
DEFAULT_REPEAT = 3
PARTITIONS = 3
PAYLOAD_BYTES = 300
TARGET_RATIO = 0.7
DOMAIN = "bench"
WORKER = "bench-passthrough"
BASELINE_CLIENT_ID = "bench-baseline"
RUN_TIMEOUT_S = 600.0
WATCH_INTERVAL_S = 0.01
PROFILE_TOP_CUMULATIVE = 25
PROFILE_TOP_OWN_TIME = 20
CONTESTANTS = ("baseline", "vpipe")
SPANS = "spans"  # the vpipe worker with OpenTelemetry spans on (--spans)


@dataclass(frozen=True)
class Topics:
    input: str
    output: str


@dataclass(frozen=True)
class Clock:
    """Wall-clock instants of one run (seconds since the epoch, as Kafka timestamps are)."""

    first_consumed: float
    last_acked: float  # when the last delivery report was served


@dataclass(frozen=True)
class RunResult:
    contestant: str
    messages: int
    seconds: float  # first record consumed -> last output produced (broker CreateTime)
    acked_seconds: float  # first record consumed -> last delivery report served

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


# -- broker, topics, input data -------------------------------------------------------------


@contextlib.contextmanager
def broker_bootstrap() -> Iterator[tuple[str, str]]:
    """(bootstrap, description): VPIPE_TEST_BOOTSTRAP when set, else a fresh broker of the kind
    VPIPE_TEST_BROKER names (kafka: Apache Kafka, local: the memory-only broker)."""
    external = os.environ.get("VPIPE_TEST_BOOTSTRAP")
    if external:
        yield external, f"external broker {external} (VPIPE_TEST_BOOTSTRAP)"
        return
    kind = broker_kind()
    with tempfile.TemporaryDirectory() as root, running_broker(Path(root), kind) as broker:
        yield broker.bootstrap, f"{describe(kind)} on {broker.bootstrap}"


def fresh_topics(bootstrap: str, run_id: str, contestant: str, repeat: int) -> Topics:
    prefix = f"{DOMAIN}.{run_id}.{contestant}-{repeat}"
    topics = Topics(input=f"{prefix}.in", output=f"{prefix}.out")
    ensure_topics(bootstrap, [topics.input, topics.output], PARTITIONS)
    return topics


def claim_payload(number: int) -> bytes:
    """A claim-like JSON object padded to about PAYLOAD_BYTES."""
    claim: dict[str, Any] = {
        "id": number,
        "claim_id": f"CLM-{number:010d}",
        "policy_id": f"POL-{number % 9973:07d}",
        "status": "submitted",
        "amount": {"value": round(number * 1.37 % 25_000, 2), "currency": "EUR"},
        "loss_date": "2024-03-14",
        "reported_at": "2024-03-15T09:26:53Z",
        "claimant": {"name": "Jane Example", "postcode": "1011AB"},
        "notes": "",
    }
    claim["notes"] = "x" * max(0, PAYLOAD_BYTES - len(orjson.dumps(claim)))
    return orjson.dumps(claim)


def produce_waiting_for_room(
    producer: Producer, topic: str, value: bytes, key: bytes, **options: Any
) -> None:
    while True:
        try:
            producer.produce(topic, value, key, **options)
            return
        except BufferError:  # local queue full: serve delivery reports first
            producer.poll(0.05)


def claim_record(number: int) -> tuple[bytes, bytes]:
    return claim_payload(number), f"claim-{number}".encode()


def preload(
    bootstrap: str,
    topic: str,
    count: int,
    make: Callable[[int], tuple[bytes, bytes]] = claim_record,
) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 20,
        }
    )
    for number in range(count):
        value, key = make(number)
        produce_waiting_for_room(producer, topic, value, key)
        producer.poll(0)
    remaining = producer.flush(120)
    if remaining:
        raise RuntimeError(f"pre-loading {topic}: {remaining} records not acknowledged")


def measure(contestant: str, bootstrap: str, topics: Topics, expected: int, clock: Clock):
    """Read the outputs back: exactly one per input key, and the last one's CreateTime."""
    outputs = read_all(bootstrap, topics.output, expect=expected, timeout_s=120)
    keys = {message.key() for message in outputs}
    if len(outputs) != expected or len(keys) != expected:
        raise RuntimeError(
            f"{contestant}: {len(outputs)} outputs with {len(keys)} keys, expected {expected}"
        )
    last_produced = max(message.timestamp()[1] for message in outputs) / 1000
    return RunResult(
        contestant,
        expected,
        seconds=last_produced - clock.first_consumed,
        acked_seconds=clock.last_acked - clock.first_consumed,
    )


# -- baseline: a bare confluent-kafka loop --------------------------------------------------


class DeliveryCounter:
    """Delivery callback. The producer settings report failures only (as vpipe's do): success
    is what a final flush leaves unreported."""

    def __init__(self) -> None:
        self.failed = 0

    def __call__(self, error: Any, _message: Any) -> None:
        if error is not None:
            self.failed += 1


def baseline_logger(log_path: Path) -> logging.Logger:
    """Plain text lines to a file of its own, outside the vpipe logging setup."""
    logger = logging.getLogger("bench.baseline")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.FileHandler(log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    return logger


def run_baseline(
    settings: CoreSettings, topics: Topics, expected: int, logger: logging.Logger
) -> Clock:
    """consume -> parse -> produce -> poll -> commit (async) -> one log line, per batch."""
    consumer = Consumer(consumer_config(settings, f"{topics.input}.group", BASELINE_CLIENT_ID))
    counter = DeliveryCounter()
    # Producer-wide callback, as vpipe's: a per-call `on_delivery=` costs ~0.3 µs per produce.
    producer = Producer({**producer_config(settings, BASELINE_CLIENT_ID), "on_delivery": counter})
    first_at: float | None = None
    consumed = 0
    deadline = time.monotonic() + RUN_TIMEOUT_S
    consumer.subscribe([topics.input])
    try:
        while consumed < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"baseline: {consumed} of {expected} consumed")
            messages = [m for m in consumer.consume(FETCH_MAX, POLL_TIMEOUT_S) if m.error() is None]
            if messages and first_at is None:
                first_at = time.time()
            for message in messages:
                value = message.value()
                orjson.loads(value)
                produce_waiting_for_room(producer, topics.output, value, message.key())
            producer.poll(0)
            if messages:
                consumer.commit(asynchronous=True)
                consumed += len(messages)
                logger.info("batch of %d records done, %d consumed", len(messages), consumed)
        unacknowledged = producer.flush(30)
        acked_at = time.time()
    finally:
        consumer.close()
    if counter.failed or unacknowledged or first_at is None:
        raise RuntimeError(f"baseline: {counter.failed + unacknowledged} deliveries failed")
    return Clock(first_consumed=first_at, last_acked=acked_at)


# -- vpipe: the same work through the runtime -----------------------------------------------


class PassThroughHandler:
    """A minimal record handler: parse the JSON and produce the original bytes, with one log
    line per FETCH_MAX offsets of a partition (about one per batch, as the baseline logs).

    Its outcome is the `Output` itself (Done with that one output). The first call starts the
    clock, and the profiler if any, then removes itself: the loop looks `handle` up once per
    fetch, so later fetches call the plain method with no first-record check."""

    def __init__(
        self, output_topic: str, logger: logging.Logger, profiler: cProfile.Profile | None
    ) -> None:
        self._output_topic = output_topic
        self._log = logger
        self._profiler = profiler
        self.first_at: float | None = None
        self.handle = self._handle_first

    def handle(self, record: Record) -> Output:
        value = record.value
        orjson.loads(value or b"")
        if not record.offset % FETCH_MAX:
            self._log.info("batch handled", extra={"records": FETCH_MAX, "offset": record.offset})
        return Output(self._output_topic, value, record.key)

    def _handle_first(self, record: Record) -> Output:
        """Start the clock, and the profiler if any (so the group join is not profiled). The
        loop calls this for the rest of the first fetch too."""
        if self.first_at is None:
            self.first_at = time.time()
            if self._profiler is not None:
                self._profiler.enable()
            del self.handle
        return self.handle(record)


class DeliveryWatcher(threading.Thread):
    """Stops the loop once `expected` outputs are acknowledged, read from the worker's
    `vpipe_messages_produced_total{result="ok"}` counter every WATCH_INTERVAL_S."""

    def __init__(self, loop: ProcessingLoop, output_topic: str, expected: int) -> None:
        super().__init__(name="bench-delivery-watcher", daemon=True)
        self._loop = loop
        self._labels = {"worker": WORKER, "topic": output_topic, "result": "ok"}
        self._expected = expected
        self._cancelled = threading.Event()
        self.delivered = 0
        self.finished_at: float | None = None

    def run(self) -> None:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not self._cancelled.wait(WATCH_INTERVAL_S) and time.monotonic() < deadline:
            self.delivered = int(
                REGISTRY.get_sample_value("vpipe_messages_produced_total", self._labels) or 0
            )
            if self.delivered >= self._expected:
                self.finished_at = time.time()
                break
        self._loop.request_stop()

    def cancel(self) -> None:
        self._cancelled.set()


def worker_spec(topics: Topics) -> WorkerSpec:
    return WorkerSpec(
        name=WORKER,
        domain=DOMAIN,
        handler=f"{__name__}:PassThroughHandler",  # never loaded: run_vpipe builds the handler
        input_topics=(topics.input,),
        output_topics=(topics.output,),
    )


def run_vpipe(
    settings: CoreSettings,
    env: Mapping[str, str],
    topics: Topics,
    expected: int,
    profiler: cProfile.Profile | None = None,
    spans: bool = False,
) -> Clock:
    try:
        return run_worker_until_delivered(settings, env, topics, expected, profiler, spans=spans)
    finally:
        gc.collect()  # the runtime's clients sit in reference cycles (stats_cb): close them now


def run_worker_until_delivered(
    settings: CoreSettings,
    env: Mapping[str, str],
    topics: Topics,
    expected: int,
    profiler: cProfile.Profile | None,
    make_handler: Callable[[Any, Topics], Any] | None = None,
    spans: bool = False,
) -> Clock:
    """Assembled as `vpipe_core.runner` does it: context, clients, router, loop, metrics server,
    JSON logs; stopped with `request_stop()` once `expected` outputs are acknowledged.
    `make_handler(ctx, topics)` replaces the pass-through handler (it must set `first_at`).
    `spans`: with the tracing the OTEL_* variables of the process environment ask for."""
    ctx = _context(worker_spec(topics), 1, f"{topics.input}.group", settings, env)
    if make_handler is None:
        handler = PassThroughHandler(topics.output, ctx.logger, profiler)
    else:
        handler = make_handler(ctx, topics)
    tracing = tracing_for(ctx) if spans else None
    loop = _connect(ctx, handler, [topics.input], tracing)
    server = HealthServer(ctx.health, free_port(), bind="127.0.0.1")
    watcher = DeliveryWatcher(loop, topics.output, expected)
    server.start()
    watcher.start()
    ctx.health.starting = False
    try:
        loop.run()
    finally:
        if profiler is not None:
            profiler.disable()
        watcher.cancel()
        watcher.join()
        server.stop()
        if tracing is not None:
            tracing.close()  # exports what is left: not timed (the watcher stopped the clock)
    if watcher.finished_at is None or handler.first_at is None:
        raise RuntimeError(f"vpipe: {watcher.delivered} of {expected} delivered")
    return Clock(first_consumed=handler.first_at, last_acked=watcher.finished_at)


# -- the contest ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSetup:
    bootstrap: str
    env: dict[str, str]
    settings: CoreSettings
    run_id: str
    messages: int
    contestants: tuple[str, ...] = CONTESTANTS

    def loaded_topics(self, contestant: str, repeat: int) -> Topics:
        """Fresh input and output topics; the input holds `messages` records."""
        topics = fresh_topics(self.bootstrap, self.run_id, contestant, repeat)
        preload(self.bootstrap, topics.input, self.messages)
        return topics


def prepare(bootstrap: str, root: Path, messages: int, spans: bool = False) -> BenchSetup:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LOG_DIR": str(root / "logs"),
        # As in the test harness: the memory-only broker takes about half the session timeout
        # to form a new group (23 s with the 45 s default); 6 s is also Kafka's shortest.
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
    }
    ensure_topics(bootstrap, [dlq_topic(DOMAIN)], PARTITIONS)  # the runner requires it
    settings = load_settings(CoreSettings, env)
    contestants = (*CONTESTANTS, SPANS) if spans else CONTESTANTS
    return BenchSetup(bootstrap, env, settings, uuid.uuid4().hex[:8], messages, contestants)


def setup_vpipe_logging(settings: CoreSettings, console: TextIO) -> None:
    """The worker's logging as the runner sets it up; the console goes to `console`."""
    configure_logging(settings, worker=WORKER, instance=1, domain=DOMAIN, console_stream=console)


def run_once(setup: BenchSetup, contestant: str, repeat: int, baseline_log: logging.Logger):
    topics = setup.loaded_topics(contestant, repeat)
    if contestant == "baseline":
        clock = run_baseline(setup.settings, topics, setup.messages, baseline_log)
    else:
        spans = contestant == SPANS
        clock = run_vpipe(setup.settings, setup.env, topics, setup.messages, spans=spans)
    result = measure(contestant, setup.bootstrap, topics, setup.messages, clock)
    print(f"  run {repeat}: {contestant:<8} {result.rate:>9,.0f} msg/s", file=sys.stderr)
    return result


def run_contest(setup: BenchSetup, repeat: int, baseline_log: logging.Logger) -> list[RunResult]:
    """baseline, vpipe, (spans,) baseline, vpipe, ...: `repeat` runs each."""
    return [
        run_once(setup, contestant, number, baseline_log)
        for number in range(1, repeat + 1)
        for contestant in setup.contestants
    ]


def profile_vpipe(setup: BenchSetup) -> cProfile.Profile:
    """One more vpipe run under cProfile (loop thread, from the first record), not timed."""
    profiler = cProfile.Profile()
    topics = setup.loaded_topics("profiled", 0)
    run_vpipe(setup.settings, setup.env, topics, setup.messages, profiler)
    return profiler


# -- report ---------------------------------------------------------------------------------


def machine_description() -> str:
    return (
        f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, "
        f"confluent-kafka {importlib.metadata.version('confluent-kafka')} "
        f"(librdkafka {confluent_kafka.libversion()[0]})"
    )


def print_header(broker: str, messages: int, repeat: int) -> None:
    print(f"machine:  {machine_description()}")
    print(f"broker:   {broker}")
    print(
        f"workload: {messages} JSON records of ~{PAYLOAD_BYTES} bytes, {PARTITIONS} partitions, "
        f"{repeat} runs per contestant, alternating\n"
    )


ROW = "{:>3}  {:<10} {:>9} {:>8} {:>9} {:>9}"


def print_runs(results: list[RunResult]) -> None:
    print(ROW.format("run", "contestant", "messages", "seconds", "msg/s", "acked s"))
    for number, result in enumerate(results, start=1):
        print(
            ROW.format(
                number,
                result.contestant,
                result.messages,
                f"{result.seconds:.3f}",
                f"{result.rate:.0f}",
                f"{result.acked_seconds:.3f}",
            )
        )


def print_summary(
    results: list[RunResult], repeat: int, contestants: tuple[str, ...], spans_received: int
) -> None:
    print(f"\nmedian of {repeat} run(s) each")
    print(ROW.format("", "contestant", "messages", "seconds", "msg/s", "acked s"))
    rates = {}
    for contestant in contestants:
        mine = [result for result in results if result.contestant == contestant]
        rates[contestant] = statistics.median(result.rate for result in mine)
        seconds = statistics.median(result.seconds for result in mine)
        acked = statistics.median(result.acked_seconds for result in mine)
        row = (contestant, mine[0].messages, f"{seconds:.3f}", f"{rates[contestant]:.0f}")
        print(ROW.format("", *row, f"{acked:.3f}"))
    ratio = rates["vpipe"] / rates["baseline"]
    verdict = "meets the target" if ratio >= TARGET_RATIO else "BELOW the target"
    print(f"\nratio vpipe / baseline = {ratio:.2f} (target >= {TARGET_RATIO}): {verdict}")
    if SPANS in rates:
        sent = repeat * results[0].messages
        print(
            f"ratio spans on / off = {rates[SPANS] / rates['vpipe']:.2f} "
            f"(spans / baseline = {rates[SPANS] / rates['baseline']:.2f}); "
            f"the collector stand-in received {spans_received} spans for {sent} records"
        )


def print_profile(profiler: cProfile.Profile) -> None:
    for order, top in (("cumulative", PROFILE_TOP_CUMULATIVE), ("tottime", PROFILE_TOP_OWN_TIME)):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(top)
        print(f"\n-- profiled vpipe run, top {top} by {order} --")
        print(text.getvalue().strip())


# -- main -----------------------------------------------------------------------------------


@contextlib.contextmanager
def collector(spans: bool) -> Iterator[Any]:
    """With `spans`: a collector stand-in, named by the OTEL_* variables the SDK reads (set in
    this process for the run, so the runs without spans see them too but build no tracing)."""
    if not spans:
        yield None
        return
    from vpipe_testing.otlp import OtlpReceiver

    with OtlpReceiver(discard=True) as otlp, contextlib.ExitStack() as restore:
        for name, value in {**otlp.env, "OTEL_BSP_SCHEDULE_DELAY": "5000"}.items():
            restore.callback(_restore_env, name, os.environ.get(name))
            os.environ[name] = value
        yield otlp


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_passthrough",
        description="Pass-through throughput of the vpipe runtime against bare confluent-kafka.",
    )
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="records per run")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="runs per contestant")
    parser.add_argument(
        "--spans",
        action="store_true",
        help="add a vpipe run with OpenTelemetry spans on, exported over OTLP/HTTP to loopback",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the measured runs, one more vpipe run under cProfile; print its hot spots",
    )
    args = parser.parse_args(argv)
    if args.messages < 1 or args.repeat < 1:
        parser.error("--messages and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profiler = None
    with (
        tempfile.TemporaryDirectory(prefix="vpipe-bench-") as tmp,
        broker_bootstrap() as (bootstrap, broker),
        open(Path(tmp) / "vpipe-console.jsonl", "w") as console,
        collector(args.spans) as otlp,
    ):
        setup = prepare(bootstrap, Path(tmp), args.messages, args.spans)
        setup_vpipe_logging(setup.settings, console)
        baseline_log = baseline_logger(Path(tmp) / "baseline.log")
        results = run_contest(setup, args.repeat, baseline_log)
        if args.profile:
            profiler = profile_vpipe(setup)
        logging.shutdown()  # close the log files before their directory goes
    print_header(broker, args.messages, args.repeat)
    print_runs(results)
    print_summary(results, args.repeat, setup.contestants, otlp.count if otlp else 0)
    if profiler is not None:
        print_profile(profiler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
