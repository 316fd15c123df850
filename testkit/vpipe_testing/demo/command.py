"""`vpipe demo`: the installed domains end to end on loopback, with live progress.

Starts the local broker, creates every topic the chosen workers declare, lets each scenario
(entry-point group `vpipe.demos`, see `vpipe_testing.demo`) start its stand-ins and feed its
events, runs one process per worker instance, shows per-stage progress from the workers' own
/metrics, and exits 0 only when every event is accounted for. Every process it started is
stopped, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import click

from vpipe_testing.demo import (
    Accounting,
    DemoOptions,
    DemoRun,
    DemoScenario,
    DemoServices,
    MetricsSnapshot,
    installed_scenarios,
)
from vpipe_testing.demo.chaos import Chaos, Spawn
from vpipe_testing.demo.hosts import (
    HostLoss,
    HostSpawn,
    SimulatedHost,
    placement,
    simulated_hosts,
)

EXIT_INTERRUPTED = 130


@click.command("demo")
@click.option(
    "--scenario",
    "chosen",
    multiple=True,
    help="Scenario to run (repeatable; default: every installed domain scenario).",
)
@click.option("--events", default=300, show_default=True, help="Events to feed per scenario.")
@click.option(
    "--fault-rate",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of events that meet a fault (poison rows, failing or missing files).",
)
@click.option(
    "--duration", default=170.0, show_default=True, help="Give up after this many seconds."
)
@click.option("--keep-running", is_flag=True, help="Leave everything running until Ctrl-C.")
@click.option(
    "--rate",
    default=1000.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="ClaimX: events per second the source table offers (ingestion times this far apart); "
    "XACT's events are offered at once.",
)
@click.option("--seed", default=7, show_default=True, help="Seed of the generated events.")
@click.option(
    "--chaos-interval",
    type=click.FloatRange(min=0),
    default=0.0,
    help="SIGKILL a random worker instance every this many seconds and restart it (0: never).",
)
@click.option(
    "--broker",
    "broker_kind",
    type=click.Choice(["local", "kafka"]),
    default="local",
    show_default=True,
    help="local: the memory-only Kafka-protocol broker; kafka: Apache Kafka 4.x (needs Java and "
    "Maven; its jars are fetched once into VPIPE_TEST_KAFKA_CACHE, default ~/.cache/vpipe/kafka).",
)
@click.option(
    "--broker-kills",
    type=click.IntRange(min=0),
    default=0,
    help="SIGKILL the broker this many times, 12 s apart, restarting it on its log directory "
    "(--broker kafka only).",
)
@click.option(
    "--scale",
    is_flag=True,
    help="Move partitions: every multi-instance worker goes to 3 instances, then 1, then 2.",
)
@click.option(
    "--hosts",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="Simulate this many hosts: each has its own state, cache and log directories, host "
    "name and loopback address, and runs one instance of every worker; they share only the "
    "broker, the object store and the tables.",
)
@click.option(
    "--lose-host",
    is_flag=True,
    help="Once the first rows are written, lose the host of the active poller: SIGKILL "
    "all its processes and delete its directories; then feed duplicates of handled events "
    "(needs --hosts 2 or more).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where logs, tables and files go (default: a new temporary directory).",
)
def demo(
    chosen: tuple[str, ...],
    events: int,
    fault_rate: float,
    duration: float,
    keep_running: bool,
    rate: float,
    seed: int,
    chaos_interval: float,
    broker_kind: str,
    broker_kills: int,
    scale: bool,
    hosts: int,
    lose_host: bool,
    workdir: Path | None,
) -> None:
    """Run the pipelines on a local Kafka-protocol broker and account for every event.

    Everything runs on loopback: the broker, the Kusto stand-in serving generated events, moto
    S3 holding their files, a file:// OneLake store and local Delta tables. Each worker runs as
    its own process, two instances of each multi-instance worker.
    """
    scenarios = _choose(installed_scenarios(), chosen)
    root = workdir or Path(tempfile.mkdtemp(prefix="vpipe-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    options = DemoOptions(events=events, fault_rate=fault_rate, seed=seed, rate=rate)
    for scenario in scenarios:
        click.echo(f"scenario     {scenario.name}: {scenario.description}")
    if broker_kills and broker_kind != "kafka":
        raise click.UsageError(
            "--broker-kills needs --broker kafka (the local broker keeps nothing)"
        )
    if lose_host and hosts < 2:
        raise click.UsageError("--lose-host needs --hosts 2 or more (one must survive)")
    if scale and hosts > 1:
        raise click.UsageError("--scale works on one host; --hosts runs every worker on each")
    chaos = ChaosPlan(chaos_interval, broker_kills, scale, seed)
    layout = Layout(hosts, lose_host)
    with _sigterm_as_interrupt():
        sys.exit(_run(scenarios, options, duration, keep_running, root, broker_kind, chaos, layout))


def _choose(installed: dict[str, DemoScenario], chosen: Sequence[str]) -> list[DemoScenario]:
    if not installed:
        raise click.ClickException(
            "no demo scenario is installed (the test kit's scenarios need their domain: "
            "vpipe-xact, vpipe-claimx); from a checkout run `python3 run.py demo`"
        )
    unknown = [name for name in chosen if name not in installed]
    if unknown:
        raise click.ClickException(
            f"no scenario {', '.join(unknown)}; installed: {', '.join(sorted(installed))}"
        )
    names = list(chosen) or [name for name, s in sorted(installed.items()) if s.default]
    return [installed[name] for name in names or sorted(installed)[:1]]


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@attrs.frozen
class ChaosPlan:
    kill_interval_s: float
    broker_kills: int
    scale: bool
    seed: int

    def build(self, broker: Any) -> Chaos | None:
        if not (self.kill_interval_s or self.broker_kills or self.scale):
            return None
        return Chaos(self.seed, self.kill_interval_s, broker, self.broker_kills, scale=self.scale)


@attrs.frozen
class Layout:
    hosts: int
    lose_host: bool


def _run(
    scenarios: list[DemoScenario],
    options: DemoOptions,
    duration: float,
    keep: bool,
    root: Path,
    broker_kind: str,
    plan: ChaosPlan,
    layout: Layout,
) -> int:
    from vpipe_testing.brokers import describe, running_broker

    started = time.monotonic()
    workers: list[Any] = []
    try:
        with contextlib.ExitStack() as stack:
            broker = stack.enter_context(running_broker(root / "broker", broker_kind))
            click.echo(f"broker       {broker.bootstrap}: {describe(broker_kind)}")
            services = DemoServices(broker.bootstrap, root, stack)
            create_topics(scenarios, broker.bootstrap)
            runs = [_prepare(scenario, services, options) for scenario in scenarios]
            hosts = simulated_hosts(root, layout.hosts)
            spawn = spawner(scenarios, runs, services, broker.client_env, hosts)
            start_workers(scenarios, spawn, workers, hosts)
            chaos = plan.build(broker)
            loss = _host_loss(layout, hosts, scenarios, runs)
            click.echo(f"ready        {len(workers)} processes in {_since(started)}")
            for scenario, run in zip(scenarios, runs, strict=True):
                run.feed()
                click.echo(f"fed          {scenario.name}: {options.events} events\n")
            accountings = _watch(scenarios, runs, workers, duration, keep, chaos, spawn, loss)
            domains = _domains(workers)
            stop_workers(workers)
            code = _summary(scenarios, runs, accountings, root, started, hosts)
            _trace_commands(broker.bootstrap, domains, root)
            if loss is not None and loss.failure:
                click.echo(f"FAILED: after the host loss, {loss.failure}", err=True)
                return 1
            return code
    except KeyboardInterrupt:
        click.echo("\ninterrupted: stopping every process")
        return EXIT_INTERRUPTED
    finally:
        stop_workers(workers)


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.0f} s"


def create_topics(scenarios: list[DemoScenario], bootstrap: str) -> None:
    from vpipe_core.kafka.topics import create_worker_topics
    from vpipe_core.plugins.manager import declared_plugin_topics
    from vpipe_core.registry import load_worker

    env: dict[str, str] = {}
    for scenario in scenarios:
        env.update(scenario.env)
    specs = [load_worker(name) for scenario in scenarios for name, _ in scenario.workers]
    plugin_topics = declared_plugin_topics(environ=env)  # Kafka creates none on first produce
    try:
        topics = create_worker_topics(bootstrap, specs, env, extra=plugin_topics)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"topics       {len(topics)} created")


def _prepare(scenario: DemoScenario, services: DemoServices, options: DemoOptions) -> DemoRun:
    click.echo(f"preparing    {scenario.name}: stand-ins and {options.events} events")
    return scenario.prepare(services, options)


def _host_loss(
    layout: Layout, hosts: list[SimulatedHost], scenarios: list[DemoScenario], runs: list[DemoRun]
) -> HostLoss | None:
    if not layout.lose_host:
        return None
    from vpipe_core.registry import load_worker
    from vpipe_core.spec import Kind

    kinds = [load_worker(name).kind for scenario in scenarios for name, _ in scenario.workers]
    pollers = sum(1 for kind in kinds if kind is Kind.SOURCE)
    named = [(scenario.name, run) for scenario, run in zip(scenarios, runs, strict=True)]
    return HostLoss(hosts, pollers, named, scrape)


def spawner(
    scenarios: list[DemoScenario],
    runs: list[DemoRun],
    services: DemoServices,
    client_env: dict[str, str],
    hosts: list[SimulatedHost],
) -> HostSpawn:
    """spawn(worker name, instance, host) -> a started WorkerProcess with its scenario's
    settings on that host (the first host when not given)."""
    from vpipe_core.registry import load_worker
    from vpipe_testing.workers import WorkerProcess, worker_environment

    env_of: dict[str, dict[str, str]] = {}
    for scenario, run in zip(scenarios, runs, strict=True):
        env = worker_environment(
            services.bootstrap,
            services.root,
            JSON_LOGS="true",
            LOG_LEVEL="INFO",
            **{**client_env, **scenario.env, **run.env},
        )
        env_of.update((name, env) for name, _ in scenario.workers)

    def spawn(name: str, instance: int, host: SimulatedHost | None = None) -> Any:
        host = host or hosts[0]
        port = load_worker(name).port_for(instance)
        env = {**env_of[name], **host.env()} if host.name else env_of[name]
        process = WorkerProcess(
            name, env, host.root, instance, port, address=host.address, host=host.name
        )
        return process.start()

    return spawn


def start_workers(
    scenarios: list[DemoScenario], spawn: HostSpawn, workers: list[Any], hosts: list[SimulatedHost]
) -> None:
    """Start every instance into `workers` (so an interrupt stops the ones already started)."""
    declared = [worker for scenario in scenarios for worker in scenario.workers]
    for host, name, instance in placement(declared, hosts):
        workers.append(spawn(name, instance, host))
    where = f" on {len(hosts)} hosts" if len(hosts) > 1 else ""
    click.echo(f"workers      {len(workers)} processes starting{where}")
    for worker in workers:
        worker.wait_ready(90)


def stop_workers(workers: list[Any]) -> None:
    for worker in workers:
        worker.signal(signal.SIGTERM)
    for worker in workers:
        worker.stop()
    workers.clear()


def scrape(worker: Any) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = worker.metrics_text()
    except OSError:
        return []
    return [
        (s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples
    ]


def _snapshot(workers: list[Any]) -> MetricsSnapshot:
    return MetricsSnapshot(sample for worker in workers for sample in scrape(worker))


def _watch(
    scenarios: list[DemoScenario],
    runs: list[DemoRun],
    workers: list[Any],
    duration: float,
    keep: bool,
    chaos: Chaos | None,
    spawn: Spawn,
    loss: HostLoss | None,
) -> list[Accounting]:
    deadline = time.monotonic() + duration
    live = sys.stdout.isatty()
    last_lines: list[str] = []
    supervisor = Supervisor()
    while True:
        accountings = [run.account(final=False) for run in runs]
        metrics = _snapshot(workers)
        lines = [
            f"{scenario.name:7} " + "  ".join(f"{k} {v}" for k, v in run.progress(metrics))
            for scenario, run in zip(scenarios, runs, strict=True)
        ]
        if lines != last_lines:
            if live and last_lines:
                click.echo(f"\x1b[{len(last_lines)}A", nl=False)
            for line in lines:
                click.echo(("\x1b[2K" if live else "") + line)
            last_lines = lines
        done = all(a.complete and a.written + a.dead >= a.events for a in accountings)
        done = done and not (chaos is not None and chaos.pending)
        done = done and not (loss is not None and loss.pending)
        if (done and not keep) or (not keep and time.monotonic() > deadline):
            break
        if supervisor.check(workers):
            break
        if chaos is not None:
            chaos.tick(workers, spawn)
        if loss is not None:
            loss.tick(accountings, workers)
        time.sleep(1.0 if live else 3.0)
    return [run.account(final=True) for run in runs]


RESTARTS = 5  # per instance, as the units allow 10 starts in 300 s


class Supervisor:
    """What systemd's `Restart=on-failure` does for the units: an instance that exits with a
    code other than 2 (a configuration error, never restarted) is started again, at most
    `RESTARTS` times. `check` says (and returns True) when one will not come back."""

    def __init__(self) -> None:
        self._restarts: dict[tuple[str, int, str], int] = {}

    def check(self, workers: list[Any]) -> bool:
        exited = [w for w in workers if w.process is not None and w.process.poll() is not None]
        stopped = False
        for worker in exited:
            code = worker.process.returncode
            last = (worker.output().strip().splitlines() or ["(no output)"])[-1][:300]
            key = (worker.name, worker.instance, worker.host)
            if code != 2 and self._restarts.get(key, 0) < RESTARTS:
                self._restarts[key] = self._restarts.get(key, 0) + 1
                worker.start()
                name = f"{worker.name}-{worker.instance}"
                click.echo(f"restarted    {name} after exit {code}: {last}")
                continue
            click.echo(
                f"STOPPED      {worker.name}-{worker.instance} exited with code {code}: {last}",
                err=True,
            )
            stopped = True
        return stopped


def _summary(
    scenarios: list[DemoScenario],
    runs: list[DemoRun],
    accountings: list[Accounting],
    root: Path,
    started: float,
    hosts: list[SimulatedHost],
) -> int:
    click.echo(f"\n{'scenario':10} {'events':>7} {'written':>8} {'dead':>6} {'missing':>8}")
    for scenario, acc in zip(scenarios, accountings, strict=True):
        click.echo(
            f"{scenario.name:10} {acc.events:>7} {acc.written:>8} {acc.dead:>6} "
            f"{len(acc.missing):>8}"
        )
        for label, value in acc.details:
            click.echo(f"  {label}: {value}")
    click.echo("")
    for run in runs:
        for label, where in run.outputs():
            click.echo(f"{label:14} {where}")
    logs = root / "logs" if len(hosts) == 1 else root / "hosts" / "host*" / "logs"
    click.echo(f"{'logs':14} {logs}  (one JSON log per worker instance)")
    click.echo(f"\nfinished in {_since(started)}")
    failures = [(s.name, a) for s, a in zip(scenarios, accountings, strict=True) if not _ok(a)]
    for name, acc in failures:
        if acc.missing:
            click.echo(f"NOT ACCOUNTED in {name}: {_sample(acc.missing)}", err=True)
        if acc.duplicated:
            click.echo(f"DUPLICATED in {name}: {_sample(acc.duplicated)}", err=True)
    if failures:
        return 1
    click.echo("every event is accounted for")
    return 0


def _domains(workers: list[Any]) -> set[str]:
    from vpipe_core.registry import load_worker

    return {load_worker(name).domain for name in {worker.name for worker in workers}}


def _trace_commands(bootstrap: str, domains: set[str], root: Path) -> None:
    """How to follow one retried and one dead-lettered event with `vpipe trace`."""
    from vpipe_testing.demo.traces import trace_examples

    examples = trace_examples(bootstrap, domains, root / "logs")
    if not examples:
        click.echo("\nfollow one event: no retried or dead-lettered event in this run")
    else:
        click.echo("\nfollow one event (the topics go with the demo's broker, the logs stay):")
    for label, command in examples:
        click.echo(f"  {label}:\n    {command}")


def _ok(accounting: Accounting) -> bool:
    return accounting.complete and accounting.written + accounting.dead >= accounting.events


def _sample(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:5])
    return f"{len(ids)} event(s): {shown}" + (" ..." if len(ids) > 5 else "")
