"""Start-to-ready time and idle RSS of every installed domain worker (targets ≤ 3 s, ≤ 100 MB).

Each worker is started as its own `vpipe-worker` process against a local broker, with the
configuration it needs pointing at loopback addresses and a temporary directory; the time to a
200 from `/readyz` is measured from the spawn, then the resident set of the worker and its
children (Delta writers run their Delta work in a child process) after a short idle period.
The baseline is a bare `python -c pass` interpreter start in the same run.

Consumers are ready once the group has formed, and Tansu holds the JoinGroup that forms a group
for half the client's session timeout (whole seconds, see `vpipe_testing.broker`): the
workers run with the broker's `client_env` (session timeout `SESSION_TIMEOUT_MS`), and the
header prints the resulting hold. `--session-timeout-ms 6000` gives the earlier figures.

    python -m benchmarks.bench_workers [--idle 3] [--domains xact,claimx] [--session-timeout-ms N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vpipe_core.kafka.topics import create_worker_topics
from vpipe_core.registry import load_all_workers
from vpipe_testing.broker import SESSION_TIMEOUT_MS, LocalBroker, formation_hold_s
from vpipe_testing.claimx.demo import table_env as claimx_tables
from vpipe_testing.workers import WorkerProcess, worker_environment
from vpipe_testing.xact.demo import table_env as xact_tables

TARGET_READY_S = 3.0
TARGET_RSS_MB = 100.0


def placeholder_env(root: Path) -> dict[str, str]:
    """Enough configuration for every worker to start; nothing here is contacted at startup."""
    env = xact_tables(root / "tables") | claimx_tables(root / "tables")
    return env | {
        "EVENT_SOURCE": "sample",
        "ONELAKE_BASE_PATH": f"file://{root / 'onelake'}",
        "CLAIMX_API_URL": "http://127.0.0.1:9/service/cxedirest",
        "CLAIMX_API_TOKEN": "dXNlcjpwYXNz",
    }


def rss_mb(pid: int) -> float:
    """Resident set of `pid` and its descendants, in MiB."""
    total_kb = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total_kb += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
        pending.extend(int(child) for child in children)
    return total_kb / 1024


def interpreter_start_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def measure(
    name: str, port: int, env: dict[str, str], root: Path, idle_s: float
) -> tuple[float, float]:
    worker = WorkerProcess(name, env, root, 1, port)
    started = time.perf_counter()
    worker.start()
    try:
        worker.wait_ready(60)
        ready_s = time.perf_counter() - started
        time.sleep(idle_s)
        assert worker.process is not None
        return ready_s, rss_mb(worker.process.pid)
    finally:
        worker.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before RSS")
    parser.add_argument("--domains", default="xact,claimx", help="comma-separated domains")
    parser.add_argument(
        "--session-timeout-ms",
        type=int,
        default=SESSION_TIMEOUT_MS,
        help="consumer session timeout (Tansu holds group formation for half of it)",
    )
    args = parser.parse_args()
    domains = set(args.domains.split(","))
    specs, _ = load_all_workers()
    chosen = sorted((s for s in specs if s.domain in domains), key=lambda s: s.name)
    root = Path(tempfile.mkdtemp(prefix="vpipe-bench-workers-"))
    print(f"baseline: bare interpreter start {interpreter_start_s():.2f} s")
    print(
        f"consumer session timeout {args.session_timeout_ms} ms: the broker holds group "
        f"formation {formation_hold_s(args.session_timeout_ms)} s"
    )
    print(f"{'worker':26} {'ready s':>8} {'idle RSS MB':>12}")
    failures = 0
    with LocalBroker(log_path=root / "broker.log") as broker:
        client = broker.client_env | {"KAFKA_SESSION_TIMEOUT_MS": str(args.session_timeout_ms)}
        env = worker_environment(broker.bootstrap, root, **placeholder_env(root), **client)
        create_worker_topics(broker.bootstrap, chosen, env)
        for spec in chosen:
            try:
                ready_s, rss = measure(spec.name, spec.port_for(1), env, root, args.idle)
            except (TimeoutError, RuntimeError) as exc:
                failures += 1
                print(f"{spec.name:26} did not start: {str(exc).splitlines()[0]}")
                continue
            flags = ("" if ready_s <= TARGET_READY_S else " slow") + (
                "" if rss <= TARGET_RSS_MB else " heavy"
            )
            print(f"{spec.name:26} {ready_s:>8.2f} {rss:>12.1f}{flags}")
    print(f"targets: ready ≤ {TARGET_READY_S} s, idle RSS ≤ {TARGET_RSS_MB:.0f} MB")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
