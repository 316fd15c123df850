"""`vpipe demo`: installed demo scenarios end to end on a local broker, with live progress.

A scenario (entry-point group `vpipe.demos`, see `vpipe_core.demo`) names the workers, topics and
events; this command starts the broker and one process per worker instance, feeds the events,
shows progress from the workers' own /metrics, and exits 0 only when every event is accounted for.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import click

from vpipe_core.demo import DemoScenario, installed_scenarios


@click.command("demo")
@click.option("--scenario", help="Demo scenario to run (default: the first installed).")
@click.option("--events", default=500, show_default=True, help="Events to feed.")
@click.option(
    "--fault-rate",
    default=0.1,
    show_default=True,
    help="Share of events that fail (the scenario decides how).",
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
    scenario: str | None,
    events: int,
    fault_rate: float,
    duration: float,
    keep_running: bool,
    workdir: Path | None,
) -> None:
    """Run a pipeline on a local Kafka-protocol broker and show what happens to every event."""
    scenarios = installed_scenarios()
    if not scenarios:
        raise click.ClickException("no demo scenario is installed; run `python3 run.py demo`")
    name = scenario or sorted(scenarios)[0]
    if name not in scenarios:
        raise click.ClickException(
            f"no scenario {name!r}; installed: {', '.join(sorted(scenarios))}"
        )
    root = workdir or Path(tempfile.mkdtemp(prefix="vpipe-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    click.echo(f"scenario     {name}: {scenarios[name].description}")
    sys.exit(_run(scenarios[name], events, fault_rate, duration, keep_running, root))


def _run(
    scn: DemoScenario, events: int, fault_rate: float, duration: float, keep: bool, root: Path
) -> int:
    from vpipe_core.registry import load_worker
    from vpipe_core.testing.broker import LocalBroker
    from vpipe_core.testing.kafka import ensure_topics, produce
    from vpipe_core.testing.workers import WorkerProcess, worker_environment

    workers: list[WorkerProcess] = []
    with LocalBroker(log_path=root / "broker.log") as broker:
        click.echo(f"broker       {broker.bootstrap} (Tansu, in memory)")
        ensure_topics(broker.bootstrap, list(scn.topics), partitions=4)
        env = worker_environment(
            broker.bootstrap, root, JSON_LOGS="false", LOG_LEVEL="WARNING", **scn.env
        )
        try:
            for name, instances in scn.workers:
                spec = load_worker(name)
                for instance in range(1, instances + 1):
                    port = spec.port_for(instance)
                    workers.append(WorkerProcess(name, env, root, instance, port).start())
                    click.echo(f"worker       {name}-{instance} on :{port}")
            for worker in workers:
                worker.wait_ready(60)
            payloads, dead_expected = scn.make_events(events, fault_rate, 7)
            produce(broker.bootstrap, scn.input_topic, payloads)
            click.echo(f"fed          {events} events ({dead_expected} expected in the DLQ)\n")
            counts = _watch(scn, workers, events, dead_expected, duration, keep)
        except KeyboardInterrupt:
            click.echo("\ninterrupted; stopping everything")
            return 130
        finally:
            for worker in workers:
                worker.stop()
    return _summary(counts, events, dead_expected, root)


def _scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            text = resp.read().decode()
    except OSError:
        return []
    return [
        (s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples
    ]


def _progress(scn: DemoScenario, workers: list) -> dict[str, int]:
    counts = dict.fromkeys(("consumed", "written", "retried", "redelivered", "dlq"), 0)
    for worker in workers:
        for name, labels, value in _scrape(worker.port):
            topic = labels.get("topic")
            if name == "vpipe_messages_consumed_total" and topic == scn.input_topic:
                counts["consumed"] += int(value)
            elif name == "vpipe_message_outcomes_total" and labels.get("outcome") == "retry":
                counts["retried"] += int(value)
            elif name == "vpipe_messages_produced_total" and labels.get("result") == "ok":
                if topic in scn.output_topics:
                    counts["written"] += int(value)
                elif topic == scn.dlq_topic:
                    counts["dlq"] += int(value)
                elif topic == scn.input_topic:
                    counts["redelivered"] += int(value)
    return counts


def _watch(
    scn: DemoScenario, workers: list, events: int, dead: int, duration: float, keep: bool
) -> dict[str, int]:
    deadline = time.monotonic() + duration
    live = sys.stdout.isatty()
    counts, last_line = _progress(scn, workers), ""
    while keep or time.monotonic() < deadline:
        counts = _progress(scn, workers)
        line = "  ".join(f"{k} {v:>5}" for k, v in counts.items())
        if live:
            click.echo("\r" + line, nl=False)
        elif line != last_line:
            click.echo(line)
        last_line = line
        if not keep and counts["written"] >= events - dead and counts["dlq"] >= dead:
            break
        time.sleep(0.5 if live else 2.0)
    if live:
        click.echo("")
    return counts


def _summary(counts: dict[str, int], events: int, dead: int, root: Path) -> int:
    click.echo("\nstage        count")
    for key, value in counts.items():
        click.echo(f"{key:12} {value}")
    click.echo(
        f"\nevents {events}: written {counts['written']}, dead-lettered {counts['dlq']} "
        f"(expected {dead}); logs under {root / 'logs'}"
    )
    missing = events - counts["written"] - counts["dlq"]
    if missing > 0:
        click.echo(f"NOT ACCOUNTED: {missing} event(s)", err=True)
        return 1
    click.echo("every event is accounted for")
    return 0
