"""Running real worker processes in tests: `vpipe-worker` subprocesses with a test environment."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from vpipe_testing.brokers import session_timeout_ms

GUARDED_PREFIXES = ("VPIPE_", "KAFKA_", "RETRY_", "LOG_")
# Set by systemd for the service that runs the tests or the demo; the workers they start are not
# units (and would refuse their cache under /tmp: vpipe_core.transfer.cache_dir).
NOT_INHERITED = ("INVOCATION_ID",)


def worker_environment(bootstrap: str, root: Path, **overrides: str) -> dict[str, str]:
    """A clean environment for workers under test: loopback broker, logs and state in `root`,
    the shortest session timeout the test broker accepts (vpipe_testing.brokers)."""
    root.mkdir(parents=True, exist_ok=True)
    env_file = root / "test.env"
    env_file.touch()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(GUARDED_PREFIXES) and k not in NOT_INHERITED
    }
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        VPIPE_ENV_FILE=str(env_file),
        LOG_DIR=str(root / "logs"),
        CACHE_DIR=str(root / "cache"),
        STATE_DIR=str(root / "state"),
        KAFKA_SESSION_TIMEOUT_MS=str(session_timeout_ms()),
        SHUTDOWN_DRAIN_SECONDS="5",
        STARTUP_BACKOFF_SECONDS="0.5",
        METRICS_BIND_ADDRESS="127.0.0.1",
        JSON_LOGS="true",
    )
    env.update(overrides)
    return env


def worker_command() -> list[str]:
    found = shutil.which("vpipe-worker", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "vpipe_core.cli.worker"]


class WorkerProcess:
    """One `vpipe-worker` child process; output goes to `<root>/<worker>-<instance>.out`."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        root: Path,
        instance: int = 1,
        port: int | None = None,
        *,
        address: str = "127.0.0.1",
        host: str = "",
    ) -> None:
        """`address` is where its health and metrics port listens; `host` names the simulated
        host it runs on (`vpipe_testing.demo.hosts`)."""
        self.name, self.instance, self.port = name, instance, port
        self.address, self.host = address, host
        root.mkdir(parents=True, exist_ok=True)
        self.output_path = root / f"{name}-{instance}.out"
        self._env = env
        self._out: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self._out = open(self.output_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*worker_command(), "--name", self.name, "--instance", str(self.instance)],
            env=self._env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        return self

    def probe(self, path: str) -> tuple[int, dict]:
        url = f"http://{self.address}:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def metrics_text(self) -> str:
        url = f"http://{self.address}:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return str(resp.read().decode())

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if self.probe("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready in {timeout_s}s:\n{self.output()[-3000:]}")

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.output()[-3000:]}"
            )

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.close_output()
        return self.process.returncode

    def close_output(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def run_vpipe(
    root: Path, bootstrap: str, *args: str, timeout_s: float = 180.0, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """`vpipe ARGS` as an operator runs it, in the test environment of `worker_environment`."""
    return subprocess.run(
        [sys.executable, "-m", "vpipe_core.cli.main", *args],
        env=worker_environment(bootstrap, root, **overrides),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
