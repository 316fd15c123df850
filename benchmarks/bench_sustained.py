"""Sustained load: both domains' full pipelines fed at a fixed rate, then stepped up to the knee.

The `vpipe demo` setup (broker, stand-ins, every worker of both domains as its own process, two
instances of each multi-instance worker) without faults. A feeder per domain offers exactly
`--rate` events per second (the XACT events copy generated ones with their attachments; the
ClaimX events are whole projects on the fake API) for `--duration` seconds, then `rate * step`
for `--step-duration` each. Measured:

- offered (by the feeder), accepted (raw records the poller published) and written (rows in
  the domain's events table) per phase, and whether the pipeline kept up (the knee);
- latency per stage, event → each stage's output: a record's timestamp minus the time its event
  was offered (matched through the `traceparent` trace id), and for the events table its row's
  `created_at - ingested_at`; p50 / p99 / p99.9 per phase and per window;
- RSS per worker instance (its process and children, VmRSS from /proc) every `--sample` s.

Prints the tables, writes `sustained.csv` / `sustained.json` (the series) and `sustained.png`
(latency, throughput and RSS over time) into `--out`.

    python -m benchmarks.bench_sustained             # 25 events/s for 300 s, then x2, x4, x8
    python -m benchmarks.bench_sustained --duration 60 --steps 2 --step-duration 30
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.sustained.feed import Feeder, Phase, schedule
from benchmarks.sustained.observe import Origins, Stage, StageTail, Windows, rss_mb
from benchmarks.sustained.plot import plot
from benchmarks.sustained.report import (
    lag_table,
    latency_rows,
    latency_table,
    phase_figures,
    rss_rows,
    rss_table,
    throughput_table,
    write_series,
)
from vpipe_claimx import topics as claimx_topics
from vpipe_testing.demo import DemoOptions, DemoServices, installed_scenarios, table_rows
from vpipe_testing.demo.command import (
    create_topics,
    scrape,
    spawner,
    start_workers,
    stop_workers,
)
from vpipe_testing.demo.hosts import simulated_hosts
from vpipe_xact import topics as xact_topics

DOMAINS = ("xact", "claimx")
POOL = 60  # generated XACT events whose attachments the offered events copy
EVENTS_TABLES = {"xact": "xact_events", "claimx": "claimx_events"}
STAGES = [
    Stage("xact", xact_topics.RAW, raw=True),
    Stage("xact", xact_topics.ENRICHMENT),
    Stage("xact", xact_topics.DOWNLOADS),
    Stage("xact", xact_topics.CACHED),
    Stage("xact", xact_topics.RESULTS),
    Stage("xact", "xact_events (row)"),
    Stage("claimx", claimx_topics.RAW, raw=True),
    Stage("claimx", claimx_topics.ENRICHMENT),
    Stage("claimx", claimx_topics.ENTITIES),
    Stage("claimx", claimx_topics.DOWNLOADS),
    Stage("claimx", claimx_topics.CACHED),
    Stage("claimx", claimx_topics.RESULTS),
    Stage("claimx", "claimx_events (row)"),
]
CAUGHT_UP_LAG_S = 15.0  # drained: no worker's oldest unprocessed record older (batch timers)
FORGET_BEHIND_S = 60.0  # stand-in rows older than the newest accepted by this much are dropped


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    phases = schedule(args.rate, args.duration, args.steps, args.step_duration)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="vpipe-sustained-"))
    print(f"phases       {', '.join(f'{p.name} {p.rate:g}/s for {p.seconds:g} s' for p in phases)}")
    print(f"workdir      {root}")
    with contextlib.ExitStack() as stack:
        run = _Run(stack, root, args, phases)
        return run.measure()


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=25.0, help="events/s per domain")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds at --rate")
    parser.add_argument(
        "--steps",
        type=lambda text: [float(s) for s in text.split(",") if s],
        default=[2.0, 4.0, 8.0],
        help="rate multipliers after the base phase, comma-separated ('' for none)",
    )
    parser.add_argument("--step-duration", type=float, default=60.0, help="seconds per step")
    parser.add_argument("--drain", type=float, default=120.0, help="at most this long after")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per series window")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--broker", choices=["local", "kafka"], default="local")
    parser.add_argument("--out", type=Path, default=Path("docs/perf"), help="CSV, JSON, PNG")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


class _Run:
    """One measured run: the pipelines started, fed, sampled, drained and reported."""

    def __init__(
        self, stack: contextlib.ExitStack, root: Path, args: argparse.Namespace, phases: list[Phase]
    ) -> None:
        from vpipe_testing.brokers import running_broker

        self.args, self.phases, self.root = args, phases, root
        self.broker = stack.enter_context(running_broker(root / "broker", args.broker))
        self.services = DemoServices(self.broker.bootstrap, root, stack)
        self.workers: list[Any] = []
        stack.callback(stop_workers, self.workers)
        self.rss: dict[str, list[tuple[float, float]]] = {}  # instance -> (s, MB)
        self.lag: dict[str, list[tuple[float, float]]] = {}  # worker -> (s, largest lag s)
        self.origins = Origins()

    def measure(self) -> int:
        scenarios = [installed_scenarios()[name] for name in DOMAINS]
        create_topics(scenarios, self.broker.bootstrap)
        options = DemoOptions(events=POOL, fault_rate=0.0, seed=self.args.seed)
        runs = [scenario.prepare(self.services, options) for scenario in scenarios]
        hosts = simulated_hosts(self.root, 1)
        spawn = spawner(scenarios, runs, self.services, self.broker.client_env, hosts)
        ready_at = time.monotonic()
        start_workers(scenarios, spawn, self.workers, hosts)
        print(f"ready        {len(self.workers)} processes in {time.monotonic() - ready_at:.0f} s")
        started = time.time()
        self.windows = Windows(started, self.args.window)
        tail = StageTail(self.broker.bootstrap, STAGES, self.origins, self.windows)
        tail.start()
        feeders = [
            Feeder(domain, run, self.phases, started, self.origins.offered)
            for domain, run in zip(DOMAINS, runs, strict=True)
        ]
        for feeder in feeders:
            feeder.start()
        self._watch(started, feeders, runs, tail)
        self._drain(started, feeders, tail)
        tail.stop()
        tail.join(10)
        stop_workers(self.workers)
        self._table_latencies()
        return self._report(feeders, tail, started)

    def _watch(self, started: float, feeders: list[Feeder], runs: list[Any], tail: Any) -> None:
        end = self.phases[-1].end_s
        while time.time() - started < end:
            time.sleep(self.args.sample)
            elapsed = time.time() - started
            self._sample(elapsed)
            self._forget_read(runs)
            self._check(feeders, tail)
            print(f"{elapsed:6.0f} s  " + "  ".join(self._progress(f) for f in feeders))

    def _progress(self, feeder: Feeder) -> str:
        counts = [self.windows.count(s.domain, s.name) for s in STAGES if s.domain == feeder.domain]
        return f"{feeder.domain} offered {feeder.offered} stages {'/'.join(map(str, counts[:-1]))}"

    def _check(self, feeders: list[Feeder], tail: Any) -> None:
        for thread in (*feeders, tail):
            if thread.error is not None:
                raise RuntimeError(f"{thread.name} failed: {thread.error!r}") from thread.error
        for worker in self.workers:
            if worker.process.poll() is not None:
                last = (worker.output().strip().splitlines() or ["(no output)"])[-1][:300]
                raise RuntimeError(f"{worker.name}-{worker.instance} exited: {last}")

    def _forget_read(self, runs: list[Any]) -> None:
        """Keep the Kusto stand-ins small: every poll copies their rows."""
        for domain, run in zip(DOMAINS, runs, strict=True):
            raw = next(s for s in STAGES if s.domain == domain and s.raw)
            newest = max(self.windows.samples.get((domain, raw.name), {}), default=None)
            if newest is not None:
                accepted_until = self.windows.started + newest * self.windows.window_s
                cutoff = accepted_until - FORGET_BEHIND_S
                run.forget_read(datetime.fromtimestamp(cutoff, UTC))

    def _sample(self, elapsed: float) -> None:
        """RSS of every instance; the largest `vpipe_consumer_lag_seconds` of every worker."""
        lag: dict[str, float] = {}
        for worker in self.workers:
            label = f"{worker.name}-{worker.instance}"
            self.rss.setdefault(label, []).append((elapsed, rss_mb(worker.process.pid)))
            for name, labels, value in scrape(worker):
                if name == "vpipe_consumer_lag_seconds":
                    lag[labels["worker"]] = max(lag.get(labels["worker"], 0.0), value)
        for worker_name, seconds in lag.items():
            self.lag.setdefault(worker_name, []).append((elapsed, seconds))

    def _drain(self, started: float, feeders: list[Feeder], tail: Any) -> None:
        """After the last phase: wait until every offered event has its row and no worker lags
        (or --drain)."""
        deadline = time.time() + self.args.drain
        while time.time() < deadline:
            time.sleep(self.args.sample)
            self._sample(time.time() - started)
            self._check([], tail)
            written = {d: self._rows_written(d) for d in DOMAINS}
            lagging = [w for w, points in self.lag.items() if points[-1][1] > CAUGHT_UP_LAG_S]
            if all(written[f.domain] >= f.offered for f in feeders) and not lagging:
                break
        self.drained_s = time.time() - started - self.phases[-1].end_s

    def _rows_written(self, domain: str) -> int:
        from vpipe_testing.demo import table_count

        return table_count(self.services.tables / EVENTS_TABLES[domain])

    def _table_latencies(self) -> None:
        """Event → row from the events tables: `created_at - ingested_at` per row."""
        for stage in STAGES:
            if stage.name.endswith("(row)"):
                table = self.services.tables / EVENTS_TABLES[stage.domain]
                for row in table_rows(table, ["ingested_at", "created_at"]):
                    ingested, created = row["ingested_at"], row["created_at"]
                    if ingested and created:
                        at = created.timestamp()
                        self.windows.add(stage, at, at - ingested.timestamp())

    def _report(self, feeders: list[Feeder], tail: Any, started: float) -> int:
        offered = {f.domain: f.by_phase for f in feeders}
        figures = phase_figures(self.phases, offered, STAGES, self.windows, self.lag)
        latency = latency_rows(self.phases, STAGES, self.windows)
        memory = rss_rows(self.rss, self.phases[0])
        written = {d: self._rows_written(d) for d in DOMAINS}
        print()
        print("\n".join(throughput_table(figures)))
        print()
        for feeder in feeders:
            missing = feeder.offered - written[feeder.domain]
            print(
                f"{feeder.domain}: offered {feeder.offered}, rows written {written[feeder.domain]}"
                f" ({missing} not written {self.drained_s:.0f} s after the last phase); "
                f"feeder at most {feeder.behind_s:.2f} s behind its schedule"
            )
        for domain in DOMAINS:
            counts = [
                f"{s.name} {self.windows.count(domain, s.name)}"
                for s in STAGES
                if s.domain == domain
            ]
            print(f"{domain} records per stage: {', '.join(counts)}")
        lagging = {
            w: points[-1][1] for w, points in self.lag.items() if points[-1][1] > CAUGHT_UP_LAG_S
        }
        if lagging:
            print(f"STILL LAGGING at the end (seconds): {lagging}")
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        busy = cpu.ru_utime + cpu.ru_stime
        print(
            f"this process (feeders, stand-ins, topic tail): {busy:.0f} CPU-s, "
            f"{busy / (time.time() - started):.0%} of one core"
        )
        if tail.unmatched:
            print(f"records whose event was not matched: {tail.unmatched}")
        print()
        print("\n".join(latency_table(latency)))
        print()
        print("\n".join(lag_table(self.phases, self.lag)))
        print()
        print("\n".join(rss_table(memory)))
        summary = {
            "command": shlex.join([sys.executable.rsplit("/", 1)[-1], "-m", __spec__.name]),
            "argv": sys.argv[1:],
            "machine": _machine(),
            "started": datetime.fromtimestamp(started, UTC).isoformat(),
            "phases": [_phase(p) for p in self.phases],
            "throughput": [
                {
                    **_phase(f.phase),
                    "domain": f.domain,
                    "offered": f.offered,
                    "accepted": f.accepted,
                    "written": f.written,
                    "falling_behind": dict(f.behind),
                    "verdict": f.verdict(),
                }
                for f in figures
            ],
            "offered_total": {f.domain: f.offered for f in feeders},
            "written_total": written,
            "latency": latency,
            "rss": memory,
            "lag_seconds": self.lag,
        }
        csv_path, json_path = write_series(self.args.out, STAGES, self.windows, self.rss, summary)
        title = f"vpipe sustained load, {summary['started'][:16]} UTC, {_machine()}"
        png = plot(
            self.args.out / "sustained.png",
            title,
            self.phases,
            STAGES,
            self.windows,
            self.rss,
            self.lag,
        )
        print(f"\nwrote {csv_path}, {json_path}, {png}")
        return 0 if all(f.kept_up for f in figures if f.phase is self.phases[0]) else 1


def _phase(phase: Phase) -> dict[str, Any]:
    return {"phase": phase.name, "rate": phase.rate, "start_s": phase.start_s, "end_s": phase.end_s}


def _machine() -> str:
    return f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
