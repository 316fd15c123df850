"""`vpipe demo`: the runtime end to end on a local broker, with live progress and a summary.

Until the domain demo lands (issue 6) it drives the test domain's echo worker (two instances) and
its retry scheduler: a share of events fails once and comes back through the retry tier, a share
is poison and lands in the DLQ. It exits 0 only when every event is accounted for.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import click

ECHO, SCHEDULER = "testdom-echo", "testdom-retry-scheduler"
IN, OUT, DLQ = "testdom.in", "testdom.out", "testdom.dlq"
PORTS = {ECHO: 8900, SCHEDULER: 8920}


def _events(count: int, fault_rate: float, seed: int) -> tuple[list[bytes], int]:
    import orjson

    rng = random.Random(seed)
    events, poison = [], 0
    for i in range(count):
        roll = rng.random()
        if roll < fault_rate / 2:
            events.append(b'{"id": ' + str(i).encode() + b", broken")
            poison += 1
        elif roll < fault_rate:
            events.append(orjson.dumps({"id": i, "fail_times": 1}))
        else:
            events.append(orjson.dumps({"id": i}))
    return events, poison


def _scrape(port: int) -> dict[str, float]:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            text = resp.read().decode()
    except OSError:
        return totals
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(
                f"|{v}"
                for k, v in sorted(sample.labels.items())
                if k in ("topic", "outcome", "result")
            )
            totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def _progress(workers: list) -> dict[str, int]:
    totals: dict[str, float] = {}
    for worker in workers:
        for key, value in _scrape(worker.port).items():
            totals[key] = totals.get(key, 0.0) + value
    produced = "vpipe_messages_produced_total"
    return {
        "consumed": int(totals.get(f"vpipe_messages_consumed_total|{IN}", 0)),
        "written": int(totals.get(f"{produced}|ok|{OUT}", 0)),
        "retried": int(totals.get("vpipe_message_outcomes_total|retry", 0)),
        "redelivered": int(totals.get(f"{produced}|ok|{IN}", 0)),
        "dlq": int(totals.get(f"{produced}|ok|{DLQ}", 0)),
    }


@click.command("demo")
@click.option("--events", default=500, show_default=True, help="Events to feed.")
@click.option(
    "--fault-rate",
    default=0.1,
    show_default=True,
    help="Share of events that fail (half transient, half poison).",
)
@click.option("--duration", default=120.0, show_default=True, help="Give up after seconds.")
@click.option("--keep-running", is_flag=True, help="Leave everything running until Ctrl-C.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where logs go (default: a temporary directory).",
)
def demo(
    events: int, fault_rate: float, duration: float, keep_running: bool, workdir: Path | None
) -> None:
    """Run workers against a local Kafka-protocol broker and show what happens to every event."""
    from vpipe_core.registry import installed_worker_names

    if ECHO not in installed_worker_names():
        raise click.ClickException(
            "the demo workers are not installed; run it with `python3 run.py demo`"
        )
    root = workdir or Path(tempfile.mkdtemp(prefix="vpipe-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    sys.exit(_run(events, fault_rate, duration, keep_running, root))


def _run(events: int, fault_rate: float, duration: float, keep: bool, root: Path) -> int:
    from vpipe_core.testing.broker import LocalBroker
    from vpipe_core.testing.kafka import ensure_topics, produce
    from vpipe_core.testing.workers import WorkerProcess, worker_environment

    workers: list[WorkerProcess] = []
    with LocalBroker(log_path=root / "broker.log") as broker:
        click.echo(f"broker       {broker.bootstrap} (Tansu, in memory)")
        ensure_topics(broker.bootstrap, [IN, OUT, DLQ, "testdom.retry.2s"], partitions=4)
        env = worker_environment(
            broker.bootstrap, root, RETRY_DELAYS="2", JSON_LOGS="false", LOG_LEVEL="WARNING"
        )
        try:
            for name, instance in ((ECHO, 1), (ECHO, 2), (SCHEDULER, 1)):
                port = PORTS[name] + instance - 1
                worker = WorkerProcess(name, env, root, instance, port).start()
                workers.append(worker)
                click.echo(f"worker       {name}-{instance} on :{port}")
            for worker in workers:
                worker.wait_ready(60)
            payloads, poison = _events(events, fault_rate, seed=7)
            produce(broker.bootstrap, IN, payloads)
            click.echo(f"fed          {events} events ({poison} poison)\n")
            counts = _watch(workers, events, poison, duration, keep)
        except KeyboardInterrupt:
            click.echo("\ninterrupted; stopping everything")
            return 130
        finally:
            for worker in workers:
                worker.stop()
    return _summary(counts, events, poison, root)


def _watch(workers: list, events: int, poison: int, duration: float, keep: bool) -> dict:
    deadline = time.monotonic() + duration
    counts = _progress(workers)
    live = sys.stdout.isatty()
    last_line = ""
    while keep or time.monotonic() < deadline:
        counts = _progress(workers)
        line = "  ".join(f"{k} {v:>5}" for k, v in counts.items())
        if live:
            click.echo("\r" + line, nl=False)
        elif line != last_line:
            click.echo(line)
        last_line = line
        if not keep and counts["written"] >= events - poison and counts["dlq"] >= poison:
            break
        time.sleep(0.5 if live else 2.0)
    if live:
        click.echo("")
    return counts


def _summary(counts: dict, events: int, poison: int, root: Path) -> int:
    accounted = counts["written"] + counts["dlq"]
    click.echo("\nstage        count")
    for key, value in counts.items():
        click.echo(f"{key:12} {value}")
    click.echo(
        f"\nevents {events}: written {counts['written']}, dead-lettered {counts['dlq']} "
        f"(expected {poison}); logs under {root / 'logs'}"
    )
    if accounted < events:
        click.echo(f"NOT ACCOUNTED: {events - accounted} event(s)", err=True)
        return 1
    click.echo("every event is accounted for")
    return 0
